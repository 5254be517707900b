"""``impact``: what a proposed ruleset or clinic policy would change for a cohort, before switching to it."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.table import Table
from rich.text import Text

from ._app import EXIT_CODES, EngineOpt, PolicyOpt, RulesOpt, _console, _fail, _user_errors, app

if TYPE_CHECKING:
    from needlescreen.impact import Impact, ImpactConfig


@app.command()
def impact(  # noqa: PLR0917 - typer maps each parameter to a command-line option
    cohort: Annotated[
        str,
        typer.Argument(
            help="A JSON-lines file of intakes, a directory of intake files (.json/.yaml), or the service's "
            "database URL (sqlite:///needlescreen.db, postgresql://...; needs the server extra)."
        ),
    ],
    to_rules: Annotated[Path | None, typer.Option(help="The proposed ruleset directory.")] = None,
    to_policy: Annotated[Path | None, typer.Option(help="The proposed clinic policy file.")] = None,
    output_format: Annotated[
        Literal["text", "json"], typer.Option("--format", "-f", help="The report on stdout: text or json")
    ] = "text",
    json_file: Annotated[Path | None, typer.Option("--json", help="Also write the JSON report to this file.")] = None,
    chart: Annotated[
        Path | None, typer.Option(help="Write a chart for a clinical lead (.png or .svg; the charts extra).")
    ] = None,
    title: Annotated[str | None, typer.Option(help="The chart's title (default: what is proposed).")] = None,
    show: Annotated[int, typer.Option(min=0, help="Records with a verdict move listed in the text report.")] = 25,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes, or local Dask workers (default: every core).")
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            metavar="ADDRESS",
            help="Screen on a Dask cluster: a scheduler address (tcp://host:8786) or 'local' (needs the dask extra); "
            "rule and policy files must be readable at the same paths on every worker.",
        ),
    ] = None,
    engine: EngineOpt = "auto",
    policy: PolicyOpt = None,
    rules: RulesOpt = None,
) -> None:
    """Screen a cohort under the current and the proposed rules or policy, and report whose verdict moves.

    The current configuration is --rules and --policy (default: the bundled rules and policy); the proposed one
    replaces them with --to-rules and/or --to-policy. Reports the verdict moves (clear -> caution, ...), each
    rule giving caution or refer to more or fewer records, and every record whose verdict moves. Records either
    configuration rejects are listed, never counted. Exit 0 on a report, 2 for unreadable input or rule files,
    3 when the engine failed (no report).
    """
    from needlescreen.impact import ImpactConfig, read_directory, read_jsonl, render_chart, to_json_text
    from needlescreen.impact import impact as run_impact

    if to_rules is None and to_policy is None:
        raise _fail("error: nothing proposed: give --to-rules, --to-policy or both", EXIT_CODES["invalid"])
    if chart is not None and chart.suffix.lower() not in (".png", ".svg"):
        raise _fail(f"error: {chart}: the chart is written as .png or .svg", EXIT_CODES["invalid"])
    config = ImpactConfig(
        rules=str(rules) if rules else None,
        policy=str(policy) if policy else None,
        to_rules=str(to_rules) if to_rules else None,
        to_policy=str(to_policy) if to_policy else None,
        engine=engine,
    )
    rows: Iterator[tuple[str, str | Mapping[str, Any]]]
    if "://" in cohort:
        rows = _stored_intakes(cohort)
    elif Path(cohort).is_dir():
        rows = read_directory(cohort)
    elif Path(cohort).is_file():
        rows = read_jsonl(cohort)
    else:
        raise _fail(f"error: cannot read {cohort}: no such file or directory", EXIT_CODES["invalid"])
    with _user_errors(source=cohort):
        report = _on_dask(rows, config, dask, workers) if dask else run_impact(rows, config, workers=workers)
    text = to_json_text(report)
    if json_file is not None:
        _write(json_file, text.encode("utf-8"))
    if chart is not None:
        try:
            image = render_chart(
                report, "svg" if chart.suffix.lower() == ".svg" else "png", title=title or _what(config)
            )
        except ImportError as exc:
            raise _fail(f"error: {exc}", EXIT_CODES["invalid"]) from None
        _write(chart, image)
    if output_format == "json":
        sys.stdout.write(text)
    else:
        _print(report, config, show)


def _on_dask(rows: Iterator[Any], config: ImpactConfig, address: str, workers: int | None) -> Impact:
    try:
        from needlescreen._dask import connect, impact_dask
    except ImportError:
        raise _fail(
            "error: --dask needs the dask extra: pip install 'needlescreen[dask]'", EXIT_CODES["invalid"]
        ) from None
    with contextlib.ExitStack() as stack:
        try:
            client = stack.enter_context(connect(address, workers=workers))
        except OSError as exc:
            raise _fail(f"error: cannot reach the Dask scheduler at {address}: {exc}", EXIT_CODES["invalid"]) from None
        return impact_dask(rows, config, client)


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise _fail(f"error: cannot write {path}: {exc.strerror}", EXIT_CODES["invalid"]) from None


def _what(config: ImpactConfig) -> str:
    to_rules, to_policy = config.to_rules, config.to_policy
    parts = [f"rules {Path(to_rules).name}" if to_rules else "", f"policy {Path(to_policy).name}" if to_policy else ""]
    return "What switching to " + " and ".join(p for p in parts if p) + " would change"


def _stored_intakes(url: str) -> Iterator[tuple[str, str | Mapping[str, Any]]]:
    """The current version of every screening record in the service's database (superseded ones are skipped).

    Read through the service's record store, so this needs the server extra.
    """
    try:
        from needlescreen.server.store import Store
    except ImportError as exc:
        raise _fail(
            f"error: reading stored records needs the server extra (pip install 'needlescreen[server]'): {exc}",
            EXIT_CODES["invalid"],
        ) from None
    try:
        store = Store(url)
        try:
            records = store.current_intakes()
        finally:
            store.close()
    except Exception as exc:  # a database that cannot be read is the user's to fix (URL, migrations)
        raise _fail(f"error: cannot read records from {url}: {exc}", EXIT_CODES["invalid"]) from None
    yield from records


def _print(report: Impact, config: ImpactConfig, show: int) -> None:
    from needlescreen.impact import VERDICTS

    console = _console()
    cur, new = report.current, report.proposed
    console.print(Text(_what(config), style="bold"))
    console.print(
        f"now: {cur.get('ruleset', '?')} {cur.get('revision', '?')}, policy {cur.get('policy_source', '?')}\n"
        f"proposed: {new.get('ruleset', '?')} {new.get('revision', '?')}, policy {new.get('policy_source', '?')}"
    )
    moved = len(report.moved)
    console.print(
        f"{report.screened} screenings compared: {moved} change verdict, {report.reasons_changed} keep their "
        f"verdict with other reasons; {len(report.rejected)} could not be screened"
    )
    grid = Table(title="Verdicts (rows: now, columns: proposed)")
    grid.add_column("now \\ proposed")
    for v in VERDICTS:
        grid.add_column(v, justify="right")
    grid.add_column("total", justify="right")
    before = report.verdicts_before
    for a in VERDICTS:
        grid.add_row(a, *(f"{report.moves[a, b]:,}" for b in VERDICTS), f"{before[a]:,}")
    after = report.verdicts_after
    grid.add_row("total", *(f"{after[b]:,}" for b in VERDICTS), f"{report.screened:,}")
    console.print(grid)
    changes = report.rule_changes()
    if changes:
        table = Table(title="Rules giving caution or refer to more or fewer screenings")
        table.add_column("rule", no_wrap=True)
        for name in ("caution now", "caution proposed", "refer now", "refer proposed"):
            table.add_column(name, justify="right")
        for rule_id, c in changes:
            table.add_row(rule_id, f"{c[0]:,}", f"{c[2]:,}", f"{c[1]:,}", f"{c[3]:,}")
        console.print(table)
    else:
        console.print("No rule gives caution or refer to a different number of screenings.")
    if report.moved and show:
        table = Table(title=f"Screenings whose verdict moves ({min(show, moved)} of {moved}; all in --json)")
        for name in ("record", "patient", "now", "proposed"):
            table.add_column(name, no_wrap=True)
        table.add_column("because", overflow="fold")
        for m in report.moved[:show]:
            why = "; ".join(f"{r} {b or '-'}→{a or '-'}" for r, b, a in m.rules)
            table.add_row(m.record, m.patient_ref or "", m.before, m.after, why)
        console.print(table)
    for r in report.rejected[:show]:
        console.print(Text(f"not screened ({r.side}): {r.record}: {r.message}"))
