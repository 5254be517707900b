"""The three-valued condition logic and its normal form (what durable_rules is given) agree exactly."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from needlescreen.conditions import (
    UNKNOWN,
    All,
    Atom,
    Condition,
    Literal_,
    Not,
    Truth,
    compile_condition,
    dnf,
    evaluate,
)
from needlescreen.conditions import Any as AnyOf

T, U, F = Truth.TRUE, Truth.UNKNOWN, Truth.FALSE

FACTS: dict[str, list[Any]] = {
    "a": ["yes", "no"],
    "b": ["yes", "no"],
    "n": [1.0, 2.0, 3.0],
    "e": ["x", "y", "z"],
    "r": [frozenset({"calf", "lower_limb"}), frozenset({"abdomen", "trunk"})],
}


def _atoms() -> st.SearchStrategy[Condition]:
    return st.one_of(
        st.builds(Atom, st.sampled_from(["a", "b"]), st.sampled_from(["eq", "ne"]), st.sampled_from(["yes", "no"])),
        st.builds(Atom, st.just("n"), st.sampled_from(["lt", "le", "gt", "ge"]), st.sampled_from([1.0, 2.0, 3.0])),
        st.builds(
            Atom,
            st.just("e"),
            st.sampled_from(["in", "not_in"]),
            st.lists(st.sampled_from(["x", "y", "z"]), min_size=1, max_size=2, unique=True).map(tuple),
        ),
        st.builds(
            Atom,
            st.just("r"),
            st.sampled_from(["within", "not_within"]),
            st.sampled_from([("trunk",), ("calf", "trunk")]),
        ),
        st.builds(Atom, st.sampled_from(["a", "n", "e"]), st.just("known"), st.booleans()),
    )


conditions = st.recursive(
    _atoms(),
    lambda kids: st.one_of(
        st.builds(All, st.lists(kids, min_size=1, max_size=3).map(tuple)),
        st.builds(AnyOf, st.lists(kids, min_size=1, max_size=3).map(tuple)),
        st.builds(Not, kids),
    ),
    max_leaves=6,
)
fact_sets = st.fixed_dictionaries(
    {"r": st.sampled_from(FACTS["r"])},  # regions are always known
    optional={k: st.sampled_from(v) for k, v in FACTS.items() if k != "r"},
)


DOMAINS = {"a": ("yes", "no"), "b": ("yes", "no"), "e": ("x", "y", "z")}


def _lit(lit: Literal_, facts: dict[str, Any]) -> bool:
    """How the durable_rules adapter's literals match: domain facts carry the UNKNOWN sentinel."""
    if lit.fact in DOMAINS:
        have = facts.get(lit.fact, UNKNOWN)
        return {
            "eq": lambda: have == lit.value,
            "ne": lambda: have != lit.value,
            "is_known": lambda: have != UNKNOWN,
            "is_unknown": lambda: have == UNKNOWN,
        }[lit.op]()
    if lit.op == "absent":
        return lit.fact not in facts
    if lit.fact not in facts:
        return False
    have, want = facts[lit.fact], lit.value
    return {
        "present": lambda: True,
        "eq": lambda: have == want,
        "ne": lambda: have != want,
        "lt": lambda: have < want,
        "le": lambda: have <= want,
        "gt": lambda: have > want,
        "ge": lambda: have >= want,
        "within": lambda: any(r in have for r in want),
        "not_within": lambda: not any(r in have for r in want),
    }[lit.op]()


@settings(max_examples=600, deadline=None)
@given(conditions, fact_sets)
def test_normal_form_matches_three_valued_evaluation(cond: Condition, facts: dict[str, Any]) -> None:
    truth = evaluate(cond, facts)
    assert compile_condition(cond)(facts) is truth, "the compiled evaluator is the interpreted one"
    for domains in ({}, DOMAINS):  # absent-only encoding and the sentinel encoding
        matcher = _lit if domains else _lit_absent
        true_b, unknown_b = dnf(cond, frozenset({"r"}), domains)
        t = sum(all(matcher(lit, facts) for lit in b) for b in true_b)
        u = sum(all(matcher(lit, facts) for lit in b) for b in unknown_b)
        assert (t > 0) == (truth is T)
        assert (u > 0) == (truth is U)


def _lit_absent(lit: Literal_, facts: dict[str, Any]) -> bool:
    """The plain encoding: an unknown fact is absent."""
    saved = dict(DOMAINS)
    DOMAINS.clear()
    try:
        return _lit(lit, facts)
    finally:
        DOMAINS.update(saved)


def test_kleene_tables() -> None:
    yes, unk, no = Atom("a", "eq", "yes"), Atom("b", "eq", "yes"), Atom("n", "lt", 2.0)
    facts = {"a": "yes", "n": 5.0}  # b unknown
    assert evaluate(yes, facts) is T
    assert evaluate(unk, facts) is U
    assert evaluate(no, facts) is F
    assert evaluate(All((yes, unk)), facts) is U
    assert evaluate(All((no, unk)), facts) is F
    assert evaluate(AnyOf((yes, unk)), facts) is T
    assert evaluate(AnyOf((no, unk)), facts) is U
    assert evaluate(Not(unk), facts) is U
    assert evaluate(Atom("b", "known", False), facts) is T
    assert evaluate(Atom("b", "ne", "yes"), facts) is U, "'not yes' is not the same as unknown"
