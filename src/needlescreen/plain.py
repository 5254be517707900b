"""The plain-Python evaluator: the specification's engine, the test oracle, and the engine where durable_rules
cannot load (Python 3.13+)."""

from __future__ import annotations

from collections.abc import Sequence

from .conditions import All, Atom, Condition, Truth
from .facts import Facts
from .firings import EngineName, Firing, fact_sets
from .ruleset import CompiledRule, Ruleset
from .scope_code import ScopeEvaluator, compile_scope

__all__ = ["PlainEngine"]


def _first_equality(rule: CompiledRule) -> tuple[str, object] | None:
    """The fact and value a rule's condition requires before anything else: an ``eq`` test, alone or first in an
    ``all``.

    Every electrical-only rule starts with its technique guard (``plan.technique`` or ``site.stimulated``), so for
    a manual plan one test rules out its whole group; most single-answer rules (``site.dvt`` is ``yes``) are
    false for most patients.
    """
    cond = rule.condition
    first = cond.parts[0] if isinstance(cond, All) and cond.parts else cond
    if isinstance(first, Atom) and first.op == "eq":
        return first.fact, first.value
    return None


class PlainEngine:
    """The plain-Python evaluator: three-valued evaluation of each rule on each fact set of its scope.

    Rules are grouped by the equality their condition requires first: when a fact set holds that fact with
    another value, every rule of the group is false (an ``all`` with a false part is false, even if another part
    is unknown), so the group is passed over with one test. Otherwise each rule is evaluated in full. The rules
    of each scope run as one generated function (:mod:`needlescreen.scope_code`), equal to their closures.
    """

    name: EngineName = "plain"

    def __init__(self, ruleset: Ruleset) -> None:
        self._by_scope: dict[str, ScopeEvaluator] = {}
        for scope in ("patient", "site", "circuit"):
            groups: dict[tuple[str, object] | None, list[tuple[str, Condition]]] = {}
            for r in ruleset.rules:
                if r.fact_scope == scope:
                    groups.setdefault(_first_equality(r), []).append((r.id, r.condition))
            self._by_scope[scope] = compile_scope(tuple(groups.items()))
        # Firings are immutable and few: one instance per (rule, scope, index, truth), shared by screenings.
        self._firings: dict[tuple[str, str, int, Truth], Firing] = {}

    def run(self, facts: Facts) -> frozenset[Firing]:
        out = []
        known = self._firings
        for scope, index, fs in fact_sets(facts):
            for rule_id, truth in self._by_scope[scope](fs):
                key = (rule_id, scope, index, truth)
                firing = known.get(key)
                if firing is None:
                    firing = known.setdefault(key, Firing(rule_id, scope, index, truth))
                out.append(firing)
        return frozenset(out)

    def run_many(self, batch: Sequence[Facts]) -> list[frozenset[Firing]]:
        """Every firing of each screening, in order (one by one: nothing here is shared between screenings)."""
        return [self.run(facts) for facts in batch]
