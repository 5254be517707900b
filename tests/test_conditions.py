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
from needlescreen.scope_code import MAX_DEPTH, compile_scope

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


# --- the plain evaluator's generated scope functions ----------------------------------------------------------

GUARDS = [None, ("a", "yes"), ("e", "x")]


@settings(max_examples=500, deadline=None)
@given(st.lists(conditions, min_size=1, max_size=4), fact_sets, st.sampled_from(GUARDS))
def test_generated_scope_function_is_the_interpreted_evaluation(
    conds: list[Condition], facts: dict[str, Any], guard: tuple[str, str] | None
) -> None:
    """Every rule of a group, with or without the equality the group requires first, evaluates as ``evaluate``."""
    rules = [(f"R{i}", c if guard is None else All((Atom(guard[0], "eq", guard[1]), c))) for i, c in enumerate(conds)]
    expected = [(rid, evaluate(c, facts)) for rid, c in rules]
    got = compile_scope([(guard, rules)])(facts)
    assert got == [(rid, t) for rid, t in expected if t is not F]
    assert all(type(t) is Truth for _, t in got)


def test_generated_scope_function_takes_rule_text_as_data_only() -> None:
    """Fact names, values and rule ids that look like code are compared as text, never run."""
    fact = "a') or __import__('os').system('false') or ('"
    value = '" + str(1/0) + "'
    rules = [("R) or (1", Atom(fact, "eq", value)), ("x\ny", Not(Atom(fact, "eq", value))), ("z", Atom("n", "gt", 2.0))]
    scope = compile_scope([(None, rules)])
    assert scope({fact: value, "n": 3.0}) == [("R) or (1", T), ("z", T)]
    assert scope({fact: "other"}) == [("x\ny", T), ("z", U)]


def test_generated_scope_function_calls_very_deep_conditions_as_closures() -> None:
    cond: Condition = Atom("a", "eq", "yes")
    for _ in range(MAX_DEPTH + 5):
        cond = Not(cond)  # an odd number of negations: "a is not yes"
    scope = compile_scope([(None, [("deep", cond)])])
    assert scope({"a": "no"}) == [("deep", T)]
    assert scope({"a": "yes"}) == []
    assert scope({}) == [("deep", U)]


def test_generated_scope_keeps_a_number_and_the_same_number_as_text_apart() -> None:
    """The generated function's constants are bound by value and type: 1.0 and "1.0", which a table keyed by
    their text would merge, stay two values, and each rule reads its own."""
    rules = [("num", Atom("n", "eq", 1.0)), ("text", Atom("n", "eq", "1.0"))]
    scope = compile_scope([(None, rules)])
    assert scope({"n": 1.0}) == [("num", T)]
    assert scope({"n": "1.0"}) == [("text", T)]
