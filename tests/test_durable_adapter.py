"""The durable_rules adapter: sessions, threads, swallowed exceptions, limits."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from needlescreen import EngineError, Screener
from needlescreen.engine import available_engines
from needlescreen.ruleset import Ruleset
from needlescreen.testing import baseline_intake, comparable

from .generate import random_intake

pytestmark = pytest.mark.skipif("durable_rules" not in available_engines(), reason="durable_rules not loadable")


@pytest.fixture(scope="module")
def durable(ruleset: Ruleset) -> Screener:
    return Screener(ruleset, engine="durable_rules")


@pytest.fixture(scope="module")
def intakes(ruleset: Ruleset) -> list[dict]:
    rng = random.Random(99)
    return [random_intake(rng, ruleset.regions) for _ in range(2000)]


def test_two_thousand_screenings_in_one_process_match_one_by_one(
    durable: Screener, ruleset: Ruleset, intakes: list[dict]
) -> None:
    # Past the 1024-session limit: every session must have been deleted, or this raises MemoryError.
    first = [comparable(durable.screen(i)) for i in intakes]
    fresh = Screener(ruleset, engine="plain")
    assert first == [comparable(fresh.screen(i)) for i in intakes]
    again = [comparable(durable.screen(i)) for i in intakes[:50]]
    assert again == first[:50]


def test_eight_threads_give_the_same_results_as_one(durable: Screener, intakes: list[dict]) -> None:
    sample = intakes[:800]
    expected = [comparable(durable.screen(i)) for i in sample]
    barrier = threading.Barrier(8)

    def work(chunk: int) -> list[tuple[int, dict]]:
        barrier.wait()
        return [(k, comparable(durable.screen(sample[k]))) for k in range(chunk, len(sample), 8)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        got = dict(pair for part in pool.map(work, range(8)) for pair in part)
    assert [got[k] for k in range(len(sample))] == expected


def test_no_matching_rule_is_a_normal_outcome(durable: Screener) -> None:
    result = durable.screen(baseline_intake())
    assert result.verdict == "clear" and result.findings == () and result.engine == "durable_rules"


def test_an_exception_inside_an_action_is_raised_not_a_verdict(
    durable: Screener, monkeypatch: pytest.MonkeyPatch
) -> None:
    from needlescreen import _durable

    def boom(sink: list, rule_name: str, fid: str) -> None:
        raise RuntimeError("action failed")

    monkeypatch.setattr(_durable, "_record", boom)
    with pytest.raises(EngineError, match="action failed"):
        durable.screen(baseline_intake())
    monkeypatch.undo()
    # The failed screening's session was deleted: the engine keeps working.
    assert durable.screen(baseline_intake()).verdict == "clear"


def test_every_branch_starts_with_a_kind_test_and_shards_respect_the_stack_limit(durable: Screener) -> None:
    from needlescreen import _durable

    engine = durable.engine
    for shard in engine._shards:  # type: ignore[attr-defined]
        for rule_name, rule in shard.definition.items():
            pattern = rule["all"][0]["m"]["$and"]
            assert "kind" in pattern[0], rule_name
            assert len(pattern) < 30, f"{rule_name}: durable_rules allows fewer than 32 expressions per rule"
        for branches in shard.branches.values():
            assert _durable.stack_bound(branches) <= _durable.STACK_LIMIT


_PROBE = """
import json, sys
import durable_rules_engine as c
from needlescreen import _durable
from needlescreen.conditions import Literal_

n = int(sys.argv[1])
branches = [(Literal_(f"f{i}", "absent"),) for i in range(n)]
definition = {f"r{i}": {"all": [{"m": {"$and": [{"kind": "patient"}, {"$nex": {f"f{i}": 1}}]}}]} for i in range(n)}
handle = c.create_ruleset(f"bound_probe_{n}", json.dumps(definition))
out = {"bound": _durable.stack_bound(branches)}
try:
    _code, state = c.assert_facts(handle, json.dumps([{"sid": "p", "kind": "patient"}]))[:2]
except Exception as exc:
    out["error"] = str(exc)  # the session is left as it is: deleting it after error 303 crashes
else:
    fired = 0 if c.start_action_for_state(handle, state) is None else 1
    while c.complete_and_start_action(handle, state) is not None:
        fired += 1
    c.delete_state(handle, "p")
    out["fired"] = fired
print(json.dumps(out))
"""


@pytest.mark.parametrize(("n", "should_fail"), [(40, False), (64, False), (65, True)])
def test_the_stack_bound_is_an_upper_bound_of_what_durable_rules_needs(n: int, should_fail: bool) -> None:
    """Pack past the limit on purpose: the engine fails with error 303 exactly where the bound says it may.

    Each probe runs in a child process: after error 303 the C engine's memory is not to be trusted (a later
    ``create_ruleset`` in the same process was seen to fail with error 102).
    """
    import json
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, str(n)], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (out["bound"] > 64) == should_fail
    if should_fail:
        assert "303" in out["error"]
    else:
        assert out["fired"] == n


def test_an_intake_with_every_answer_unknown_screens_without_engine_errors(durable: Screener) -> None:
    # The worst case for the match stack: every unknown branch of every rule can match at once.
    intake = {
        "plan": {
            "technique": "electrical",
            "sites": [
                {"id": f"s{i}", "region": r, "side": "left"} for i, r in enumerate(["calf", "forearm", "chest_wall"])
            ]
            + [{"id": "s9", "region": "iliopsoas"}],
            "circuits": [["s0", "s1"], ["s2", "s9"]],
        }
    }
    result = durable.screen(intake)
    assert result.verdict != "clear"
    assert result.missing


def test_closing_an_engine_frees_its_rulesets(ruleset: Ruleset) -> None:
    from needlescreen import _durable
    from needlescreen.facts import normalise
    from needlescreen.screening import parse_intake

    engine = _durable.DurableEngine(ruleset)
    facts = normalise(
        parse_intake(baseline_intake()), ruleset.regions, ruleset.medications, ruleset.codes, ruleset.body
    )
    assert engine.run(facts) == frozenset()
    engine.close()
    with pytest.raises(EngineError, match="closed"):
        engine.run(facts)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["lt", "le", "gt", "ge", "present", "absent"]), st.sampled_from([0.4, 0.5, 0.6, 3.0])
        ),
        min_size=1,
        max_size=6,
    )
)
def test_the_simultaneous_match_count_is_never_underestimated(tests: list[tuple[str, float]]) -> None:
    """The stack bound rests on how many sibling tests can hold at once: check it against a fine grid."""
    from needlescreen import _durable
    from needlescreen.conditions import Literal_

    lits = [Literal_("labs.x", op, None if op in ("present", "absent") else v) for op, v in tests]
    grid = [None, *(k / 100 for k in range(-100, 500))]
    brute = max(sum(_durable._holds(lit, have) for lit in set(lits)) for have in grid)
    assert _durable._max_true(list(set(lits))) >= brute


def test_electrical_only_rulesets_hold_only_rules_guarded_by_an_electrical_plan(durable: Screener) -> None:
    """A manual plan skips these rulesets; that is only sound if each of their rules requires electrical needling."""
    from needlescreen.conditions import All, Atom

    rules = {r.id: r for r in durable.ruleset.rules}
    electrical = [s for s in durable.engine._shards if s.electrical]  # type: ignore[attr-defined]
    assert electrical, "the bundled rules have electrical-only rules"
    for shard in electrical:
        for rule_id, _truth in shard.outcome.values():
            if rule_id == "__sentinel__":
                continue
            cond = rules[rule_id].condition
            assert isinstance(cond, All)
            assert cond.parts[0] in (
                Atom("plan.technique", "eq", "electrical"),
                Atom("site.stimulated", "eq", "yes"),
            ), rule_id


def test_after_an_engine_failure_the_process_gives_no_more_durable_verdicts(
    durable: Screener, monkeypatch: pytest.MonkeyPatch
) -> None:
    from needlescreen import _durable

    def broken_assert(handle: int, text: str) -> tuple[int, int]:
        raise RuntimeError("Could not assert facts, error code: 303")

    monkeypatch.setattr(_durable._c, "assert_facts", broken_assert)
    with pytest.raises(EngineError, match="303"):
        durable.screen(baseline_intake())
    monkeypatch.undo()
    try:
        with pytest.raises(EngineError, match="failed earlier in this process"):
            durable.screen(baseline_intake())
    finally:
        _durable._POISONED = None  # the C engine itself was never damaged here


def test_an_engine_that_matches_differently_from_the_plain_evaluator_refuses_to_start(
    ruleset: Ruleset, monkeypatch: pytest.MonkeyPatch
) -> None:
    from needlescreen import _durable

    real = _durable._literal

    def wrong(lit):  # every "is unknown" test silently becomes "is known"
        return real(type(lit)(lit.fact, "is_known", lit.value) if lit.op == "is_unknown" else lit)

    monkeypatch.setattr(_durable, "_literal", wrong)
    with pytest.raises(EngineError, match="self-check"):
        _durable.DurableEngine(ruleset)
