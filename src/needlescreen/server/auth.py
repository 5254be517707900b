"""API keys and bearer tokens: ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``.

With no keys configured every caller is accepted (allowed only on a loopback host, see
:meth:`Settings.check`). A record names its submitter by a fingerprint of the key, never the key itself.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

__all__ = ["caller"]

_API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key given to `--auth`")
_BEARER = HTTPBearer(auto_error=False, description="A bearer token given to `--auth`")


def fingerprint(key: str) -> str:
    """A short, stable, non-reversible name for a key (what records and logs show)."""
    return "key:" + hashlib.sha256(key.encode()).hexdigest()[:12]


async def caller(
    request: Request,
    api_key: Annotated[str | None, Security(_API_KEY)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)],
) -> str:
    """Who is calling: ``local`` without auth, else the key's fingerprint.

    Raises:
        HTTPException: 401 when keys are configured and none matches.
    """
    keys: tuple[str, ...] = request.app.state.service.settings.api_keys
    if not keys:
        return "local"
    offered = api_key or (bearer.credentials if bearer is not None else None)
    if offered:
        # Every key is compared in full (constant time), so timing reveals neither which key nor how much matched.
        matched = [hmac.compare_digest(offered.encode(), k.encode()) for k in keys]
        if any(matched):
            return fingerprint(offered)
    raise HTTPException(401, "a valid API key (X-API-Key) or bearer token is required", {"WWW-Authenticate": "Bearer"})
