"""``check`` (one intake, the verdict with its reasons) and ``explain`` (every rule and the facts it read)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.text import Text

from needlescreen.conditions import Truth, evaluate
from needlescreen.result import ScreeningResult
from needlescreen.ruleset import Ruleset, load_ruleset

from ._app import (
    EXIT_CODES,
    EngineOpt,
    FormatOpt,
    FullOpt,
    PolicyOpt,
    RulesOpt,
    _console,
    _read,
    _screener,
    _user_errors,
    app,
)
from .render import _WORDS, _badge_line, _emit, _summary_footer, _summary_head

#: ``check`` also prints the result as FHIR (a Bundle of a GuidanceResponse and DetectedIssues; the fhir extra).
CheckFormatOpt = Annotated[Literal["text", "json", "fhir"], typer.Option("--format", "-f", help="text, json or fhir")]


@app.command()
def check(  # noqa: PLR0917 - typer maps each parameter to a command-line option
    file: Annotated[str, typer.Argument(help="Intake as JSON or YAML; '-' reads standard input.")],
    output: CheckFormatOpt = "text",
    full: FullOpt = False,
    engine: EngineOpt = "auto",
    policy: PolicyOpt = None,
    rules: RulesOpt = None,
) -> None:
    """Screen one intake: the verdict, each site, what to do and what to find out (--full: every reason)."""
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
        _emit(result, output, full=full)
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


_MARKS = {"true": "FIRED", "unknown": "UNKNOWN", "false": "no"}


def _evaluation_line(ev: dict[str, Any]) -> str:
    verdict = f" -> {ev['verdict']}" if ev["verdict"] else ""
    facts_text = ", ".join(f"{k}={v}" for k, v in ev["facts"].items())
    return f"    {ev['where']}: {_MARKS[ev['outcome']]}{verdict}  [{facts_text}]"


def _acted(entry: dict[str, Any], outcome: str, every_site: set[str]) -> tuple[str, str] | None:
    """One line for a rule's evaluations with this outcome: its worst verdict, where, and the facts that tell."""
    evaluations = [ev for ev in entry["evaluations"] if ev["outcome"] == outcome]
    if not evaluations:
        return None
    verdict = "refer" if any(ev["verdict"] == "refer" for ev in evaluations) else "caution"
    places = [ev["where"].split(" ", 1)[1] for ev in evaluations if ev["where"] != "patient"]
    where = ""
    if places:
        where = " at every site" if len(places) > 1 and set(places) == every_site else f" at {', '.join(places)}"
    if outcome == "unknown":
        missing = sorted({k for ev in evaluations for k, v in ev["facts"].items() if v == "unknown"})
        return verdict, f"{entry['rule_id']} undecided{where}: {', '.join(missing)} unknown"
    # The known answers it read; a site's place in the region hierarchy is left to --full (a long list).
    known = {k: v for ev in evaluations for k, v in ev["facts"].items() if v != "unknown" and not isinstance(v, list)}
    return verdict, f"{entry['rule_id']} fired{where}: " + ", ".join(f"{k}={v}" for k, v in known.items())


def _explain_summary(report: list[dict[str, Any]], result: ScreeningResult, console: Console) -> None:
    """The verdict, then one line per rule that fired or could not be decided, with the facts that tell."""
    _summary_head(result, console)
    every_site = {sv.site.id for sv in result.sites}
    lines: list[tuple[str, str, str]] = []
    for entry in report:
        for outcome in ("true", "unknown"):
            line = _acted(entry, outcome, every_site)
            if line is not None:
                lines.append((line[0], outcome, line[1]))
    lines.sort(key=lambda line: (line[0] != "refer", line[1] != "true"))
    acted = len({text.split(" ", 1)[0] for _, _, text in lines})
    console.print(
        Text(
            f"Why: {acted} of {len(report)} rules fired or could not be decided (the others found nothing)",
            style="bold underline",
        )
    )
    for verdict, _, text in lines:
        _badge_line(console, verdict, text)
    _summary_footer(result, console, "explain --full: every rule on every site with every fact it read")


@app.command()
def explain(  # noqa: PLR0917 - typer maps each parameter to a command-line option
    file: Annotated[str, typer.Argument(help="Intake as JSON or YAML; '-' reads standard input.")],
    output: FormatOpt = "text",
    full: FullOpt = False,
    engine: EngineOpt = "auto",
    policy: PolicyOpt = None,
    rules: RulesOpt = None,
) -> None:
    """Why the verdict: the rules that fired or could not be decided and the facts they read (--full: every rule).

    The verdict stated is the screening's (as ``check`` gives it). Exit 0: this is a report, not a screening.
    """
    from needlescreen.facts import normalise
    from needlescreen.screening import Screener, parse_intake

    text, source = _read(file)
    with _user_errors(source):
        ruleset = load_ruleset(rules, policy_file=policy)
        intake = parse_intake(text, source=source)
        facts = normalise(
            intake, ruleset.regions, ruleset.medications, ruleset.codes, ruleset.body, vocabulary=ruleset.vocabulary
        )
        result = Screener(ruleset, engine=engine).screen(intake)
    report = _explain(ruleset, facts)
    if output == "json":
        sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        return
    console = _console()
    if not full:
        _explain_summary(report, result, console)
        return
    _summary_head(result, console)
    for entry in report:
        console.print(Text(f"{entry['rule_id']}  ({entry['scope']}) {entry['title']}", style="bold"))
        if not entry["evaluations"]:
            console.print(Text("    not evaluated: no circuit in this plan", style="dim"))
        for ev in entry["evaluations"]:
            console.print(Text(_evaluation_line(ev)))
    # Three hundred lines scroll the verdict away: it is stated again at the end.
    console.print(Text(f"Verdict: {_WORDS[result.verdict]}", style="bold"))
