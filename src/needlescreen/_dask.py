"""A batch on a Dask cluster: partitions of rows screened by Dask workers, outcomes back in input order.

dask and distributed are imported only here (the optional extra ``needlescreen[dask]``): importing this
module without them raises :class:`ImportError`, which the command line turns into a one-line install hint.

The client reads the input and writes the outputs; the workers only screen. Each partition goes to a worker
with its rows (so workers need no access to the input file) and a reference to the loaded ruleset, which is
sent to every worker once (so they read no rule file and all screen under exactly the client's rules). A
worker builds its screener on its first partition and keeps it (:func:`needlescreen.batch.worker_screener`).

A worker that dies mid-partition costs a retry, never a row: the scheduler gives its partitions to another
worker; a partition that keeps killing workers (Dask's ``KilledWorker``, after
``distributed.scheduler.allowed-failures`` deaths) is screened again row by row, and a row that kills a worker
on its own is reported as an ``internal`` error. The same code serves a local cluster and any cluster Dask
reaches by a scheduler address (Kubernetes, SLURM/PBS through dask-jobqueue, cloud deployments).

:func:`impact_dask` runs :func:`needlescreen.impact.screen_partition` the same way and adds the partial reports
up in input order. Its configuration names rule and policy files, so on a remote cluster they must be readable at
the same paths on every worker (a shared volume); a worker that dies costs Dask's retries, and a partition that
keeps killing workers fails the report (an impact report is whole or not given).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import CancelledError
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

import dask.config
from distributed import Client, Future, LocalCluster, wait
from distributed.scheduler import KilledWorker

from ._version import package_version
from .batch import (
    _TERMINAL_SIGNALS,
    POLL_SECONDS,
    Outcome,
    Row,
    ScreenSpec,
    StopFlag,
    _blocked,
    _chunks,
    _error_line,
    _problem,
    screen_partition,
    screener_builds,
    worker_screener,
)
from .errors import EngineError
from .worker_gc import freeze_long_lived

if TYPE_CHECKING:
    from .impact import Impact, ImpactConfig
    from .impact import Row as CohortRow

__all__ = ["connect", "impact_dask", "screen_rows_dask"]

#: Rows per partition: large enough that Dask's per-task cost (the client, the scheduler and their messages, which
#: share the machine with the workers) is small beside screening them, small enough that a lost worker costs
#: little. The first partitions, one round for every worker thread, are smaller (:data:`FIRST_PARTITION_ROWS`):
#: the first results come soon, a batch of a few thousand rows still spreads over every worker, and an interrupt
#: finds partitions in flight. On 2 local workers, 20,000 typical rows, against a running cluster:
#: 200-row partitions throughout took 4.7 s, these 3.9 s (see the README, Performance).
PARTITION_ROWS = 1000
FIRST_PARTITION_ROWS = 200
#: How a local cluster's workers are set up: without Dask's statistical profiler, which samples every thread's
#: stack every 10 ms (taking the GIL from the task) for a dashboard a batch never shows. Off, 2 local workers
#: screened 20,000 typical rows 3 % faster (three runs each way, alternated). The README says how to do
#: the same on a cluster of your own.
LOCAL_WORKER_CONFIG = {"distributed.worker.profile.enabled": False}
_DIED = "a Dask worker died each time this row was screened (no verdict given)"


_R = TypeVar("_R")


class _Stopped(Exception):
    """The stop flag was set while waiting for a partition."""


@contextlib.contextmanager
def connect(address: str, *, workers: int | None = None, stop: StopFlag | None = None) -> Iterator[Client]:
    """A client of the scheduler at ``address``, or of a new local cluster of ``workers`` processes (``local``).

    A local cluster is closed at the end; when ``stop`` is set by then, its worker processes are killed first
    (closing waits seconds for a busy worker, and their partitions are not wanted any more). A remote cluster
    is never closed: it is not this process's.

    Raises:
        OSError: the scheduler cannot be reached (distributed's own timeout).
    """
    cluster: LocalCluster | None = None
    quiet = logging.getLogger("distributed")
    level = quiet.level
    if address == "local":
        # The scheduler of a local cluster runs in this process: its INFO lines (a comm closed, with a traceback,
        # when a stop kills the workers) would reach the terminal. Errors still do.
        quiet.setLevel(logging.ERROR)
        # The cluster's processes start from threads that inherit this mask: a terminal's Ctrl-C then reaches
        # only this process, which stops the batch and closes the cluster (no traceback from every worker).
        with _blocked(_TERMINAL_SIGNALS), dask.config.set(LOCAL_WORKER_CONFIG):
            cluster = LocalCluster(
                n_workers=workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                silence_logs=logging.ERROR,
            )
        client = Client(cluster)
    else:
        client = Client(address)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            if stop is not None and stop.is_set():
                _kill_workers(cluster)
            cluster.close()
            quiet.setLevel(level)


def _kill_workers(cluster: LocalCluster) -> None:
    for nanny in list(cluster.workers.values()):
        process = getattr(getattr(nanny, "process", None), "process", None)
        pid = getattr(process, "pid", None)
        if pid:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _check_versions(client: Client) -> None:
    """Every worker must run this needlescreen: the rules travel with the batch, the code does not."""
    mine = package_version()
    theirs: dict[str, str] = client.run(package_version)
    for worker, version in sorted(theirs.items()):
        if version != mine:
            raise EngineError(
                f"Dask worker {worker} runs needlescreen {version}, this client {mine}: install the same version "
                "on every worker"
            )


@dataclass(frozen=True, slots=True)
class _Partition(Generic[_R]):
    """A partition's rows, as one argument Dask does not look inside.

    Dask walks a task's arguments (lists, tuples, dicts) looking for futures: for a list of 200 rows, each a
    tuple, that took 0.45 of the client's 1.5 CPU s in a batch of 20,000 rows. Wrapped, the rows travel as they
    are and nothing walks them.
    """

    rows: list[_R]


def _on_worker(part: _Partition[Row], spec: ScreenSpec) -> list[Outcome]:
    """:func:`~needlescreen.batch.screen_partition` as a Dask task.

    The partition that builds this worker's screener also moves it out of the cyclic collector's walk (as a
    local worker does after start-up): a full collection otherwise walks the ruleset every few dozen rows.
    """
    built = screener_builds()
    outcomes = screen_partition(part.rows, spec)
    if screener_builds() > built:
        freeze_long_lived()
    return outcomes


#: How often a partition is sent again after the cluster lost the ruleset it needs, before the batch stops.
MAX_RESENDS = 5


class _Shared:
    """The spec, sent once to every worker; sent again if the cluster loses it (every worker holding it died)."""

    def __init__(self, client: Client, spec: ScreenSpec) -> None:
        self.client, self.spec = client, spec
        self.future: Future[ScreenSpec] = client.scatter(spec, broadcast=True, hash=False)
        self.resends = 0

    def submit(self, rows: list[Row]) -> Future[list[Outcome]]:
        return self.client.submit(_on_worker, _Partition(rows), self.future, pure=False)

    def lost(self) -> None:
        """A partition was cancelled (its dependency, the spec, was lost): send the spec again, once per loss."""
        if self.future.status == "finished":
            return  # still there (the partition depended on a copy lost earlier and sent again since)
        self.resends += 1
        if self.resends > MAX_RESENDS:
            raise EngineError(f"the Dask cluster lost the ruleset {self.resends} times; stopping")
        self.future = self.client.scatter(self.spec, broadcast=True, hash=False)

    def result(self, rows: list[Row], future: Future[list[Outcome]], stop: StopFlag | None) -> list[Outcome]:
        """The partition's outcomes; sent again while the cluster loses what it needs. Raises KilledWorker."""
        sent = 1
        while True:
            if stop is not None and stop.is_set():
                raise _Stopped
            try:
                wait(future, timeout=POLL_SECONDS)  # wait for the task, not its result: a timed-out fetch
            except TimeoutError:  # would stay pending and fail noisily once the future is released
                continue
            except CancelledError:
                pass
            if future.status != "cancelled":
                try:
                    outcomes: list[Outcome] = future.result()
                    return outcomes
                except CancelledError:  # its result died with the worker that held it, after it was done
                    pass
            if stop is not None and stop.is_set():
                raise _Stopped
            self.lost()
            sent += 1
            if sent > MAX_RESENDS * 4:
                raise EngineError("a partition was cancelled again and again on the Dask cluster; stopping")
            future = self.submit(rows)


def screen_rows_dask(
    rows: Iterable[Row],
    spec: ScreenSpec,
    client: Client,
    *,
    partition_size: int = PARTITION_ROWS,
    stop: StopFlag | None = None,
) -> Iterator[Outcome]:
    """Screen rows on the cluster behind ``client``, yielding one outcome per row in input order.

    A few partitions per worker thread are in flight, so memory stays flat however long the input is; the first
    round of them is of :data:`FIRST_PARTITION_ROWS` rows (or ``partition_size`` if smaller). When
    ``stop`` is set the outcomes end (within :data:`~needlescreen.batch.POLL_SECONDS`) and the partitions in
    flight are cancelled.

    Raises:
        EngineUnavailableError: the engine cannot load here (nothing is screened).
        EngineError: a worker runs another needlescreen version, or the cluster keeps losing the ruleset.
    """
    worker_screener(spec)  # a bad engine fails here, once, before anything is sent
    _check_versions(client)
    threads = sum(client.nthreads().values())
    ahead = max(4, 2 * threads + 2)
    shared = _Shared(client, spec)
    pending: deque[tuple[list[Row], Future[list[Outcome]]]] = deque()
    try:
        for chunk in _growing(rows, min(partition_size, FIRST_PARTITION_ROWS), ahead, partition_size):
            if stop is not None and stop.is_set():
                return
            pending.append((chunk, shared.submit(chunk)))
            while len(pending) >= ahead:
                yield from _collect(*pending.popleft(), shared, stop)
        while pending:
            yield from _collect(*pending.popleft(), shared, stop)
    except _Stopped:
        return
    finally:
        if pending:
            client.cancel([f for _, f in pending])
        client.cancel([shared.future])


def _growing(rows: Iterable[Row], first: int, count: int, size: int) -> Iterator[list[Row]]:
    """``count`` partitions of ``first`` rows, then partitions of ``size`` rows (fewer at the end)."""
    it = iter(rows)
    small = _chunks(it, first)
    for _ in range(count):
        chunk = next(small, None)
        if chunk is None:
            return
        yield chunk
    yield from _chunks(it, size)


def _collect(chunk: list[Row], future: Future[list[Outcome]], shared: _Shared, stop: StopFlag | None) -> list[Outcome]:
    try:
        return shared.result(chunk, future, stop)
    except KilledWorker:
        pass
    # This partition killed workers again and again: screen its rows alone, to find the row at fault.
    singles = [shared.submit([row]) for row in chunk]
    out: list[Outcome] = []
    for row, single in zip(chunk, singles, strict=True):
        try:
            out.extend(shared.result([row], single, stop))
        except KilledWorker:
            out.append(_error_line(row, "internal", _problem(_DIED)))
    return out


# --- impact --------------------------------------------------------------------------------------------------


def _impact_on_worker(part: _Partition[CohortRow], config: ImpactConfig) -> Impact:
    """:func:`~needlescreen.impact.screen_partition` as a Dask task (the worker's screeners are built once)."""
    from .impact import _sides, screen_partition

    first = _sides.cache_info().currsize == 0
    report = screen_partition(part.rows, config)
    if first:  # as a local worker does after start-up: the ruleset's tables leave the cyclic collector's walk
        freeze_long_lived()
    return report


def impact_dask(
    rows: Iterable[CohortRow], config: ImpactConfig, client: Client, *, partition_size: int = 1000
) -> Impact:
    """:func:`needlescreen.impact.impact` on the cluster behind ``client``: the same report, in input order.

    Raises:
        RuleFileError: a ruleset or policy of the configuration is invalid (before anything is sent).
        EngineError: a worker runs another needlescreen version, or a partition kept killing workers.
    """
    from .impact import Impact, _partitions, _sides

    _sides(config)
    _check_versions(client)
    ahead = max(4, 2 * sum(client.nthreads().values()) + 2)
    shared = client.scatter(config, broadcast=True, hash=False)
    total = Impact()
    pending: deque[Future[Impact]] = deque()
    try:
        for part in _partitions(rows, partition_size):
            pending.append(client.submit(_impact_on_worker, _Partition(part), shared, pure=False, retries=2))
            while len(pending) >= ahead:
                total.merge(_impact_result(pending.popleft()))
        while pending:
            total.merge(_impact_result(pending.popleft()))
    finally:
        if pending:
            client.cancel(list(pending))
        client.cancel([shared])
    return total


def _impact_result(future: Future[Impact]) -> Impact:
    try:
        report: Impact = future.result()
    except KilledWorker as exc:
        raise EngineError(f"a partition of the impact kept killing Dask workers; no report: {exc}") from None
    return report
