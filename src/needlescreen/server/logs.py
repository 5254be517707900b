"""Structured logs: one JSON line per request and per screening, never patient data.

A line carries what an operator needs to trace a decision (decision id, verdict, rule ids, timing, status,
route template) and nothing that identifies a patient: no intake values, no record metadata, no query strings,
no raw paths (a path holds only a record id, but the route template is logged instead so that no future
path parameter leaks), and an exception is logged by its type and code location, never its message.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

__all__ = ["LOGGER", "configure", "log_event"]

LOGGER = logging.getLogger("needlescreen.server")


class _JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {"ts": round(record.created, 3), "level": record.levelname.lower(), "event": record.getMessage()}
        data.update(getattr(record, "fields", {}))
        return orjson.dumps(data).decode()


def configure(level: int = logging.INFO) -> None:
    """Send the service's log lines to standard error as JSON (idempotent)."""
    if any(getattr(h, "_needlescreen", False) for h in LOGGER.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonLines())
    handler._needlescreen = True  # type: ignore[attr-defined]
    LOGGER.addHandler(handler)
    LOGGER.setLevel(level)
    LOGGER.propagate = True


def log_event(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event with its fields (callers pass only the allowed, non-identifying fields)."""
    if LOGGER.isEnabledFor(level):
        LOGGER.log(level, event, extra={"fields": fields})


def elapsed_ms(start: float) -> float:
    """Milliseconds since ``start`` (a ``time.perf_counter()`` value), rounded for a log line."""
    return round((time.perf_counter() - start) * 1000, 3)
