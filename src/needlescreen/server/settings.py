"""The service's settings: command-line options and ``NEEDLESCREEN_*`` environment variables, validated once.

Every uvicorn worker is its own process, so ``needlescreen serve`` hands its options to the workers through the
environment (:meth:`Settings.to_env`) and each worker reads them back (:meth:`Settings.from_env`).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

__all__ = ["DEFAULT_DATABASE_URL", "Settings", "is_loopback"]

#: The embedded default: a SQLite file in the working directory, no other set-up.
DEFAULT_DATABASE_URL = "sqlite:///needlescreen.db"
_PREFIX = "NEEDLESCREEN_"
_MAX_BODY = 256 * 1024
_MAX_PAGE = 100


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Settings:
    """How one service process runs.

    ``api_keys`` are accepted as ``X-API-Key`` or ``Authorization: Bearer``; empty means no authentication,
    which :meth:`check` allows only on a loopback host.
    """

    database_url: str = DEFAULT_DATABASE_URL
    host: str = "127.0.0.1"
    api_keys: tuple[str, ...] = ()
    rules_dir: str | None = None
    policy_file: str | None = None
    engine: Literal["auto", "durable_rules", "plain"] = "auto"
    #: The largest request body accepted (bytes); past it the answer is 413 before anything is parsed.
    max_body: int = _MAX_BODY
    #: Origins allowed by CORS; none by default (a browser on another origin cannot call the service).
    cors_origins: tuple[str, ...] = ()
    #: The most records one list request returns.
    max_page: int = _MAX_PAGE
    #: SQLite only: NORMAL survives a killed worker; FULL also a power loss (about half the stored throughput).
    sqlite_sync: Literal["NORMAL", "FULL"] = "NORMAL"

    def check(self) -> None:
        """Refuse settings that would expose the service.

        Raises:
            ValueError: no API keys on a host other machines can reach, or a limit out of range.
        """
        if not self.api_keys and not is_loopback(self.host):
            raise ValueError(
                f"refusing to serve on {self.host} without authentication: give --auth (API keys or bearer tokens) "
                "or bind to 127.0.0.1"
            )
        if any(len(k) < 16 for k in self.api_keys):
            raise ValueError("every API key must be at least 16 characters long")
        if any("," in k or not k.isprintable() or k != k.strip() for k in self.api_keys):
            raise ValueError("an API key may not contain commas, spaces at its ends or control characters")
        if not 1024 <= self.max_body <= 16 * 1024 * 1024:
            raise ValueError("max_body must be between 1 KiB and 16 MiB")

    def to_env(self) -> dict[str, str]:
        """The settings as ``NEEDLESCREEN_*`` variables, for worker processes."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            out[_PREFIX + f.name.upper()] = ",".join(value) if isinstance(value, tuple) else str(value)
        return out

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from ``NEEDLESCREEN_*`` variables (``NEEDLESCREEN_DATABASE_URL`` selects PostgreSQL)."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(_PREFIX + name.upper())
            return value if value else None

        def listed(name: str) -> tuple[str, ...]:
            raw = get(name)
            return tuple(p.strip() for p in raw.split(",") if p.strip()) if raw else ()

        engine = get("engine") or "auto"
        if engine not in ("auto", "durable_rules", "plain"):
            raise ValueError(f"NEEDLESCREEN_ENGINE must be auto, durable_rules or plain, not {engine!r}")
        keys = listed("api_keys")
        key_file = get("api_keys_file")
        if key_file:
            keys += tuple(line.strip() for line in Path(key_file).read_text().splitlines() if line.strip())
        return cls(
            database_url=get("database_url") or DEFAULT_DATABASE_URL,
            host=get("host") or "127.0.0.1",
            api_keys=keys,
            rules_dir=get("rules_dir"),
            policy_file=get("policy_file"),
            engine=engine,  # type: ignore[arg-type]
            max_body=int(get("max_body") or _MAX_BODY),
            cors_origins=listed("cors_origins"),
            max_page=int(get("max_page") or _MAX_PAGE),
            sqlite_sync="FULL" if (get("sqlite_sync") or "").upper() == "FULL" else "NORMAL",
        )
