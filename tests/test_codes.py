"""ICD-10-CM codes set the same facts as the questionnaire answers they stand for, so they give the same verdict.

Every code of section 2 of the clinical reference that the code map covers is checked against the answers a
clinician would give on the questionnaire; a code the map does not cover is rejected, naming the field.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from needlescreen import IntakeError, Screener, load_ruleset, parse_intake
from needlescreen.codes import CodeMap, bundled_codes
from needlescreen.errors import RuleFileError
from needlescreen.intake import MAX_DEVICES, MAX_LOCATIONS, MAX_MEDICATIONS
from needlescreen.result import worst

from .cases import EDN_CALF_PAIR, at, finding, meds, merge
from .conftest import changed


def _device(kind: str, **location: str) -> dict[str, Any]:
    """The device, and nothing known about any other device (a code names one device, not the full list) or
    about pacemaker dependence."""
    item: dict[str, Any] = {"kind": kind}
    if location:
        item["location"] = location
    return {"devices": {"answer": "yes", "items": [item], "others": "unknown", "pacemaker_dependent": "unknown"}}


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
    "J43.9": (_patient(lung_disease="yes", bullous_lung_disease="yes"), CHEST),
    # clinical round 3 (issue 14)
    "Z86.718": ({"findings": {"past_dvt": {"answer": "yes"}}}, {}),
    "I80.01": (finding("thrombophlebitis", "lower_limb", "right"), {}),
    "I80.9": ({"findings": {"thrombophlebitis": {"answer": "yes"}}}, {}),
    "I82.612": (finding("thrombophlebitis", "upper_limb", "left"), at("forearm", "left")),
    "L40.0": ({"findings": {"skin_disease": {"answer": "yes"}}}, {}),
    "L20.9": ({"findings": {"skin_disease": {"answer": "yes"}}}, {}),
    "L30.9": ({"findings": {"skin_disease": {"answer": "yes"}}}, {}),
    "L91.0": ({"findings": {"skin_disease": {"answer": "yes"}}}, {}),
    "I73.9": (_patient(vascular_disease="yes"), {}),
    "R23.3": (_patient(bleeding_history="yes"), {}),
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
        (f.rule_id, f.status, f.verdict, f.site.id if f.site else None, f.circuit)
        for f in result.findings
        if f.rule_id != "INCONSISTENT_ANSWERS"
    )
    return worst(*(f[2] for f in findings)), findings


def _contradictions(result: Any) -> list[str]:
    return [f.detail for f in result.findings if f.rule_id == "INCONSISTENT_ANSWERS"]


@pytest.mark.parametrize("code", sorted(EQUIVALENTS))
def test_a_code_gives_the_same_screening_as_its_answers(code: str, screen_all: Any) -> None:
    """On a patient who answered "no" to everything: the same findings as the answers, and the contradiction
    between the code and the "no" it overrides is a reason of its own, naming the code."""
    answers, plan = EQUIVALENTS[code]
    by_code = screen_all(changed(merge(plan, {"conditions": [{"system": "ICD-10-CM", "code": code}]})))
    by_answer = screen_all(changed(merge(plan, answers)))
    assert _outcome(by_code) == _outcome(by_answer)
    # A history of cancer alone, and a finding on the other limb, leave a fully answered patient clear.
    assert (by_answer.verdict == "clear") == (code in CLEAR_FOR_THIS_PLAN), code
    (detail,) = _contradictions(by_code)
    assert f"ICD-10-CM {code}" in detail
    assert by_code.verdict != "clear"


@pytest.mark.parametrize("code", sorted(EQUIVALENTS))
def test_a_code_on_an_unanswered_questionnaire_is_its_answers(code: str, screen_all: Any) -> None:
    answers, plan = EQUIVALENTS[code]
    if "medications" in answers:  # a code names a drug; it does not say the list is complete
        answers = merge(answers, {"medications": {"complete": "unknown"}})
    base = merge(at("calf", "right"), plan)
    by_code = screen_all(merge(base, {"conditions": [{"code": code}]}))
    by_answer = screen_all(merge(base, answers))
    assert not _contradictions(by_code)
    assert _outcome(by_code) == _outcome(by_answer)


def test_every_mapped_section_2_code_is_checked() -> None:
    codes = bundled_codes()
    for code in EQUIVALENTS:
        assert codes.lookup(code) is not None, code


@pytest.mark.parametrize("code", ["Z68.1", "A00.0"])
def test_a_code_the_map_does_not_know_is_verified_never_clear(code: str, screen_all: Any) -> None:
    """An EHR sends the whole problem list: a code the map does not know is named for verifying (one caution,
    CONDITION_UNRECOGNISED), answers nothing, and never makes the screening clear."""
    result = screen_all(changed({"conditions": [{"code": code}]}))
    fired = [f for f in result.findings if f.rule_id == "CONDITION_UNRECOGNISED"]
    assert [(f.verdict, f.status) for f in fired] == [("caution", "fired")]
    assert result.verdict != "clear"
    assert screen_all(changed({})).verdict == "clear"  # the baseline alone is clear: the code made the difference


def test_without_the_unrecognised_rule_a_code_the_map_does_not_know_is_rejected(tmp_path: Path) -> None:
    """A clinic's ruleset with no rule standing in for an unmapped code rejects it, naming it (never ignored)."""
    src = Path(load_ruleset().directory)
    dst = tmp_path / "rules"
    shutil.copytree(src, dst)
    path = dst / "rules" / "consistency.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: text.index("  - id: CONDITION_UNRECOGNISED")], encoding="utf-8")
    rs = load_ruleset(dst)
    assert not rs.codes.guarded
    assert load_ruleset().codes.guarded
    with pytest.raises(IntakeError) as err:
        Screener(rs, engine="plain").screen(changed({"conditions": [{"code": "Z68.1"}]}))
    assert err.value.problems[0].path == "conditions[0].code"
    assert "Z68.1" in err.value.problems[0].message


def test_a_malformed_code_is_still_rejected(screen_all: Any) -> None:
    with pytest.raises(IntakeError) as err:
        screen_all(changed({"conditions": [{"code": "not a code"}]}))
    assert err.value.problems[0].path.startswith("conditions[0]")


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


# --- the side comes only from where the code structure carries it ------------------------------------------

LEGS = {
    "plan": {
        "technique": "dry_needling",
        "sites": [{"id": "r", "region": "calf", "side": "right"}, {"id": "l", "region": "calf", "side": "left"}],
    }
}
UNKNOWN_DVT = {"findings": {"dvt": {"answer": "unknown"}}}


def _dvt_at(result: Any) -> dict[str, str | None]:
    """Per calf: "fired", "unknown" or None (the DVT rule does not concern that leg)."""
    out: dict[str, str | None] = {"r": None, "l": None}
    for f in result.findings:
        if f.rule_id == "DVT_ACUTE" and f.site:
            out[f.site.id] = f.status
    return out


@pytest.mark.parametrize(
    ("code", "right", "left", "why"),
    [
        ("I82.401", "fired", None, "unspecified deep vein (5th 0), right leg (6th 1)"),
        ("I82.402", None, "fired", "unspecified deep vein, left leg (6th 2)"),
        ("I82.403", "fired", "fired", "bilateral (6th 3)"),
        ("I82.409", "unknown", "unknown", "side unspecified (6th 9)"),
        ("I82.411", "fired", None, "femoral vein (5th 1), right leg"),
        ("I82.412", None, "fired", "femoral vein, left leg"),
        ("I82.41", "unknown", "unknown", "femoral vein, side not coded: 1 is the vein, not the right side"),
        ("I82.42", "unknown", "unknown", "iliac vein, side not coded: 2 is the vein, not the left side"),
        ("I82.4", "unknown", "unknown", "family only"),
        ("I82.4Z2", None, "fired", "unspecified distal vein, left leg"),
        ("I82.621", None, None, "upper limb DVT: not a leg"),
    ],
)
def test_a_coded_dvt_is_placed_by_its_sixth_character_only(
    code: str, right: str | None, left: str | None, why: str, screen_all: Any
) -> None:
    result = screen_all(changed(merge(LEGS, UNKNOWN_DVT, {"conditions": [{"code": code}]})))
    assert _dvt_at(result) == {"r": right, "l": left}, why


@pytest.mark.parametrize(
    ("code", "side"),
    [("Z96.641", "right"), ("Z96.642", "left"), ("Z96.643", "both"), ("Z96.649", None), ("Z96.64", None)],
)
def test_a_hip_prosthesis_code_sides_by_its_sixth_character(code: str, side: str | None) -> None:
    intake = parse_intake(merge(at("calf", "right"), {"conditions": [{"code": code}]}))
    (device,) = bundled_codes().apply(intake).devices.items
    assert device.kind == "joint_prosthesis"
    assert device.location is not None and device.location.region == "hip" and device.location.side == side


@pytest.mark.parametrize(
    ("code", "locations"),
    [
        ("I83.91", [("lower_limb", "right")]),
        ("I83.92", [("lower_limb", "left")]),
        ("I83.90", [("lower_limb", None)]),
        ("I83.9", [("lower_limb", None)]),
        ("L03.113", [("upper_limb", "right")]),
        ("L03.116", [("lower_limb", "left")]),
        ("L03.111", [("axilla", "right")]),
        ("L03.125", [("lower_limb", "right")]),
        ("L03.119", [("upper_limb", None), ("lower_limb", None), ("axilla", None)]),
        ("I89.0", []),
        ("I97.2", [("upper_limb", None)]),
    ],
)
def test_coded_findings_are_placed_as_their_family_documents(code: str, locations: list[Any]) -> None:
    intake = parse_intake(merge(at("calf", "right"), {"conditions": [{"code": code}]}))
    applied = bundled_codes().apply(intake).findings
    (kind,) = [k for k in type(applied).model_fields if getattr(applied, k).answer == "yes"]
    got = [(loc.region, loc.side) for loc in getattr(applied, kind).locations]
    assert got == locations


def test_every_code_that_places_something_documents_its_structure() -> None:
    for entry in bundled_codes().entries:
        if entry.sets.findings or entry.sets.device_location is not None:
            assert entry.structure, entry.code


def _codes_file(entry: dict[str, Any]) -> dict[str, Any]:
    return {"schema": "needlescreen.codes/1", "system": "ICD-10-CM", "codes": [entry]}


@pytest.mark.parametrize(
    ("entry", "field", "message"),
    [
        (
            {"code": "I82.4", "title": "DVT leg", "evidence": "background", "sets": {"findings": {"dvt": {}}}},
            "structure",
            "document its structure",
        ),
        (
            {
                "code": "I82.41",
                "title": "DVT femoral",
                "evidence": "background",
                "structure": "the 5th character is the vein",
                "laterality": {"position": 5, "values": {"1": "right"}},
                "sets": {"findings": {"dvt": {}}},
            },
            "laterality.position",
            "inside the family prefix",
        ),
    ],
)
def test_a_code_map_that_could_misread_a_side_is_refused(entry: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(RuleFileError, match=message) as err:
        CodeMap.from_data(_codes_file(entry))
    assert err.value.field is not None and field in err.value.field


# --- a code never drops an answer of the same kind ------------------------------------------------------


def test_a_coded_dvt_and_the_clinicians_dvt_are_both_kept(screen_all: Any) -> None:
    """The clinician names the left calf; the record codes a right femoral DVT: both legs refer."""
    intake = changed(merge(LEGS, finding("dvt", "calf", "left"), {"conditions": [{"code": "I82.411"}]}))
    result = screen_all(intake)
    assert _dvt_at(result) == {"r": "fired", "l": "fired"}
    assert not _contradictions(result), "a yes and a code of the same finding agree"


def test_a_coded_lymphoedema_without_a_side_adds_its_limb(screen_all: Any) -> None:
    """Left arm lymphoedema answered, I97.2 coded (an arm, side not coded): the right forearm is undecided."""
    intake = changed(
        merge(finding("lymphedema", "upper_limb", "left"), at("forearm", "right"), {"conditions": [{"code": "I97.2"}]})
    )
    statuses = {f.status for f in screen_all(intake).findings if f.rule_id == "LYMPHEDEMA_LIMB"}
    assert statuses == {"unknown"}


def test_a_coded_prosthesis_is_added_to_a_listed_one() -> None:
    intake = parse_intake(
        changed(
            {
                "devices": {
                    "answer": "yes",
                    "items": [{"kind": "joint_prosthesis", "location": {"region": "knee", "side": "left"}}],
                },
                "conditions": [{"code": "Z96.641"}],
            }
        )
    )
    got = [(d.kind, d.location.region if d.location else None) for d in bundled_codes().apply(intake).devices.items]
    assert got == [("joint_prosthesis", "knee"), ("joint_prosthesis", "hip")]


# --- a clinician's "no" contradicted by a code is a reason ----------------------------------------------


@pytest.mark.parametrize(
    ("code", "answer"),
    [
        ("I82.401", "findings.dvt: no"),
        ("Z95.0", "devices.answer: no"),
        ("F40.231", "patient.needle_phobia: no"),
        ("D66", "patient.bleeding_disorder: none"),
        ("Z33.1", "patient.pregnancy.status: not_pregnant"),
        ("R50.9", "patient.fever.answer: no"),
        ("Z79.82", "medications: none (list complete)"),
    ],
)
def test_a_code_that_contradicts_an_answer_names_both(code: str, answer: str, screen_all: Any) -> None:
    result = screen_all(changed({"conditions": [{"code": code}]}))
    (detail,) = _contradictions(result)
    assert answer in detail and f"ICD-10-CM {code}" in detail
    assert result.verdict in ("caution", "refer")


def test_a_code_agreeing_with_an_answer_is_no_contradiction(screen_all: Any) -> None:
    result = screen_all(changed({"patient": {"needle_phobia": "yes"}, "conditions": [{"code": "F40.231"}]}))
    assert not _contradictions(result)


# --- a code past a list's limit is an intake error naming the code and the limit -------------------------


@pytest.mark.parametrize(
    ("changes", "code", "limit"),
    [
        (
            {"medications": {"complete": "yes", "items": [{"name": f"drug {i}"} for i in range(MAX_MEDICATIONS)]}},
            "Z79.82",
            MAX_MEDICATIONS,
        ),
        (
            {"devices": {"answer": "yes", "items": [{"kind": "metal_fixation"}] * MAX_DEVICES}},
            "Z95.0",
            MAX_DEVICES,
        ),
        (
            {
                "findings": {
                    "dvt": {
                        "answer": "yes",
                        "locations": [{"region": "calf", "side": "left"}] * MAX_LOCATIONS,
                    }
                }
            },
            "I82.401",
            MAX_LOCATIONS,
        ),
    ],
)
def test_a_code_past_a_list_limit_is_an_intake_error(changes: Any, code: str, limit: int, screen_all: Any) -> None:
    with pytest.raises(IntakeError) as err:
        screen_all(changed({**changes, "conditions": [{"code": "L23.0"}, {"code": code}]}))
    (problem,) = err.value.problems
    assert problem.path == "conditions[1].code"
    assert code in problem.message and f"limit of {limit}" in problem.message
