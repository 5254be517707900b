"""``needlescreen serve``: migrate the database once, then run uvicorn workers that each build their own app."""

from __future__ import annotations

import os

import uvicorn

from .settings import Settings
from .store import migrate

__all__ = ["serve"]


def serve(settings: Settings, *, port: int = 8000, workers: int = 2) -> None:
    """Serve until interrupted.

    Raises:
        ValueError: the settings would expose the service (no auth on a non-loopback host).
    """
    settings.check()
    # Once, before any worker starts: workers migrating at the same time would race on a new database.
    migrate(settings.database_url)
    os.environ.update(settings.to_env())
    os.environ["NEEDLESCREEN_MIGRATED"] = "1"
    uvicorn.run(
        "needlescreen.server.app:app_from_env",
        factory=True,
        host=settings.host,
        port=port,
        workers=workers,
        access_log=False,  # the app logs each request itself, without paths or query strings
        server_header=False,
        proxy_headers=False,
    )
