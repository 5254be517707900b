"""A clinic's own policy file changes the verdict of the disputed cases, and the result records it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from needlescreen import RuleFileError, Screener, load_ruleset
from needlescreen.engine import available_engines

from .cases import PREGNANT_T1, at, finding, merge
from .conftest import changed

AT_RISK_ARM = merge(finding("at_risk_limb", "upper_limb", "left"), at("forearm", "left"))
METAL = {"patient": {"metal_allergy": "yes"}}
VALVE = {"patient": {"heart_valve_or_endocarditis": "yes"}}
CHEMO_EDN = {
    "patient": {"active_chemotherapy": "yes"},
    "labs": {"platelets": {"value": 200.0, "age_days": 2.0}, "anc": {"value": 3.0, "age_days": 2.0}},
    "plan": {
        "technique": "electrical",
        "sites": [{"id": "a", "region": "calf", "side": "right"}, {"id": "b", "region": "ankle", "side": "right"}],
        "circuits": [["a", "b"]],
    },
}

#: setting -> (the disputed patient, the rule it decides)
DISPUTED: dict[str, tuple[dict[str, Any], str]] = {
    "first_trimester_verdict": (PREGNANT_T1, "PREG_T1"),
    "at_risk_limb_verdict": (AT_RISK_ARM, "LYMPHEDEMA_AT_RISK"),
    "metal_allergy_verdict": (METAL, "METAL_ALLERGY"),
    "heart_valve_verdict": (VALVE, "HEART_VALVE"),
}


def _clinic_file(tmp_path: Path, settings: dict[str, Any]) -> Path:
    lines = ["schema: needlescreen.policy-override/1", "clinic: Example Physio", "settings:"]
    lines += [f"  {k}: {v}" for k, v in settings.items()]
    path = tmp_path / "clinic-policy.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("engine", available_engines())
@pytest.mark.parametrize("setting", sorted(DISPUTED))
def test_a_clinic_file_flips_the_disputed_case(tmp_path: Path, setting: str, engine: str) -> None:
    patient, rule_id = DISPUTED[setting]
    default = Screener(load_ruleset(), engine=engine).screen(changed(patient))  # type: ignore[arg-type]
    path = _clinic_file(tmp_path, {setting: "caution"})
    clinic = Screener(load_ruleset(policy_file=path), engine=engine).screen(changed(patient))  # type: ignore[arg-type]
    assert default.verdict == "refer" and default.policy[setting] == "refer"
    assert default.policy_source == "defaults"
    assert clinic.verdict == "caution"
    assert clinic.policy[setting] == "caution" and clinic.policy_source == str(path)
    assert {f.verdict for f in clinic.findings if f.rule_id == rule_id} == {"caution"}


def test_a_threshold_setting_moves_the_edge(tmp_path: Path) -> None:
    patient = changed({"labs": {"platelets": {"value": 60.0, "age_days": 2.0}}})
    assert load_and_screen(None, patient).verdict == "caution"
    raised = load_and_screen(_clinic_file(tmp_path, {"platelets_refer_below": 75}), patient)
    assert raised.verdict == "refer" and raised.policy["platelets_refer_below"] == 75.0


def test_electrical_needling_during_chemotherapy(tmp_path: Path) -> None:
    assert load_and_screen(None, changed(CHEMO_EDN)).verdict == "refer"
    clinic = load_and_screen(_clinic_file(tmp_path, {"edn_during_chemo_verdict": "caution"}), changed(CHEMO_EDN))
    assert clinic.verdict == "caution"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"first_trimester_verdikt": "caution"}, "did you mean 'first_trimester_verdict'"),
        ({"first_trimester_verdict": "clear"}, "expected one of"),
        ({"platelets_refer_below": 5}, "out of range"),
    ],
)
def test_a_clinic_file_is_validated_like_the_rules(tmp_path: Path, settings: dict[str, Any], message: str) -> None:
    with pytest.raises(RuleFileError, match=message):
        load_ruleset(policy_file=_clinic_file(tmp_path, settings))


def test_every_disputed_item_and_threshold_is_a_setting() -> None:
    """Section 6 of the reference and every [I] threshold the rules use."""
    names = set(load_ruleset().policy.values)
    assert {
        "first_trimester_verdict",
        "at_risk_limb_verdict",
        "inr_margin",
        "inr_upper_if_target_unknown",
        "inr_max_age_days",
        "platelets_refer_below",
        "platelets_caution_below",
        "anc_refer_below",
        "anc_caution_below",
        "metal_allergy_verdict",
        "heart_valve_verdict",
        "edn_during_chemo_verdict",
        "counts_max_age_days",
    } <= names


def load_and_screen(policy_file: Path | None, intake: dict[str, Any]) -> Any:
    return Screener(load_ruleset(policy_file=policy_file), engine="plain").screen(intake)


def test_the_shipped_helper_for_clinics(tmp_path: Path) -> None:
    from needlescreen.testing import baseline_intake, clinic_screener, with_changes

    intake = with_changes(baseline_intake(), PREGNANT_T1)
    assert clinic_screener().screen(intake).verdict == "refer"
    by_file = clinic_screener(_clinic_file(tmp_path, {"first_trimester_verdict": "caution"})).screen(intake)
    by_value = clinic_screener(first_trimester_verdict="caution").screen(intake)
    assert by_file.verdict == by_value.verdict == "caution"
    assert by_file.policy["first_trimester_verdict"] == "caution"
