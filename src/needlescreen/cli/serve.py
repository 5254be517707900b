"""``serve``: the HTTP service (the optional server extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import (
    EXIT_CODES,
    EngineOpt,
    PolicyOpt,
    RulesOpt,
    _fail,
    _read,
    _user_errors,
    app,
)

_SERVER_MODULES = {"fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "orjson", "psycopg"}


@app.command()
def serve(
    *,
    host: Annotated[str, typer.Option(help="Address to bind; other than loopback only with --auth.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="uvicorn worker processes, each with its own engine")] = 2,
    auth: Annotated[
        list[str] | None, typer.Option(help="An accepted API key or bearer token (repeat for several).")
    ] = None,
    auth_file: Annotated[Path | None, typer.Option(help="A file of accepted keys, one a line.")] = None,
    database_url: Annotated[
        str | None,
        typer.Option(envvar="NEEDLESCREEN_DATABASE_URL", help="SQLAlchemy URL; default sqlite:///needlescreen.db"),
    ] = None,
    cors_origin: Annotated[list[str] | None, typer.Option(help="An origin CORS allows (none by default).")] = None,
    engine: EngineOpt = "auto",
    rules: RulesOpt = None,
    policy: PolicyOpt = None,
) -> None:
    """Run the HTTP service (needs the server extra): screenings, stored records, rules, schema, questionnaire."""
    try:
        from needlescreen.server.run import serve as run
        from needlescreen.server.settings import DEFAULT_DATABASE_URL, Settings
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in _SERVER_MODULES:
            raise
        raise _fail("error: the service needs the server extra: pip install 'needlescreen[server]'", 2) from None
    keys = list(auth or [])
    if auth_file is not None:
        text, _ = _read(str(auth_file))
        keys += [line.strip() for line in text.splitlines() if line.strip()]
    settings = Settings(
        database_url=database_url or DEFAULT_DATABASE_URL,
        host=host,
        api_keys=tuple(keys),
        rules_dir=str(rules) if rules else None,
        policy_file=str(policy) if policy else None,
        engine=engine,
        cors_origins=tuple(cors_origin or ()),
    )
    try:
        settings.check()
    except ValueError as exc:
        raise _fail(f"error: {exc}", EXIT_CODES["invalid"]) from None
    with _user_errors():
        run(settings, port=port, workers=workers)
