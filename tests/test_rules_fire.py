"""Every rule fires for its patient and not for the close near miss; unknown inputs never give clear."""

from __future__ import annotations

from typing import Any

import pytest

from needlescreen.conditions import All, Atom, Not
from needlescreen.conditions import Any as AnyOf
from needlescreen.facts import ALWAYS_KNOWN
from needlescreen.ruleset import Ruleset

from .cases import CASES
from .conftest import changed


def test_every_rule_has_a_fire_and_near_miss_case(ruleset: Ruleset) -> None:
    assert sorted(CASES) == sorted(r.id for r in ruleset.rules)


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_fires_for_its_patient(rule_id: str, screen_all: Any) -> None:
    fires, _near, verdict = CASES[rule_id]
    result = screen_all(changed(fires))
    hits = [f for f in result.findings if f.rule_id == rule_id]
    assert hits, f"{rule_id} did not fire; findings: {[f.rule_id for f in result.findings]}"
    assert all(f.status == "fired" and f.verdict == verdict for f in hits)
    assert result.verdict in (verdict, "refer")
    for f in hits:
        assert f.references and f.summary and f.classification in ("absolute", "relative")
        assert f.facts, "a finding must show the facts that triggered it"


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_does_not_fire_for_the_near_miss(rule_id: str, screen_all: Any) -> None:
    _fires, near, _verdict = CASES[rule_id]
    result = screen_all(changed(near))
    assert rule_id not in {f.rule_id for f in result.findings}


def _atoms(cond: Any) -> list[Atom]:
    if isinstance(cond, Atom):
        return [cond]
    if isinstance(cond, Not):
        return _atoms(cond.part)
    assert isinstance(cond, All | AnyOf)
    return [a for p in cond.parts for a in _atoms(p)]


def _drop(intake: dict[str, Any], fact: str) -> dict[str, Any]:
    """Make one fact unknown by removing the intake answer behind it."""
    import copy

    out = copy.deepcopy(intake)
    head, _, name = fact.partition(".")
    by_finding = {
        "patient.reduced_sensation": "reduced_sensation",
        "site.at_risk_adjacent": "at_risk_limb",
        "site.lymphedema_adjacent": "lymphedema",
    }
    if fact in by_finding:
        out["findings"][by_finding[fact]] = {"answer": "unknown"}
    elif fact in {"site.dvt_weeks_ago", "circuit.dvt_weeks_ago"}:
        out["findings"]["dvt"].pop("weeks_ago", None)
    elif fact == "site.vascular_disease":
        out["patient"].pop("vascular_disease", None)
        out["patient"].pop("vascular_disease_locations", None)
    elif fact in {"labs.anc_cycle_day", "labs.platelets_cycle_day"}:
        out.get("labs", {}).get(name.split("_")[0], {}).pop("age_days", None)
    elif head == "patient":
        key = {
            "consent": ("consent", "agrees"),
            "capacity": ("consent", "capacity"),
            "guardian_consent": ("consent", "guardian_consent"),
            "pregnancy": ("pregnancy", "status"),
            "gestational_weeks": ("pregnancy", "gestational_weeks"),
            "systemic_infection": ("fever", "answer"),
            "temperature_c": ("fever", "temperature_c"),
            "heart_valve": ("heart_valve_or_endocarditis",),
            "trying_to_conceive": ("pregnancy", "trying_to_conceive"),
        }.get(name, (name,))
        node = out["patient"]
        for k in key[:-1]:
            node = node.setdefault(k, {})
        node.pop(key[-1], None)
        if name == "pregnancy":
            node.pop("gestational_weeks", None)
        if name == "bullous_lung_disease":
            node.pop("lung_disease", None)  # "no lung disease" rules emphysema out
    elif head == "meds":
        out["medications"] = {"complete": "unknown", "items": []}
    elif head == "labs":
        lab = name.split("_")[0]
        if name.endswith("age_days"):
            out.get("labs", {}).get(lab, {}).pop("age_days", None)
        elif name in ("inr_target_high", "inr_above_target_by"):
            out.get("labs", {}).get("inr", {}).pop("target_high", None)
            out.get("labs", {}).get("inr", {}).pop("target_low", None)
        else:
            out.get("labs", {}).pop(lab, None)
    elif head == "devices":
        out["devices"] = {"answer": "unknown"}
    elif fact == "plan.thorax_sides":
        out["plan"]["sites"][-1].pop("side", None)  # a thoracic site without a side may be on either side
    elif head == "plan":
        out["plan"].pop(name, None)
    elif fact in {"site.stimulated", "circuit.path"}:
        out["plan"].pop("circuits", None)  # electrical needling without lead pairs: stimulated sites unknown
    elif fact == "site.nerve_territory_reduced_sensation":
        out["findings"]["reduced_sensation"] = {"answer": "unknown"}
    elif head in ("circuit", "site"):
        kind = name.removesuffix("_area")
        if kind in out["findings"]:
            out["findings"][kind] = {"answer": "unknown"}
        else:
            out["devices"] = {"answer": "unknown"}
    return out


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_unknown_inputs_of_a_firing_rule_never_give_clear(rule_id: str, ruleset: Ruleset, screen_all: Any) -> None:
    """Make each fact the rule reads unknown in its firing case: wherever that leaves the rule undecided,
    the result is not clear, the finding says "unknown" and the missing facts are named."""
    fires, _near, _verdict = CASES[rule_id]
    rule = ruleset.rule(rule_id)
    intake = changed(fires)
    undecided = 0
    for fact in sorted({a.fact for a in _atoms(rule.condition)} - ALWAYS_KNOWN):
        result = screen_all(_drop(intake, fact))
        hits = [f for f in result.findings if f.rule_id == rule_id]
        for f in hits:
            if f.status == "unknown":
                undecided += 1
                assert result.verdict != "clear"
                assert f.verdict in ("caution", "refer")
                assert f.missing, f"{rule_id}: undecided without naming what is missing"
                assert set(f.missing) <= {m.fact for m in result.missing}
    # A rule with no way to be undecided (INR_UNEXPLAINED: no INR is no reason, an unknown drug class still
    # fires it) has nothing to ask; every other rule must be seen undecided by some unknown input.
    if {a.fact for a in _atoms(rule.condition)} - ALWAYS_KNOWN and rule.unknown_branches:
        assert undecided, f"{rule_id}: no unknown input ever left the rule undecided"
