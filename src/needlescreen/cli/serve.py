"""``serve``: the HTTP service (the optional server extra).

Every option is one of the service's settings; each may also be given as a ``NEEDLESCREEN_*`` variable or in the
settings file ``--config`` names (``needlescreen.server.settings`` decides which wins: flag, then variable, then
file). Options are None unless given, so that a flag left out never hides a variable or a file entry.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import typer

from ._app import EXIT_CODES, _fail, _user_errors, app

_SERVER_MODULES = {"fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "orjson", "psycopg", "anyio"}


@app.command()
def serve(
    *,
    config: Annotated[
        Path | None, typer.Option(help="A TOML settings file (also NEEDLESCREEN_CONFIG); flags and variables win.")
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="Address to bind [127.0.0.1]; beyond loopback only with keys")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to bind [8000].")] = None,
    workers: Annotated[int | None, typer.Option(help="uvicorn worker processes, each with its own engine [2].")] = None,
    auth: Annotated[
        list[str] | None,
        typer.Option(help="An accepted key, CLINIC:KEY (the clinic whose records it sees) or *:KEY (admin); repeat."),
    ] = None,
    auth_file: Annotated[Path | None, typer.Option(help="A file of accepted keys, one CLINIC:KEY a line.")] = None,
    database_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL of the records [sqlite:///needlescreen.db].")
    ] = None,
    cors_origin: Annotated[list[str] | None, typer.Option(help="An origin CORS allows (none by default).")] = None,
    engine: Annotated[
        Literal["auto", "durable_rules", "plain"] | None, typer.Option(help="auto uses durable_rules where it loads")
    ] = None,
    rules: Annotated[Path | None, typer.Option(help="A ruleset directory (default: the bundled one).")] = None,
    policy: Annotated[Path | None, typer.Option(help="A clinic policy override file.")] = None,
    max_body: Annotated[int | None, typer.Option(help="Largest request body in bytes [262144].")] = None,
    max_header: Annotated[int | None, typer.Option(help="Largest request line and headers in bytes [16384].")] = None,
    read_timeout: Annotated[
        float | None, typer.Option(help="Seconds to send a request's headers, and again its body [20].")
    ] = None,
    max_page: Annotated[int | None, typer.Option(help="Most records one list request returns [100].")] = None,
    sqlite_sync: Annotated[
        str | None, typer.Option(help="SQLite: FULL (a record survives a power loss) [FULL] or NORMAL.")
    ] = None,
    open_docs: Annotated[
        bool | None, typer.Option("--open-docs/--no-open-docs", help="Serve /docs and /openapi.json without a key.")
    ] = None,
    log_clinical: Annotated[
        bool | None,
        typer.Option("--log-clinical/--no-log-clinical", help="Log verdicts and rule ids with each decision id."),
    ] = None,
) -> None:
    """Run the HTTP service (needs the server extra): screenings, stored records, rules, schema, questionnaire."""
    try:
        from needlescreen.server.run import serve as run
        from needlescreen.server.settings import Settings
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in _SERVER_MODULES:
            raise
        raise _fail("error: the service needs the server extra: pip install 'needlescreen[server]'", 2) from None
    flags = {
        "config": config,
        "host": host,
        "port": port,
        "workers": workers,
        "api_keys": auth or None,
        "api_keys_file": str(auth_file) if auth_file else None,
        "database_url": database_url,
        "cors_origins": cors_origin or None,
        "engine": engine,
        "rules_dir": str(rules) if rules else None,
        "policy_file": str(policy) if policy else None,
        "max_body": max_body,
        "max_header": max_header,
        "read_timeout": read_timeout,
        "max_page": max_page,
        "sqlite_sync": sqlite_sync,
        "open_docs": open_docs,
        "log_clinical": log_clinical,
    }
    try:
        settings = Settings.resolve(flags, os.environ)
        settings.check()
    except ValueError as exc:
        raise _fail(f"error: {exc}", EXIT_CODES["invalid"]) from None
    with _user_errors():
        run(settings)
