"""Security pieces of the annotation app: response headers, CSRF tokens, per-render form nonces.

Sessions are Starlette's itsdangerous-signed cookies; this module only keeps what lives inside
them honest. The rules (documented in docs/annotate.md):

- every form carries the session's CSRF token, compared with `secrets.compare_digest`; the login
  form uses a token issued before login (a pre-session), and logging in issues a fresh one;
- the label form also carries a one-use nonce from the render (kept in the session, dropped on
  use) and the version of the user's own label at render time; a replayed submit fails one of
  the two: the nonce is gone from the current cookie, and an old cookie cannot bring it back
  because the label's version in the database has moved on.

The middlewares are plain ASGI (not `BaseHTTPMiddleware`), so they see every response start,
errors included; the one response they cannot see is Starlette's own 500, sent from outside every
middleware, which is why `server_error` sets the headers itself.
"""

from __future__ import annotations

import secrets
from collections.abc import MutableMapping
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: No inline scripts or styles, nothing from another origin, no framing, forms post only here.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}

#: Renders a user may have open at once (tabs); older nonces are forgotten first.
MAX_OPEN_NONCES = 16
#: The largest request body accepted: a label or login form is well under 2 KiB.
MAX_BODY_BYTES = 32 * 1024

Session = MutableMapping[str, Any]


class SecurityHeaders:
    """Adds the security headers to every response, and no-store to pages (labels are private)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        page = not str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if page:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit:
    """Answers 413 to a request body over `max_bytes` (declared or sent), before any form is parsed."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > self.max_bytes:
            await self.too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:  # the whole body is read here (it is small), then handed on in one piece
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self.too_large(scope, receive, send)
                return
            more = bool(message.get("more_body"))
        body, handed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal handed
            if handed:
                return await receive()
            handed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        text = f"The request is larger than {self.max_bytes // 1024} KiB; nothing was stored."
        await PlainTextResponse(text, status_code=413, headers={"Connection": "close"})(scope, receive, send)


def server_error(_request: Request, _exc: Exception) -> Response:
    """The 500 page: one line, no traceback (that goes to the server log), and the security headers."""
    text = "The server hit an error; nothing was stored. Try again, or tell whoever runs it."
    # Connection: close, because uvicorn drops the connection after an exception; a client must not reuse it.
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-store", "Connection": "close"}
    return PlainTextResponse(text, status_code=500, headers=headers)


def csrf_token(session: Session) -> str:
    """The session's CSRF token, created on first use (before login it belongs to a pre-session)."""
    token = session.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def csrf_ok(session: Session, sent: object) -> bool:
    """True when the form's token equals the session's (constant-time compare)."""
    expected = session.get("csrf")
    if not isinstance(expected, str) or not expected or not isinstance(sent, str) or not sent:
        return False
    return secrets.compare_digest(expected.encode(), sent.encode())


def issue_nonce(session: Session, item_id: int) -> str:
    """A fresh one-use nonce for a render of the label form of `item_id`."""
    nonce = secrets.token_urlsafe(16)
    open_nonces = dict(session.get("nonces") or {})
    open_nonces[nonce] = item_id
    while len(open_nonces) > MAX_OPEN_NONCES:
        open_nonces.pop(next(iter(open_nonces)))
    session["nonces"] = open_nonces
    return nonce


def nonce_item(session: Session, sent: object) -> int | None:
    """The item a still-open nonce was issued for (without using it up), or None."""
    item = dict(session.get("nonces") or {}).get(sent) if isinstance(sent, str) else None
    return item if isinstance(item, int) else None


def take_nonce(session: Session, sent: object, item_id: int) -> bool:
    """Consume `sent` if it was issued for `item_id` in this session; False when unknown or used."""
    open_nonces = dict(session.get("nonces") or {})
    if not isinstance(sent, str) or open_nonces.get(sent) != item_id:
        return False
    del open_nonces[sent]
    session["nonces"] = open_nonces
    return True
