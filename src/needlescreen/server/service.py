"""What one worker process holds: its settings, its screener (its own engine), its record store, its threads.

:func:`make_screener` is the one place the server builds a :class:`needlescreen.Screener` (keyword arguments
only). :meth:`Service.record_failure` latches an engine failure: from then on ``/ready`` fails, because the
engine has failed closed (durable_rules gives no further verdicts in a process where it failed once).

:meth:`Service.compute` runs CPU work (reading a body, validating, screening, serialising) in a few threads of
the worker's own, so the event loop stays free to accept connections and answer ``/health`` while it runs. The
threads gain no parallelism (durable_rules takes a process-wide lock and neither it nor the validator releases
the GIL), but the loop is handed the GIL every switch interval, and every step is kept short by the body limits
(:mod:`needlescreen.server.bodies`). Database waits run in the default thread pool, so a slow disk never holds a
screening thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from fastapi import Request

from needlescreen import EngineError, Intake, IntakeError, Screener, ScreeningResult, load_ruleset

from .batching import ScreeningQueue
from .settings import Settings
from .store import Store

__all__ = ["COMPUTE_THREADS", "READY_PROBE", "Service", "get_service", "make_screener"]

#: Threads per worker for screening work (measured: benchmarks/server_hostile.py).
COMPUTE_THREADS = 2
_T = TypeVar("_T")

#: A fixed intake screened at start and by ``/ready``: the engine must still answer (an engine that failed closed
#: raises). Its brand name is not in ``medications.yaml``, so the first screening also loads the drug dictionary
#: (about a second) before the worker takes requests, not inside a patient's request.
READY_PROBE: dict[str, Any] = {
    "medications": {"complete": "yes", "items": [{"name": "Lipitor 20 mg"}]},
    "plan": {"technique": "dry_needling", "sites": [{"id": "probe", "region": "calf", "side": "left"}]},
}


async def get_service(request: Request) -> Service:
    """The worker's service state (a FastAPI dependency)."""
    svc: Service = request.app.state.service
    return svc


def make_screener(settings: Settings) -> Screener:
    """Build the worker's screener over the configured rules, policy and engine."""
    ruleset = load_ruleset(settings.rules_dir, policy_file=settings.policy_file)
    return Screener(ruleset=ruleset, engine=settings.engine)


@dataclass
class Service:
    """The per-process state every route reads."""

    settings: Settings
    screener: Screener
    store: Store
    engine_failure: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _limiter: CapacityLimiter | None = None
    _queue: ScreeningQueue | None = None

    @property
    def queue(self) -> ScreeningQueue:
        """The request bodies waiting to be screened, handed to the screening threads in batches."""
        if self._queue is None:
            self._queue = ScreeningQueue(self, COMPUTE_THREADS)
        return self._queue

    async def compute(self, fn: Callable[..., _T], *args: Any) -> _T:
        """Run CPU work off the event loop, in this worker's screening threads."""
        if self._limiter is None:
            # Made here, on the loop: an anyio limiter belongs to the event loop that first uses it.
            self._limiter = CapacityLimiter(COMPUTE_THREADS)
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    def screen(self, intake: Any) -> ScreeningResult:
        """Screen with this worker's engine; an engine error is latched (``/ready`` fails) and raised."""
        with self._latching():
            return self.screener.screen(intake)

    def screen_many(self, intakes: Sequence[Intake]) -> list[ScreeningResult | IntakeError]:
        """Screen validated intakes together (:meth:`Screener.screen_many`); an engine error is latched and raised."""
        with self._latching():
            return self.screener.screen_many(intakes)

    @contextmanager
    def _latching(self) -> Iterator[None]:
        try:
            yield
        except EngineError as exc:
            self.record_failure(type(exc).__name__)
            raise

    def record_failure(self, reason: str) -> None:
        """Remember that the engine failed; the service stays not-ready until restarted."""
        with self._lock:
            self.engine_failure = self.engine_failure or reason

    def ready(self) -> dict[str, str]:
        """Check the ruleset, the engine and the database; each value is ``ok`` or why not."""
        checks = {"ruleset": "ok", "engine": "ok", "database": "ok"}
        if self.engine_failure is not None:
            checks["engine"] = f"failed earlier in this process ({self.engine_failure})"
        else:
            try:
                self.screen(READY_PROBE)
            except EngineError as exc:
                checks["engine"] = f"failed ({type(exc).__name__})"
        try:
            self.store.ping()
        except Exception as exc:  # any database failure makes the service not ready; the reason is logged
            checks["database"] = f"unreachable ({type(exc).__name__})"
        return checks

    def close(self) -> None:
        """Release the database pool."""
        self.store.close()
