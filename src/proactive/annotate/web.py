"""The annotation web app: annotators log in, read a trace up to a step, tick the tasks they would accept.

FastAPI with server-rendered Jinja2 pages and plain forms (a few lines of static JS add keyboard
shortcuts). Sessions are Starlette's signed cookies keyed by a secret kept in the database, so a
restarted server keeps everyone logged in. The user always comes from the session, never from a
form or URL; the store refuses an item that already has three other annotators. Security rules:
docs/annotate.md and `web_security`.
"""

from __future__ import annotations

import ipaddress
import logging
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.middleware.sessions import SessionMiddleware

from proactive.annotate.store import InvalidLabel, ItemFull, RateLimited, Store, UnknownItem, User
from proactive.annotate.web_security import SecurityHeaders, csrf_ok, csrf_token, issue_nonce, take_nonce
from proactive.annotate.web_views import FormProblem, history_rows, parse_label_form

log = logging.getLogger("proactive.annotate")

HERE = Path(str(files("proactive.annotate")))
SESSION_COOKIE = "proactive_annotate"
SESSION_MAX_AGE_S = 7 * 24 * 3600


def _version(label: Any) -> str:
    """The user's own label's version at render time ('new' when none): a replayed submit carries a stale one."""
    return "new" if label is None else repr(float(label.updated_at))


class App:
    """Route handlers bound to one store (kept out of closures so each handler stays small)."""

    def __init__(self, store: Store, items_source: str) -> None:
        self.store = store
        self.items_source = items_source
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))

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
        if user is None:  # disabled or removed since login
            request.session.clear()
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
        try:
            user = await run_in_threadpool(self.store.authenticate, name, password)
        except RateLimited as exc:
            return self.page(request, "login.html", 429, error=str(exc), name=name)
        if user is None:
            return self.page(request, "login.html", 401, error="Wrong name or password.", name=name)
        request.session.clear()  # a fresh session (and CSRF token) at login: no fixation
        request.session["uid"] = user.id
        csrf_token(request.session)
        log.info("login user=%s", user.name)
        return RedirectResponse("/", status_code=303)

    async def logout(self, request: Request) -> Response:
        _user, refusal, _form = await self.refuse_post(request)
        if refusal is not None:
            return refusal
        request.session.clear()
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

    async def item_page(self, request: Request, item_id: int) -> Response:
        user = await self.current_user(request)
        if user is None:
            return RedirectResponse("/login", status_code=303)
        return await self.render_item(request, user, item_id)

    async def render_item(
        self, request: Request, user: User, item_id: int, status: int = 200, error: str = ""
    ) -> Response:
        item = await run_in_threadpool(self.store.item, item_id)
        if item is None:
            return self.message(request, 404, "No such item", f"There is no item {item_id}.", user)
        if not await run_in_threadpool(self.store.can_label, user.id, item_id):
            text = "This step already has its three annotators; go on to your next one."
            return self.message(request, 403, "Not yours to label", text, user)
        label = await run_in_threadpool(self.store.label, user.id, item_id)
        done, left = await run_in_threadpool(self.store.progress, user.id)
        return self.page(
            request, "item.html", status, user=user, item=item, history=history_rows(item.history),
            ticked=set(label.accepted) if label else set(), rejected=label is not None and not label.accepted,
            revising=label is not None, version=_version(label), nonce=issue_nonce(request.session, item_id),
            done=done, left=left, error=error,
        )  # fmt: skip

    async def submit(self, request: Request, item_id: int) -> Response:
        user, refusal, form = await self.refuse_post(request)
        if refusal is not None or user is None:
            return refusal or RedirectResponse("/login", status_code=303)
        item = await run_in_threadpool(self.store.item, item_id)
        if item is None:
            return self.message(request, 404, "No such item", f"There is no item {item_id}; nothing was stored.", user)
        if not await run_in_threadpool(self.store.can_label, user.id, item_id):
            return self.message(request, 403, "Not yours to label", "This step has its three annotators.", user)
        try:
            parsed = parse_label_form(form.get("action"), form.getlist("accept"), len(item.candidates))
        except FormProblem as exc:
            return await self.render_item(request, user, item_id, 400, f"{exc}. Nothing was stored.")
        label = await run_in_threadpool(self.store.label, user.id, item_id)
        fresh = form.get("version") == _version(label)
        if not take_nonce(request.session, form.get("nonce"), item_id) or not fresh:
            text = "This form was already submitted (or is out of date); nothing was stored. Reload to revise."
            return self.message(request, 409, "Already submitted", text, user)
        try:
            await run_in_threadpool(self.store.submit, user.id, item_id, parsed.accepted)
        except ItemFull:
            return self.message(request, 403, "Not yours to label", "This step has its three annotators.", user)
        except (InvalidLabel, UnknownItem) as exc:
            return self.message(request, 400, "Bad label", f"{exc}. Nothing was stored.", user)
        log.info("label user=%s item=%d", user.name, item_id)
        return RedirectResponse("/", status_code=303)


def create_app(store: Store, items_source: str) -> FastAPI:
    """The app for one store; `items_source` (the tasks folder) is only shown in the page footer."""
    handlers = App(store, items_source)
    app = FastAPI(title="proactive annotate", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        SessionMiddleware, secret_key=store.secret_key(), session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE_S, same_site="strict", https_only=False,
    )  # fmt: skip
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
    return app


def serve(tasks_dir: Path, db_path: Path, host: str, port: int) -> None:
    """Open the store, import the tasks (idempotent), print the URL and serve until interrupted."""
    import uvicorn  # the `annotate` extra; imported here so the CLI loads without it

    from proactive.annotate.tasks import load_tasks

    store = Store(db_path)
    items = load_tasks(tasks_dir)
    added = store.import_tasks(items)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    print(f"annotate: {len(items)} items from {tasks_dir} ({added} new) in {db_path}", flush=True)
    if not ipaddress.ip_address(_resolve(host)).is_loopback:
        print("annotate: serving plain HTTP beyond this machine; put it behind a TLS proxy", flush=True)
    print(f"annotate: open http://{host}:{port}/", flush=True)
    # annotators see the tasks folder's name only, not the server's paths
    uvicorn.run(create_app(store, tasks_dir.name), host=host, port=port, log_level="warning")


def _resolve(host: str) -> str:
    """An IP for `host` ('localhost' and names resolve; '0.0.0.0' stays as it is)."""
    import socket

    try:
        return socket.gethostbyname(host)
    except OSError:
        return "0.0.0.0"
