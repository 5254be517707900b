"""Batch screening: many intakes from a JSON-lines or CSV file, on every core or a Dask cluster, nothing lost.

Input formats (one intake per row):

* **JSON lines** (``.jsonl``, ``.ndjson``, anything not ``.csv``): one intake JSON object per line; blank lines
  are skipped and are not rows.
* **CSV** (``.csv``): a header row with a column ``intake`` holding the intake as JSON text, and optionally a
  column ``id`` (the clinic's own row id, copied to the output). Other columns are ignored.

A UTF-8 byte order mark at the start of the file is read as such; one anywhere else rejects its row with a
message that names it (a file with a BOM appended to another usually). A file in UTF-16 or UTF-32 is refused
whole. Every row that cannot be read is an error row naming its line, never skipped.

Every row yields exactly one output line, in input order: a result ``{"line": n, "result": {...}}`` (the
compact result of :mod:`needlescreen.compact`, or the full result) or an error ``{"line": n, "kind":
"invalid" | "engine" | "internal", "errors": [{"path": ..., "message": ...}]}``. So rows in = results out +
errors out, and an engine or internal failure is reported, never a verdict.

:func:`screen_partition` is the one function that turns rows into outcomes; the local worker processes
(:func:`screen_rows`), the Dask path (``needlescreen._dask``) and anything else that screens many rows call it
with a :class:`ScreenSpec` (the loaded ruleset itself, so every worker screens under the same rules and reads
no rule file). Each process builds its screener once per spec (:func:`worker_screener`).

Local workers are processes this module starts and owns, fed one chunk at a time over a pipe: ``spawn``ed for
durable_rules (its engine never crosses a fork); for the plain evaluator, on Linux, from a process with no other
thread, ``fork``ed, so they start with the parent's screener already built instead of importing everything
again (a quarter of a second of every batch). They ignore the terminal's Ctrl-C (the parent decides when a batch
stops, and stops them); they leave when their pipe closes, so even a parent killed outright leaves no worker
behind; one that dies loses no row (its chunk is screened again, row by row).

:class:`Output` writes the two output files as ``*.partial`` files beside their final names and renames them
when the run is complete, so an interrupted run never replaces earlier output; :func:`resume` finds where an
interrupted run stopped.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.reduction import ForkingPickler
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

from .compact import CompactResult
from .errors import EngineError, FieldProblem, IntakeError
from .worker_gc import settle_worker_gc

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from .intake import Intake
    from .result import ScreeningResult
    from .ruleset import Ruleset
    from .screening import Screener

__all__ = [
    "MAX_ROW_BYTES",
    "BatchConfig",
    "Outcome",
    "Output",
    "Row",
    "ScreenSpec",
    "Summary",
    "read_rows",
    "resume",
    "screen_partition",
    "screen_rows",
    "worker_screener",
]

#: A row longer than this is rejected unread (a single intake is a few kilobytes).
MAX_ROW_BYTES = 1_000_000
Kind = Literal["clear", "caution", "refer", "invalid", "engine", "internal"]
InputFormat = Literal["jsonl", "csv"]
VERDICTS = ("clear", "caution", "refer")
_BOM = codecs.BOM_UTF8
_BOM_PROBLEM = (
    "a byte order mark (U+FEFF) {where}: only the very start of a file may carry one "
    "(was a file with a byte order mark appended to another?)"
)


class Row(NamedTuple):
    """One input row: its line number, the intake text, or the problems found while reading it.

    A named tuple, not a dataclass: rows cross to worker processes in chunks, and a tuple pickles in C.
    """

    line: int
    text: str | None
    problems: tuple[FieldProblem, ...] = ()
    row_id: str | None = None


class Outcome(NamedTuple):
    """One output line: what became of a row, as the JSON line to write (a named tuple, as :class:`Row`)."""

    line: int
    kind: Kind
    json_line: str


@dataclass(frozen=True, slots=True)
class BatchConfig:
    """Where the rules come from and how results are written, as a person gives them."""

    rules: str | None = None
    policy: str | None = None
    engine: str = "auto"
    #: Write the whole result per row rather than the compact one.
    full: bool = False

    def spec(self) -> ScreenSpec:
        """Load the rules once, here: the workers get the loaded ruleset, not the paths.

        Raises:
            RuleFileError: a rule or policy file is missing or malformed.
        """
        from .ruleset import load_ruleset

        return ScreenSpec(load_ruleset(self.rules, policy_file=self.policy), self.engine, self.full)


@dataclass(frozen=True, slots=True)
class ScreenSpec:
    """What a worker needs to screen rows: a loaded ruleset, the engine and the output form (picklable)."""

    ruleset: Ruleset
    engine: str = "auto"
    full: bool = False

    @property
    def key(self) -> tuple[Any, ...]:
        """Equal for specs that build the same screener (the content hash covers every rule-bearing file)."""
        policy = self.ruleset.policy
        return (self.ruleset.content_hash, policy.source, tuple(sorted(policy.values.items())), self.engine)


@dataclass(slots=True)
class Summary:
    """Counts of a batch run; ``rows == results + errors`` always."""

    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("clear", "caution", "refer", "invalid", "engine", "internal"), 0)
    )

    def add(self, kind: Kind) -> None:
        """Count one outcome."""
        self.counts[kind] += 1

    @property
    def rows(self) -> int:
        """Rows read."""
        return sum(self.counts.values())

    @property
    def results(self) -> int:
        """Rows that were screened (a verdict was given)."""
        return self.counts["clear"] + self.counts["caution"] + self.counts["refer"]

    @property
    def errors(self) -> int:
        """Rows that were not screened: rejected input, engine errors and internal errors."""
        return self.rows - self.results

    @property
    def failed(self) -> int:
        """Rows the engine or needlescreen itself failed on (not the input's fault)."""
        return self.counts["engine"] + self.counts["internal"]


# --- reading ------------------------------------------------------------------------------------------------


def detect_format(path: str) -> InputFormat:
    """CSV for ``.csv`` files, JSON lines otherwise."""
    return "csv" if path.lower().endswith(".csv") else "jsonl"


def _problem(message: str) -> tuple[FieldProblem, ...]:
    return (FieldProblem("", message),)


def _decode(raw: bytes, line: int, row_id: str | None = None) -> Row:
    if len(raw) > MAX_ROW_BYTES:
        return Row(line, None, _problem(f"row is longer than {MAX_ROW_BYTES} bytes"), row_id)
    at = raw.find(_BOM)
    if at >= 0:
        return Row(line, None, _problem(_BOM_PROBLEM.format(where=f"at byte {at + 1} of the row")), row_id)
    try:
        return Row(line, raw.decode("utf-8"), (), row_id)
    except UnicodeDecodeError as exc:
        return Row(line, None, _problem(f"not UTF-8 text ({exc.reason} at byte {exc.start + 1})"), row_id)


_WIDE_BOMS = {
    codecs.BOM_UTF32_LE: "UTF-32",
    codecs.BOM_UTF32_BE: "UTF-32",
    codecs.BOM_UTF16_LE: "UTF-16",
    codecs.BOM_UTF16_BE: "UTF-16",
}


def _refuse_wide_encoding(stream: IO[bytes], name: str) -> None:
    """A UTF-16/32 file would give one unreadable row per line: refuse it whole, saying how to fix it."""
    peek = getattr(stream, "peek", None)
    head = peek(4)[:4] if peek is not None else b""
    for bom, encoding in _WIDE_BOMS.items():  # UTF-32 LE first: its mark begins with UTF-16 LE's
        if head.startswith(bom):
            message = f"the file is {encoding} (it starts with a {encoding} byte order mark); save it as UTF-8"
            raise IntakeError([FieldProblem("", message)], source=name)


def _jsonl_rows(stream: IO[bytes]) -> Iterator[Row]:
    for number, line in enumerate(stream, start=1):
        raw = line[len(_BOM) :] if number == 1 and line.startswith(_BOM) else line
        if raw.strip():
            yield _decode(raw.rstrip(b"\r\n"), number)


def _csv_rows(stream: IO[bytes], name: str) -> Iterator[Row]:
    """Read the header now (a file without an ``intake`` column fails before any output), the rows lazily."""
    # utf-8-sig reads a byte order mark at the start of the file; newline="" lets quoted fields hold line
    # breaks; surrogateescape lets one bad byte reject one row (found below) instead of the whole file.
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    # The limit is on characters per field; a longer row is rejected by its length below, not by csv.
    csv.field_size_limit(max(csv.field_size_limit(), MAX_ROW_BYTES + 1))
    # strict: a stray quote is an error for its row, not silently glued to the text around it.
    reader = csv.reader(text, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return iter(())
    except csv.Error as exc:
        raise IntakeError([FieldProblem("", f"the CSV header cannot be read: {exc}")], source=name) from None
    columns = [h.strip().lower() for h in header]
    if "intake" not in columns:
        raise IntakeError(
            [FieldProblem("", "the CSV header has no 'intake' column (the intake as JSON text)")], source=name
        )
    return _csv_records(reader, columns)


def _csv_records(reader: Any, columns: list[str]) -> Iterator[Row]:
    at = columns.index("intake")
    id_at = columns.index("id") if "id" in columns else None
    start = reader.line_num + 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            span = f"line {start}" if reader.line_num <= start else f"lines {start} to {reader.line_num}"
            yield Row(start, None, _problem(f"this CSV row cannot be read ({span}): {exc}"))
            start = reader.line_num + 1
            continue
        line, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in record):
            continue
        row_id = record[id_at] if id_at is not None and id_at < len(record) else None
        if row_id is not None and "\ufeff" in row_id:
            yield Row(line, None, _problem(_BOM_PROBLEM.format(where="in the id column")), None)
            continue
        if len(record) != len(columns):
            problem = FieldProblem("", f"row has {len(record)} columns, the header has {len(columns)}")
            yield Row(line, None, (problem,), row_id)
            continue
        yield _decode(record[at].encode("utf-8", errors="surrogateescape"), line, row_id)


def read_rows(stream: IO[bytes], fmt: InputFormat, *, name: str = "<input>") -> Iterator[Row]:
    """Stream rows from a binary file, one at a time.

    Raises:
        IntakeError: the file as a whole cannot be read as ``fmt`` (UTF-16 or UTF-32, or a CSV without an
            ``intake`` column).
    """
    _refuse_wide_encoding(stream, name)
    return _csv_rows(stream, name) if fmt == "csv" else _jsonl_rows(stream)


def count_rows(path: Path, fmt: InputFormat) -> int:
    """Count the rows of a file quickly (for the progress bar's total)."""
    with path.open("rb") as stream:
        if fmt == "jsonl":
            return sum(1 for raw in stream if raw.strip() and raw.strip() != _BOM)
        return sum(1 for _ in read_rows(stream, fmt, name=str(path)))


# --- screening a partition ----------------------------------------------------------------------------------

_SCREENERS: dict[tuple[Any, ...], Screener] = {}
_SCREENERS_LOCK = threading.Lock()
#: How many screeners this process has built (a worker builds one per spec, however many partitions it takes).
_BUILDS = 0


def worker_screener(spec: ScreenSpec) -> Screener:
    """This process's screener for ``spec``, built on first use (thread-safe; a Dask worker runs threads).

    Raises:
        EngineUnavailableError: the engine cannot load here.
    """
    screener = _SCREENERS.get(spec.key)
    if screener is None:
        with _SCREENERS_LOCK:
            screener = _SCREENERS.get(spec.key)
            if screener is None:
                from .screening import Screener

                global _BUILDS  # noqa: PLW0603 - a per-process count, read by tests through a Dask worker
                screener = Screener(spec.ruleset, engine=spec.engine)  # type: ignore[arg-type]
                _SCREENERS[spec.key] = screener
                _BUILDS += 1
    return screener


def screener_builds() -> int:
    """How many screeners this process has built (for checking that workers build once)."""
    return _BUILDS


def _error_line(row: Row, kind: Kind, problems: Iterable[FieldProblem]) -> Outcome:
    body: dict[str, Any] = {"line": row.line}
    if row.row_id is not None:
        body["id"] = row.row_id
    body["kind"] = kind
    body["errors"] = [{"path": p.path, "message": p.message} for p in problems]
    return Outcome(row.line, kind, json.dumps(body, ensure_ascii=False))


def _screen_one(row: Row, screener: Screener, full: bool) -> Outcome:
    """One row screened on its own (the fallback when a group screened together fails)."""
    got = _prepare_row(row)
    if isinstance(got, Outcome):
        return got
    try:
        result = screener.screen(got) if full else screener.decide(got)
    except IntakeError as exc:
        return _error_line(row, "invalid", exc.problems)
    except EngineError as exc:
        return _error_line(row, "engine", _problem(f"engine error, no verdict given: {exc}"))
    except Exception as exc:  # any other failure is reported for its row, never turned into a verdict
        return _error_line(row, "internal", _problem(f"internal error, no verdict given: {exc!r}"))
    return _outcome(row, result)


def _prepare_row(row: Row) -> Intake | Outcome:
    """A row's intake, validated, or the error line that rejects the row."""
    from .screening import parse_intake

    if row.problems or row.text is None:
        return _error_line(row, "invalid", row.problems)
    if not row.text.lstrip().startswith("{"):
        return _error_line(row, "invalid", _problem("a row must be one intake as a JSON object"))
    try:
        return parse_intake(row.text)
    except IntakeError as exc:
        return _error_line(row, "invalid", exc.problems)
    except Exception as exc:
        return _error_line(row, "internal", _problem(f"internal error, no verdict given: {exc!r}"))


def _outcome(row: Row, result: ScreeningResult | CompactResult) -> Outcome:
    try:
        body = result.model_dump_json()
    except Exception as exc:  # reported for its row, never a verdict
        return _error_line(row, "internal", _problem(f"internal error, no verdict given: {exc!r}"))
    head = f'{{"line": {row.line}, ' + (f'"id": {json.dumps(row.row_id)}, ' if row.row_id is not None else "")
    return Outcome(row.line, result.verdict, f'{head}"result": {body}}}')


#: How many intakes one engine call screens together (:meth:`Screener.screen_many`): enough to share
#: durable_rules' session set-up, few enough that a failed call costs little to screen again row by row.
SCREEN_TOGETHER = 100


def screen_partition(rows: Sequence[Row], spec: ScreenSpec) -> list[Outcome]:
    """Screen a partition of rows: one outcome per row, in order. The one place batch screening happens.

    Local workers, Dask workers and any other caller that maps rows to outcomes go through here. Valid rows are
    screened :data:`SCREEN_TOGETHER` at a time with :meth:`Screener.screen_many`, which gives each the result it
    would get alone. A group whose call fails (one row's engine error fails the whole call) is screened again
    row by row, so the failure is reported for the row that caused it and every other row keeps its verdict.

    Raises:
        EngineUnavailableError: the spec's engine cannot load in this process (no row is screened).
    """
    screener = worker_screener(spec)
    out: list[Outcome | None] = []
    pending: list[tuple[int, Row, Intake]] = []
    for row in rows:
        got = _prepare_row(row)
        if isinstance(got, Outcome):
            out.append(got)
        else:
            pending.append((len(out), row, got))
            out.append(None)
    for start in range(0, len(pending), SCREEN_TOGETHER):
        group = pending[start : start + SCREEN_TOGETHER]
        try:
            intakes = [intake for _, _, intake in group]
            # Without --full only the decision is written: built straight from the firings (Screener.decide_many).
            results: Sequence[ScreeningResult | CompactResult | IntakeError] = (
                screener.screen_many(intakes) if spec.full else screener.decide_many(intakes)
            )
        except Exception:
            for k, row, _ in group:
                out[k] = _screen_one(row, screener, spec.full)
            continue
        for (k, row, _), result in zip(group, results, strict=True):
            out[k] = (
                _error_line(row, "invalid", result.problems)
                if isinstance(result, IntakeError)
                else _outcome(row, result)
            )
    done = [o for o in out if o is not None]
    if len(done) != len(out):  # pragma: no cover - every place was filled above
        raise AssertionError("a row of the partition was left without an outcome")
    return done


def _chunks(rows: Iterable[Row], size: int, max_bytes: int = 4_000_000) -> Iterator[list[Row]]:
    """Rows in chunks of ``size``, or fewer when their text passes ``max_bytes`` (a chunk is one message)."""
    chunk: list[Row] = []
    weight = 0
    for row in rows:
        chunk.append(row)
        weight += len(row.text) if row.text else 0
        if len(chunk) >= size or weight >= max_bytes:
            yield chunk
            chunk, weight = [], 0
    if chunk:
        yield chunk


# --- local worker processes ---------------------------------------------------------------------------------


class StopFlag(Protocol):
    """What a batch polls to know it should stop (a :class:`threading.Event` is one)."""

    def is_set(self) -> bool: ...


#: How often a batch may start a worker again after worker deaths before it gives up.
MAX_RESTARTS = 50
#: How long a batch waits for its workers at a time before looking at its stop flag again.
POLL_SECONDS = 0.1
_DIED = "the worker process died while screening this row (no verdict given)"
#: Signals a terminal sends to its whole foreground process group: the parent handles them for its workers.
_TERMINAL_SIGNALS = frozenset(getattr(signal, s) for s in ("SIGINT", "SIGHUP", "SIGQUIT") if hasattr(signal, s))


def _worker_main(conn: Connection, forked: ScreenSpec | None = None, parent_end: Connection | None = None) -> None:
    """A worker process: read the spec, build the screener, then screen chunks until the pipe closes or says stop.

    A spawned worker gets the spec (a whole loaded ruleset) through the pipe once it is up, not as a start
    argument: spawn writes start arguments before the child has started, so every worker's start would wait for
    the one before it to read them (a quarter of a second each), where now all of them import at the same time.
    A forked worker has it (``forked``), and the parent's screener with it; it first closes the parent's ends of
    its own pipe (``parent_end``) and of the other workers' pipes, which it inherited: each worker must see its
    pipe close when the parent dies, however it dies.
    """
    if parent_end is not None:
        parent_end.close()
        for other in _LIVE:
            other.conn.close()
    for sig in _TERMINAL_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    if hasattr(signal, "SIGTERM"):  # a forked worker has the parent's handler, which would only ask it to stop
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _TERMINAL_SIGNALS)  # blocked by the parent while we started
    if forked is not None:
        spec = forked
    else:
        try:
            spec = conn.recv()
        except (EOFError, OSError):  # the parent went away before handing the spec over
            return
    try:
        worker_screener(spec)
    except Exception as exc:  # reported to the parent, which stops the batch with it
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    # The screener lives as long as the process: its tables leave the cyclic collector's walk, and the collector
    # no longer starts in the middle of a row (worker_gc).
    settle_worker_gc(collect=forked is None)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):  # the parent closed the pipe or died: nothing more to do
            return
        if job is None:
            return
        seq, part, rows = job
        outcomes = screen_partition(rows, spec)
        try:
            conn.send((seq, part, outcomes))
        except OSError:
            return


@dataclass(slots=True)
class _Job:
    seq: int
    part: int | None  # None: a whole chunk; i: row i of a chunk screened again alone
    rows: list[Row]


def _can_fork(spec: ScreenSpec) -> bool:
    """Whether workers for ``spec`` may be forked: the plain evaluator, on Linux, from a process with one thread.

    durable_rules keeps engine state in C that must not be shared with a copy of the process; another thread
    may hold a lock at the fork that the child then never sees released; other systems' frameworks are not
    fork-safe (macOS), or have no fork at all (Windows).
    """
    return sys.platform == "linux" and threading.active_count() == 1 and worker_screener(spec).engine.name == "plain"


class _Worker:
    def __init__(self, forked: ScreenSpec | None) -> None:
        ctx: Any = multiprocessing.get_context("fork" if forked is not None else "spawn")
        parent, child = ctx.Pipe(duplex=True)
        self.forked = forked is not None
        self.process: BaseProcess = ctx.Process(
            target=_worker_main,
            args=(child, forked, parent if forked is not None else None),
            daemon=True,
            name="needlescreen-batch-worker",
        )
        # The child inherits the blocked terminal signals, so a Ctrl-C while it imports cannot interrupt it.
        with _blocked(_TERMINAL_SIGNALS):
            self.process.start()
        child.close()
        self.conn = parent
        self.ready = False
        self.job: _Job | None = None

    def hand_over(self, spec: bytes) -> None:
        """Send the pickled spec (a spawned worker waits for it before building its screener; a forked one has it)."""
        if self.forked:
            return
        with contextlib.suppress(OSError):  # it died while starting: the pool's wait finds the closed pipe
            self.conn.send_bytes(spec)

    def stop(self, *, graceful: bool) -> None:
        if graceful and self.ready and self.job is None:
            with contextlib.suppress(OSError):
                self.conn.send(None)
            self.process.join(2)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(1)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(1)
        self.conn.close()


@contextlib.contextmanager
def _blocked(signals: frozenset[int]) -> Iterator[None]:
    """Block ``signals`` in this thread (and so in the processes and threads started from it) for a while."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    # multiprocessing starts its resource tracker with the first spawned process, and *unblocks* SIGINT and
    # SIGTERM in the starting thread when it is done: start it now, so that it leaves our mask alone.
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


#: Every live worker process of this process, so a last-resort exit can end them too.
_LIVE: set[_Worker] = set()


def kill_workers() -> None:
    """Kill every batch worker process of this process at once (a last resort; joins them)."""
    for w in list(_LIVE):
        if w.process.is_alive():
            w.process.kill()
    for w in list(_LIVE):
        w.process.join(1)


class _Pool:
    """Worker processes fed one chunk at a time, outcomes handed back in input order."""

    def __init__(self, workers: int, spec: ScreenSpec) -> None:
        """Start the worker processes (they import while the caller goes on); :meth:`hand_over` gives them the spec."""
        self.forked = spec if _can_fork(spec) else None
        self.spec = b"" if self.forked is not None else bytes(ForkingPickler.dumps(spec))
        self.restarts = 0
        self.workers: list[_Worker] = []
        for _ in range(workers):
            self._start()

    def hand_over(self) -> None:
        """Give every started worker the spec (each send waits until that worker has started and reads it)."""
        for w in self.workers:
            w.hand_over(self.spec)

    def _start(self) -> _Worker:
        w = _Worker(self.forked)
        self.workers.append(w)
        _LIVE.add(w)
        return w

    def _retire(self, w: _Worker, *, graceful: bool) -> None:
        self.workers.remove(w)
        _LIVE.discard(w)
        w.stop(graceful=graceful)

    def close(self, *, graceful: bool) -> None:
        if not graceful:  # end them all at once, then reap
            for w in self.workers:
                if w.process.is_alive():
                    w.process.terminate()
        for w in list(self.workers):
            self._retire(w, graceful=graceful)

    def run(self, chunks: Iterator[list[Row]], stop: StopFlag | None) -> Iterator[Outcome]:
        """Outcomes in input order; at most a few chunks per worker read ahead of what has been handed back."""
        queue: deque[_Job] = deque()  # jobs waiting for a worker; retries go first
        parts: dict[int, list[list[Outcome] | None]] = {}  # per chunk read and not yet handed back
        seq_read = seq_out = 0
        exhausted = False
        ahead = 3 * len(self.workers)
        while True:
            # Feed idle workers first, then hand outcomes back: no worker waits while the consumer writes.
            idle = [w for w in self.workers if w.ready and w.job is None]
            while not exhausted and len(queue) < len(idle) and seq_read - seq_out < ahead:
                chunk = next(chunks, None)
                if chunk is None:
                    exhausted = True
                    break
                parts[seq_read] = [None]
                queue.append(_Job(seq_read, None, chunk))
                seq_read += 1
            for w in idle:
                if not queue:
                    break
                w.job = queue.popleft()
                try:
                    w.conn.send((w.job.seq, w.job.part, w.job.rows))
                except OSError:  # it died since it said it was idle
                    self._died(w, queue, parts, stop)
            while seq_out in parts and all(p is not None for p in parts[seq_out]):
                if stop is not None and stop.is_set():
                    return
                for done in parts.pop(seq_out):
                    yield from done or ()
                seq_out += 1
            if stop is not None and stop.is_set():
                return
            if exhausted and not parts:
                return
            for conn in wait([w.conn for w in self.workers], timeout=POLL_SECONDS):
                w = next(w for w in self.workers if w.conn is conn)
                try:
                    message = w.conn.recv()
                except (EOFError, OSError):
                    self._died(w, queue, parts, stop)
                    continue
                if message[0] == "ready":
                    w.ready = True
                elif message[0] == "failed":
                    raise EngineError(f"a batch worker could not start: {message[1]}")
                else:
                    seq, part, outcomes = message
                    parts[seq][0 if part is None else part] = outcomes
                    w.job = None

    def _died(
        self, w: _Worker, queue: deque[_Job], parts: dict[int, list[list[Outcome] | None]], stop: StopFlag | None
    ) -> None:
        """A worker died (killed, out of memory, a crash in the engine): its chunk costs a retry, never a row."""
        job, started = w.job, w.ready
        self._retire(w, graceful=False)
        if not started:
            # It never came up: the next one would not either (an unimportable main module, a broken install).
            raise EngineError(f"a batch worker exited while starting (exit code {w.process.exitcode})")
        if stop is not None and stop.is_set():
            return  # the batch is stopping anyway (a terminal's signal may have reached the worker first)
        self.restarts += 1
        if self.restarts > MAX_RESTARTS:
            raise EngineError(f"batch workers died {self.restarts} times; stopping")
        self._start().hand_over(self.spec)
        if job is None:
            return
        if job.part is None:
            # Screen the chunk's rows one by one, so that a row that kills a worker is found and reported.
            parts[job.seq] = [None] * len(job.rows)
            queue.extendleft(reversed([_Job(job.seq, i, [row]) for i, row in enumerate(job.rows)]))
        else:
            row = job.rows[0]
            parts[job.seq][job.part] = [_error_line(row, "internal", _problem(_DIED))]


def screen_rows(
    rows: Iterable[Row],
    config: BatchConfig | ScreenSpec,
    *,
    workers: int | None = None,
    chunk_size: int = 100,
    stop: StopFlag | None = None,
) -> Iterator[Outcome]:
    """Screen rows on ``workers`` processes (every core by default), yielding one outcome per row in input order.

    A few chunks per worker are in flight, so neither the input nor the results pile up in memory. A worker
    that dies (killed, out of memory, a crash in the engine) loses no row: the rows of the chunk it was working
    on are screened again one at a time, and a row that kills a worker twice is reported as an ``internal``
    error. When ``stop`` is set the outcomes end (within :data:`POLL_SECONDS` and one chunk) and the workers
    are stopped; what was yielded is a prefix of the input's outcomes.

    Raises:
        RuleFileError: a rule or policy file is missing or malformed (nothing is screened).
        EngineUnavailableError: the engine cannot load here (nothing is screened).
        EngineError: workers kept dying (the outcomes so far were yielded).
    """
    spec = config.spec() if isinstance(config, BatchConfig) else config
    workers = max(1, workers or os.cpu_count() or 1)
    chunks = _chunks(rows, chunk_size)
    if workers == 1:
        worker_screener(spec)
        for chunk in chunks:
            if stop is not None and stop.is_set():
                return
            yield from screen_partition(chunk, spec)
        return
    pool = _Pool(workers, spec)
    graceful = False
    try:
        # Build one screener here while the workers import: a bad engine fails once, with its own error, before
        # any worker is given the spec.
        worker_screener(spec)
        pool.hand_over()
        yield from pool.run(chunks, stop)
        graceful = stop is None or not stop.is_set()
    finally:
        pool.close(graceful=graceful)


# --- output files -------------------------------------------------------------------------------------------

STATE_VERSION = "needlescreen.batch-state/1"


def partial_path(path: Path) -> Path:
    """Where a run writes ``path`` until it is complete."""
    return path.with_name(path.name + ".partial")


def state_path(results: Path) -> Path:
    """What an interrupted run needs to be resumed, beside its partial results."""
    return results.with_name(results.name + ".resume.json")


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (identifies the input an interrupted run read)."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def run_state(spec: ScreenSpec, engine_name: str, *, source: Path, fmt: InputFormat) -> dict[str, Any]:
    """What must be the same for a run to continue another: the input's bytes, the rules, policy and form."""
    rs = spec.ruleset
    return {
        "state": STATE_VERSION,
        "input": str(source.resolve()),
        "input_sha256": file_sha256(source),
        "input_format": fmt,
        "ruleset": {"name": rs.name, "revision": rs.revision, "content_hash": rs.content_hash},
        "policy_source": rs.policy.source,
        "policy": dict(sorted(rs.policy.values.items())),
        "engine": engine_name,
        "results": "full" if spec.full else "compact",
    }


class Output:
    """The results and errors files of one run, written as ``*.partial`` and renamed once complete.

    With ``results=None`` the results go to ``stream`` (standard output) as they come; only the errors file
    is then renamed, and the run cannot be resumed.
    """

    def __init__(
        self, results: Path | None, errors: Path, *, append: bool = False, stream: IO[bytes] | None = None
    ) -> None:
        if results is None and stream is None:
            raise TypeError("give a results path or a stream for the results")
        self.results_path = results
        self.errors_path = errors
        mode = "ab" if append else "wb"
        self._errors = partial_path(errors).open(mode)
        self._results: IO[bytes] = partial_path(results).open(mode) if results is not None else stream  # type: ignore[assignment]
        self._files = [self._errors] + ([self._results] if results is not None else [])
        self.written = 0
        self._flushed = time.monotonic()

    def write(self, outcome: Outcome) -> None:
        """Write one outcome to its file (results or errors)."""
        target = self._results if outcome.kind in VERDICTS else self._errors
        target.write(outcome.json_line.encode("utf-8") + b"\n")
        self.written += 1
        now = time.monotonic()
        if now - self._flushed > 1.0:  # keep the partial files close to the run, for a reader and after a crash
            self.flush()
            self._flushed = now

    def flush(self, *, durable: bool = False) -> None:
        """Flush both outputs; with ``durable``, the files through to the disk."""
        self._results.flush()
        self._errors.flush()
        if durable:
            for f in self._files:
                os.fsync(f.fileno())

    def suspend(self) -> None:
        """Stop writing and keep the partial files as they are (complete rows only), for ``--resume``."""
        self.flush(durable=True)
        self._close()

    def finish(self) -> None:
        """Everything is written: the partial files become the outputs (errors first, results last)."""
        self.flush(durable=True)
        self._close()
        os.replace(partial_path(self.errors_path), self.errors_path)
        if self.results_path is not None:
            os.replace(partial_path(self.results_path), self.results_path)
        _fsync_directory(self.errors_path.parent)
        if self.results_path is not None and self.results_path.parent != self.errors_path.parent:
            _fsync_directory(self.results_path.parent)

    def _close(self) -> None:
        for f in self._files:
            f.close()


def _fsync_directory(path: Path) -> None:
    """Make a rename in ``path`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class _Kept:
    lines: list[int]
    kinds: list[str]
    ends: list[int]  # byte offset after each kept line


def _scan(path: Path, key: Literal["result", "kind"]) -> _Kept:
    """The complete, well-formed lines at the start of a partial file, in increasing line order."""
    kept = _Kept([], [], [])
    offset = 0
    path.touch()  # a run stopped before its first error left no errors file: nothing is done there
    with path.open("rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                break  # torn by a crash: screened again
            try:
                data = json.loads(raw)
                line = data["line"]
                kind = data["result"]["verdict"] if key == "result" else data["kind"]
            except (ValueError, KeyError, TypeError):
                break
            if not isinstance(line, int) or (kept.lines and line <= kept.lines[-1]):
                break
            offset += len(raw)
            kept.lines.append(line)
            kept.kinds.append(kind)
            kept.ends.append(offset)
    return kept


def resume(rows: Iterator[Row], results: Path, errors: Path) -> tuple[Summary, Iterator[Row]]:
    """Where an interrupted run stopped: the counts of what it wrote, and the rows still to screen.

    The rows whose outcomes are in the partial files, from the first row on, are the prefix that is done; the
    partial files are cut back to exactly that prefix (a crash may have left a torn last line, or one file
    ahead of the other), and the rows after it are returned to screen.
    """
    res, err = _scan(partial_path(results), "result"), _scan(partial_path(errors), "kind")
    done = dict(zip(res.lines, res.kinds, strict=True)) | dict(zip(err.lines, err.kinds, strict=True))
    summary = Summary()
    last = 0
    pending: Row | None = None
    for row in rows:
        kind = done.get(row.line)
        if kind is None:
            pending = row
            break
        summary.add(kind)  # type: ignore[arg-type]
        last = row.line
    for path, kept in ((partial_path(results), res), (partial_path(errors), err)):
        n = sum(1 for line in kept.lines if line <= last)
        with path.open("r+b") as f:
            f.truncate(kept.ends[n - 1] if n else 0)
    rest: Iterator[Row] = rows if pending is None else _chain(pending, rows)
    return summary, rest


def _chain(first: Row, rest: Iterator[Row]) -> Iterator[Row]:
    yield first
    yield from rest
