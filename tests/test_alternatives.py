"""What would change a verdict (needlescreen.alternatives): values and places derived from the compiled rules.

Expectations are written from the clinical reference (an INR above target refers, an INR older than the policy's
limit is a caution, a lymphoedematous limb is referred and the other limb is not), not read from ``rules/``.
Each derivation is shown to follow the rules: a clinic policy that changes a threshold changes the advice, and a
broken rule copy changes it too.
"""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path
from typing import Any

import pytest

from needlescreen import Screener, load_ruleset, parse_intake
from needlescreen.alternatives import NOT_CHANGEABLE, VARIABLES, alternatives
from needlescreen.conditions import Atom, Condition, Not
from needlescreen.ruleset import Ruleset, default_rules_dir
from needlescreen.testing import baseline_intake, with_changes

WARFARIN = {"medications": {"items": [{"name": "warfarin"}], "complete": "yes", "vka": "yes"}}


def _run(ruleset: Ruleset, changes: dict[str, Any]) -> tuple[Any, Any]:
    intake = parse_intake(with_changes(baseline_intake(), changes))
    result = Screener(ruleset, engine="plain").screen(intake)
    return result, alternatives(ruleset, intake, result)


@pytest.fixture(scope="module")
def rs() -> Ruleset:
    return load_ruleset()


def test_an_inr_above_target_and_old_is_told_the_values_that_would_not_trigger(rs: Ruleset) -> None:
    labs = {"labs": {"inr": {"value": 3.8, "target_high": 3.0, "age_days": 40.0}}}
    result, alt = _run(rs, WARFARIN | labs)
    assert result.verdict == "refer"
    by_rule = {v.rule_id: v for v in alt.values}
    high = by_rule["ANTICOAG_VKA_HIGH"]
    assert high.text.startswith("INR at most 3")
    assert high.ranges[0].high == 3.0 and high.ranges[0].high_inclusive
    assert "within the last 28 days" in by_rule["ANTICOAG_LAB_MISSING"].text
    # The drug itself is not the clinician's to change: no "not on warfarin".
    assert "ANTICOAG_VKA" not in by_rule


def test_without_an_inr_the_advice_is_a_recent_result(rs: Ruleset) -> None:
    _, alt = _run(rs, WARFARIN)
    texts = {v.rule_id: v.text for v in alt.values}
    assert "an INR result" in texts["ANTICOAG_LAB_MISSING"]
    assert "28 days" in texts["ANTICOAG_LAB_MISSING"]


def test_the_advice_follows_the_clinic_policy() -> None:
    strict = load_ruleset(policy_overrides={"inr_max_age_days": 7})
    labs = {"labs": {"inr": {"value": 2.5, "target_high": 3.0, "age_days": 10.0}}}
    _, alt = _run(strict, WARFARIN | labs)
    assert any("within the last 7 days" in v.text for v in alt.values)


def test_the_other_limb_is_offered_for_a_lymphoedematous_arm_and_its_verdict_is_the_librarys(rs: Ruleset) -> None:
    changes = {
        "findings": {"lymphedema": {"answer": "yes", "locations": [{"region": "upper_limb", "side": "left"}]}},
        "plan": {"technique": "dry_needling", "sites": [{"id": "a", "region": "forearm", "side": "left"}]},
    }
    result, alt = _run(rs, changes)
    assert result.sites[0].verdict == "refer"
    mirror = [p for p in alt.places if p.region == "forearm"]
    assert mirror and mirror[0].side == "right" and mirror[0].verdict == "clear"
    assert mirror[0].avoids == ("LYMPHEDEMA_LIMB",)
    # Neighbours of the forearm on the same arm are still in the lymphoedematous limb: never offered.
    assert all(p.side == "right" for p in alt.places)
    moved = with_changes(baseline_intake(), changes)
    moved["plan"]["sites"][0]["side"] = "right"
    assert Screener(rs, engine="plain").screen(moved).sites[0].verdict == mirror[0].verdict


def test_a_place_is_offered_only_when_it_is_better(rs: Ruleset) -> None:
    # A patient-level refer (severe bleeding disorder) cannot be escaped by moving a needle.
    changes = {
        "patient": {"bleeding_disorder": "severe"},
        "findings": {"lymphedema": {"answer": "yes", "locations": [{"region": "upper_limb", "side": "left"}]}},
        "plan": {"technique": "dry_needling", "sites": [{"id": "a", "region": "forearm", "side": "left"}]},
    }
    result, alt = _run(rs, changes)
    assert result.verdict == "refer"
    assert alt.places == ()


def test_current_across_the_chest_is_told_to_needle_manually_or_keep_a_side(rs: Ruleset) -> None:
    plan = {
        "technique": "electrical",
        "sites": [{"id": "a", "region": "forearm", "side": "left"}, {"id": "b", "region": "forearm", "side": "right"}],
        "circuits": [["a", "b"]],
    }
    result, alt = _run(rs, {"plan": plan})
    assert result.verdict == "refer"
    assert any(v.rule_id == "ES_TRANSTHORACIC" and "manual" in v.text for v in alt.values)
    assert {(p.site_id, p.side) for p in alt.places if p.region == "forearm"} == {("a", "right"), ("b", "left")}


def test_a_fever_gives_the_temperature_below_the_threshold(rs: Ruleset) -> None:
    _, alt = _run(rs, {"patient": {"fever": {"answer": "no", "temperature_c": 38.4}}})
    assert [v.text for v in alt.values] == ["temperature below 38 °C"]


def test_a_clear_result_has_nothing_to_change(rs: Ruleset) -> None:
    result, alt = _run(rs, {})
    assert result.verdict == "clear"
    assert alt.values == () and alt.places == ()


def _atoms(cond: Condition) -> list[Atom]:
    if isinstance(cond, Atom):
        return [cond]
    if isinstance(cond, Not):
        return _atoms(cond.part)
    return [a for p in cond.parts for a in _atoms(p)]


def test_every_numeric_fact_a_rule_compares_is_a_variable_or_named_as_not_changeable(rs: Ruleset) -> None:
    known = {f for v in VARIABLES for f in v.facts} | set(NOT_CHANGEABLE)
    compared = {a.fact for r in rs.rules for a in _atoms(r.condition) if a.op in ("lt", "le", "gt", "ge")}
    assert compared <= known, f"decide whether these are the clinician's to change: {sorted(compared - known)}"


def test_breakage_a_broken_rule_copy_changes_the_advice(tmp_path: Path) -> None:
    """The advice is read from the rule: moving ANTICOAG_LAB_MISSING's age test to 'gt: 3' says 3 days."""
    copy = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), copy)
    path = copy / "rules" / "bleeding.yaml"
    text = path.read_text()
    old = "{fact: labs.inr_age_days, gt: {policy: inr_max_age_days}}"
    broken = text.replace(old, "{fact: labs.inr_age_days, gt: 3}")
    assert broken != text
    path.write_text(broken)
    labs = {"labs": {"inr": {"value": 2.5, "target_high": 3.0, "age_days": 10.0}}}
    _, alt = _run(load_ruleset(copy), WARFARIN | labs)
    assert any("within the last 3 days" in v.text for v in alt.values)
    assert not any("28 days" in v.text for v in alt.values)


# --- waiting is not offered where it would look safe when it is not ------------------------------------------

#: On active chemotherapy, day 10 of the cycle (inside the nadir window, days 7-14 in the reference), with counts
#: taken 9 days ago (cycle day 1, before the window): they do not show the nadir.
NADIR = {
    "patient": {"active_chemotherapy": "yes", "chemo_cycle_day": 10.0},
    "labs": {"anc": {"value": 3.0, "age_days": 9.0}, "platelets": {"value": 200.0, "age_days": 9.0}},
}
#: Facts a "what would change it" must never move: a DVT growing older is not what ends its risk (its treatment and
#: a review do), and a session moved around the nadir window on a count from before it would look safe on days
#: whose counts are no better known.
NEVER_WAITED_FOR = {"site.dvt_weeks_ago", "circuit.dvt_weeks_ago", "patient.chemo_cycle_day"}


def _dvt(weeks: float | None, plan: dict[str, Any] | None = None) -> dict[str, Any]:
    dvt: dict[str, Any] = {"answer": "yes", "locations": [{"region": "lower_limb", "side": "right"}]}
    if weeks is not None:
        dvt["weeks_ago"] = weeks
    return {"findings": {"dvt": dvt}, **({"plan": plan} if plan else {})}


def check_no_waiting_is_offered(alt: Any) -> None:
    by_name = {v.name: v for v in importlib.import_module("needlescreen.alternatives").VARIABLES}
    for change in alt.values:
        for r in change.ranges:
            moved = set(by_name[r.variable].facts) & NEVER_WAITED_FOR
            assert not moved, f"{change.rule_id}: {change.text!r} waits for {moved}"
        assert "weeks ago" not in change.text and "cycle day below" not in change.text, change.text


def test_a_count_from_before_the_nadir_window_is_told_to_take_one_inside_it(rs: Ruleset) -> None:
    result, alt = _run(rs, NADIR)
    assert result.verdict == "caution"
    nadir = [v for v in alt.values if v.rule_id == "CHEMO_NADIR_COUNTS"]
    assert [v.text for v in nadir] == [
        "a neutrophil count and a platelet count taken inside the nadir window (on cycle day 7 or later: today or in "
        "the last 3 days)"
    ]
    assert {r.variable for r in nadir[0].ranges} == {"anc_cycle_day", "platelets_cycle_day"}
    check_no_waiting_is_offered(alt)
    # Taking the advice (both counts today) is what the library says: the nadir reason no longer applies.
    fresh = with_changes(NADIR, {"labs": {"anc": {"age_days": 0.0}, "platelets": {"age_days": 0.0}}})
    after = Screener(rs, engine="plain").screen(with_changes(baseline_intake(), fresh))
    assert "CHEMO_NADIR_COUNTS" not in {f.rule_id for f in after.findings if f.status == "fired"}
    # One count already inside the window: only the other one is asked for.
    _, alt = _run(rs, with_changes(NADIR, {"labs": {"anc": {"age_days": 2.0}}}))
    texts = [v.text for v in alt.values if v.rule_id == "CHEMO_NADIR_COUNTS"]
    assert texts == [
        "a platelet count taken inside the nadir window (on cycle day 7 or later: today or in the last 3 days)"
    ]


def test_the_nadir_advice_follows_the_clinic_policy() -> None:
    early = load_ruleset(policy_overrides={"chemo_nadir_first_day": 5})
    _, alt = _run(early, NADIR)
    assert any("on cycle day 5 or later: today or in the last 5 days" in v.text for v in alt.values)


@pytest.mark.parametrize("weeks", [4.0, None], ids=["4-weeks", "date-not-known"])
def test_a_recent_dvt_is_never_told_to_wait_and_is_offered_the_other_limb(rs: Ruleset, weeks: float | None) -> None:
    result, alt = _run(rs, _dvt(weeks))
    assert result.verdict == "refer"
    check_no_waiting_is_offered(alt)
    assert not [v for v in alt.values if v.rule_id == "DVT_ACUTE"]
    other = [p for p in alt.places if p.region == "calf"]
    assert [(p.side, p.verdict) for p in other] == [("left", "clear")]
    moved = with_changes(baseline_intake(), _dvt(weeks))
    moved["plan"]["sites"][0]["side"] = "left"
    assert Screener(rs, engine="plain").screen(moved).sites[0].verdict == "clear"


def test_current_through_a_limb_with_a_recent_dvt_is_told_to_needle_manually_not_to_wait(rs: Ruleset) -> None:
    plan = {
        "technique": "electrical",
        "sites": [{"id": "a", "region": "calf", "side": "right"}, {"id": "b", "region": "thigh", "side": "right"}],
        "circuits": [["a", "b"]],
    }
    result, alt = _run(rs, _dvt(4.0, plan))
    assert result.verdict == "refer"
    check_no_waiting_is_offered(alt)
    assert [v.text for v in alt.values if v.rule_id == "DVT_IN_CURRENT_PATH"] == ["manual dry needling (no current)"]


def test_breakage_the_waiting_check_fails_when_a_dvt_may_grow_older(
    rs: Ruleset, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = importlib.import_module("needlescreen.alternatives")

    def set_weeks(fs: Any, value: Any) -> None:
        fs["site.dvt_weeks_ago"] = value

    wait = module.Variable(
        "dvt_weeks", ("site.dvt_weeks_ago",), "number", set_weeks, lambda r, _fs: f"DVT at least {r.low} weeks ago"
    )
    monkeypatch.setattr(module, "VARIABLES", (*module.VARIABLES, wait))
    monkeypatch.setattr(module, "_BY_FACT", {**module._BY_FACT, "site.dvt_weeks_ago": wait})
    monkeypatch.setattr(module, "_BY_NAME", {**module._BY_NAME, "dvt_weeks": wait})
    intake = parse_intake(with_changes(baseline_intake(), _dvt(4.0)))
    alt = module.alternatives(rs, intake, Screener(rs, engine="plain").screen(intake))
    assert any(v.rule_id == "DVT_ACUTE" for v in alt.values), "the broken variable is offered"
    with pytest.raises(AssertionError, match="waits for"):
        check_no_waiting_is_offered(alt)
