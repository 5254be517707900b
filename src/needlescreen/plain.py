"""The plain-Python evaluator: the specification's engine, the test oracle, and the engine where durable_rules
cannot load (Python 3.13+)."""

from __future__ import annotations

from .conditions import Evaluator, Truth, compile_condition
from .facts import Facts
from .firings import EngineName, Firing, fact_sets
from .ruleset import Ruleset

__all__ = ["PlainEngine"]


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
