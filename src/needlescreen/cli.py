"""The ``needlescreen`` command line (typer and rich): the clinician's adapter around :func:`screen`.

Exit codes a script can use: 0 clear, 10 caution, 20 refer, 2 invalid input or rule files, 3 engine error.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .errors import EngineError, IntakeError, RuleFileError
from .result import ScreeningResult
from .ruleset import load_ruleset
from .screening import Screener, parse_intake

__all__ = ["EXIT_CODES", "app", "main"]

EXIT_CODES = {"clear": 0, "caution": 10, "refer": 20, "invalid": 2, "engine": 3}
_COLOURS = {"clear": "bold white on green", "caution": "bold black on yellow", "refer": "bold white on red"}
_WORDS = {
    "clear": "CLEAR - no contraindication found in the information given",
    "caution": "CAUTION - needle only with the modifications below",
    "refer": "REFER - do not needle (at the sites shown) without clearance",
}

app = typer.Typer(
    name="needlescreen",
    help="Screen a patient for contraindications before dry needling and electrical dry needling.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def _fail(message: str, code: int) -> typer.Exit:
    _console(stderr=True).print(Text(message, style="bold red" if sys.stderr.isatty() else ""))
    return typer.Exit(code)


def _read(path: str) -> tuple[str, str]:
    if path == "-":
        return sys.stdin.read(), "<stdin>"
    try:
        return Path(path).read_text(encoding="utf-8"), path
    except OSError as exc:
        raise _fail(f"error: cannot read {path}: {exc.strerror}", EXIT_CODES["invalid"]) from None


def render(result: ScreeningResult, console: Console) -> None:
    """Print a result for a clinician: verdict first, then reasons, alternatives, sources and what is missing."""
    console.print(Panel(Text(_WORDS[result.verdict], justify="center"), style=_COLOURS[result.verdict]))
    technique = "electrical dry needling" if result.technique == "electrical" else "dry needling"
    console.print(f"Planned: {technique}")
    sites = Table(title="Sites", show_lines=False, expand=False)
    sites.add_column("site")
    sites.add_column("where")
    sites.add_column("verdict")
    for sv in result.sites:
        where = " ".join(x for x in (sv.site.side, sv.site.region_label) if x)
        if sv.site.muscle:
            where += f" ({sv.site.muscle})"
        sites.add_row(sv.site.id, where, Text(sv.verdict.upper(), style=_COLOURS[sv.verdict]))
    console.print(sites)
    if result.findings:
        console.print(Text("Reasons", style="bold underline"))
    for f in result.findings:
        where = f" - site {f.site.id}" if f.site else f" - circuit {f.circuit[0]}~{f.circuit[1]}" if f.circuit else ""
        status = " (information missing)" if f.status == "unknown" else ""
        head = Text()
        head.append(f" {f.verdict.upper()} ", style=_COLOURS[f.verdict])
        head.append(f" {f.summary}{status}{where}  [{f.rule_id}, {f.classification}]")
        console.print(head)
        for m in f.modifications:
            console.print(f"    instead: {m}")
        if f.missing:
            console.print(f"    unknown: {', '.join(f.missing)}")
        console.print(f"    sources: {', '.join(r.key for r in f.references)}", style="dim")
    if result.missing:
        console.print(Text("Still unknown (answer these to firm up the verdict)", style="bold underline"))
        for item in result.missing:
            console.print(f"  - {item.question}  [{item.fact}; {', '.join(item.rules)}]")
    if result.unrecognised_medications:
        console.print(f"Unrecognised medications (verify): {', '.join(result.unrecognised_medications)}")
    console.print(
        f"ruleset {result.ruleset.name} {result.ruleset.revision} ({result.ruleset.content_hash[:12]}), "
        f"engine {result.engine}, decision {result.decision_id}",
        style="dim",
    )


@app.command()
def check(
    file: Annotated[str, typer.Argument(help="Intake as JSON or YAML; '-' reads standard input.")],
    output: Annotated[Literal["text", "json"], typer.Option("--format", "-f", help="text or json")] = "text",
    engine: Annotated[
        Literal["auto", "durable_rules", "plain"], typer.Option(help="auto uses durable_rules where it loads")
    ] = "auto",
    policy: Annotated[Path | None, typer.Option(help="A clinic policy override file.")] = None,
    rules: Annotated[Path | None, typer.Option(help="A ruleset directory (default: the bundled one).")] = None,
) -> None:
    """Screen one intake and print the verdict with its reasons."""
    text, source = _read(file)
    try:
        intake = parse_intake(text, source=source)
        screener = Screener(load_ruleset(rules, policy_file=policy), engine=engine)
        result = screener.screen(intake)
    except (IntakeError, RuleFileError) as exc:
        raise _fail(f"error: {exc}", EXIT_CODES["invalid"]) from None
    except EngineError as exc:
        raise _fail(f"engine error (no verdict given): {exc}", EXIT_CODES["engine"]) from None
    if output == "json":
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    else:
        render(result, _console())
    raise typer.Exit(EXIT_CODES[result.verdict])


@app.command()
def schema(
    which: Annotated[Literal["intake", "result"], typer.Argument(help="intake or result")] = "intake",
) -> None:
    """Print the JSON Schema of the intake or the result."""
    import json

    from .intake import Intake

    model = Intake if which == "intake" else ScreeningResult
    sys.stdout.write(json.dumps(model.model_json_schema(), indent=2) + "\n")


def main() -> None:
    """Entry point of the ``needlescreen`` script."""
    app()
