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
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any as AnyType
from typing import Literal

__all__ = [
    "UNKNOWN",
    "All",
    "Any",
    "Atom",
    "Branch",
    "Condition",
    "Evaluator",
    "Literal_",
    "Not",
    "Truth",
    "atoms",
    "compile_condition",
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


Evaluator = Callable[[Mapping[str, object]], Truth]
_MISSING = object()
_T, _U, _F = Truth.TRUE, Truth.UNKNOWN, Truth.FALSE


def compile_condition(cond: Condition) -> Evaluator:
    """Compile a condition once into nested closures with the same three-valued meaning as :func:`evaluate`.

    The plain-Python engine evaluates every rule on every fact set of every screening; walking the tree and
    dispatching on operators each time costs several times more than these closures.
    """
    if isinstance(cond, Atom):
        return _compile_atom(cond)
    if isinstance(cond, Not):
        inner = compile_condition(cond.part)
        return lambda facts: Truth(2 - inner(facts))
    parts = tuple(compile_condition(p) for p in cond.parts)
    if isinstance(cond, All):

        def all_of(facts: Mapping[str, object]) -> Truth:
            result = _T
            for part in parts:
                r = part(facts)
                if r is _F:
                    return _F
                if r is _U:
                    result = _U
            return result

        return all_of

    def any_of(facts: Mapping[str, object]) -> Truth:
        result = _F
        for part in parts:
            r = part(facts)
            if r is _T:
                return _T
            if r is _U:
                result = _U
        return result

    return any_of


def _compile_atom(a: Atom) -> Evaluator:
    fact, op, want = a.fact, a.op, a.value
    if op == "known":

        def known(facts: Mapping[str, object]) -> Truth:
            return _T if (fact in facts) == want else _F

        return known
    test: Callable[[AnyType], bool]
    # Plain comparisons, not bound dunder methods: 2.0.__eq__("yes") is NotImplemented, which is truthy.
    if op == "eq":
        test = lambda have: have == want  # noqa: E731
    elif op == "ne":
        test = lambda have: have != want  # noqa: E731
    elif op == "in":
        test = frozenset(want).__contains__  # type: ignore[arg-type]
    elif op == "not_in":
        members = frozenset(want)  # type: ignore[arg-type]
        test = lambda have: have not in members  # noqa: E731
    elif op == "within":
        regions = tuple(want)  # type: ignore[arg-type]
        test = lambda have: any(r in have for r in regions)  # noqa: E731
    elif op == "not_within":
        regions = tuple(want)  # type: ignore[arg-type]
        test = lambda have: not any(r in have for r in regions)  # noqa: E731
    else:
        test = lambda have: _holds(op, have, want)  # noqa: E731

    def atom(facts: Mapping[str, object]) -> Truth:
        have = facts.get(fact, _MISSING)
        if have is _MISSING:
            return _U
        return _T if test(have) else _F

    return atom


def atoms(cond: Condition) -> Iterator[Atom]:
    """Every atom of a condition, left to right (an atom used twice is given twice)."""
    if isinstance(cond, Atom):
        yield cond
    elif isinstance(cond, Not):
        yield from atoms(cond.part)
    else:
        for part in cond.parts:
            yield from atoms(part)


def facts_read(cond: Condition) -> tuple[str, ...]:
    """Every fact a condition reads, in first-use order."""
    return tuple(dict.fromkeys(a.fact for a in atoms(cond)))


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
#
# durable_rules matches two-valued patterns, so each rule is given as branches: conjunctions of literal tests
# under which the condition is true, and under which it is unknown. Facts with a finite domain (answers and
# enums) are given to the engine with an explicit UNKNOWN sentinel value instead of being absent; that makes
# "true or unknown" a single conjunction of inequalities (``f in S or unknown`` == ``f != w`` for every w not
# in S), which keeps the number of branches linear in the size of a condition instead of exponential.

UNKNOWN = "?"

LiteralOp = Literal[
    "eq", "ne", "lt", "le", "gt", "ge", "within", "not_within", "present", "absent", "is_known", "is_unknown"
]


@dataclass(frozen=True, slots=True, order=True)
class Literal_:
    """One test in a branch.

    For a finite-domain fact the value is always present (the sentinel :data:`UNKNOWN` stands for unknown):
    ``eq``/``ne`` compare the raw value, so ``ne`` also matches unknown; ``is_known``/``is_unknown`` test the
    sentinel. For other facts an unknown value is absent: comparisons match only a present value, and
    ``present``/``absent`` test presence.
    """

    fact: str
    op: LiteralOp
    value: str | float | tuple[str, ...] | None = None


Branch = tuple[Literal_, ...]


@dataclass(frozen=True, slots=True)
class _Forms:
    """An NNF condition's branches: true, false, unknown, true-or-unknown, false-or-unknown."""

    t: list[Branch]
    f: list[Branch]
    u: list[Branch]
    tu: list[Branch]
    fu: list[Branch]


_RARE = frozenset({"yes", UNKNOWN})


def _selective_first(lit: Literal_) -> tuple[int, str, str, str]:
    """Order a branch's tests so that those an ordinary patient rarely meets come first.

    durable_rules walks a branch's tests in order and stops at the first that fails, so a rare test first
    (an answer "yes", an unknown value, a threshold) prunes most branches at their first node.
    """
    if lit.op in ("is_unknown", "absent") or (lit.op == "eq" and lit.value in _RARE):
        rank = 0
    elif lit.op in ("eq", "lt", "le", "gt", "ge", "within"):
        rank = 1
    elif lit.op in ("present", "not_within"):
        rank = 2
    else:  # ne and is_known hold for most patients
        rank = 3
    return rank, lit.fact, lit.op, repr(lit.value)


def _consistent(branch: Iterable[Literal_]) -> Branch | None:
    """Merge literals, dropping a branch that cannot match (a fact both known and unknown, two values)."""
    lits = sorted(set(branch), key=_selective_first)
    unknown = {lit.fact for lit in lits if lit.op in ("absent", "is_unknown")}
    known = {lit.fact for lit in lits if lit.op not in ("absent", "is_unknown", "ne")}
    if unknown & known:
        return None
    eqs: dict[str, object] = {}
    nes: dict[str, set[object]] = {}
    for lit in lits:
        if lit.op == "eq":
            if lit.fact in eqs and eqs[lit.fact] != lit.value:
                return None
            eqs[lit.fact] = lit.value
        elif lit.op == "ne":
            nes.setdefault(lit.fact, set()).add(lit.value)
    if any(v in nes.get(f, ()) for f, v in eqs.items()):
        return None
    return tuple(lits)


def _product(alternatives: list[list[Branch]]) -> list[Branch]:
    out: list[Branch] = []
    for combo in itertools.product(*alternatives):
        merged = _consistent(lit for branch in combo for lit in branch)
        if merged is not None:
            out.append(merged)
    return _dedupe(out)


def _dedupe(branches: Iterable[Branch]) -> list[Branch]:
    return list(dict.fromkeys(branches))


def _one(*lits: Literal_) -> list[Branch]:
    merged = _consistent(lits)
    return [] if merged is None else [merged]


def _atom_forms(a: Atom, always_known: frozenset[str], domains: Mapping[str, tuple[str, ...]]) -> _Forms:
    fact = a.fact
    if fact in domains:
        domain = domains[fact]
        if a.op == "known":
            known, unknown = _one(Literal_(fact, "is_known")), _one(Literal_(fact, "is_unknown"))
            return _Forms(known, unknown, [], known, unknown) if a.value else _Forms(unknown, known, [], unknown, known)
        values = (a.value,) if a.op in ("eq", "ne") else tuple(a.value)  # type: ignore[arg-type]
        inside = set(values) if a.op in ("eq", "in") else set(domain) - set(values)
        outside = [v for v in domain if v not in inside]
        # The condition holds for the values in `inside`; it fails for the others; the sentinel is unknown.
        # One accepted value is one equality test, which fails at once for an ordinary patient (cheap in the
        # engine); several are "known and none of the others".
        t = (
            _one(Literal_(fact, "eq", next(iter(inside))))
            if len(inside) == 1
            else _one(Literal_(fact, "is_known"), *(Literal_(fact, "ne", v) for v in outside))
        )
        f = (
            _one(Literal_(fact, "eq", outside[0]))
            if len(outside) == 1
            else _one(Literal_(fact, "is_known"), *(Literal_(fact, "ne", v) for v in sorted(inside)))
        )
        # An empty branch matches anything (the kind test still guards it in the engine).
        tu = _one(*(Literal_(fact, "ne", v) for v in outside))
        fu = _one(*(Literal_(fact, "ne", v) for v in sorted(inside)))
        u = [] if fact in always_known else _one(Literal_(fact, "is_unknown"))
        return _Forms(t, f, u, tu if u else t, fu if u else f)
    if a.op == "known":
        present, absent = _one(Literal_(fact, "present")), _one(Literal_(fact, "absent"))
        return _Forms(present, absent, [], present, absent) if a.value else _Forms(absent, present, [], absent, present)
    if a.op in ("in", "not_in"):
        # Without a domain: one branch per accepted value; the negation is a conjunction of inequalities.
        any_of: list[Branch] = [(Literal_(fact, "eq", v),) for v in a.value]  # type: ignore[union-attr]
        none_of = _one(*(Literal_(fact, "ne", v) for v in a.value))  # type: ignore[union-attr]
        t, f = (any_of, none_of) if a.op == "in" else (none_of, any_of)
    else:
        t = _one(Literal_(fact, a.op, a.value))  # type: ignore[arg-type]
        f = _one(Literal_(fact, NEGATE[a.op], a.value))  # type: ignore[arg-type]
    if fact in always_known:
        return _Forms(t, f, [], t, f)
    u = _one(Literal_(fact, "absent"))
    return _Forms(t, f, u, t + u, f + u)


def _forms(cond: Condition, always_known: frozenset[str], domains: Mapping[str, tuple[str, ...]]) -> _Forms:
    if isinstance(cond, Atom):
        return _atom_forms(cond, always_known, domains)
    if isinstance(cond, Not):  # pragma: no cover - nnf() removed every Not
        k = _forms(cond.part, always_known, domains)
        return _Forms(k.f, k.t, k.u, k.fu, k.tu)
    kids = [_forms(p, always_known, domains) for p in cond.parts]
    unknown: list[Branch] = []
    if isinstance(cond, All):
        # Unknown: the first unknown child is j; the children before it are true, those after true-or-unknown.
        for j, kid in enumerate(kids):
            before = [k.t for k in kids[:j]]
            after = [k.tu for k in kids[j + 1 :]]
            unknown.extend(_product([*before, kid.u, *after]))
        return _Forms(
            t=_product([k.t for k in kids]),
            f=_dedupe(b for k in kids for b in k.f),
            u=_dedupe(unknown),
            tu=_product([k.tu for k in kids]),
            fu=_dedupe(b for k in kids for b in k.fu),
        )
    for j, kid in enumerate(kids):
        before = [k.f for k in kids[:j]]
        after = [k.fu for k in kids[j + 1 :]]
        unknown.extend(_product([*before, kid.u, *after]))
    return _Forms(
        t=_dedupe(b for k in kids for b in k.t),
        f=_product([k.f for k in kids]),
        u=_dedupe(unknown),
        tu=_dedupe(b for k in kids for b in k.tu),
        fu=_product([k.fu for k in kids]),
    )


def dnf(
    cond: Condition,
    always_known: frozenset[str] = frozenset(),
    domains: Mapping[str, tuple[str, ...]] | None = None,
) -> tuple[list[Branch], list[Branch]]:
    """Branches under which ``cond`` is true, and under which it is unknown.

    Args:
        cond: the condition.
        always_known: facts that are never unknown (e.g. the site's region); they add no unknown branch.
        domains: the finite domain of each answer or enum fact; those facts are matched with the
            :data:`UNKNOWN` sentinel (see :class:`Literal_`).

    No fact set matches both a true and an unknown branch; several branches of one kind may match at once
    (the adapter deduplicates firings).
    """
    domains = domains or {}
    forms = _forms(nnf(cond), always_known, domains)
    return _satisfiable(forms.t, domains), _satisfiable(forms.u, domains)


def _satisfiable(branches: list[Branch], domains: Mapping[str, tuple[str, ...]]) -> list[Branch]:
    """Drop branches no fact set can match (e.g. ``f != yes`` and ``f != no`` and known, for a yes/no fact)."""
    return [b for b in branches if all(_fact_satisfiable(f, lits, domains) for f, lits in _by_fact(b).items())]


def _by_fact(branch: Branch) -> dict[str, list[Literal_]]:
    out: dict[str, list[Literal_]] = {}
    for lit in branch:
        out.setdefault(lit.fact, []).append(lit)
    return out


def _fact_satisfiable(fact: str, lits: list[Literal_], domains: Mapping[str, tuple[str, ...]]) -> bool:
    if fact in domains:
        return any(all(_domain_holds(lit, have) for lit in lits) for have in (*domains[fact], UNKNOWN))
    lo, hi = float("-inf"), float("inf")
    lo_open = hi_open = False
    for lit in lits:
        if not isinstance(lit.value, int | float) or isinstance(lit.value, bool):
            continue
        v = float(lit.value)
        if lit.op in ("gt", "ge") and (v > lo or (v == lo and lit.op == "gt")):
            lo, lo_open = v, lit.op == "gt"
        elif lit.op in ("lt", "le") and (v < hi or (v == hi and lit.op == "lt")):
            hi, hi_open = v, lit.op == "lt"
    return lo < hi or (lo == hi and not lo_open and not hi_open)


def _domain_holds(lit: Literal_, have: str) -> bool:
    if lit.op == "eq":
        return have == lit.value
    if lit.op == "ne":
        return have != lit.value
    if lit.op == "is_known":
        return have != UNKNOWN
    if lit.op == "is_unknown":
        return have == UNKNOWN
    return True
