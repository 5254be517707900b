"""Who is calling: an API key or bearer token (``X-API-Key: <key>`` or ``Authorization: Bearer <key>``) and the
clinic it belongs to.

:func:`verify_key` is the one check of a presented key: it returns the :class:`Principal` (clinic, role,
fingerprint) or None. The routes reach it through the :func:`principal` dependency; a sign-in form that keeps a
session calls it with the key a person typed. With no keys configured every caller is the local admin (allowed
only on a loopback host, see :meth:`Settings.check`). A record names its submitter by a fingerprint of the key,
never the key itself.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from .keys import ApiKey

__all__ = ["LOCAL", "Principal", "caller", "fingerprint", "principal", "verify_key"]

_API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key given to `--auth`")
_BEARER = HTTPBearer(auto_error=False, description="A bearer token given to `--auth`")


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: the clinic whose records it sees (None: every clinic), its role, and its key's fingerprint."""

    clinic: str | None
    role: Literal["clinic", "admin"]
    fingerprint: str

    def sees(self, tenant: str | None) -> bool:
        """Whether this caller may read a record stored under ``tenant``."""
        return self.role == "admin" or tenant == self.clinic

    @property
    def scope(self) -> str | None:
        """The clinic a list, read or verify is limited to (None: every clinic)."""
        return None if self.role == "admin" else self.clinic


#: The caller when no keys are configured (the service then listens on loopback only).
LOCAL = Principal(clinic=None, role="admin", fingerprint="local")


def fingerprint(key: str) -> str:
    """A short, stable, non-reversible name for a key (what records and logs show)."""
    return "key:" + hashlib.sha256(key.encode()).hexdigest()[:12]


def verify_key(presented: str | None, keys: Sequence[ApiKey]) -> Principal | None:
    """The principal a presented key stands for, or None when it matches no configured key.

    With no keys configured there is nothing to check: the caller is :data:`LOCAL`. Every configured key is
    compared in full and in constant time, so timing reveals neither which key nor how much of one matched.
    """
    if not keys:
        return LOCAL
    if not presented:
        return None
    offered = presented.encode()
    found: ApiKey | None = None
    for key in keys:
        if hmac.compare_digest(offered, key.key.encode()):
            found = key
    if found is None:
        return None
    return Principal(clinic=found.clinic, role=found.role, fingerprint=fingerprint(found.key))


def _unauthorised() -> HTTPException:
    return HTTPException(401, "a valid API key (X-API-Key) or bearer token is required", {"WWW-Authenticate": "Bearer"})


async def principal(
    request: Request,
    api_key: Annotated[str | None, Security(_API_KEY)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)],
) -> Principal:
    """The caller of this request (a FastAPI dependency).

    Raises:
        HTTPException: 401 when keys are configured and none matches.
    """
    keys: tuple[ApiKey, ...] = request.app.state.service.settings.keys
    found = verify_key(api_key or (bearer.credentials if bearer is not None else None), keys)
    if found is None:
        raise _unauthorised()
    return found


async def caller(who: Annotated[Principal, Depends(principal)]) -> str:
    """The caller's fingerprint only (a FastAPI dependency for routes that read no records)."""
    return who.fingerprint
