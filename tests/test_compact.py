"""The compact result keeps every decision of the full one: verdicts, rules, unknowns, the ruleset stamp.

Each property is checked against the full result of the same screening over many generated intakes, and the
check itself is shown to catch a compact form that drops or changes something (``test_breakage_*``).
"""

from __future__ import annotations

import json
import random
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from benchmarks.cohorts import cohort

from needlescreen import Screener, ScreeningResult
from needlescreen.compact import CompactResult, compact
from needlescreen.engine import available_engines
from needlescreen.testing import baseline_intake, with_changes

from .generate import random_intake

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "docs" / "compact-result.schema.json"
_RANK = {"clear": 0, "caution": 1, "refer": 2}


@pytest.fixture(scope="module")
def screenings() -> list[ScreeningResult]:
    """Random intakes (every rule's corner) and a typical clinic list (mostly clear)."""
    screener = Screener(engine="plain")
    rng = random.Random(11)
    intakes = [random_intake(rng, screener.ruleset.regions) for _ in range(100)] + cohort("typical", 100, seed=5)
    return [screener.screen(i) for i in intakes]


def _check(c: dict[str, Any], r: ScreeningResult) -> None:
    """Everything the compact form says agrees with the full result, and nothing that matters is left out."""
    assert c["verdict"] == r.verdict
    assert c["technique"] == r.technique
    fired = {f.rule_id: f.verdict for f in r.findings if f.status == "fired"}
    unknown = {f.rule_id: f.verdict for f in r.findings if f.status == "unknown"}
    assert c["fired"] == fired and c["unknown"] == unknown
    for rules in (c["fired"], c["unknown"]):  # worst first, as the full result lists its findings
        ranks = [_RANK[v] for v in rules.values()]
        assert ranks == sorted(ranks, reverse=True)
    assert c["missing"] == [m.fact for m in r.missing]
    whole_patient = {f.rule_id for f in r.findings if f.scope in ("patient", "electrical")}
    assert [s["id"] for s in c["sites"]] == [s.site.id for s in r.sites]
    for mine, full in zip(c["sites"], r.sites, strict=True):
        assert mine["verdict"] == full.verdict
        assert not set(mine["rules"]) & whole_patient
        assert set(mine["rules"]) | (whole_patient & set(full.rules)) == set(full.rules)
    if r.missing:  # unknown is not no
        assert c["unknown"] and c["verdict"] != "clear"
    assert c["unrecognised_medications"] == list(r.unrecognised_medications)
    assert c["ruleset"] == r.ruleset.model_dump()
    assert (c["decision_id"], c["policy_source"], c["engine"]) == (r.decision_id, r.policy_source, r.engine)
    assert c["timestamp"] == r.model_dump(mode="json")["timestamp"]


def test_compact_agrees_with_the_full_result(screenings: list[ScreeningResult]) -> None:
    verdicts = set()
    for r in screenings:
        c = compact(r)
        _check(c.model_dump(mode="json"), r)
        verdicts.add(c.verdict)
        assert compact(r) == c, "a pure function of the result"
    assert verdicts == {"clear", "caution", "refer"}, "the generated intakes do not cover every verdict"
    assert any(compact(r).unknown for r in screenings) and any(compact(r).sites for r in screenings)


def test_compact_is_a_fraction_of_the_full_result(screenings: list[ScreeningResult]) -> None:
    full = sum(len(r.model_dump_json()) for r in screenings)
    small = sum(len(compact(r).model_dump_json()) for r in screenings)
    assert small * 3 < full, f"compact {small} bytes, full {full} bytes"


def test_compact_round_trips_through_its_json(screenings: list[ScreeningResult]) -> None:
    for r in screenings[:20]:
        c = compact(r)
        assert CompactResult.model_validate_json(c.model_dump_json()) == c


def test_the_documented_json_schema_is_the_models() -> None:
    published = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert published == CompactResult.model_json_schema(), (
        "docs/compact-result.schema.json is stale: regenerate it with "
        "python -c 'import json; from needlescreen.compact import CompactResult; "
        "print(json.dumps(CompactResult.model_json_schema(), indent=2))'"
    )


def test_a_pregnant_patient_with_unknown_anticoagulation_keeps_both_reasons() -> None:
    """A worked example, written from the clinical reference, not from the rules' data."""
    intake = with_changes(
        baseline_intake(),
        {
            "patient": {"pregnancy": {"status": "pregnant", "gestational_weeks": 8}},
            "medications": {"complete": "unknown", "items": []},
        },
    )
    r = Screener(engine="plain").screen(intake)
    c = compact(r)
    assert c.verdict == "refer"
    assert c.fired.get("PREG_T1") == "refer", "first trimester: refer (reference §4)"
    assert c.unknown, "an incomplete medication list leaves rules undecided, and says so"
    _check(c.model_dump(mode="json"), r)


_BREAKAGES: dict[str, Callable[[dict[str, Any]], None]] = {
    "an undecided rule dropped": lambda c: c["unknown"].popitem(),
    "a missing fact dropped": lambda c: c["missing"].pop(),
    "a site verdict made better": lambda c: c["sites"][0].update(verdict="clear"),
    "a site's own rule dropped": lambda c: c["sites"][0]["rules"].pop(),
    "a fired rule's verdict lowered": lambda c: c["fired"].update(dict.fromkeys(c["fired"], "caution")),
    "the ruleset hash changed": lambda c: c["ruleset"].update(content_hash="0" * 64),
}


@pytest.mark.parametrize("breakage", sorted(_BREAKAGES))
def test_breakage_of_the_compact_form_is_caught(screenings: list[ScreeningResult], breakage: str) -> None:
    """The check above is not vacuous: each way of losing or changing a decision fails it."""
    worst = max(screenings, key=lambda r: (r.verdict == "refer", len(r.missing), max(len(s.rules) for s in r.sites)))
    c = compact(worst).model_dump(mode="json")
    assert c["unknown"] and c["missing"] and c["sites"][0]["rules"] and "refer" in c["fired"].values()
    _BREAKAGES[breakage](c)
    with pytest.raises(AssertionError):
        _check(c, worst)


def test_the_readme_example_is_a_compact_result() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### A day's list: `batch`") : text.index("<!-- /section:cli -->")]
    blocks = re.findall(r"```json\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 1
    example = json.loads(textwrap.dedent(blocks[0]))
    assert list(example) == list(CompactResult.model_fields), "the example shows every field, in order"
    CompactResult.model_validate(example)


_STAMPS = {"decision_id", "timestamp"}


@pytest.mark.parametrize("engine", available_engines())
def test_deciding_from_the_firings_is_the_compact_form_of_the_full_result(engine: Any) -> None:
    """``Screener.decide`` (what batch writes) builds the compact result without the full one: it must be the same."""
    screener = Screener(engine=engine)
    rng = random.Random(23)
    intakes = [random_intake(rng, screener.ruleset.regions) for _ in range(150)]
    intakes += cohort("typical", 50, seed=7) + cohort("worst", 20, seed=7)
    many = screener.decide_many(intakes)
    for intake, from_many in zip(intakes, many, strict=True):
        assert isinstance(from_many, CompactResult)
        expected = compact(screener.screen(intake)).model_dump(mode="json", exclude=_STAMPS)
        assert screener.decide(intake).model_dump(mode="json", exclude=_STAMPS) == expected
        assert from_many.model_dump(mode="json", exclude=_STAMPS) == expected
        # Order is part of the contract (worst first): compare the maps' key order too.
        assert list(from_many.fired) == list(expected["fired"]) and list(from_many.unknown) == list(expected["unknown"])


def test_deciding_many_reports_an_invalid_intake_in_its_place() -> None:
    screener = Screener(engine="plain")
    out = screener.decide_many([baseline_intake(), {"agee": 3}, baseline_intake()])
    assert isinstance(out[0], CompactResult) and isinstance(out[2], CompactResult)
    assert not isinstance(out[1], CompactResult) and out[1].problems
