"""CDS Hooks client authentication: a JWT bearer signed by the EHR, checked against configured issuers.

As CDS Hooks 2.0 "Trusting CDS Clients" describes: the token's ``iss`` must be a configured issuer, its
signature must verify with a key (by ``kid``) of that issuer's JWK Set (a file, or a URL fetched with a short
timeout and cached), asymmetric algorithms only (never ``none`` or HMAC), ``aud`` must be the URL of the
endpoint called, ``exp``, ``iat`` and ``jti`` are required, and a ``jti`` is accepted once (a replay within its
lifetime is refused; the record is per worker process). Keys come only from configuration: a ``jku`` header
must name the issuer's configured JWK Set URL (with a JWK Set file it is ignored); a key location the token
names itself is never fetched.

Configuration (every worker reads it from the environment): ``NEEDLESCREEN_CDS_ISSUERS`` names a YAML or JSON
file ``{issuers: [{iss, jwks_url | jwks_file}]}``; ``NEEDLESCREEN_CDS_BASE_URL`` is the service's public base
URL that ``aud`` is checked against (default: the URL the request arrived at).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKSet
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from needlescreen import RuleFileError, _yaml

__all__ = ["ALGORITHMS", "CdsAuth", "Issuer", "TokenError", "load_issuers"]

#: Asymmetric signature algorithms only (the specification forbids ``none`` and symmetric ones).
ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
_LEEWAY = 60
_MAX_LIFETIME = 3600
_JTI_CAPACITY = 100_000


class TokenError(Exception):
    """The bearer token is not acceptable; the message says why (never the token)."""


class _IssuerSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    iss: str = Field(min_length=1)
    jwks_url: str | None = None
    jwks_file: str | None = None

    @model_validator(mode="after")
    def _one_key_source(self) -> _IssuerSpec:
        if (self.jwks_url is None) == (self.jwks_file is None):
            raise ValueError("give exactly one of jwks_url and jwks_file")
        if self.jwks_url is not None and not self.jwks_url.startswith(("https://", "http://127.", "http://localhost")):
            raise ValueError("jwks_url must be https (or a loopback http URL for tests)")
        return self


class _IssuersFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    issuers: list[_IssuerSpec] = Field(min_length=1)


@dataclass
class Issuer:
    """One trusted EHR: its ``iss`` and where its public keys are."""

    iss: str
    jwks_url: str | None = None
    jwks: PyJWKSet | None = None
    _client: PyJWKClient | None = field(default=None, repr=False)

    def key(self, kid: str) -> PyJWK:
        """The issuer's key with this ``kid``.

        Raises:
            TokenError: no such key (or the key set cannot be fetched).
        """
        if self.jwks is not None:
            for k in self.jwks.keys:
                if k.key_id == kid:
                    return k
            raise TokenError(f"issuer {self.iss} has no key {kid!r}")
        if self._client is None:
            self._client = PyJWKClient(str(self.jwks_url), cache_keys=True, lifespan=300, timeout=5)
        try:
            return self._client.get_signing_key(kid)
        except jwt.PyJWKClientError as exc:
            raise TokenError(f"no key {kid!r} from issuer {self.iss}'s JWK Set ({type(exc).__name__})") from None


def load_issuers(path: str | Path) -> list[Issuer]:
    """Read an issuers file (safe YAML or JSON) and each issuer's JWK Set file.

    Raises:
        RuleFileError: the file, or a JWK Set file it names, is unreadable or malformed.
    """
    path = Path(path)
    try:
        spec = _IssuersFile.model_validate(_yaml.load_file(path))
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise RuleFileError(err["msg"], file=str(path), field=".".join(str(p) for p in err["loc"])) from None
    issuers = []
    for i, s in enumerate(spec.issuers):
        if s.jwks_file is not None:
            key_file = (path.parent / s.jwks_file).resolve()
            try:
                keys = PyJWKSet.from_dict(json.loads(key_file.read_text(encoding="utf-8")))
            except (OSError, ValueError, jwt.PyJWKSetError) as exc:
                raise RuleFileError(
                    f"cannot read the JWK Set {key_file}: {type(exc).__name__}",
                    file=str(path),
                    field=f"issuers[{i}].jwks_file",
                ) from None
            issuers.append(Issuer(s.iss, jwks=keys))
        else:
            issuers.append(Issuer(s.iss, jwks_url=s.jwks_url))
    return issuers


@dataclass
class CdsAuth:
    """The trusted issuers and the public base URL; verifies CDS Hooks bearer tokens."""

    issuers: dict[str, Issuer]
    base_url: str | None = None
    _seen: OrderedDict[str, float] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> CdsAuth:
        """From ``NEEDLESCREEN_CDS_ISSUERS`` and ``NEEDLESCREEN_CDS_BASE_URL`` (no issuers: JWTs not accepted)."""
        env = os.environ if environ is None else environ
        file = env.get("NEEDLESCREEN_CDS_ISSUERS")
        issuers = load_issuers(file) if file else []
        base = env.get("NEEDLESCREEN_CDS_BASE_URL") or None
        return cls({i.iss: i for i in issuers}, base.rstrip("/") if base else None)

    @property
    def enabled(self) -> bool:
        """Whether any issuer is trusted."""
        return bool(self.issuers)

    def verify(self, token: str, audiences: list[str], *, now: float | None = None) -> dict[str, Any]:
        """Check a CDS Hooks JWT and return its claims.

        Args:
            token: the bearer token.
            audiences: the URLs ``aud`` may name (the endpoint called).
            now: the time to check against (seconds since the epoch; the clock by default).

        Raises:
            TokenError: anything wrong with the token; the message names what.
        """
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise TokenError("not a JWT") from None
        alg, kid, iss = header.get("alg"), header.get("kid"), unverified.get("iss")
        if alg not in ALGORITHMS:
            raise TokenError(f"algorithm {alg!r} is not accepted (asymmetric signatures only)")
        if not isinstance(kid, str) or not kid:
            raise TokenError("the JWT header has no kid")
        if header.get("typ") not in (None, "JWT"):
            raise TokenError("the JWT header's typ must be JWT")
        issuer = self.issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise TokenError(f"issuer {iss!r} is not trusted")
        jku = header.get("jku")
        # Keys come only from configuration: a JWK Set file (any jku is then just a hint, never fetched), or the
        # configured URL, which a jku must then name.
        if jku is not None and issuer.jwks_url is not None and jku != issuer.jwks_url:
            raise TokenError("the jku header is not the issuer's configured JWK Set URL")
        key = issuer.key(kid)
        clock = time.time() if now is None else now
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=[alg],
                audience=audiences,
                issuer=iss,
                leeway=_LEEWAY,
                options={"require": ["iss", "aud", "exp", "iat", "jti"], "verify_iat": True},
                # PyJWT checks exp/iat against its own clock; a fixed `now` (tests) is checked below as well.
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("the JWT has expired") from None
        except jwt.InvalidAudienceError:
            raise TokenError(f"aud must be the endpoint called ({audiences[0]})") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError(f"the JWT has no {exc.claim} claim") from None
        except jwt.PyJWTError as exc:
            raise TokenError(f"the JWT does not verify ({type(exc).__name__})") from None
        exp, iat = float(claims["exp"]), float(claims["iat"])
        if exp < clock - _LEEWAY:
            raise TokenError("the JWT has expired")
        if iat > clock + _LEEWAY:
            raise TokenError("the JWT was issued in the future")
        if exp - iat > _MAX_LIFETIME:
            raise TokenError(f"the JWT lives longer than {_MAX_LIFETIME} seconds")
        self._once(f"{iss}\x00{claims['jti']}", exp, clock)
        return claims

    def _once(self, key: str, exp: float, clock: float) -> None:
        with self._lock:
            while self._seen and (next(iter(self._seen.values())) < clock - _LEEWAY or len(self._seen) > _JTI_CAPACITY):
                self._seen.popitem(last=False)
            if key in self._seen:
                raise TokenError("this jti was used before (replay)")
            self._seen[key] = exp
