"""``check`` (one intake, the verdict with its reasons) and ``explain`` (every rule and the facts it read)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, Literal

import typer
from rich.text import Text

from needlescreen.conditions import Truth, evaluate
from needlescreen.ruleset import Ruleset, load_ruleset

from ._app import (
    EXIT_CODES,
    EngineOpt,
    FormatOpt,
    PolicyOpt,
    RulesOpt,
    _console,
    _read,
    _screener,
    _user_errors,
    app,
)
from .render import _emit

#: ``check`` also prints the result as FHIR (a Bundle of a GuidanceResponse and DetectedIssues; the fhir extra).
CheckFormatOpt = Annotated[Literal["text", "json", "fhir"], typer.Option("--format", "-f", help="text, json or fhir")]


@app.command()
def check(
    file: Annotated[str, typer.Argument(help="Intake as JSON or YAML; '-' reads standard input.")],
    output: CheckFormatOpt = "text",
    engine: EngineOpt = "auto",
    policy: PolicyOpt = None,
    rules: RulesOpt = None,
) -> None:
    """Screen one intake and print the verdict with its reasons."""
    from needlescreen.screening import parse_intake

    text, source = _read(file)
    with _user_errors(source):
        intake = parse_intake(text, source=source)
        result = _screener(rules, policy, engine).screen(intake)
    if output == "fhir":
        from .fhir import fhir_module

        bundle = fhir_module("guidance").result_bundle(result)
        sys.stdout.write(json.dumps(json.loads(bundle.model_dump_json()), indent=2, ensure_ascii=False) + "\n")
    else:
        _emit(result, output)
    raise typer.Exit(EXIT_CODES[result.verdict])


def _shown(value: object) -> object:
    return sorted(value) if isinstance(value, frozenset) else value


def _explain(ruleset: Ruleset, facts: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for rule in ruleset.rules:
        if rule.fact_scope == "patient":
            sets = [("patient", facts.patient)]
        elif rule.fact_scope == "site":
            sets = [(f"site {site.id}", fs) for site, fs in facts.sites]
        else:
            sets = [(f"circuit {name}", fs) for name, fs in facts.circuits]
        evaluations = []
        for where, fs in sets:
            truth = evaluate(rule.condition, fs)
            verdict = rule.verdict if truth is Truth.TRUE else rule.unknown_verdict if truth is Truth.UNKNOWN else None
            evaluations.append(
                {
                    "where": where,
                    "outcome": truth.name.lower(),
                    "verdict": verdict,
                    "facts": {n: _shown(fs[n]) if n in fs else "unknown" for n in rule.reads},
                }
            )
        out.append({"rule_id": rule.id, "scope": rule.scope, "title": rule.title, "evaluations": evaluations})
    return out


@app.command()
def explain(
    file: Annotated[str, typer.Argument(help="Intake as JSON or YAML; '-' reads standard input.")],
    output: FormatOpt = "text",
    policy: PolicyOpt = None,
    rules: RulesOpt = None,
) -> None:
    """Show every rule, whether it fired for this intake, and the facts it looked at."""
    from needlescreen.facts import normalise
    from needlescreen.screening import parse_intake

    text, source = _read(file)
    with _user_errors(source):
        ruleset = load_ruleset(rules, policy_file=policy)
        intake = parse_intake(text, source=source)
        facts = normalise(
            intake, ruleset.regions, ruleset.medications, ruleset.codes, ruleset.body, vocabulary=ruleset.vocabulary
        )
    report = _explain(ruleset, facts)
    if output == "json":
        sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        return
    console = _console()
    marks = {"true": "FIRED", "unknown": "UNKNOWN", "false": "no"}
    for entry in report:
        console.print(Text(f"{entry['rule_id']}  ({entry['scope']}) {entry['title']}", style="bold"))
        if not entry["evaluations"]:
            console.print(Text("    not evaluated: no circuit in this plan", style="dim"))
        for ev in entry["evaluations"]:
            verdict = f" -> {ev['verdict']}" if ev["verdict"] else ""
            facts_text = ", ".join(f"{k}={v}" for k, v in ev["facts"].items())
            console.print(Text(f"    {ev['where']}: {marks[ev['outcome']]}{verdict}  [{facts_text}]"))
