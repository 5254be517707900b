"""``record``: the printable screening record of a result, as HTML or a PDF (needs the web extra)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ._app import EXIT_CODES, EngineOpt, PolicyOpt, RulesOpt, _fail, _read, _screener, _user_errors, app

_WEB_MODULES = {"jinja2", "itsdangerous", "weasyprint", "fastapi", "starlette", "sqlalchemy", "orjson", "uvicorn"}


def _web() -> Any:
    try:
        from needlescreen.web import record as web_record
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in _WEB_MODULES:
            raise
        raise _fail("error: the record needs the web extra: pip install 'needlescreen[web]'", 2) from None
    return web_record


@app.command()
def record(
    result_file: Annotated[
        str,
        typer.Argument(
            metavar="RESULT.json", help="A result (check --format json, ask --save-result) or a stored record."
        ),
    ],
    *,
    pdf: Annotated[Path | None, typer.Option("--pdf", help="Write the record as an A4 PDF here.")] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Write the record as an HTML page here.")] = None,
    intake: Annotated[
        Path | None, typer.Option(help="The intake that was screened (patient reference, clinician, date).")
    ] = None,
    engine: EngineOpt = "auto",
    rules: RulesOpt = None,
    policy: PolicyOpt = None,
) -> None:
    """Print the screening record of a result: verdict per site, reasons, what to do, consent points, signature."""
    from needlescreen import ScreeningResult, parse_intake

    if pdf is None and html is None:
        raise _fail("error: give --pdf OUT and/or --html OUT", EXIT_CODES["invalid"])
    text, source = _read(result_file)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _fail(f"error: {source}: not JSON ({exc})", EXIT_CODES["invalid"]) from None
    stored_intake = None
    if isinstance(data, dict) and "result" in data and "intake" in data:  # GET /screenings/{id}
        stored_intake, data = data["intake"], data["result"]
    try:
        result = ScreeningResult.model_validate(data)
    except ValueError as exc:
        raise _fail(f"error: {source}: not a needlescreen result ({str(exc).splitlines()[0]})", 2) from None
    web_record = _web()
    with _user_errors(str(intake) if intake else source):
        screened = None
        if intake is not None:
            screened = parse_intake(intake.read_bytes(), source=str(intake))
        elif stored_intake is not None:
            screened = parse_intake(stored_intake)
        context = web_record.record_context(_screener(rules, policy, engine), screened, result)
    if html is not None:
        html.write_text(web_record.record_html(context, standalone=True), encoding="utf-8")
    if pdf is not None:
        try:
            pdf.write_bytes(web_record.record_pdf(context))
        except RuntimeError as exc:
            raise _fail(f"error: {exc}", EXIT_CODES["invalid"]) from None
        except OSError as exc:
            raise _fail(f"error: cannot write {pdf}: {exc.strerror}", EXIT_CODES["invalid"]) from None
