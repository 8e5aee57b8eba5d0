"""Security pieces of the annotation app: response headers, CSRF tokens, per-render form nonces.

Sessions are Starlette's itsdangerous-signed cookies; this module only keeps what lives inside
them honest. The rules (documented in docs/annotate.md):

- every form carries the session's CSRF token, compared with `secrets.compare_digest`; the login
  form uses a token issued before login (a pre-session), and logging in issues a fresh one;
- the label form also carries a one-use nonce from the render (kept in the session, dropped on
  use) and the version of the user's own label at render time; a replayed submit fails one of
  the two: the nonce is gone from the current cookie, and an old cookie cannot bring it back
  because the label's version in the database has moved on.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response

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

Session = MutableMapping[str, Any]


class SecurityHeaders(BaseHTTPMiddleware):
    """Adds the security headers to every response, and no-store to pages (labels are private)."""

    async def dispatch(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response


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


def take_nonce(session: Session, sent: object, item_id: int) -> bool:
    """Consume `sent` if it was issued for `item_id` in this session; False when unknown or used."""
    open_nonces = dict(session.get("nonces") or {})
    if not isinstance(sent, str) or open_nonces.get(sent) != item_id:
        return False
    del open_nonces[sent]
    session["nonces"] = open_nonces
    return True
