"""Rule engines: durable_rules where it loads, and the plain-Python evaluator of the same compiled rules.

Both engines take the compiled rules and one screening's facts and return the same thing: the set of
*firings*, each a rule, the fact set it concerns (patient, a site or a circuit) and whether the condition was
true or unknown. Everything after that (verdicts, findings, missing information) is shared code, so the two
engines can only differ in how they match, which is exactly what the oracle test compares.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

from .conditions import Evaluator, Truth, compile_condition
from .errors import EngineUnavailableError
from .facts import Facts, FactSet
from .ruleset import Ruleset

__all__ = ["Engine", "EngineName", "Firing", "PlainEngine", "available_engines", "fact_sets", "make_engine"]

EngineName = Literal["durable_rules", "plain"]
FactScope = Literal["patient", "site", "circuit"]


@dataclass(frozen=True, slots=True, order=True)
class Firing:
    """A rule whose condition was true (``TRUE``) or undecidable (``UNKNOWN``) on one fact set."""

    rule_id: str
    scope: FactScope
    index: int
    truth: Truth


class Engine(Protocol):
    """What an engine does: match compiled rules against one screening's facts."""

    name: EngineName

    def run(self, facts: Facts) -> frozenset[Firing]:
        """Return every firing; raise on any internal error."""
        ...


def fact_sets(facts: Facts) -> Iterator[tuple[FactScope, int, FactSet]]:
    """Every fact set of a screening with its scope and index."""
    yield "patient", 0, facts.patient
    for i, (_site, fs) in enumerate(facts.sites):
        yield "site", i, fs
    for j, (_cid, fs) in enumerate(facts.circuits):
        yield "circuit", j, fs


class PlainEngine:
    """The plain-Python evaluator: three-valued evaluation of each rule on each fact set of its scope."""

    name: EngineName = "plain"

    def __init__(self, ruleset: Ruleset) -> None:
        # Each condition is compiled once to closures (compile_condition); evaluate() is their specification.
        self._by_scope: dict[str, tuple[tuple[str, Evaluator], ...]] = {
            s: tuple((r.id, compile_condition(r.condition)) for r in ruleset.rules if r.fact_scope == s)
            for s in ("patient", "site", "circuit")
        }

    def run(self, facts: Facts) -> frozenset[Firing]:
        out = set()
        false = Truth.FALSE
        for scope, index, fs in fact_sets(facts):
            for rule_id, test in self._by_scope[scope]:
                truth = test(fs)
                if truth is not false:
                    out.add(Firing(rule_id, scope, index, truth))
        return frozenset(out)


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
