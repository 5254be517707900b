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
    """Results are assembled without re-validation for speed; prove the JSON is exactly the published model."""
    from needlescreen import ScreeningResult

    screener = Screener(ruleset, engine="plain")
    rng = random.Random(11)
    for _ in range(300):
        result = screener.screen(random_intake(rng, ruleset.regions))
        again = ScreeningResult.model_validate_json(result.model_dump_json())
        assert again == result
        assert again.model_dump(mode="json") == result.model_dump(mode="json")
