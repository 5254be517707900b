"""Who is using the web form: a clinic key turned into a signed session cookie, and CSRF on every form post.

With no keys configured (loopback only, see :meth:`Settings.check`) everyone is ``local`` and the form just
works. With keys, ``/sign-in`` takes a key once and answers with a session cookie: signed (itsdangerous),
expiring, ``Secure``, ``HttpOnly`` and ``SameSite=Strict``; the key itself is never stored in the browser. A
script may still send ``X-API-Key`` or a bearer token (e.g. an EHR fetching a record's PDF).

:func:`principal_for_key` is the one place the web checks a key, through the service's own check
(:func:`needlescreen.server.auth.verify_key`): a session carries the key's clinic and role, so the form stores
records under that clinic and shows only that clinic's records, as the API does.

CSRF: every POST carries a token (form field ``csrf_token`` or header ``X-CSRF-Token``). Signed in, the token
lives in the signed session; without auth it is a double-submit cookie. A missing or wrong token is refused
(403) before anything is read or stored.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from typing import Any, Literal

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from needlescreen.server.auth import LOCAL, Principal, verify_key
from needlescreen.server.keys import ApiKey

__all__ = [
    "CSRF_COOKIE",
    "SESSION_COOKIE",
    "SESSION_SECONDS",
    "Session",
    "auth_required",
    "check_csrf",
    "csrf_token",
    "current",
    "principal_for_key",
    "remember_csrf",
    "sign_in",
    "sign_out",
]

SESSION_COOKIE = "ns_session"
CSRF_COOKIE = "ns_csrf"
#: A working day: a session signed in at the start of a clinic lasts until its end.
SESSION_SECONDS = 10 * 3600
_SALT = "needlescreen.web.session/1"


@dataclass(frozen=True, slots=True)
class Session:
    """The signed-in principal and the CSRF token bound to the session."""

    principal: str
    csrf: str
    clinic: str | None = None
    role: Literal["clinic", "admin"] = "admin"

    @property
    def who(self) -> Principal:
        """The service's principal for this session (what records are stored and scoped by)."""
        return Principal(clinic=self.clinic, role=self.role, fingerprint=self.principal)


def _keys(request: Request) -> tuple[ApiKey, ...]:
    keys: tuple[ApiKey, ...] = request.app.state.service.settings.keys
    return keys


def auth_required(request: Request) -> bool:
    """True when the service was started with keys (the form then needs a sign-in)."""
    return bool(_keys(request))


def principal_for_key(request: Request, key: str) -> Principal | None:
    """The principal a clinic key stands for, or None: the one place the web checks a key."""
    keys = _keys(request)
    if not keys or not key:
        return None
    return verify_key(key, keys)


def _secret(request: Request) -> bytes:
    """The session signing secret: ``NEEDLESCREEN_SESSION_SECRET``, else derived from every configured key.

    Every worker derives the same secret, so a session works whichever worker answers. One key's holder cannot
    forge a session for another key's principal without knowing every key; changing the keys ends all sessions.
    """
    configured = os.environ.get("NEEDLESCREEN_SESSION_SECRET")
    if configured:
        return configured.encode()
    joined = "\n".join(sorted(k.key for k in _keys(request))).encode()
    return hmac.new(b"needlescreen web session", joined, hashlib.sha256).digest()


def _serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_secret(request), salt=_SALT)


def current(request: Request) -> Session | None:
    """The session of this request: ``local`` without auth, a signed-in principal, an API key, or None."""
    if not auth_required(request):
        return Session(LOCAL.fingerprint, request.cookies.get(CSRF_COOKIE, ""), LOCAL.clinic, LOCAL.role)
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        try:
            data: Any = _serializer(request).loads(raw, max_age=SESSION_SECONDS)
        except BadSignature:
            data = None
        if (
            isinstance(data, dict)
            and isinstance(data.get("p"), str)
            and isinstance(data.get("c"), str)
            and isinstance(data.get("t"), str | None)
            and data.get("r") in ("clinic", "admin")
        ):
            return Session(data["p"], data["c"], data["t"], data["r"])
    offered = request.headers.get("x-api-key")
    auth = request.headers.get("authorization", "")
    if not offered and auth.lower().startswith("bearer "):
        offered = auth[7:].strip()
    if offered:
        principal = principal_for_key(request, offered)
        if principal is not None:
            return Session(principal.fingerprint, "", principal.clinic, principal.role)
    return None


def _cookie(response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, secure=True, samesite="strict", path="/")


def sign_in(request: Request, response: Response, principal: Principal) -> None:
    """Set a new session cookie for ``principal`` (its fingerprint, clinic and role, with a fresh CSRF token)."""
    data = {"p": principal.fingerprint, "c": secrets.token_urlsafe(24), "t": principal.clinic, "r": principal.role}
    token = _serializer(request).dumps(data)
    _cookie(response, SESSION_COOKIE, token, SESSION_SECONDS)


def sign_out(response: Response) -> None:
    """End the session in this browser."""
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict")


def csrf_token(request: Request) -> str:
    """The token a form of this page must post back (a new one when this browser has none yet)."""
    session = current(request)
    if session is not None and session.csrf and auth_required(request):
        return session.csrf
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
    if not token:
        token = secrets.token_urlsafe(24)
        request.state.new_csrf = token
    return str(token)


def remember_csrf(request: Request, response: Response) -> None:
    """Set the double-submit cookie when :func:`csrf_token` made a new token for this request."""
    token = getattr(request.state, "new_csrf", None)
    if token and request.cookies.get(CSRF_COOKIE) != token:
        _cookie(response, CSRF_COOKIE, token, None)


def check_csrf(request: Request, posted: str | None) -> bool:
    """True when a POST carries this browser's token (session-bound, or the double-submit cookie)."""
    offered = posted or request.headers.get("x-csrf-token") or ""
    if not offered:
        return False
    session = current(request)
    if auth_required(request) and session is not None and session.csrf:
        expected = session.csrf
    else:
        expected = request.cookies.get(CSRF_COOKIE, "")
    return bool(expected) and hmac.compare_digest(offered.encode(), expected.encode())
