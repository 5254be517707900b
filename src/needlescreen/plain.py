"""The plain-Python evaluator: the specification's engine, the test oracle, and the engine where durable_rules
cannot load (Python 3.13+)."""

from __future__ import annotations

from collections.abc import Sequence

from .conditions import All, Atom, Evaluator, Truth, compile_condition
from .facts import Facts
from .firings import EngineName, Firing, fact_sets
from .ruleset import CompiledRule, Ruleset

__all__ = ["PlainEngine"]

#: A group of rules: the equality every rule of the group requires first (None: no such test), and the rules.
_Group = tuple[tuple[str, object] | None, tuple[tuple[str, Evaluator], ...]]
_MISSING = object()


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
    is unknown), so the group is passed over with one test. Otherwise each rule is evaluated in full.
    """

    name: EngineName = "plain"

    def __init__(self, ruleset: Ruleset) -> None:
        # Each condition is compiled once to closures (compile_condition); evaluate() is their specification.
        self._by_scope: dict[str, tuple[_Group, ...]] = {}
        for scope in ("patient", "site", "circuit"):
            groups: dict[tuple[str, object] | None, list[tuple[str, Evaluator]]] = {}
            for r in ruleset.rules:
                if r.fact_scope == scope:
                    groups.setdefault(_first_equality(r), []).append((r.id, compile_condition(r.condition)))
            self._by_scope[scope] = tuple((key, tuple(rules)) for key, rules in groups.items())

    def run(self, facts: Facts) -> frozenset[Firing]:
        out = set()
        false = Truth.FALSE
        for scope, index, fs in fact_sets(facts):
            for requires, rules in self._by_scope[scope]:
                if requires is not None:
                    have = fs.get(requires[0], _MISSING)
                    if have is not _MISSING and have != requires[1]:
                        continue
                for rule_id, test in rules:
                    truth = test(fs)
                    if truth is not false:
                        out.add(Firing(rule_id, scope, index, truth))
        return frozenset(out)

    def run_many(self, batch: Sequence[Facts]) -> list[frozenset[Firing]]:
        """Every firing of each screening, in order (one by one: nothing here is shared between screenings)."""
        return [self.run(facts) for facts in batch]
