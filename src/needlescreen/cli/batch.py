"""``batch``: a day's list screened on every core, one result or error per row."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, Annotated, Any, Literal

import typer
from rich.text import Text

from needlescreen.ruleset import load_ruleset

from ._app import (
    EXIT_CODES,
    EngineOpt,
    PolicyOpt,
    RulesOpt,
    _console,
    _fail,
    _user_errors,
    app,
)


def _default_output(path: str, what: str) -> Path:
    p = Path(path)
    stem = p.name[: -len(p.suffix)] if p.suffix else p.name
    return p.with_name(f"{stem}.{what}.jsonl")


@app.command()
def batch(  # noqa: PLR0917 - typer maps each parameter to a command-line option
    file: Annotated[str, typer.Argument(help="JSON lines (one intake per line) or CSV (an 'intake' column).")],
    out: Annotated[
        Path | None, typer.Option("--output", "-o", help="Results file (default FILE.results.jsonl; '-' = stdout).")
    ] = None,
    errors: Annotated[Path | None, typer.Option(help="Errors file (default FILE.errors.jsonl).")] = None,
    input_format: Annotated[
        Literal["auto", "jsonl", "csv"], typer.Option(help="auto: CSV for .csv files, else JSON lines")
    ] = "auto",
    workers: Annotated[int | None, typer.Option(min=1, help="Worker processes (default: every core).")] = None,
    strict: Annotated[bool, typer.Option(help="Exit 2 when any row was rejected.")] = False,
    summary_format: Annotated[
        Literal["text", "json"], typer.Option("--format", "-f", help="Summary as text or json")
    ] = "text",
    engine: EngineOpt = "auto",
    policy: PolicyOpt = None,
    rules: RulesOpt = None,
) -> None:
    """Screen every intake of a file on every core: one result per row, rejected rows to an errors file.

    Rows in = results out + errors out. Exit 0 when every row was processed (rejected rows included, unless
    --strict), 2 for an unreadable file or rule files, 3 when the engine failed on any row.
    """
    import os

    from needlescreen.batch import BatchConfig, Summary, count_rows, detect_format, read_rows, screen_rows

    from_stdin = file == "-"
    if from_stdin and (out is None or errors is None):
        raise _fail("error: reading standard input needs --output and --errors", EXIT_CODES["invalid"])
    if not from_stdin and not Path(file).is_file():
        raise _fail(f"error: cannot read {file}: no such file", EXIT_CODES["invalid"])
    results_path = out if out is not None else _default_output(file, "results")
    errors_path = errors if errors is not None else _default_output(file, "errors")
    if not from_stdin and any(
        str(p) != "-" and p.resolve() == Path(file).resolve() for p in (results_path, errors_path)
    ):
        raise _fail("error: an output file would overwrite the input", EXIT_CODES["invalid"])
    fmt = detect_format(file) if input_format == "auto" else input_format
    config = BatchConfig(rules=str(rules) if rules else None, policy=str(policy) if policy else None, engine=engine)
    with _user_errors():
        load_ruleset(rules, policy_file=policy)  # fail on bad rule files before reading a single row
    total = None if from_stdin else count_rows(Path(file), fmt)
    summary = Summary()
    progress_console = _console(stderr=True)
    show_progress = sys.stderr.isatty()
    stream: IO[bytes] = sys.stdin.buffer if from_stdin else Path(file).open("rb")  # noqa: SIM115 - closed below
    try:
        results_out: IO[str] = (
            sys.stdout if str(results_path) == "-" else results_path.open("w", encoding="utf-8", newline="\n")
        )
        errors_out = errors_path.open("w", encoding="utf-8", newline="\n")
    except OSError as exc:
        stream.close()
        raise _fail(f"error: cannot write {exc.filename}: {exc.strerror}", EXIT_CODES["invalid"]) from None
    try:
        with _user_errors():
            outcomes = screen_rows(read_rows(stream, fmt, name=file), config, workers=workers or os.cpu_count())
            if show_progress:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

                with Progress(
                    TextColumn("screening"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=progress_console,
                ) as progress:  # fmt: skip
                    task = progress.add_task("rows", total=total)
                    for outcome in outcomes:
                        _write(outcome, results_out, errors_out, summary)
                        progress.advance(task)
            else:
                for outcome in outcomes:
                    _write(outcome, results_out, errors_out, summary)
    finally:
        stream.close()
        errors_out.close()
        if results_out is not sys.stdout:
            results_out.close()
    c = summary.counts
    if summary_format == "json":
        data: dict[str, Any] = {"rows": summary.rows, "results": summary.results, "errors": summary.errors, **c}
        data |= {"results_file": str(results_path), "errors_file": str(errors_path)}
        target = sys.stderr if str(results_path) == "-" else sys.stdout
        target.write(json.dumps(data) + "\n")
    else:
        progress_console.print(
            Text(
                f"{summary.rows} rows: clear {c['clear']}, caution {c['caution']}, refer {c['refer']}, "
                f"rejected {c['invalid']}, engine errors {c['engine']}, internal errors {c['internal']}\n"
                f"results: {results_path} ({summary.results}); errors: {errors_path} ({summary.errors})"
            )
        )
    if summary.failed:
        raise typer.Exit(EXIT_CODES["engine"])
    if strict and c["invalid"]:
        raise typer.Exit(EXIT_CODES["invalid"])
    raise typer.Exit(0)


def _write(outcome: Any, results: IO[str], errors: IO[str], summary: Any) -> None:
    summary.add(outcome.kind)
    target = results if outcome.kind in ("clear", "caution", "refer") else errors
    target.write(outcome.json_line + "\n")
