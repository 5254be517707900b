"""Screen the request bodies that arrive together in one hand-over to the screening threads.

Each hand-over of CPU work from the event loop to a thread and back costs about a third of a millisecond of CPU
on a 2-core machine (the two threads trade the GIL and their caches), which was more than screening a typical
intake on the plain evaluator and a sixth of a dry run's whole cost on durable_rules. :class:`ScreeningQueue`
collects the bodies of ``POST /screenings`` while the screening threads are busy and hands them over as one
batch: at low load every body still goes alone and at once; under load, one hand-over serves several requests,
and durable_rules matches their facts in one session (:meth:`needlescreen.Screener.screen_many`).

Nothing is shared between the requests of a batch but the hand-over: each body is read and validated on its own
(its own 415 or 422), and the engine screens each intake exactly as alone. An engine failure fails the whole
batch closed (no request of it gets a verdict), as it fails a single screening. A request whose client went
away is skipped when its turn comes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from needlescreen import FieldProblem, Intake, IntakeError, ScreeningResult

from .bodies import read_intake

_T = TypeVar("_T")


class Service(Protocol):
    """What the queue needs of the worker's service (:class:`needlescreen.server.service.Service`)."""

    def screen_many(self, intakes: Sequence[Intake]) -> list[ScreeningResult | IntakeError]: ...

    async def compute(self, fn: Callable[..., _T], *args: Any) -> _T: ...


__all__ = ["MAX_BATCH", "MAX_BATCH_BYTES", "Screened", "ScreeningQueue", "serialise_intake"]

#: Requests per hand-over: past a few dozen the hand-over costs nothing more per request, while the first
#: request of a batch waits for the last.
MAX_BATCH = 32
#: Body bytes per hand-over (at least one body goes, whatever its size), so that one large body does not hold
#: many small ones behind it.
MAX_BATCH_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Screened:
    """One request's screening: the intake, its JSON for the record (empty when not stored), the result and its
    JSON."""

    intake: Intake
    intake_json: str
    result: ScreeningResult
    result_json: str


@dataclass(slots=True)
class _Job:
    body: bytes
    content_type: str | None
    store: bool
    future: asyncio.Future[Screened]


def serialise_intake(intake: Intake) -> str:
    """The intake as the JSON its record stores (an IntakeError for text no database column can hold)."""
    try:
        return intake.model_dump_json()
    except ValueError:
        # Valid JSON may escape a lone UTF-16 surrogate, which no database column can hold.
        problem = FieldProblem("", "text contains an unpaired UTF-16 surrogate escape (\\ud800-\\udfff)")
        raise IntakeError([problem]) from None


def screen_bodies(svc: Service, jobs: list[tuple[bytes, str | None, bool]]) -> list[Screened | Exception]:
    """Read, validate and screen request bodies (CPU work: run in a screening thread): for each, in order, its
    screening or the exception that rejects it.

    Raises:
        EngineError: the engine failed; no body of the batch gets a verdict (latched by the service: ``/ready``
            fails).
    """
    read: list[tuple[Intake, str] | Exception] = []
    for body, content_type, store in jobs:
        try:
            intake = read_intake(body, content_type)
            read.append((intake, serialise_intake(intake) if store else ""))
        except Exception as exc:  # each request's own rejection (or internal error), raised in its own request
            read.append(exc)
    results = iter(svc.screen_many([r[0] for r in read if not isinstance(r, Exception)]))
    return [r if isinstance(r, Exception) else _screened(*r, next(results)) for r in read]


def _screened(intake: Intake, intake_json: str, result: ScreeningResult | IntakeError) -> Screened | Exception:
    # screen_many gives an IntakeError only for input it validates itself; these intakes are validated already.
    return (
        result if isinstance(result, IntakeError) else Screened(intake, intake_json, result, result.model_dump_json())
    )


class ScreeningQueue:
    """The request bodies waiting for the screening threads, handed over in batches (one queue per worker).

    At most ``lanes`` batches are in the threads at once (the worker's screening threads); a body that arrives
    while all lanes are busy waits for the next batch.
    """

    def __init__(self, svc: Service, lanes: int) -> None:
        self._svc = svc
        self._lanes = lanes
        self._busy = 0
        self._waiting: deque[_Job] = deque()
        self._lanes_running: set[asyncio.Task[None]] = set()  # held, so that a running lane is not collected

    async def screen(self, body: bytes, content_type: str | None, *, store: bool) -> Screened:
        """The screening of one request body, in the next batch.

        Raises:
            UnsupportedMediaTypeError, IntakeError: the body is not a readable, valid intake.
            EngineError: the engine failed.
        """
        future: asyncio.Future[Screened] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Job(body, content_type, store, future))
        if self._busy < self._lanes:
            self._busy += 1
            lane = asyncio.get_running_loop().create_task(self._lane())
            self._lanes_running.add(lane)
            lane.add_done_callback(self._lanes_running.discard)
        return await future

    def _next_batch(self) -> list[_Job]:
        batch: list[_Job] = []
        size = 0
        while self._waiting and len(batch) < MAX_BATCH and (not batch or size < MAX_BATCH_BYTES):
            job = self._waiting.popleft()
            if job.future.done():  # its request was cancelled (the client went away) while it waited
                continue
            batch.append(job)
            size += len(job.body)
        return batch

    async def _lane(self) -> None:
        try:
            while batch := self._next_batch():
                args = [(job.body, job.content_type, job.store) for job in batch]
                try:
                    outcomes = await self._svc.compute(screen_bodies, self._svc, args)
                except Exception as exc:  # the whole batch fails closed, each request raising the error
                    for job in batch:
                        if not job.future.done():
                            job.future.set_exception(exc)
                    continue
                except BaseException:  # the worker is stopping: its waiting requests are cancelled with it
                    for job in (*batch, *self._waiting):
                        job.future.cancel()
                    raise
                for job, outcome in zip(batch, outcomes, strict=True):
                    if job.future.done():
                        continue
                    if isinstance(outcome, Exception):
                        job.future.set_exception(outcome)
                    else:
                        job.future.set_result(outcome)
        finally:
            self._busy -= 1
