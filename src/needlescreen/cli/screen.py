"""``check`` (one intake, the verdict with its reasons) and ``explain`` (every rule and the facts it read)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

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
from .render import _WORDS, _bullets, _emit, _summary_footer, _summary_head, _what_to_find_out


@app.command()
def check(  # noqa: PLR0917 - typer maps each parameter to a command-line option
    file: Annotated[str, typer.Argument(help="Intake as JSON or YAML; '-' reads standard input.")],
    output: FormatOpt = "text",
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


def _explain_summary(report: list[dict[str, Any]], result: ScreeningResult, console: Console) -> None:
    """The verdict, then only the rules that fired or could not be decided, with the facts they read."""
    _summary_head(result, console)
    rank = {"refer": 0, "caution": 1}
    acting = sorted(
        (e for e in report if any(ev["outcome"] != "false" for ev in e["evaluations"])),
        key=lambda e: min(rank[ev["verdict"]] for ev in e["evaluations"] if ev["verdict"]),
    )
    console.print(
        Text(
            f"Why: {len(acting)} of {len(report)} rules fired or could not be decided for lack of information "
            "(the others found nothing)",
            style="bold underline",
        )
    )
    for entry in acting:
        console.print(Text(f"{entry['rule_id']}  {entry['title']}", style="bold"))
        lines = [_evaluation_line(ev).strip() for ev in entry["evaluations"] if ev["outcome"] != "false"]
        _bullets(console, "   ", lines, hang=2)
    _what_to_find_out(result, console, undecided=False)
    _summary_footer(result, console, "explain --full: every rule on every site with the facts it read")


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
