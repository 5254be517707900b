"""Batch screening: many intakes from a JSON-lines or CSV file, on every core, nothing lost.

Input formats (one intake per row):

* **JSON lines** (``.jsonl``, ``.ndjson``, anything not ``.csv``): one intake JSON object per line; blank lines
  are skipped and are not rows.
* **CSV** (``.csv``): a header row with a column ``intake`` holding the intake as JSON text, and optionally a
  column ``id`` (the clinic's own row id, copied to the output). Other columns are ignored.

Every row yields exactly one output line, in input order: a result ``{"line": n, "result": {...}}`` or an
error ``{"line": n, "kind": "invalid" | "engine" | "internal", "errors": [{"path": ..., "message": ...}]}``.
So rows in = results out + errors out, and an engine or internal failure is reported, never a verdict.

Workers are separate processes (``spawn``: each builds its own :class:`~needlescreen.Screener` once, so the
durable_rules engine never crosses a fork), fed in chunks with a bounded number in flight, so memory stays
flat however long the file is.
"""

from __future__ import annotations

import csv
import gc
import io
import json
import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from .errors import EngineError, FieldProblem, IntakeError

__all__ = ["MAX_ROW_BYTES", "BatchConfig", "Outcome", "Row", "Summary", "read_rows", "screen_rows"]

#: A row longer than this is rejected unread (a single intake is a few kilobytes).
MAX_ROW_BYTES = 1_000_000
Kind = Literal["clear", "caution", "refer", "invalid", "engine", "internal"]
InputFormat = Literal["jsonl", "csv"]


@dataclass(frozen=True, slots=True)
class Row:
    """One input row: its line number, the intake text, or the problems found while reading it."""

    line: int
    text: str | None
    problems: tuple[FieldProblem, ...] = ()
    row_id: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """One output line: what became of a row, as the JSON line to write."""

    line: int
    kind: Kind
    json_line: str


@dataclass(frozen=True, slots=True)
class BatchConfig:
    """How each worker builds its screener."""

    rules: str | None = None
    policy: str | None = None
    engine: str = "auto"


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


def detect_format(path: str) -> InputFormat:
    """CSV for ``.csv`` files, JSON lines otherwise."""
    return "csv" if path.lower().endswith(".csv") else "jsonl"


def _decode(raw: bytes, line: int, row_id: str | None = None) -> Row:
    if len(raw) > MAX_ROW_BYTES:
        return Row(line, None, (FieldProblem("", f"row is longer than {MAX_ROW_BYTES} bytes"),), row_id)
    try:
        return Row(line, raw.decode("utf-8"), (), row_id)
    except UnicodeDecodeError as exc:
        return Row(line, None, (FieldProblem("", f"not UTF-8 text ({exc.reason} at byte {exc.start})"),), row_id)


def _jsonl_rows(stream: IO[bytes]) -> Iterator[Row]:
    for number, raw in enumerate(stream, start=1):
        if raw.strip():
            yield _decode(raw.rstrip(b"\r\n"), number)


def _csv_rows(stream: IO[bytes], name: str) -> Iterator[Row]:
    # newline="" so quoted fields may hold line breaks; errors="surrogateescape" so one bad byte rejects one
    # row (found below) instead of the whole file.
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return
    columns = [h.strip().lower() for h in header]
    if "intake" not in columns:
        raise IntakeError(
            [FieldProblem("", "the CSV header has no 'intake' column (the intake as JSON text)")], source=name
        )
    at = columns.index("intake")
    id_at = columns.index("id") if "id" in columns else None
    start = reader.line_num + 1
    for record in reader:
        line, start = start, reader.line_num + 1
        if not any(cell.strip() for cell in record):
            continue
        row_id = record[id_at] if id_at is not None and id_at < len(record) else None
        if len(record) != len(columns):
            problem = FieldProblem("", f"row has {len(record)} columns, the header has {len(columns)}")
            yield Row(line, None, (problem,), row_id)
            continue
        yield _decode(record[at].encode("utf-8", errors="surrogateescape"), line, row_id)


def read_rows(stream: IO[bytes], fmt: InputFormat, *, name: str = "<input>") -> Iterator[Row]:
    """Stream rows from a binary file, one at a time.

    Raises:
        IntakeError: the file as a whole cannot be read as ``fmt`` (e.g. a CSV without an ``intake`` column).
    """
    return _csv_rows(stream, name) if fmt == "csv" else _jsonl_rows(stream)


# --- workers ------------------------------------------------------------------------------------------------

_SCREENER: Any = None


def _init_worker(config: BatchConfig) -> None:
    global _SCREENER  # noqa: PLW0603 - one screener per worker process, built once by the pool initializer
    from .ruleset import load_ruleset
    from .screening import Screener

    _SCREENER = Screener(load_ruleset(config.rules, policy_file=config.policy), engine=config.engine)  # type: ignore[arg-type]
    # The worker owns its process and the screener lives as long as it does: keep its tables out of the cyclic
    # collector's walk (a full collection otherwise costs milliseconds every few dozen rows).
    gc.collect()
    gc.freeze()


def _error_line(row: Row, kind: Kind, problems: Iterable[FieldProblem]) -> Outcome:
    body: dict[str, Any] = {"line": row.line}
    if row.row_id is not None:
        body["id"] = row.row_id
    body["kind"] = kind
    body["errors"] = [{"path": p.path, "message": p.message} for p in problems]
    return Outcome(row.line, kind, json.dumps(body, ensure_ascii=False))


def _screen_one(row: Row) -> Outcome:
    from .screening import parse_intake

    if row.problems or row.text is None:
        return _error_line(row, "invalid", row.problems)
    if not row.text.lstrip().startswith("{"):
        return _error_line(row, "invalid", [FieldProblem("", "a row must be one intake as a JSON object")])
    try:
        result = _SCREENER.screen(parse_intake(row.text))
    except IntakeError as exc:
        return _error_line(row, "invalid", exc.problems)
    except EngineError as exc:
        return _error_line(row, "engine", [FieldProblem("", f"engine error, no verdict given: {exc}")])
    except Exception as exc:  # any other failure is reported for its row, never turned into a verdict
        return _error_line(row, "internal", [FieldProblem("", f"internal error, no verdict given: {exc!r}")])
    head = f'{{"line": {row.line}, ' + (f'"id": {json.dumps(row.row_id)}, ' if row.row_id is not None else "")
    return Outcome(row.line, result.verdict, f'{head}"result": {result.model_dump_json()}}}')


def _screen_chunk(rows: list[Row]) -> list[Outcome]:
    return [_screen_one(r) for r in rows]


def _chunks(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    chunk: list[Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Workers:
    """A process pool that can be rebuilt after a worker dies, numbering each generation."""

    def __init__(self, workers: int, config: BatchConfig) -> None:
        self.workers, self.config = workers, config
        self.generation = 0
        self.restarts = 0
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        ctx = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker, initargs=(self.config,))

    def submit(self, chunk: list[Row]) -> tuple[list[Row], Future[list[Outcome]], int]:
        return chunk, self._pool.submit(_screen_chunk, chunk), self.generation

    def restart(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.restarts += 1
        if self.restarts > MAX_RESTARTS:
            raise RuntimeError(f"batch workers died {self.restarts} times; giving up")
        self.generation += 1
        self._pool = self._start()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


#: How often a batch may rebuild its worker pool after worker deaths before it stops.
MAX_RESTARTS = 50
_DIED = "the worker process died while screening this row (no verdict given)"


def _collect(entry: tuple[list[Row], Future[list[Outcome]], int], pool: _Workers) -> list[Outcome]:
    """The outcomes of one submitted chunk; a dead worker costs a retry, never a row."""
    chunk, future, generation = entry
    try:
        return future.result()
    except BrokenProcessPool:
        pass
    if generation < pool.generation:
        # This chunk was lost with a pool that another chunk broke: run it again as it was.
        return _collect(pool.submit(chunk), pool)
    pool.restart()
    # This chunk's pool broke: screen its rows one by one; a row that kills a worker again is reported.
    outcomes: list[Outcome] = []
    for row in chunk:
        _chunk, single, _gen = pool.submit([row])
        try:
            outcomes.extend(single.result())
        except BrokenProcessPool:
            pool.restart()
            outcomes.append(_error_line(row, "internal", [FieldProblem("", _DIED)]))
    return outcomes


def screen_rows(
    rows: Iterable[Row], config: BatchConfig, *, workers: int | None = None, chunk_size: int = 100
) -> Iterator[Outcome]:
    """Screen rows on ``workers`` processes (every core by default), yielding one outcome per row in input order.

    At most ``4 * workers`` chunks are in flight, so neither the input nor the results pile up in memory. A
    worker that dies (killed, out of memory, a crash in the engine) loses no row: the chunks it took down are
    screened again, the rows of the chunk it was working on one at a time, and a row that kills a worker twice
    is reported as an ``internal`` error.
    """
    workers = max(1, workers or os.cpu_count() or 1)
    # Build one screener here first: a bad rule file or an unavailable engine fails once, before any worker
    # starts (a pool would otherwise restart failing workers forever).
    _init_worker(config)
    if workers == 1:
        for chunk in _chunks(rows, chunk_size):
            yield from _screen_chunk(chunk)
        return
    pool = _Workers(workers, config)
    try:
        pending: deque[tuple[list[Row], Future[list[Outcome]], int]] = deque()
        for chunk in _chunks(rows, chunk_size):
            pending.append(pool.submit(chunk))
            while len(pending) >= 4 * workers:
                yield from _collect(pending.popleft(), pool)
        while pending:
            yield from _collect(pending.popleft(), pool)
    finally:
        pool.close()


def count_rows(path: Path, fmt: InputFormat) -> int:
    """Count the rows of a file quickly (for the progress bar's total)."""
    with path.open("rb") as stream:
        if fmt == "jsonl":
            return sum(1 for raw in stream if raw.strip())
        return sum(1 for _ in read_rows(stream, fmt, name=str(path)))
