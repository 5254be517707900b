"""Chart data in: six synthetic patients in Synthea's shape screen to the same verdict as the equivalent intake.

The equivalent intakes below are written by hand from each patient's story (what a clinician would enter from
the same chart: only what the chart says, everything else unknown), not derived from the chart reader. Each
patient's expected rule is the catalogue's answer to the story (clinical reference, sections 1b, 1d, 1e, 1f,
1g). The FHIR specification's own example resources are read too, and the chart never says "no".
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fhir.resources", reason="the fhir extra is not installed")

from needlescreen import IntakeError, Ruleset, Screener
from needlescreen.fhir import chart as chart_mod
from needlescreen.fhir.chart import read_chart

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def _patient(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "patients" / f"{name}.json").read_text(encoding="utf-8"))
    return data


def _plan(technique: str, *sites: dict[str, Any]) -> dict[str, Any]:
    return {"technique": technique, "sites": [{"id": f"s{i + 1}", **s} for i, s in enumerate(sites)]}


# name: (equivalent intake, a rule the story must fire)
EQUIVALENT: dict[str, tuple[dict[str, Any], str]] = {
    "warfarin-inr": (
        {
            "patient": {"age": 67, "sex": "female", "bmi": 27},
            "medications": {"items": [{"name": "warfarin 5 mg"}, {"name": "atorvastatin 20 mg"}]},
            "labs": {"inr": {"value": 2.4, "age_days": 5}},
            "plan": _plan(
                "dry_needling",
                {"region": "calf", "side": "right", "muscle": "gastrocnemius"},
                {"region": "thigh", "side": "right", "muscle": "vastus lateralis"},
            ),
        },
        "ANTICOAG_VKA",
    ),
    "cipn-perineural-electrical": (
        {
            "patient": {"age": 58, "sex": "female"},
            "labs": {"platelets": {"value": 231, "age_days": 20}},
            "findings": {
                "reduced_sensation": {"answer": "yes", "locations": [{"region": "distal_limb", "side": "both"}]}
            },
            "plan": _plan(
                "electrical",
                {"nerve": "tibial", "technique": "perineural", "side": "left"},
                {"nerve": "tibial", "technique": "perineural", "side": "right"},
            ),
        },
        "IMPAIRED_SENSATION",
    ),
    "pregnant": (
        {
            "patient": {"age": 31, "sex": "female", "pregnancy": {"status": "pregnant", "gestational_weeks": 11}},
            "plan": _plan("dry_needling", {"muscle": "right upper trapezius"}, {"muscle": "right levator scapulae"}),
        },
        "PREG_T1",
    ),
    "pacemaker": (
        {
            "patient": {"age": 74, "sex": "male"},
            "devices": {"answer": "yes", "items": [{"kind": "pacemaker"}], "others": "unknown"},
            "plan": _plan(
                "electrical",
                {"region": "calf", "side": "left", "muscle": "gastrocnemius"},
                {"region": "calf", "side": "left", "muscle": "soleus"},
            ),
        },
        "CARDIAC_DEVICE_ES",
    ),
    "lymphoedema-node-dissection": (
        {
            "patient": {"age": 55, "sex": "female", "metal_allergy": "yes"},
            "findings": {
                "lymphedema": {"answer": "yes", "locations": [{"region": "upper_limb", "side": "left"}]},
                "at_risk_limb": {"answer": "yes", "locations": [{"region": "upper_limb", "side": "left"}]},
            },
            "plan": _plan(
                "dry_needling",
                {"region": "forearm", "side": "left", "muscle": "extensor digitorum"},
                {"region": "forearm", "side": "right", "muscle": "extensor digitorum"},
            ),
        },
        "LYMPHEDEMA_LIMB",
    ),
    "spinal-cord-stimulator": (
        {
            "patient": {"age": 62, "sex": "male", "fever": {"temperature_c": 36.8}},
            "devices": {"answer": "yes", "items": [{"kind": "spinal_cord_stimulator"}], "others": "unknown"},
            "plan": _plan(
                "electrical",
                {"region": "calf", "side": "right", "muscle": "gastrocnemius"},
                {"region": "thigh", "side": "right", "muscle": "vastus lateralis"},
            ),
        },
        "ACTIVE_IMPLANT_ES",
    ),
}


@pytest.fixture(scope="module")
def plain(ruleset: Ruleset) -> Screener:
    return Screener(ruleset, engine="plain")


def _fired(result: Any) -> set[tuple[str, str | None]]:
    return {(f.rule_id, f.site.id if f.site else None) for f in result.findings if f.status == "fired"}


@pytest.mark.parametrize("name", sorted(EQUIVALENT))
def test_a_patient_bundle_screens_as_the_equivalent_intake(name: str, plain: Screener, ruleset: Ruleset) -> None:
    intake, rule = EQUIVALENT[name]
    chart = read_chart(_patient(name), now=NOW, ruleset=ruleset)
    assert chart.intake is not None
    from_chart, by_hand = plain.screen(chart.intake), plain.screen(intake)
    assert from_chart.verdict == by_hand.verdict
    assert _fired(from_chart) == _fired(by_hand)
    assert rule in {r for r, _ in _fired(from_chart)}
    assert {m.fact for m in from_chart.missing} == {m.fact for m in by_hand.missing}


def _answers(data: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(data, dict):
        return [x for k, v in data.items() for x in _answers(v, f"{path}.{k}" if path else k)]
    if isinstance(data, list):
        return [x for i, v in enumerate(data) for x in _answers(v, f"{path}[{i}]")]
    return [(path, data)]


def check_never_no(data: dict[str, Any]) -> list[str]:
    """Paths where the chart data says no, none, not pregnant or a complete list: a chart cannot say these."""
    denials = {"no", "none", "not_pregnant"}
    bad = [p for p, v in _answers(data) if v in denials and not p.startswith("plan")]
    if data.get("medications", {}).get("complete") == "yes":
        bad.append("medications.complete")
    return bad


@pytest.mark.parametrize("name", sorted(EQUIVALENT))
def test_the_chart_never_says_no(name: str, ruleset: Ruleset) -> None:
    chart = read_chart(_patient(name), now=NOW, ruleset=ruleset)
    assert check_never_no(dict(chart.data)) == []


def test_breakage_a_reader_that_reads_an_empty_problem_list_as_no_is_caught(ruleset: Ruleset) -> None:
    data = dict(read_chart(_patient("pacemaker"), now=NOW, ruleset=ruleset).data)
    data["findings"] = {"lymphedema": {"answer": "no"}}
    data["devices"] = {**data["devices"], "others": "no"}
    assert sorted(check_never_no(data)) == ["devices.others", "findings.lymphedema.answer"]


@pytest.mark.parametrize(
    ("name", "rule", "types"),
    [
        ("warfarin-inr", "ANTICOAG_VKA", {"MedicationRequest"}),
        ("lymphoedema-node-dissection", "LYMPHEDEMA_LIMB", {"Condition"}),
        ("lymphoedema-node-dissection", "LYMPHEDEMA_AT_RISK", {"Procedure"}),
        ("lymphoedema-node-dissection", "METAL_ALLERGY", {"AllergyIntolerance"}),
        # the order is implicated too: the rule reads the technique it asks for
        ("pacemaker", "CARDIAC_DEVICE_ES", {"Condition", "Device", "ServiceRequest"}),
        # the rule reads the patient's sex as well as the pregnancy
        ("pregnant", "PREG_T1", {"Condition", "Observation", "Patient"}),
    ],
)
def test_a_finding_names_the_chart_resources_behind_it(
    name: str, rule: str, types: set[str], plain: Screener, ruleset: Ruleset
) -> None:
    chart = read_chart(_patient(name), now=NOW, ruleset=ruleset)
    assert chart.intake is not None
    finding = next(f for f in plain.screen(chart.intake).findings if f.rule_id == rule and f.status == "fired")
    implicated = chart.implicated(finding.facts)
    assert {ref.split("/")[0] for ref in implicated} == types
    ids = {e["resource"]["id"] for e in _patient(name)["entry"]}
    assert all(ref.split("/")[1] in ids for ref in implicated)


def test_lab_ages_are_days_before_now(ruleset: Ruleset) -> None:
    chart = read_chart(_patient("warfarin-inr"), now=NOW + dt.timedelta(days=10), ruleset=ruleset)
    assert chart.intake is not None and chart.intake.labs.inr is not None
    assert chart.intake.labs.inr.value == 2.4 and chart.intake.labs.inr.age_days == pytest.approx(15)


def test_old_observations_do_not_speak_for_today(ruleset: Ruleset) -> None:
    later = NOW + dt.timedelta(days=400)
    pregnant = read_chart(_patient("pregnant"), now=later, ruleset=ruleset)
    assert "pregnancy" not in pregnant.data.get("patient", {})  # a pregnancy recorded 57 weeks ago is over
    scs = read_chart(_patient("spinal-cord-stimulator"), now=NOW + dt.timedelta(days=2), ruleset=ruleset)
    assert "fever" not in scs.data["patient"]  # a temperature speaks for its day only


def _with(name: str, edit: Any) -> dict[str, Any]:
    bundle = copy.deepcopy(_patient(name))
    edit(bundle)
    return bundle


def _resource(bundle: dict[str, Any], rtype: str) -> dict[str, Any]:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype)


def test_a_resource_of_another_patient_is_refused(ruleset: Ruleset) -> None:
    bundle = _with(
        "warfarin-inr", lambda b: _resource(b, "MedicationRequest").update(subject={"reference": "Patient/other"})
    )
    with pytest.raises(IntakeError, match="not to the chart's patient") as info:
        read_chart(bundle, now=NOW, ruleset=ruleset)
    assert info.value.problems[0].path.endswith(".resource.subject")


def test_an_observation_after_now_is_refused(ruleset: Ruleset) -> None:
    with pytest.raises(IntakeError, match="after now"):
        read_chart(_patient("warfarin-inr"), now=NOW - dt.timedelta(days=10), ruleset=ruleset)


def test_a_lab_in_a_unit_that_cannot_be_read_is_refused_by_its_path(ruleset: Ruleset) -> None:
    def edit(b: dict[str, Any]) -> None:
        obs = _resource(b, "Observation")
        obs["valueQuantity"].update(code="g/dL", unit="g/dL")

    with pytest.raises(IntakeError, match="cannot be read") as info:
        read_chart(_with("cipn-perineural-electrical", edit), now=NOW, ruleset=ruleset)
    assert info.value.problems[0].path.endswith("valueQuantity.code")


def test_platelets_per_microlitre_are_converted(ruleset: Ruleset) -> None:
    def edit(b: dict[str, Any]) -> None:
        _resource(b, "Observation")["valueQuantity"].update(value=45000, code="/uL", unit="/uL")

    chart = read_chart(_with("cipn-perineural-electrical", edit), now=NOW, ruleset=ruleset)
    assert chart.data["labs"]["platelets"]["value"] == 45


def test_a_needling_order_without_sites_gives_no_intake_and_says_why(ruleset: Ruleset) -> None:
    bundle = _with("pacemaker", lambda b: _resource(b, "ServiceRequest").pop("bodySite"))
    chart = read_chart(bundle, now=NOW, ruleset=ruleset)
    assert chart.intake is None and "plan" not in chart.data
    assert any("without body sites" in n for n in chart.notes)
    assert chart.data["devices"]["items"] == [{"kind": "pacemaker"}]  # the partial intake is still there


# --- the FHIR specification's own examples (R4 4.0.1, CC0) ------------------------------------------------


def _spec(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "fhir-r4" / name).read_text(encoding="utf-8"))
    return data


def test_the_specifications_patient_bmi_and_temperature_are_read(ruleset: Ruleset) -> None:
    when = dt.datetime(1999, 7, 2, 18, 0, tzinfo=dt.UTC)
    chart = read_chart(
        [
            _spec("patient-example.json"),
            _spec("observation-example-bmi.json"),
            _spec("observation-example-body-temperature.json"),
        ],
        now=when,
        ruleset=ruleset,
    )
    assert chart.data["patient"] == {"age": 24.0, "sex": "male", "fever": {"temperature_c": 36.5}, "bmi": 16.2}
    assert {s.reference for s in chart.sources} == {
        "Patient/example",
        "Observation/bmi",
        "Observation/body-temperature",
    }


def test_the_specifications_resolved_fever_is_not_read_and_an_active_one_is(ruleset: Ruleset, plain: Screener) -> None:
    fever = _spec("condition-example-f201-fever.json")
    now = dt.datetime(2013, 4, 10, tzinfo=dt.UTC)
    assert read_chart(fever, now=now, ruleset=ruleset).data.get("conditions") is None
    fever["clinicalStatus"]["coding"][0]["code"] = "active"
    plan = {"technique": "dry_needling", "sites": [{"id": "s1", "region": "calf", "side": "left"}]}
    chart = read_chart(fever, now=now, ruleset=ruleset, plan=plan)
    assert chart.data["conditions"] == [{"system": "ICD-10-CM", "code": "R50.9"}]  # SNOMED CT 386661006 via the map
    assert chart.intake is not None
    assert "SYSTEMIC_INFECTION" in {f.rule_id for f in plain.screen(chart.intake).findings if f.status == "fired"}


def test_an_active_diagnosis_the_code_map_does_not_read_is_screened_as_unrecognised(
    ruleset: Ruleset, plain: Screener
) -> None:
    condition = _spec("condition-example-f201-fever.json")
    condition["clinicalStatus"]["coding"][0]["code"] = "active"
    condition["code"] = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "K21.9"}]}
    now = dt.datetime(2013, 4, 10, tzinfo=dt.UTC)
    plan = {"technique": "dry_needling", "sites": [{"id": "s1", "region": "calf", "side": "left"}]}
    chart = read_chart(condition, now=now, ruleset=ruleset, plan=plan)
    assert chart.data["conditions"] == [{"system": "ICD-10-CM", "code": "K21.9"}]
    assert chart.intake is not None
    result = plain.screen(chart.intake)
    assert "CONDITION_UNRECOGNISED" in {f.rule_id for f in result.findings if f.status == "fired"}
    assert result.verdict != "clear", "a diagnosis nobody has checked is not read as nothing"
    condition["clinicalStatus"]["coding"][0]["code"] = "resolved"
    assert read_chart(condition, now=now, ruleset=ruleset, plan=plan).data.get("conditions") is None


def test_the_specifications_contained_medication_is_read_by_name(ruleset: Ruleset) -> None:
    chart = read_chart(_spec("medicationrequest0315.json"), now=dt.datetime(2016, 1, 1, tzinfo=dt.UTC), ruleset=ruleset)
    assert chart.data["medications"]["items"] == [{"name": "Lorazepam 2mg/ml injection solution 1ml vial (product)"}]


def test_the_specifications_other_orders_are_not_needling_orders(ruleset: Ruleset) -> None:
    chart = read_chart(
        [_spec("servicerequest-example.json"), _spec("procedure-example.json")], now=NOW, ruleset=ruleset
    )
    assert chart.intake is None and "plan" not in chart.data
    assert "findings" not in chart.data  # an appendectomy in 2013 is not recent surgery in 2026


def test_every_specification_example_parses_through_the_chart_reader(ruleset: Ruleset) -> None:
    """The reader takes the specification's examples as they are (those of other patients one at a time)."""
    for path in sorted((FIXTURES / "fhir-r4").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        read_chart(data, now=NOW, ruleset=ruleset)


def test_the_reader_passes_over_resource_types_it_does_not_read(ruleset: Ruleset) -> None:
    assert "Encounter" not in chart_mod.READ_TYPES
    chart = read_chart(_patient("pacemaker"), now=NOW, ruleset=ruleset)
    assert not any(s.resource_type == "Encounter" for s in chart.sources)
