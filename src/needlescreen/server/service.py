"""What one worker process holds: its settings, its screener (its own engine) and its record store.

:func:`make_screener` is the one place the server builds a :class:`needlescreen.Screener` (keyword arguments
only). :meth:`Service.record_failure` latches an engine failure: from then on ``/ready`` fails, because the
engine has failed closed (durable_rules gives no further verdicts in a process where it failed once).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from needlescreen import EngineError, Screener, ScreeningResult, load_ruleset

from .settings import Settings
from .store import Store

__all__ = ["READY_PROBE", "Service", "get_service", "make_screener"]

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

    def screen(self, intake: Any) -> ScreeningResult:
        """Screen with this worker's engine; an engine error is latched (``/ready`` fails) and raised."""
        try:
            return self.screener.screen(intake)
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
