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

    def boom(sink: list, rule_name: str, fids: list) -> None:
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


# --- many screenings in one session (run_many) -----------------------------------------------------------------

_ONE_SID_PROBE = """
import json
import durable_rules_engine as c

handle = c.create_ruleset("one_sid_probe", json.dumps({"r": {"all": [{"m": {"$and": [{"kind": "p"}]}}], "cap": 100}}))


def run(text, sids):
    code, state = c.assert_facts(handle, text)[:2]
    ids = []
    started = c.start_action_for_state(handle, state)
    message = None if started is None else started[1]
    while message is not None:
        ids += [frame["m"].get("id", frame["m"].get("x")) for frame in json.loads(message)["r"]]
        message = c.complete_and_start_action(handle, state)
    for sid in sids:
        c.delete_state(handle, sid)
    return code, sorted(ids)


out = {}
# Several facts of one sid, each with its own id: every fact is matched on its own.
out["one_sid"] = run(json.dumps([{"sid": "1", "kind": "p", "id": f"{k}:patient:0"} for k in range(5)]), ["1"])
# Two facts with the same content and no id: the engine derives the same id and drops the second.
out["no_id"] = run(json.dumps([{"sid": "2", "kind": "p", "x": 1}, {"sid": "2", "kind": "p", "x": 1}]), ["2"])
# A fact the engine cannot parse (an exponent) in the middle: it stops there and still reports success.
text = '[{"sid":"3","kind":"p","id":"a"},{"sid":"3","kind":"p","id":"b","v":1e-07},{"sid":"3","kind":"p","id":"c"}]'
out["cut_short"] = run(text, ["3"])
# Two sids in one call: only the last sid's matches come back through the state returned.
two = [{"sid": "4", "kind": "p", "id": "a"}, {"sid": "5", "kind": "p", "id": "b"}]
out["two_sids"] = run(json.dumps(two), ["4", "5"])
print(json.dumps(out))
"""


def test_what_assert_facts_does_with_one_sid() -> None:
    """The engine behaviours run_many rests on, measured on durable_rules itself (in a child process).

    Many facts of one sid are matched one by one; a fact needs an id of its own (the derived one is a hash of
    the content, and a repeat is silently dropped); a fact the engine cannot parse silently ends the list with
    a success code (so the adapter puts patient facts last and checks each matched its sentinel); and only one
    sid per call is usable.
    """
    import json
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", _ONE_SID_PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["one_sid"] == [0, [f"{k}:patient:0" for k in range(5)]]
    assert out["no_id"] == [2, [1]]  # status 2: "already observed"; one match for two facts
    assert out["cut_short"] == [0, ["a"]]  # success, and "b" and "c" were never matched
    assert out["two_sids"] == [0, ["b"]]


def test_run_many_shares_sessions_and_deletes_every_one(durable: Screener, intakes: list[dict]) -> None:
    """Past the engine's 1024 live sessions: run_many must delete each session it opens."""
    facts = [durable.facts(i)[1] for i in intakes[:60]]
    engine = durable.engine
    expected = [engine.run(f) for f in facts]
    for _ in range(600):  # two shards: 1200 sessions
        assert engine.run_many(facts[:3]) == expected[:3]


def test_a_session_cut_short_raises_instead_of_losing_facts(
    durable: Screener, intakes: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A site fact the engine cannot parse would silently drop every later fact: the sentinel check refuses."""
    from needlescreen import _durable

    facts = [durable.facts(i)[1] for i in intakes[:30]]
    shard = durable.engine._shards[0]  # type: ignore[attr-defined]
    writer = shard.writers["site"]
    real = writer.write

    def broken(fid: str, sid: str, fs: dict) -> str:
        text = real(fid, sid, fs)
        return text[:-1] + ',"f_bad":1e-07}' if fid.startswith("3:") else text

    monkeypatch.setattr(writer, "write", broken)
    with pytest.raises(EngineError, match="skipped the facts of"):
        durable.engine.run_many(facts)
    monkeypatch.undo()
    assert _durable._POISONED is None
    assert durable.engine.run_many(facts) == [durable.engine.run(f) for f in facts]


def test_a_failure_in_a_later_session_fails_the_whole_call(
    durable: Screener, intakes: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No screening of a call gets firings when any of its sessions fails; the engine keeps working after."""
    from needlescreen import IntakeError, _durable

    facts = [durable.facts(i)[1] for i in intakes[:400]]
    assert len(_durable._sessions(facts, _durable.MAX_SESSION_FACTS)) > 2
    real = _durable._record
    frames: list[str] = []

    def counting(sink: list, rule_name: str, fids: list) -> None:
        frames.extend(fids)
        real(sink, rule_name, fids)

    monkeypatch.setattr(_durable, "_record", counting)
    durable.engine.run_many(facts)
    total, calls = len(frames), []

    def fails_late(sink: list, rule_name: str, fids: list) -> None:
        calls.extend(fids)
        if len(calls) > 0.9 * total:  # in the last session
            raise RuntimeError("action failed late")
        real(sink, rule_name, fids)

    monkeypatch.setattr(_durable, "_record", fails_late)
    with pytest.raises(EngineError, match="action failed late"):
        durable.engine.run_many(facts)
    calls.clear()
    with pytest.raises(EngineError, match="action failed late"):
        durable.screen_many(intakes[:400])
    monkeypatch.undo()
    results = durable.screen_many(intakes[:400])
    assert not any(isinstance(r, IntakeError) for r in results)
    assert [comparable(r) for r in results] == [comparable(durable.screen(i)) for i in intakes[:400]]


def test_every_fact_is_tagged_with_its_screening_kind_and_session(durable: Screener, intakes: list[dict]) -> None:
    import json

    engine = durable.engine
    facts = [durable.facts(i)[1] for i in intakes[:20]]
    for shard in engine._shards:  # type: ignore[attr-defined]
        patients: list[str] = []
        others: list[str] = []
        ids: dict = {}
        for k, fs in enumerate(facts):
            shard.payload(k, fs, "77", patients=patients, others=others, ids=ids)
        for text in patients + others:
            fact = json.loads(text)
            assert list(fact)[:3] == ["id", "sid", "kind"] and fact["sid"] == "77"
            k, scope, index = ids[fact["id"]]
            assert fact["id"] == f"{k}:{scope}:{index}" and fact["kind"] == scope
        assert len(ids) == len(patients) + len(others)
