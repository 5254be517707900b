"""``records verify|migrate``: check the stored screening records against their hash chain; migrate the database.

Both need the server extra and read the database URL as ``serve`` does (``--database-url``, else
``NEEDLESCREEN_DATABASE_URL``, else the settings file, else ``sqlite:///needlescreen.db``). ``verify`` exits 0
when every record matches and every append-only guard is in place, 4 otherwise, 2 when it cannot run.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ._app import EXIT_CODES, FormatOpt, _console, _fail, app

#: ``records verify``: a record does not match its seal, the anchor is gone, or a guard is missing.
EXIT_MISMATCH = 4
_SERVER_MODULES = {"sqlalchemy", "alembic", "psycopg", "fastapi", "starlette", "uvicorn", "orjson", "anyio"}

records_app = typer.Typer(help="Check and migrate the service's screening records.", no_args_is_help=True)
app.add_typer(records_app, name="records")

DatabaseOpt = Annotated[
    str | None, typer.Option(help="SQLAlchemy URL of the records (default: as serve reads it).", show_default=False)
]
ConfigOpt = Annotated[Path | None, typer.Option(help="The service's TOML settings file.")]


def _database(database_url: str | None, config: Path | None) -> tuple[Any, str, str]:
    """The store module, the URL, and the URL as it may be printed (no password)."""
    try:
        from sqlalchemy.engine import make_url

        from needlescreen.server import store
        from needlescreen.server.settings import Settings
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in _SERVER_MODULES:
            raise
        raise _fail("error: the records need the server extra: pip install 'needlescreen[server]'", 2) from None
    try:
        url = Settings.resolve({"database_url": database_url, "config": config}, os.environ).database_url
        shown = make_url(store.normalise_url(url)).render_as_string(hide_password=True)
    except ValueError as exc:
        raise _fail(f"error: {exc}", EXIT_CODES["invalid"]) from None
    return store, url, shown


@records_app.command("verify")
def verify(
    database_url: DatabaseOpt = None,
    clinic: Annotated[str | None, typer.Option(help="Check only this clinic's records (default: every one).")] = None,
    anchor: Annotated[
        str | None, typer.Option(help="A head hash written down earlier: fail unless the chain still holds it.")
    ] = None,
    output: FormatOpt = "text",
    config: ConfigOpt = None,
) -> None:
    """Check every record against its seal and the seal before it; report the first that does not match."""
    store_module, url, shown = _database(database_url, config)
    try:
        store = store_module.Store(url)
    except Exception as exc:  # a URL SQLAlchemy cannot use: one line, not a traceback
        raise _fail(f"error: cannot open {shown}: {exc}", EXIT_CODES["invalid"]) from None
    try:
        store.ping()
        report = store.verify(scope=clinic, anchor=anchor)
    except Exception as exc:  # an unreachable database or one without the records table
        raise _fail(f"error: cannot read the records at {shown}: {type(exc).__name__}", EXIT_CODES["invalid"]) from None
    finally:
        store.close()
    data = report.as_dict()
    if output == "json":
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
    else:
        _print(data, shown, clinic)
    if not report.ok:
        raise typer.Exit(EXIT_MISMATCH)


def _print(data: dict[str, Any], shown: str, clinic: str | None) -> None:
    console = _console()
    scope = f"clinic {clinic}" if clinic else "every clinic"
    console.print(f"{data['checked']:,} records checked ({shown}, {scope})", highlight=False)
    first = data["first_mismatch"]
    if first is None:
        console.print("chain: every record matches its seal and the seal before it", highlight=False)
    else:
        console.print(
            f"chain: FAILED at record #{first['seq']} ({first['id']}): {first['reason']}; "
            f"{data['mismatches']} record(s) do not match",
            highlight=False,
        )
    if data["head"] is not None:
        console.print(f"newest record checked: #{data['head']['seq']}, seal {data['head']['hash']}", highlight=False)
    if data["anchor_found"] is not None:
        found = "found" if data["anchor_found"] else "NOT FOUND: records were removed or rewritten since"
        console.print(f"anchor: {found}", highlight=False)
    if data["missing_guards"]:
        console.print(f"guards: MISSING or disabled: {', '.join(data['missing_guards'])}", highlight=False)
    else:
        console.print("guards: the append-only triggers are in place", highlight=False)


@records_app.command("migrate")
def migrate(database_url: DatabaseOpt = None, config: ConfigOpt = None) -> None:
    """Create or upgrade the records database (as its owner; the service's own role need not be able to)."""
    store_module, url, shown = _database(database_url, config)
    store_module.migrate(url)
    _console().print(f"{shown}: the records schema is up to date", highlight=False)
