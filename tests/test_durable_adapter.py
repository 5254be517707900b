"""The durable_rules adapter: sessions, threads, swallowed exceptions, limits."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

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


def test_every_branch_starts_with_a_kind_test_and_shards_respect_the_stack_budget(durable: Screener) -> None:
    from needlescreen import _durable

    engine = durable.engine
    for name, definition in engine.definitions().items():  # type: ignore[attr-defined]
        per_kind: dict[str, int] = {}
        for rule_name, rule in definition.items():
            pattern = rule["all"][0]["m"]["$and"]
            assert "kind" in pattern[0], rule_name
            per_kind[pattern[0]["kind"]] = per_kind.get(pattern[0]["kind"], 0) + 1
            assert len(pattern) < 32, f"{rule_name}: durable_rules allows fewer than 32 expressions"
        assert max(per_kind.values()) <= _durable.BRANCH_BUDGET, name


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
    facts = normalise(parse_intake(baseline_intake()), ruleset.regions, ruleset.medications)
    assert engine.run(facts) == frozenset()
    engine.close()
    with pytest.raises(EngineError, match="closed"):
        engine.run(facts)
