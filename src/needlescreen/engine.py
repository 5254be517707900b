"""Rule engines: durable_rules where it loads, and the plain-Python evaluator of the same compiled rules.

This module chooses and builds an engine. What an engine returns (:class:`Firing`) and the protocol it follows
are in :mod:`needlescreen.firings`; the plain evaluator is :mod:`needlescreen.plain`; the durable_rules adapter,
imported only when it is chosen, is :mod:`needlescreen._durable`. The names are re-exported here.
"""

from __future__ import annotations

import importlib.util
from typing import Literal

from .errors import EngineUnavailableError
from .firings import Engine, EngineName, FactScope, Firing, fact_sets
from .plain import PlainEngine
from .ruleset import Ruleset

__all__ = [
    "Engine",
    "EngineName",
    "FactScope",
    "Firing",
    "PlainEngine",
    "available_engines",
    "fact_sets",
    "make_engine",
]


def durable_available() -> bool:
    """True when durable_rules is installed and importable on this Python."""
    if importlib.util.find_spec("durable") is None:
        return False
    try:
        from . import _durable  # noqa: F401 - importing is the test
    except ImportError:
        return False
    return True


def available_engines() -> tuple[EngineName, ...]:
    """Engines that can run here, preferred first."""
    return ("durable_rules", "plain") if durable_available() else ("plain",)


def make_engine(ruleset: Ruleset, name: EngineName | Literal["auto"] = "auto") -> Engine:
    """Build an engine for a ruleset: ``auto`` picks durable_rules where it loads, else plain.

    Raises:
        EngineUnavailableError: the name is unknown, or ``durable_rules`` cannot be loaded here; the message
            lists the engines available here.
    """
    if name == "plain":
        return PlainEngine(ruleset)
    if name not in ("auto", "durable_rules"):
        choices = ", ".join(repr(n) for n in ("auto", *available_engines()))
        raise EngineUnavailableError(f"unknown engine {name!r}; available here: {choices}")
    if not durable_available():
        if name == "durable_rules":
            raise EngineUnavailableError(
                "durable_rules cannot be loaded on this Python (it needs 3.11 or 3.12); available here: 'auto', 'plain'"
            )
        return PlainEngine(ruleset)
    from ._durable import DurableEngine

    return DurableEngine(ruleset)
