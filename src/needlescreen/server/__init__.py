"""The needlescreen HTTP service (the ``needlescreen[server]`` extra): FastAPI, uvicorn, SQLAlchemy, Alembic.

An adapter over the public core: it screens with :class:`needlescreen.Screener` and stores every screening as an
append-only record (SQLite by default, PostgreSQL by ``NEEDLESCREEN_DATABASE_URL``). Start it with
``needlescreen serve``; build it in code with :func:`create_app`.
"""

from __future__ import annotations

from .app import create_app
from .settings import Settings

__all__ = ["Settings", "create_app"]
