"""``needlescreen serve``: migrate the database once, then run uvicorn workers that each build their own app."""

from __future__ import annotations

import os

import uvicorn

from .protocol import Protocol
from .settings import CONFIG_VARIABLE, Settings
from .store import migrate

__all__ = ["serve"]


def serve(settings: Settings) -> None:
    """Serve until interrupted.

    Raises:
        ValueError: the settings would expose the service (no auth on a non-loopback host).
    """
    settings.check()
    # Once, before any worker starts: workers migrating at the same time would race on a new database.
    migrate(settings.database_url)
    # The workers read back exactly what was resolved here (flags included): every setting is written, and the
    # settings file is not read again.
    os.environ.update(settings.to_env())
    os.environ.pop(CONFIG_VARIABLE, None)
    os.environ["NEEDLESCREEN_MIGRATED"] = "1"
    uvicorn.run(
        "needlescreen.server.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        http=Protocol,
        access_log=False,  # the app logs each request itself, without paths or query strings
        server_header=False,
        proxy_headers=False,
    )
