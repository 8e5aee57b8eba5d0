"""The annotation web app: annotators log in, read a trace up to a step, tick the tasks they would accept.

FastAPI with server-rendered Jinja2 pages and plain forms (a few lines of static JS add keyboard
shortcuts and keep the open step leased). Sessions are Starlette's signed cookies keyed by a secret
kept in the database, so a restarted server keeps everyone logged in; each carries the user's
session generation, so logout and a password reset revoke them server-side. The user always comes
from the session, never from a form or URL; items are handed out with leases (`leases`) so
annotators working at once do not collide. Security rules: docs/annotate.md and `web_security`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.middleware.sessions import SessionMiddleware

from proactive.annotate.leases import LEASE_S
from proactive.annotate.logins import RateLimited
from proactive.annotate.store import InvalidLabel, Item, ItemFull, Store, UnknownItem, User
from proactive.annotate.web_security import (
    BodyLimit,
    SecurityHeaders,
    csrf_ok,
    csrf_token,
    issue_nonce,
    nonce_item,
    server_error,
    take_nonce,
)
from proactive.annotate.web_views import FormProblem, history_rows, item_number, parse_label_form
from proactive.errors import UserError

log = logging.getLogger("proactive.annotate")

HERE = Path(str(files("proactive.annotate")))
SESSION_COOKIE = "proactive_annotate"
SESSION_MAX_AGE_S = 7 * 24 * 3600
#: Names this browser logged in as, remembered in its session (even after logout) so that strangers'
#: wrong guesses for those names do not lock it out (`logins`, "trusted").
MAX_KNOWN = 4
#: argon2 checks run at once: one core is left for everything else, so label posts stay fast while
#: many people log in; waiting logins hold no thread (an asyncio semaphore, not a lock in the pool).
PASSWORD_CHECKS_AT_ONCE = max(1, (os.cpu_count() or 2) - 1)


def _version(label: Any) -> str:
    """The user's own label's version at render time ('new' when none): a replayed submit carries a stale one."""
    return "new" if label is None else repr(float(label.updated_at))


def _forget(session: Any) -> None:
    """Log the session out, keeping the names this browser logged in as."""
    known = session.get("known")
    session.clear()
    if isinstance(known, list):
        session["known"] = known


class App:
    """Route handlers bound to one store (kept out of closures so each handler stays small)."""

    def __init__(self, store: Store, items_source: str) -> None:
        self.store = store
        self.items_source = items_source
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.password_checks = asyncio.Semaphore(PASSWORD_CHECKS_AT_ONCE)

    def page(self, request: Request, template: str, status: int = 200, **context: Any) -> Response:
        context.setdefault("csrf", csrf_token(request.session))
        context.setdefault("user", None)
        context.setdefault("source", self.items_source)
        return self.templates.TemplateResponse(request, template, context, status_code=status)

    def message(self, request: Request, status: int, title: str, text: str, user: User | None = None) -> Response:
        return self.page(request, "message.html", status, title=title, text=text, user=user)

    async def current_user(self, request: Request) -> User | None:
        user_id = request.session.get("uid")
        if not isinstance(user_id, int):
            return None
        user = await run_in_threadpool(self.store.user, user_id)
        if user is None or request.session.get("gen") != user.session_gen:  # disabled, logged out, new password
            _forget(request.session)
            return None
        return user

    async def refuse_post(self, request: Request) -> tuple[User | None, Response | None, Any]:
        """(user, refusal, form) for a POST: 401 without a session, 403 on a missing or forged CSRF token."""
        form = await request.form()
        user = await self.current_user(request)
        if user is None:
            return None, self.message(request, 401, "Not logged in", "Log in first; nothing was stored."), form
        if not csrf_ok(request.session, form.get("csrf")):
            text = "The form's security token is missing or wrong; reload the page and try again. Nothing was stored."
            return user, self.message(request, 403, "Forbidden", text, user), form
        return user, None, form

    # ------------------------------------------------------------------ login

    async def login_page(self, request: Request) -> Response:
        if await self.current_user(request) is not None:
            return RedirectResponse("/", status_code=303)
        return self.page(request, "login.html")

    async def login(self, request: Request) -> Response:
        form = await request.form()
        if not csrf_ok(request.session, form.get("csrf")):
            text = "The login form's security token is missing or wrong: reload the login page and try again."
            return self.page(request, "login.html", 403, error=text)
        name, password = str(form.get("name") or ""), str(form.get("password") or "")
        known = [k for k in request.session.get("known") or [] if isinstance(k, str)]
        client = request.client.host if request.client else ""
        try:  # the check is reserved before argon2 runs, so parallel posts cannot all get one
            attempt = await run_in_threadpool(self.store.begin_login, name, client, name.strip() in known)
        except RateLimited as exc:
            return self.page(request, "login.html", 429, error=str(exc), name=name)
        async with self.password_checks:
            ok = await run_in_threadpool(self.store.check_password, attempt, password)
        user = await run_in_threadpool(self.store.finish_login, attempt, ok, password)
        if user is None:
            return self.page(request, "login.html", 401, error="Wrong name or password.", name=name)
        request.session.clear()  # a fresh session (and CSRF token) at login: no fixation
        known = [user.name, *(k for k in known if k != user.name)][:MAX_KNOWN]
        request.session.update(uid=user.id, gen=user.session_gen, known=known)
        csrf_token(request.session)
        log.info("login user=%s", user.name)
        return RedirectResponse("/", status_code=303)

    async def logout(self, request: Request) -> Response:
        user, refusal, _form = await self.refuse_post(request)
        if refusal is not None or user is None:
            return refusal or RedirectResponse("/login", status_code=303)
        await run_in_threadpool(self.store.end_sessions, user.id)  # every copy of the cookie stops working
        _forget(request.session)
        return RedirectResponse("/login", status_code=303)

    # ------------------------------------------------------------------ labelling

    async def index(self, request: Request) -> Response:
        user = await self.current_user(request)
        if user is None:
            return RedirectResponse("/login", status_code=303)
        item = await run_in_threadpool(self.store.next_item, user.id)
        if item is not None:
            return RedirectResponse(f"/item/{item.id}", status_code=303)
        done, left = await run_in_threadpool(self.store.progress, user.id)
        return self.page(request, "done.html", user=user, done=done, left=left)

    async def item_page(self, request: Request, item_id: str) -> Response:
        user = await self.current_user(request)
        if user is None:
            return RedirectResponse("/login", status_code=303)
        number = item_number(item_id)
        if number is None:
            return self.message(request, 404, "No such item", "There is no such item.", user)
        return await self.render_item(request, user, number)

    async def render_item(
        self, request: Request, user: User, item_id: int, status: int = 200, error: str = ""
    ) -> Response:
        item = await run_in_threadpool(self.store.item, item_id)
        if item is None:
            return self.message(request, 404, "No such item", f"There is no item {item_id}.", user)
        if not await run_in_threadpool(self.store.can_label, user.id, item_id):
            text = "This step already has its three annotators; go on to your next one."
            return self.message(request, 403, "Not yours to label", text, user)
        await run_in_threadpool(self.store.hold, user.id, item_id)  # lease it while a slot is free for them
        label = await run_in_threadpool(self.store.label, user.id, item_id)
        done, left = await run_in_threadpool(self.store.progress, user.id)
        return self.page(
            request, "item.html", status, user=user, item=item, history=history_rows(item.history),
            ticked=set(label.accepted) if label else set(), rejected=label is not None and not label.accepted,
            revising=label is not None, version=_version(label), nonce=issue_nonce(request.session, item_id),
            done=done, left=left, error=error,
        )  # fmt: skip

    async def taken(self, request: Request, user: User, item: Item) -> Response:
        """A submit whose slot went to others while the page was open: say so, and show the next step."""
        text = (f"{item.trace_id} step {item.step + 1} got its three annotators while your page was open "
                f"(a page holds its step for {LEASE_S / 60:.0f} minutes without activity), so that answer "
                "was not stored.")  # fmt: skip
        following = await run_in_threadpool(self.store.next_item, user.id)
        if following is None:
            return self.message(request, 409, "Step taken", text + " Nothing else is left for you now.", user)
        return await self.render_item(request, user, following.id, 409, text + " Here is your next step.")

    async def submit(self, request: Request, item_id: str) -> Response:
        user, refusal, form = await self.refuse_post(request)
        if refusal is not None or user is None:
            return refusal or RedirectResponse("/login", status_code=303)
        number = item_number(item_id)
        item = None if number is None else await run_in_threadpool(self.store.item, number)
        if item is None:
            return self.message(request, 404, "No such item", "There is no such item; nothing was stored.", user)
        if not await run_in_threadpool(self.store.can_label, user.id, item.id):
            if nonce_item(request.session, form.get("nonce")) == item.id:  # they had its form open
                return await self.taken(request, user, item)
            return self.message(request, 403, "Not yours to label", "This step has its three annotators.", user)
        try:
            parsed = parse_label_form(form.get("action"), form.getlist("accept"), len(item.candidates))
        except FormProblem as exc:
            return await self.render_item(request, user, item.id, 400, f"{exc}. Nothing was stored.")
        label = await run_in_threadpool(self.store.label, user.id, item.id)
        fresh = form.get("version") == _version(label)
        if not take_nonce(request.session, form.get("nonce"), item.id) or not fresh:
            text = "This form was already submitted (or is out of date); nothing was stored. Reload to revise."
            return self.message(request, 409, "Already submitted", text, user)
        try:
            await run_in_threadpool(self.store.submit, user.id, item.id, parsed.accepted)
        except ItemFull:
            return await self.taken(request, user, item)
        except (InvalidLabel, UnknownItem) as exc:
            return self.message(request, 400, "Bad label", f"{exc}. Nothing was stored.", user)
        log.info("label user=%s item=%d", user.name, item.id)
        return RedirectResponse("/", status_code=303)

    async def renew(self, request: Request, item_id: str) -> Response:
        """The page's heartbeat while its annotator works: 204 when the step is still held for them."""
        user, refusal, _form = await self.refuse_post(request)
        if refusal is not None or user is None:
            return refusal or Response(status_code=401)
        number = item_number(item_id)
        held = number is not None and await run_in_threadpool(self.store.hold, user.id, number)
        return Response(status_code=204 if held else 409)


def create_app(store: Store, items_source: str, secure_cookies: bool = False) -> FastAPI:
    """The app for one store; `items_source` (the tasks folder) is only shown in the page footer.

    `secure_cookies` marks the session cookie Secure (the app is reached through a TLS proxy).
    """
    handlers = App(store, items_source)
    app = FastAPI(title="proactive annotate", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_exception_handler(Exception, server_error)
    # Added innermost first: headers wrap everything, the body cap comes before sessions and forms.
    app.add_middleware(
        SessionMiddleware, secret_key=store.secret_key(), session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE_S, same_site="strict", https_only=secure_cookies,
    )  # fmt: skip
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.add_api_route("/healthz", lambda: JSONResponse({"ok": True}), methods=["GET"])
    app.add_api_route("/favicon.ico", lambda: Response(status_code=204), methods=["GET"])  # browsers ask for it
    app.add_api_route("/login", handlers.login_page, methods=["GET"], response_class=HTMLResponse)
    app.add_api_route("/login", handlers.login, methods=["POST"], response_class=HTMLResponse)
    app.add_api_route("/logout", handlers.logout, methods=["POST"], response_class=HTMLResponse)
    app.add_api_route("/", handlers.index, methods=["GET"], response_class=HTMLResponse)
    app.add_api_route("/item/{item_id}", handlers.item_page, methods=["GET"], response_class=HTMLResponse)
    app.add_api_route("/item/{item_id}", handlers.submit, methods=["POST"], response_class=HTMLResponse)
    app.add_api_route("/item/{item_id}/lease", handlers.renew, methods=["POST"])
    return app


def serve(tasks_dir: Path, db_path: Path, host: str, port: int, behind_tls: bool = False) -> None:
    """Open the store, import the tasks (idempotent), print the URL and serve until interrupted.

    Beyond loopback only `behind_tls` (passwords and cookies must not cross the network in clear);
    the port is bound before anything is printed, so a busy port is one error line.
    """
    import uvicorn  # the `annotate` extra; imported here so the CLI loads without it

    from proactive.annotate.tasks import load_tasks

    if not behind_tls and not _loopback(host):
        raise UserError(f"--host {host}: reachable from other machines over plain HTTP; serve it behind a "
                        "TLS proxy and pass --behind-tls (session cookies are then Secure)")  # fmt: skip
    listener = _bind(host, port)
    try:
        store = Store(db_path)
        items = load_tasks(tasks_dir)
        added = store.import_tasks(items)
    except BaseException:
        listener.close()
        raise
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    print(f"annotate: {len(items)} items from {tasks_dir} ({added} new) in {db_path}", flush=True)
    if behind_tls:
        print(f"annotate: listening on {host}:{port}; annotators open it through your TLS proxy", flush=True)
    else:
        print(f"annotate: open http://{host}:{port}/", flush=True)
    # annotators see the tasks folder's name only, not the server's paths
    app = create_app(store, tasks_dir.name, secure_cookies=behind_tls)
    uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).run(sockets=[listener])


def _loopback(host: str) -> bool:
    """True when every address `host` names is a loopback one ('0.0.0.0' and unresolvable names are not)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)


def _bind(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (uvicorn listens on it); one-line UserError when that is impossible."""
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except OSError as error:
        raise UserError(f"--host {host}: cannot resolve it ({error.strerror})") from error
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        listener.bind(address)
    except OSError as error:
        listener.close()
        raise UserError(f"--port {port}: cannot listen on {host}:{port} ({error.strerror}); "
                        "is another server using it? Pick another --port") from error  # fmt: skip
    return listener
