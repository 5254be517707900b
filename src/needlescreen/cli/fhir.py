"""``fhir``: the intake questionnaire as a FHIR Questionnaire, and a chart Bundle screened (the fhir extra)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Annotated, Any

import typer

from ._app import EXIT_CODES, EngineOpt, PolicyOpt, RulesOpt, _fail, _read, _screener, _user_errors, app

fhir_app = typer.Typer(
    help="FHIR R4: the questionnaire, and chart Bundles screened (needs needlescreen[fhir]).", no_args_is_help=True
)
app.add_typer(fhir_app, name="fhir")

_FHIR_MODULES = {"fhir", "fhir_core", "jwt", "cryptography"}


def fhir_module(name: str) -> Any:
    """Import a module of needlescreen.fhir, or exit with the install hint when the extra is missing."""
    import importlib

    try:
        return importlib.import_module(f"needlescreen.fhir.{name}")
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in _FHIR_MODULES:
            raise
        raise _fail(
            "error: FHIR needs the fhir extra: pip install 'needlescreen[fhir]'", EXIT_CODES["invalid"]
        ) from None


@fhir_app.command()
def questionnaire(rules: RulesOpt = None) -> None:
    """Print the intake questionnaire as an R4B (SDC) Questionnaire in JSON."""
    q = fhir_module("questionnaire")
    from needlescreen.ruleset import load_ruleset

    with _user_errors():
        ruleset = load_ruleset(rules)
        out = q.fhir_questionnaire(q.bundled_questionnaire(ruleset), version=ruleset.revision)
    sys.stdout.write(json.dumps(json.loads(out.model_dump_json()), indent=2, ensure_ascii=False) + "\n")


@fhir_app.command()
def screen(
    file: Annotated[str, typer.Argument(help="A FHIR Bundle (JSON) with a needling ServiceRequest; '-' reads stdin.")],
    now: Annotated[str | None, typer.Option(help="What 'now' is for lab ages, ISO 8601 (default: the clock).")] = None,
    engine: EngineOpt = "auto",
    policy: PolicyOpt = None,
    rules: RulesOpt = None,
) -> None:
    """Screen a chart Bundle and print the result as a FHIR Bundle (GuidanceResponse and DetectedIssues)."""
    chart_mod, guidance = fhir_module("chart"), fhir_module("guidance")
    text, source = _read(file)
    try:
        when = dt.datetime.fromisoformat(now) if now else None
    except ValueError:
        raise _fail(f"error: --now: not an ISO 8601 date and time: {now!r}", EXIT_CODES["invalid"]) from None
    with _user_errors(source):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _fail(f"error: {source}: not JSON ({exc.msg}, line {exc.lineno})", EXIT_CODES["invalid"]) from None
        screener = _screener(rules, policy, engine)
        chart = chart_mod.read_chart(data, now=when, ruleset=screener.ruleset)
        if chart.intake is None:
            raise _fail(
                f"error: {source}: no needling ServiceRequest with body sites (the planned sites)",
                EXIT_CODES["invalid"],
            )
        result = screener.screen(chart.intake)
    bundle = guidance.result_bundle(result, chart)
    sys.stdout.write(json.dumps(json.loads(bundle.model_dump_json()), indent=2, ensure_ascii=False) + "\n")
    raise typer.Exit(EXIT_CODES[result.verdict])
