"""ICD-10-CM codes set the same facts as the questionnaire answers they stand for, so they give the same verdict.

Every code of section 2 of the clinical reference that the code map covers is checked against the answers a
clinician would give on the questionnaire; a code the map does not cover is rejected, naming the field.
"""

from __future__ import annotations

from typing import Any

import pytest

from needlescreen import IntakeError
from needlescreen.codes import bundled_codes

from .cases import EDN_CALF_PAIR, at, finding, meds, merge
from .conftest import changed


def _device(kind: str, **location: str) -> dict[str, Any]:
    """The device, and nothing known about any other device (a code names one device, not the full list)."""
    item: dict[str, Any] = {"kind": kind}
    if location:
        item["location"] = location
    return {"devices": {"answer": "yes", "items": [item], "others": "unknown"}}


PACEMAKER = _device("pacemaker")


def _patient(**answers: Any) -> dict[str, Any]:
    return {"patient": answers}


CHEST = at("chest_wall", "left")
#: code -> (the questionnaire answers it stands for, the plan to screen it with)
EQUIVALENTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "I89.0": ({"findings": {"lymphedema": {"answer": "yes"}}}, {}),
    "I97.2": (finding("lymphedema", "upper_limb"), at("forearm", "left")),
    "Q82.0": ({"findings": {"lymphedema": {"answer": "yes"}}}, {}),
    "Z95.0": (PACEMAKER, EDN_CALF_PAIR),
    "Z95.810": (_device("icd"), EDN_CALF_PAIR),
    "Z95.2": (_patient(heart_valve_or_endocarditis="yes"), {}),
    "Z96.82": (_device("neurostimulator"), EDN_CALF_PAIR),
    "Z95.828": (_device("port_picc"), CHEST),
    "Z96.641": (_device("joint_prosthesis", region="hip", side="right"), at("hip", "right")),
    "Z98.82": (_device("breast_implant"), at("breast", "left")),
    "Z79.01": (meds("a blood thinner, not sure which"), {}),
    "Z79.02": (meds("clopidogrel"), {}),
    "Z79.82": (meds("aspirin"), {}),
    "D68.32": (merge(_patient(bleeding_disorder="severe"), meds("a blood thinner, not sure which")), {}),
    "D66": (_patient(bleeding_disorder="severe"), {}),
    "D67": (_patient(bleeding_disorder="severe"), {}),
    "D68.0": (_patient(bleeding_disorder="unknown"), {}),
    "D69.6": (_patient(bleeding_disorder="unknown"), {}),
    "D70.1": (_patient(active_chemotherapy="yes", immunocompromised="yes", cancer_history="yes"), {}),
    "T45.1X5A": (_patient(active_chemotherapy="yes", cancer_history="yes"), {}),
    "G62.0": (finding("reduced_sensation", "distal_limb", "both"), {}),
    "Z92.21": (_patient(cancer_history="yes"), {}),
    "Z85.3": (_patient(cancer_history="yes"), {}),
    "D84.821": (_patient(immunocompromised="yes"), {}),
    "Z79.52": (meds("prednisolone"), {}),
    "B20": (_patient(immunocompromised="yes"), {}),
    "F40.231": (_patient(needle_phobia="yes"), {}),
    "F40.230": (_patient(fainting_history="yes"), {}),
    "G40.909": (_patient(epilepsy="unknown"), {}),
    "G40.919": (_patient(epilepsy="uncontrolled"), {}),
    "E11.42": (merge(_patient(diabetes="unknown"), finding("reduced_sensation", "distal_limb", "both")), {}),
    "Z33.1": (_patient(pregnancy={"status": "pregnant"}), {}),
    "Z3A.20": (_patient(pregnancy={"status": "pregnant", "gestational_weeks": 20.0}), {}),
    "J43.9": (_patient(lung_disease="yes"), CHEST),
    "J44.9": (_patient(lung_disease="yes"), CHEST),
    "L03.115": (finding("local_infection", "lower_limb", "right"), {}),
    "R50.9": (_patient(fever={"answer": "yes"}), {}),
    "I82.401": (finding("dvt", "lower_limb", "right"), {}),
    "I82.402": (finding("dvt", "lower_limb", "left"), {}),
    "I83.91": (finding("varicose_veins", "lower_limb", "right"), {}),
    "L23.0": (_patient(metal_allergy="yes"), {}),
}


CLEAR_FOR_THIS_PLAN = {"I82.402", "Z85.3", "Z92.21"}


def _outcome(result: Any) -> tuple[str, list[tuple[Any, ...]]]:
    findings = sorted(
        (f.rule_id, f.status, f.verdict, f.site.id if f.site else None, f.circuit) for f in result.findings
    )
    return result.verdict, findings


@pytest.mark.parametrize("code", sorted(EQUIVALENTS))
def test_a_code_gives_the_same_screening_as_its_answers(code: str, screen_all: Any) -> None:
    answers, plan = EQUIVALENTS[code]
    by_code = screen_all(changed(merge(plan, {"conditions": [{"system": "ICD-10-CM", "code": code}]})))
    by_answer = screen_all(changed(merge(plan, answers)))
    assert _outcome(by_code) == _outcome(by_answer)
    # A history of cancer alone, and a finding on the other limb, leave a fully answered patient clear.
    assert (by_code.verdict == "clear") == (code in CLEAR_FOR_THIS_PLAN), code


def test_every_mapped_section_2_code_is_checked() -> None:
    codes = bundled_codes()
    for code in EQUIVALENTS:
        assert codes.lookup(code) is not None, code


@pytest.mark.parametrize("code", ["Z68.1", "A00.0"])
def test_a_code_the_map_does_not_know_is_rejected(code: str, screen_all: Any) -> None:
    with pytest.raises(IntakeError) as err:
        screen_all(changed({"conditions": [{"code": code}]}))
    assert err.value.problems[0].path == "conditions[0].code"


def test_the_clinicians_location_is_kept(screen_all: Any) -> None:
    """A code never overrides a more specific answer: lymphoedema of the left arm stays on the left arm."""
    intake = changed(
        merge(finding("lymphedema", "upper_limb", "left"), at("forearm", "right"), {"conditions": [{"code": "I89.0"}]})
    )
    assert screen_all(intake).verdict == "clear"


def test_codes_match_with_or_without_the_dot_and_in_any_case(screen_all: Any) -> None:
    verdicts = {screen_all(changed({"conditions": [{"code": c}]})).verdict for c in ("F40.231", "f40231", "F40231")}
    assert verdicts == {"refer"}


def test_a_code_raises_a_grade_but_never_lowers_it(screen_all: Any) -> None:
    """D68.0 (von Willebrand, severity not coded) keeps a severe answer severe."""
    result = screen_all(changed(merge(_patient(bleeding_disorder="severe"), {"conditions": [{"code": "D68.0"}]})))
    assert "BLEED_DISORDER_SEVERE" in {f.rule_id for f in result.findings if f.status == "fired"}


def test_a_device_code_leaves_other_devices_unknown(screen_all: Any) -> None:
    """A port code on a patient never asked about devices must not make a pacemaker read "no"."""
    intake = changed(merge(EDN_CALF_PAIR, {"conditions": [{"code": "Z95.828"}]}))
    del intake["devices"]
    result = screen_all(intake)
    assert result.verdict == "refer"
    assert {f.rule_id for f in result.findings if f.status == "unknown"} >= {"CARDIAC_DEVICE_ES", "ACTIVE_IMPLANT_ES"}
