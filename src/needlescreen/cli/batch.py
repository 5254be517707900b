"""``batch``: a day's list screened on every core or a Dask cluster, one result or error per row.

Outputs are written as ``*.partial`` files and renamed when the run is complete, so earlier outputs are never
touched by a run that does not finish (and not at all without ``--force``). Ctrl-C, SIGTERM or SIGHUP stop
the run after the rows in hand: the partial files hold complete rows for a prefix of the input, one line says
what was written, and ``--resume`` continues from there.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, TYPE_CHECKING, Annotated, Any, Literal

import typer

from needlescreen.errors import EngineError

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

if TYPE_CHECKING:
    from needlescreen.batch import Output, Summary

#: Signals that stop a batch the way Ctrl-C does (a terminal closing sends SIGHUP; a service manager SIGTERM).
_STOP_SIGNALS = tuple(getattr(signal, s) for s in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, s))
#: After a first signal, a second one this much later ends the process at once (the stop is stuck, e.g. on
#: a full pipe); one sooner (a double Ctrl-C) just lets the stop that is under way finish.
_HARD_STOP_AFTER_S = 1.0


def _default_output(path: str, what: str) -> Path:
    p = Path(path)
    stem = p.name[: -len(p.suffix)] if p.suffix else p.name
    return p.with_name(f"{stem}.{what}.jsonl")


class _Stopper:
    """Signal handlers that ask the batch to stop; they never raise, so no traceback can reach the terminal."""

    def __init__(self, last_resort: Callable[[int], None]) -> None:
        self.event = threading.Event()
        self.signum: int | None = None
        self._first = 0.0
        self._last_resort = last_resort
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum, self._first = signum, time.monotonic()
            self.event.set()
        elif time.monotonic() - self._first > _HARD_STOP_AFTER_S:
            self._last_resort(signum)

    def __enter__(self) -> _Stopper:
        if threading.current_thread() is threading.main_thread():
            for sig in _STOP_SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        # Once a signal has stopped the batch the process is on its way out: a later Ctrl-C (a double press that
        # lands after the stop was written) is ignored, not turned into a KeyboardInterrupt or a kill by signal.
        for sig, old in self._old.items():
            signal.signal(sig, signal.SIG_IGN if self.signum is not None else old)


def _signal_name(signum: int) -> str:
    return signal.Signals(signum).name


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


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
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes, or local Dask workers (default: every core).")
    ] = None,
    full: Annotated[bool, typer.Option("--full", help="Write the whole result per row, not the compact one.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace existing outputs (once this run is complete).")
    ] = False,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted run from its .partial files.")
    ] = False,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            metavar="ADDRESS",
            help="Screen on a Dask cluster: a scheduler address (tcp://host:8786) or 'local' (needs the dask extra).",
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option(help="Exit 2 when any row was rejected (--no-strict: rejected rows exit 0).")
    ] = True,
    summary_format: Annotated[
        Literal["text", "json"], typer.Option("--format", "-f", help="Summary as text or json")
    ] = "text",
    engine: EngineOpt = "auto",
    policy: PolicyOpt = None,
    rules: RulesOpt = None,
) -> None:
    """Screen every intake of a file on every core: one result per row, rejected rows to an errors file.

    Rows in = results out + errors out. Exit 0 when every row was screened; 2 when a row was rejected (unless
    --no-strict) or the file, rule files or outputs are unusable; 3 when the engine failed on any row; 128 +
    the signal's number when stopped by a signal (the .partial files are kept: --resume continues).
    """
    from needlescreen import batch as b

    def last_resort(signum: int) -> None:
        # A second signal while the stop is stuck: end the workers and this process now. The partial files
        # may end in a cut line, which --resume drops.
        b.kill_workers()
        sys.stderr.write(f"stopped at once by a second {_signal_name(signum)}; any partial outputs are kept\n")
        sys.stderr.flush()
        os._exit(128 + signum)

    # From here on a signal asks the batch to stop; the handlers never raise, so nothing prints a traceback.
    with _Stopper(last_resort) as stopper:
        from_stdin = file == "-"
        to_stdout = out is not None and str(out) == "-"
        if from_stdin and (out is None or errors is None):
            raise _fail("error: reading standard input needs --output and --errors", EXIT_CODES["invalid"])
        if not from_stdin and not Path(file).is_file():
            raise _fail(f"error: cannot read {file}: no such file", EXIT_CODES["invalid"])
        if resume and (from_stdin or to_stdout):
            raise _fail("error: --resume needs an input file and a results file (not '-')", EXIT_CODES["invalid"])
        results_path = None if to_stdout else (out if out is not None else _default_output(file, "results"))
        errors_path = errors if errors is not None else _default_output(file, "errors")
        outputs = [p for p in (results_path, errors_path) if p is not None]
        if not from_stdin and any(p.resolve() == Path(file).resolve() for p in outputs):
            raise _fail("error: an output file would overwrite the input", EXIT_CODES["invalid"])
        if dask:
            _dask_available()
        fmt = b.detect_format(file) if input_format == "auto" else input_format
        config = b.BatchConfig(str(rules) if rules else None, str(policy) if policy else None, engine, full)
        with _user_errors():  # bad rule files or an engine that cannot load fail here, before a row is read
            spec = config.spec()
            engine_name = b.worker_screener(spec).engine.name
        state = None
        if results_path is not None and not from_stdin:
            state = b.run_state(spec, engine_name, source=Path(file), fmt=fmt)
        _check_outputs(results_path, errors_path, state, resume=resume, force=force)
        _not_stopped(stopper)

        with contextlib.ExitStack() as stack:
            cluster = stack.enter_context(contextlib.ExitStack())
            client = _dask_client(cluster, dask, workers, stopper.event) if dask else None
            _not_stopped(stopper)
            stream: IO[bytes] = sys.stdin.buffer if from_stdin else stack.enter_context(Path(file).open("rb"))
            with _user_errors(file):  # a file that cannot be read at all fails before anything is written
                rows: Iterator[b.Row] = b.read_rows(stream, fmt, name=file)
            summary = b.Summary()
            try:
                if state is not None and not resume:
                    _write_state(b.state_path(results_path), state | {"force": force})  # type: ignore[arg-type]
                if resume and results_path is not None:
                    summary, rows = b.resume(rows, results_path, errors_path)
                stdout = sys.stdout.buffer if to_stdout else None
                output = b.Output(results_path, errors_path, append=resume, stream=stdout)
            except OSError as exc:
                raise _fail(f"error: cannot write {exc.filename}: {exc.strerror}", EXIT_CODES["invalid"]) from None
            failure: str | None = None
            failure_code = EXIT_CODES["engine"]
            try:
                if client is not None:
                    from needlescreen._dask import screen_rows_dask

                    outcomes = screen_rows_dask(rows, spec, client, stop=stopper.event)
                else:
                    outcomes = b.screen_rows(rows, spec, workers=workers or os.cpu_count(), stop=stopper.event)
                _drive(outcomes, output, summary, total=_total(from_stdin, file, fmt, summary.rows))
            except EngineError as exc:
                failure = f"engine error (no verdict given for the remaining rows): {exc}"
            except OSError as exc:
                where = f"{exc.filename}: " if exc.filename else ""
                failure, failure_code = f"error: {where}{exc.strerror or exc}", EXIT_CODES["invalid"]
            finally:
                cluster.close()  # the Dask client and a local cluster, while the handlers still hold
            # Still within the handlers: a late second Ctrl-C cannot interrupt the files' last writes.
            if stopper.signum is not None or failure is not None:
                output.suspend()
                _report_stop(output, summary, stopper.signum, failure, summary_format, resumable=state is not None)
                raise typer.Exit(128 + stopper.signum if stopper.signum is not None else failure_code)
            output.finish()
    if results_path is not None:
        b.state_path(results_path).unlink(missing_ok=True)
    _report(summary, results_path, errors_path, summary_format)
    if summary.failed:
        raise typer.Exit(EXIT_CODES["engine"])
    if strict and summary.counts["invalid"]:
        raise typer.Exit(EXIT_CODES["invalid"])
    raise typer.Exit(0)


def _not_stopped(stopper: _Stopper) -> None:
    """A signal before the first row: nothing was written, nothing to resume."""
    if stopper.signum is not None:
        sys.stderr.write(f"stopped by {_signal_name(stopper.signum)} before any row was screened: nothing written\n")
        raise typer.Exit(128 + stopper.signum)


def _dask_client(stack: contextlib.ExitStack[Any], address: str, workers: int | None, stop: Any) -> Any:
    """A Dask client for the run, closed with it; a scheduler that cannot be reached is a one-line error."""
    from needlescreen._dask import connect

    try:
        return stack.enter_context(connect(address, workers=workers, stop=stop))
    except OSError as exc:
        raise _fail(f"error: cannot reach the Dask scheduler at {address}: {exc}", EXIT_CODES["invalid"]) from None


def _dask_available() -> None:
    try:
        import needlescreen._dask  # noqa: F401 - imports dask and distributed, or fails
    except ImportError:
        raise _fail(
            "error: --dask needs the dask extra: pip install 'needlescreen[dask]'", EXIT_CODES["invalid"]
        ) from None


def _check_outputs(
    results: Path | None, errors: Path, state: dict[str, Any] | None, *, resume: bool, force: bool
) -> None:
    """Refuse to touch earlier outputs without --force, and to resume a run that is not this one."""
    from needlescreen.batch import partial_path, state_path

    finals = [p for p in (results, errors) if p is not None and p.exists()]
    partials = [partial_path(p) for p in (results, errors) if p is not None and partial_path(p).exists()]
    invalid = EXIT_CODES["invalid"]
    if resume:
        # The caller refused --resume with '-', so both are there.
        assert results is not None
        assert state is not None
        saved_file = state_path(results)
        if not saved_file.exists() or not partial_path(results).exists():
            raise _fail(f"error: nothing to resume: no {partial_path(results)} from an interrupted run", invalid)
        try:
            saved = json.loads(saved_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise _fail(f"error: cannot resume: {saved_file} cannot be read ({exc})", invalid) from None
        for key, value in state.items():
            if saved.get(key) != value:
                raise _fail(
                    f"error: cannot resume: the interrupted run's {key} was {_shown(saved.get(key))}, this run's is "
                    f"{_shown(value)} (--force without --resume starts over)",
                    invalid,
                )
        if finals and not (force or saved.get("force")):
            raise _fail(f"error: {finals[0]} exists: add --force to replace it when this run completes", invalid)
        return
    if partials and not force:
        raise _fail(
            f"error: an interrupted run left {partials[0]}: --resume continues it, --force starts over", invalid
        )
    if finals and not force:
        raise _fail(
            f"error: {finals[0]} exists: --force replaces it once this run completes (or write elsewhere with "
            "--output/--errors)",
            invalid,
        )


def _shown(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _write_state(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(state, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _total(from_stdin: bool, file: str, fmt: Any, done: int) -> int | None:
    if from_stdin or not sys.stderr.isatty():
        return None
    from needlescreen.batch import count_rows

    return count_rows(Path(file), fmt) - done


def _drive(outcomes: Iterator[Any], output: Output, summary: Summary, *, total: int | None) -> None:
    """Write each outcome as it comes, with a progress bar on a terminal."""
    if total is None:
        for outcome in outcomes:
            output.write(outcome)
            summary.add(outcome.kind)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("screening"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=_console(stderr=True), transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("rows", total=total)
        for outcome in outcomes:
            output.write(outcome)
            summary.add(outcome.kind)
            progress.advance(task)


def _report_stop(
    output: Output,
    summary: Summary,
    signum: int | None,
    failure: str | None,
    summary_format: str,
    *,
    resumable: bool,
) -> None:
    """One line: why the run stopped, how many rows are written and where, and how to continue."""
    from needlescreen.batch import partial_path

    files = [partial_path(p) for p in (output.results_path, output.errors_path) if p is not None]
    why = f"stopped by {_signal_name(signum)}" if signum is not None else failure
    then = "; --resume continues" if resumable else ""
    if summary_format == "json":
        data = {
            "stopped": _signal_name(signum) if signum is not None else "error",
            "message": why,
            "rows": summary.rows,
            "results": summary.results,
            "errors": summary.errors,
            "files": [str(f) for f in files],
            "resumable": resumable,
        }
        target = sys.stderr if output.results_path is None else sys.stdout
        target.write(json.dumps(data) + "\n")
        return
    # Written as is: one line however narrow the terminal, so a script or a person can read it whole.
    sys.stderr.write(
        f"{why}: {_plural(summary.rows, 'row')} written ({summary.results:,} results, {summary.errors:,} "
        f"errors) to {' and '.join(str(f) for f in files)}{then}\n"
    )


def _report(summary: Summary, results: Path | None, errors: Path, summary_format: str) -> None:
    c = summary.counts
    shown = str(results) if results is not None else "-"
    if summary_format == "json":
        data: dict[str, Any] = {"rows": summary.rows, "results": summary.results, "errors": summary.errors, **c}
        data |= {"results_file": shown, "errors_file": str(errors)}
        target = sys.stderr if results is None else sys.stdout
        target.write(json.dumps(data) + "\n")
        return
    sys.stderr.write(
        f"{summary.rows} rows: clear {c['clear']}, caution {c['caution']}, refer {c['refer']}, "
        f"rejected {c['invalid']}, engine errors {c['engine']}, internal errors {c['internal']}\n"
        f"results: {shown} ({summary.results}); errors: {errors} ({summary.errors})\n"
    )
