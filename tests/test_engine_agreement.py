"""durable_rules and the plain-Python evaluator agree on generated intakes (the oracle test)."""

from __future__ import annotations

import random

import pytest

from needlescreen import Screener
from needlescreen.conditions import Truth
from needlescreen.engine import PlainEngine, available_engines
from needlescreen.facts import normalise
from needlescreen.ruleset import Ruleset
from needlescreen.testing import comparable

from .generate import random_intake

needs_durable = pytest.mark.skipif("durable_rules" not in available_engines(), reason="durable_rules not loadable")
N_INTAKES = 10_000


def _facts(ruleset: Ruleset, seed: int, n: int) -> list:
    rng = random.Random(seed)
    out = []
    from needlescreen.screening import parse_intake

    for _ in range(n):
        intake = parse_intake(random_intake(rng, ruleset.regions))
        out.append(normalise(intake, ruleset.regions, ruleset.medications, ruleset.codes, ruleset.body))
    return out


@needs_durable
def test_engines_agree_on_ten_thousand_generated_intakes(ruleset: Ruleset) -> None:
    from needlescreen._durable import DurableEngine

    durable, plain = DurableEngine(ruleset), PlainEngine(ruleset)
    facts = _facts(ruleset, seed=20261121, n=N_INTAKES)
    fired = unknown = refer_like = 0
    for i, fs in enumerate(facts):
        a, b = durable.run(fs), plain.run(fs)
        assert a == b, f"intake #{i}: durable-only {sorted(a - b)}, plain-only {sorted(b - a)}"
        fired += sum(1 for f in a if f.truth is Truth.TRUE)
        unknown += sum(1 for f in a if f.truth is Truth.UNKNOWN)
        refer_like += bool(a)
    # The generator must exercise the rules, or agreement would prove nothing.
    assert fired > N_INTAKES and unknown > N_INTAKES and refer_like > N_INTAKES * 0.9
    seen = {f.rule_id for fs in facts[:3000] for f in plain.run(fs) if f.truth is Truth.TRUE}
    assert seen == {r.id for r in ruleset.rules}, f"rules never true: {sorted({r.id for r in ruleset.rules} - seen)}"


@needs_durable
def test_full_results_agree(ruleset: Ruleset) -> None:
    durable, plain = Screener(ruleset, engine="durable_rules"), Screener(ruleset, engine="plain")
    rng = random.Random(7)
    for _ in range(500):
        intake = random_intake(rng, ruleset.regions)
        a, b = durable.screen(intake), plain.screen(intake)
        assert a.engine == "durable_rules" and b.engine == "plain"
        assert comparable(a) == comparable(b)


def test_results_validate_against_their_own_schema(ruleset: Ruleset) -> None:
    """Findings are copied from validated templates for speed; prove the JSON is exactly the published model."""
    from benchmarks.cohorts import cohort

    from needlescreen import ScreeningResult

    screener = Screener(ruleset, engine="plain")
    rng = random.Random(11)
    intakes = [random_intake(rng, ruleset.regions) for _ in range(300)] + cohort("worst", 20) + cohort("typical", 50)
    for intake in intakes:
        result = screener.screen(intake)
        again = ScreeningResult.model_validate_json(result.model_dump_json())
        assert again == result
        assert again.model_dump(mode="json") == result.model_dump(mode="json")
        # Findings are copied from per-rule templates: each must be exactly what validating it gives.
        for finding in result.findings:
            assert type(finding).model_validate(finding.model_dump()) == finding


# --- many screenings in one call (Screener.screen_many, engine run_many) ---------------------------------------


def _twins_and_strangers(ruleset: Ruleset, rng: random.Random, n: int) -> list[object]:
    """Intakes whose facts would collide if screenings were not isolated: identical twins (the same intake twice
    in a row and far apart), patients sharing site ids, and invalid intakes in between."""
    out: list[object] = []
    for k in range(n):
        intake = random_intake(rng, ruleset.regions)
        out.append(intake)
        if k % 7 == 0:
            out.append(intake)  # an identical patient right after: same facts, same site ids
        if k % 11 == 0:
            out.append({"plan": {"technique": "dry_needling", "sites": []}})  # invalid: no site
        if k % 13 == 0:
            out.append("{not json")
    out += out[:20]  # the first twenty again, in a later session
    return out


def _screen_or_error(screener: Screener, intake: object) -> object:
    from needlescreen import IntakeError

    try:
        return screener.screen(intake)  # type: ignore[arg-type]
    except IntakeError as exc:
        return exc


def check_screen_many(screener: Screener, one_by_one: Screener, intakes: list[object]) -> int:
    """screen_many gives, in order, exactly what screening each intake alone gives (results or the same errors).

    Returns how many results were compared (so a caller can see the check was not vacuous).
    """
    from needlescreen import IntakeError

    many = screener.screen_many(intakes)
    assert len(many) == len(intakes)
    compared = 0
    for k, (got, intake) in enumerate(zip(many, intakes, strict=True)):
        alone = _screen_or_error(one_by_one, intake)
        if isinstance(alone, IntakeError):
            assert isinstance(got, IntakeError), f"#{k}: screen_many screened an intake screen() rejects"
            assert got.problems == alone.problems, f"#{k}"
            continue
        assert not isinstance(got, IntakeError), f"#{k}: screen_many rejected a valid intake: {got}"
        assert comparable(got) == comparable(alone), f"#{k}: screen_many and screen differ"
        assert got.engine == screener.engine.name
        compared += 1
    return compared


@needs_durable
def test_screen_many_agrees_with_one_by_one_and_with_the_plain_evaluator(ruleset: Ruleset) -> None:
    """Batches that span several durable_rules sessions, with twins and invalid intakes mixed in."""
    from needlescreen import _durable

    durable, plain = Screener(ruleset, engine="durable_rules"), Screener(ruleset, engine="plain")
    intakes = _twins_and_strangers(ruleset, random.Random(20261130), 400)
    facts = sum(1 + len(i["plan"]["sites"]) for i in intakes if isinstance(i, dict) and i["plan"].get("sites"))
    assert facts > 3 * _durable.MAX_SESSION_FACTS, "the batch must span several sessions"
    assert check_screen_many(durable, durable, intakes) > 400
    assert check_screen_many(durable, plain, intakes) > 400
    assert check_screen_many(plain, plain, intakes) > 400


@needs_durable
def test_run_many_agrees_with_run_on_every_generated_intake(ruleset: Ruleset) -> None:
    """The engine level, on the oracle test's intakes: one call for all equals one call each, for both engines."""
    from needlescreen._durable import DurableEngine

    durable, plain = DurableEngine(ruleset), PlainEngine(ruleset)
    facts = _facts(ruleset, seed=20261121, n=3000)
    expected = [plain.run(fs) for fs in facts]
    assert durable.run_many(facts) == expected
    assert plain.run_many(facts) == expected
    # A batch made of one patient many times: every copy must keep every firing.
    rich = max(facts, key=lambda fs: len(plain.run(fs)))
    assert durable.run_many([rich] * 200) == [plain.run(rich)] * 200


@needs_durable
def test_breakage_screenings_that_share_fact_ids_fail_the_agreement(
    ruleset: Ruleset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Take the screening out of the fact ids (facts of different patients collide): the check must fail.

    durable_rules drops a fact whose id it has already seen in the session, so without the screening in the id
    a later patient's facts would be lost; the adapter must refuse to give verdicts rather than lose them.
    """
    from needlescreen import EngineError, _durable

    durable, plain = Screener(ruleset, engine="durable_rules"), Screener(ruleset, engine="plain")
    intakes = _twins_and_strangers(ruleset, random.Random(5), 40)
    monkeypatch.setattr(_durable, "_fact_id", lambda _k, scope, index: f"{scope}:{index}")
    with pytest.raises((EngineError, AssertionError)):
        check_screen_many(durable, plain, intakes)
