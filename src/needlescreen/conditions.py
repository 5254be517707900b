"""Rule conditions: the engine-neutral compiled form, three-valued evaluation, and disjunctive normal form.

A condition is a tree of ``all`` / ``any`` / ``not`` over atoms that compare one fact with a value. Facts may
be unknown, so a condition is *true*, *false* or *unknown* (Kleene's three-valued logic): ``all`` is false if
any part is false, else unknown if any part is unknown; ``any`` is true if any part is true, else unknown if
any part is unknown. A rule whose condition is unknown yields its ``unknown`` verdict (never clear).

:func:`evaluate` is the plain-Python evaluator. :func:`dnf` rewrites a condition into the disjunctive normal
form the durable_rules adapter registers: one branch per way the condition can be true (``T``) or unknown
(``U``), each branch a conjunction of literal tests on fact presence and value.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal

__all__ = [
    "All",
    "Any",
    "Atom",
    "Branch",
    "Condition",
    "Literal_",
    "Not",
    "Truth",
    "dnf",
    "evaluate",
    "facts_read",
    "nnf",
]

Op = Literal["eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "within", "not_within", "known"]
Value = str | float | bool | tuple[str, ...]

NEGATE: Mapping[str, str] = {
    "eq": "ne",
    "ne": "eq",
    "lt": "ge",
    "ge": "lt",
    "le": "gt",
    "gt": "le",
    "in": "not_in",
    "not_in": "in",
    "within": "not_within",
    "not_within": "within",
}


class Truth(IntEnum):
    """Three-valued truth. Ordered so that ``min`` is conjunction and ``max`` is disjunction."""

    FALSE = 0
    UNKNOWN = 1
    TRUE = 2


@dataclass(frozen=True, slots=True)
class Atom:
    """Compare one fact with a value. ``known`` tests presence and is never unknown itself."""

    fact: str
    op: Op
    value: Value


@dataclass(frozen=True, slots=True)
class All:
    """True when every part is true."""

    parts: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Any:
    """True when some part is true."""

    parts: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """Negation; unknown stays unknown."""

    part: Condition


Condition = Atom | All | Any | Not


def _holds(op: str, have: object, want: Value) -> bool:
    if op == "eq":
        return have == want
    if op == "ne":
        return have != want
    if op == "in":
        return have in want  # type: ignore[operator]
    if op == "not_in":
        return have not in want  # type: ignore[operator]
    if op == "within":
        return any(r in have for r in want)  # type: ignore[union-attr, operator]
    if op == "not_within":
        return not any(r in have for r in want)  # type: ignore[union-attr, operator]
    if op == "lt":
        return have < want  # type: ignore[operator]
    if op == "le":
        return have <= want  # type: ignore[operator]
    if op == "gt":
        return have > want  # type: ignore[operator]
    if op == "ge":
        return have >= want  # type: ignore[operator]
    raise ValueError(f"unknown operator {op!r}")


def evaluate(cond: Condition, facts: Mapping[str, object]) -> Truth:
    """Three-valued evaluation of a condition over one fact set (absent fact = unknown)."""
    if isinstance(cond, Atom):
        present = cond.fact in facts
        if cond.op == "known":
            return Truth.TRUE if present == cond.value else Truth.FALSE
        if not present:
            return Truth.UNKNOWN
        return Truth.TRUE if _holds(cond.op, facts[cond.fact], cond.value) else Truth.FALSE
    if isinstance(cond, All):
        return min((evaluate(p, facts) for p in cond.parts), default=Truth.TRUE)
    if isinstance(cond, Any):
        return max((evaluate(p, facts) for p in cond.parts), default=Truth.FALSE)
    return Truth(2 - evaluate(cond.part, facts))


def facts_read(cond: Condition) -> tuple[str, ...]:
    """Every fact a condition reads, in first-use order."""
    seen: dict[str, None] = {}

    def walk(c: Condition) -> None:
        if isinstance(c, Atom):
            seen.setdefault(c.fact, None)
        elif isinstance(c, Not):
            walk(c.part)
        else:
            for p in c.parts:
                walk(p)

    walk(cond)
    return tuple(seen)


def nnf(cond: Condition, negate: bool = False) -> Condition:
    """Push negations down to atoms (De Morgan holds in Kleene logic), so ``Not`` disappears."""
    if isinstance(cond, Not):
        return nnf(cond.part, not negate)
    if isinstance(cond, Atom):
        if not negate:
            return cond
        if cond.op == "known":
            return Atom(cond.fact, "known", not cond.value)
        return Atom(cond.fact, NEGATE[cond.op], cond.value)  # type: ignore[arg-type]
    parts = tuple(nnf(p, negate) for p in cond.parts)
    if isinstance(cond, All):
        return Any(parts) if negate else All(parts)
    return All(parts) if negate else Any(parts)


# --- disjunctive normal form for the durable_rules adapter -------------------------------------------------

LiteralOp = Literal["eq", "ne", "lt", "le", "gt", "ge", "within", "not_within", "present", "absent"]


@dataclass(frozen=True, slots=True, order=True)
class Literal_:
    """One test in a branch. Value tests (all but ``absent``) only match a present fact."""

    fact: str
    op: LiteralOp
    value: str | float | tuple[str, ...] | None = None


Branch = tuple[Literal_, ...]


def _atom_true(a: Atom) -> list[Branch]:
    if a.op == "known":
        return [(Literal_(a.fact, "present" if a.value else "absent"),)]
    if a.op == "in":
        return [(Literal_(a.fact, "eq", v),) for v in a.value]  # type: ignore[union-attr]
    if a.op == "not_in":
        return [tuple(Literal_(a.fact, "ne", v) for v in a.value)]  # type: ignore[union-attr]
    if a.op in ("within", "not_within"):
        return [(Literal_(a.fact, a.op, tuple(a.value)),)]  # type: ignore[arg-type]
    return [(Literal_(a.fact, a.op, a.value),)]


def _consistent(branch: Iterable[Literal_]) -> Branch | None:
    """Merge literals, dropping a branch that needs a fact both absent and present (or two values)."""
    lits = sorted(set(branch), key=lambda lit: (lit.fact, lit.op, repr(lit.value)))
    absent = {lit.fact for lit in lits if lit.op == "absent"}
    valued = {lit.fact for lit in lits if lit.op != "absent"}
    if absent & valued:
        return None
    eqs: dict[str, object] = {}
    for lit in lits:
        if lit.op == "eq":
            if lit.fact in eqs and eqs[lit.fact] != lit.value:
                return None
            eqs[lit.fact] = lit.value
    return tuple(lits)


def _product(alternatives: list[list[Branch]]) -> list[Branch]:
    out: list[Branch] = []
    for combo in itertools.product(*alternatives):
        merged = _consistent(lit for branch in combo for lit in branch)
        if merged is not None:
            out.append(merged)
    return out


def _dedupe(branches: Iterable[Branch]) -> list[Branch]:
    return list(dict.fromkeys(branches))


def _tfu(cond: Condition, always_known: frozenset[str]) -> tuple[list[Branch], list[Branch], list[Branch]]:
    """Branches for true, false and unknown of an NNF condition."""
    if isinstance(cond, Atom):
        true = _atom_true(cond)
        if cond.op == "known":
            return true, [(Literal_(cond.fact, "absent" if cond.value else "present"),)], []
        false = _atom_true(Atom(cond.fact, NEGATE[cond.op], cond.value))  # type: ignore[arg-type]
        absent: list[Branch] = [] if cond.fact in always_known else [(Literal_(cond.fact, "absent"),)]
        return true, false, absent
    if isinstance(cond, Not):  # pragma: no cover - nnf() removed every Not
        t, f, u = _tfu(cond.part, always_known)
        return f, t, u
    kids = [_tfu(p, always_known) for p in cond.parts]
    if isinstance(cond, All):
        true = _product([k[0] for k in kids])
        false = _dedupe(b for k in kids for b in k[1])
        keep, weak = 0, 2  # children must all be true-or-unknown, at least one unknown
    else:
        true = _dedupe(b for k in kids for b in k[0])
        false = _product([k[1] for k in kids])
        keep, weak = 1, 2  # children must all be false-or-unknown, at least one unknown
    unknown: list[Branch] = []
    for choice in itertools.product((keep, weak), repeat=len(kids)):
        if weak not in choice:
            continue
        unknown.extend(_product([k[c] for k, c in zip(kids, choice, strict=True)]))
    return true, false, _dedupe(unknown)


def dnf(cond: Condition, always_known: frozenset[str] = frozenset()) -> tuple[list[Branch], list[Branch]]:
    """Branches under which ``cond`` is true, and under which it is unknown.

    Facts in ``always_known`` are never absent (e.g. the site's region), so they contribute no unknown branch.
    Under any one fact set at most one unknown branch per combination of children matches, and a true and an
    unknown branch never match together.
    """
    t, _f, u = _tfu(nnf(cond), always_known)
    return t, u
