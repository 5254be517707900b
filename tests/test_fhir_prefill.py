"""The web form prefilled from a CDS Hooks call: the chart's answers, nothing answered "no", nothing dropped.

For the six synthetic patients: the answers the clinician finds in the form are the chart's (a table written from
each patient's story, not from the adapter); no question is answered "no" and a first-pass gate is "yes" only
above something the chart says; what the form cannot hold is listed; and the form, completed with "not known",
fires the same rules as the chart screened by the CDS service, so the clinician starts where the card left off.
Each check is shown to fail on a broken prefill.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

pytest.importorskip("fhir.resources", reason="the fhir extra is not installed")

from needlescreen import Ruleset, Screener, parse_intake
from needlescreen.fhir import prefill as pf
from needlescreen.fhir import questionnaire as fq
from needlescreen.fhir.cdshooks import prefetch_intake
from needlescreen.fhir.chart import ChartIntake
from needlescreen.questionnaire import Questionnaire
from tests.test_fhir_cdshooks import hook_request

NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
PATIENTS = (
    "warfarin-inr",
    "cipn-perineural-electrical",
    "pregnant",
    "pacemaker",
    "lymphoedema-node-dissection",
    "spinal-cord-stimulator",
)

# What the clinician should find answered, from each patient's chart as the fixtures README tells it (Patient,
# orders, labs, conditions with the codes' meaning, devices, allergies, procedures).
EXPECTED: dict[str, dict[str, str]] = {
    "warfarin-inr": {
        "technique": "dry_needling",
        "age": "67",
        "sex": "female",
        "bmi": "27",
        "inr": "2.4",
        "inr_age_days": "5",
        "medications": "Warfarin Sodium 5 MG Oral Tablet, atorvastatin 20 MG Oral Tablet",
    },
    "cipn-perineural-electrical": {
        "technique": "electrical",
        "sites": "left tibial nerve, right tibial nerve",
        "reduced_sensation": "yes",  # drug-induced polyneuropathy, ICD-10-CM G62.0
    },
    "pregnant": {"pregnancy": "pregnant", "gestational_weeks": "11", "sex": "female"},
    "pacemaker": {"technique": "electrical", "devices": "yes", "device_items": "pacemaker", "sex": "male"},
    "lymphoedema-node-dissection": {
        "lymphedema": "yes",
        "lymphedema_where": "left upper limb",
        "at_risk_limb": "yes",
        "at_risk_limb_where": "left upper limb",
        "metal_allergy": "yes",
    },
    "spinal-cord-stimulator": {"devices": "yes", "device_items": "spinal cord stimulator", "age": "62"},
}
#: What each chart says that the form cannot hold (asked only after an answer the chart does not give).
LEFT_OUT = {
    "cipn-perineural-electrical": ["platelet count", "days ago was the platelet count"],
    "spinal-cord-stimulator": ["measured temperature"],
}


@pytest.fixture(scope="module")
def q(ruleset: Ruleset) -> Questionnaire:
    return fq.bundled_questionnaire(ruleset)


def _chart(patient: str, ruleset: Ruleset) -> ChartIntake:
    return prefetch_intake(hook_request(patient), now=NOW, ruleset=ruleset)


@pytest.mark.parametrize("patient", PATIENTS)
def test_the_form_holds_what_the_chart_says(patient: str, ruleset: Ruleset, q: Questionnaire) -> None:
    filled = pf.prefill(_chart(patient, ruleset), ruleset=ruleset, q=q)
    form = filled.form()
    assert {k: form.get(k) for k in EXPECTED[patient]} == EXPECTED[patient]
    assert all(a.sources for a in filled.answers), [a.item for a in filled.answers if not a.sources]
    assert check_nothing_answered_no(q, filled) == []
    left = LEFT_OUT.get(patient, [])
    assert len(filled.left_out) == len(left) and all(any(word in text for text in filled.left_out) for word in left), (
        filled.left_out
    )


def check_nothing_answered_no(q: Questionnaire, filled: pf.Prefill) -> list[str]:
    """No answer is a "no" (nor "none", "not pregnant"), and each gate answered sits above a chart answer."""
    form = filled.form()
    wrong = [k for k, v in form.items() if v in ("no", "none", "not_pregnant")]
    for item in q.items:
        if item.covers and item.id in form:
            below = {i.id for i in q.items if not i.covers and i.id in form and item.id in fq._requirements(q)[i.id]}
            if form[item.id] != "yes" or not below:
                wrong.append(item.id)
    return wrong


def _walk_rest(q: Questionnaire, form: dict[str, str]) -> dict[str, Any]:
    """The form as the clinician finds it, every other question shown left "not known"."""
    answers: dict[str, Any] = {}
    for item in q.items:
        if q.enabled(item, answers):
            answers[item.id] = q.parse(item, form.get(item.id, "unknown" if not item.required else ""), answers)
    return answers


def fired(screener: Screener, intake: Any) -> set[str]:
    return {f.rule_id for f in screener.screen(intake).findings if f.status == "fired"}


@pytest.mark.parametrize("patient", PATIENTS)
def test_the_form_fires_what_the_card_fired(patient: str, ruleset: Ruleset, q: Questionnaire) -> None:
    """Nothing the chart said is lost on the way to the form (what the form cannot hold is listed instead)."""
    chart = _chart(patient, ruleset)
    assert chart.intake is not None
    screener = Screener(ruleset, engine="plain")
    form_intake = parse_intake(q.build(_walk_rest(q, pf.prefill(chart, ruleset=ruleset, q=q).form())))
    assert fired(screener, form_intake) == fired(screener, chart.intake)


def test_breakage_a_prefill_that_closes_unknown_gates_is_caught(
    ruleset: Ruleset, q: Questionnaire, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A prefill that answers "no" to every first-pass gate the chart says nothing under (a form that would look
    complete and clear) is caught by the check."""
    chart = _chart("pacemaker", ruleset)
    honest = pf.prefill(chart, ruleset=ruleset, q=q)
    assert check_nothing_answered_no(q, honest) == []

    def closing(q_: Questionnaire, values: Any) -> dict[str, Any]:
        gates = fq.gate_answers(q_, values)
        return {g.id: gates.get(g.id, "no") for g in q_.items if g.covers and g.path is None}

    monkeypatch.setattr(pf, "gate_answers", closing)
    broken = pf.prefill(chart, ruleset=ruleset, q=q)
    assert {"today", "bleeding", "body"} <= set(check_nothing_answered_no(q, broken))


def test_breakage_a_prefill_without_the_code_map_loses_a_coded_condition(
    ruleset: Ruleset, q: Questionnaire, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The drug-induced polyneuropathy is only a code in the chart: without the code map the form has no reduced
    sensation, and the form fires less than the card."""
    chart = _chart("cipn-perineural-electrical", ruleset)
    assert chart.intake is not None
    screener = Screener(ruleset, engine="plain")
    card = fired(screener, chart.intake)
    monkeypatch.setattr(type(ruleset.codes), "apply", lambda _self, intake: intake)
    form = pf.prefill(chart, ruleset=ruleset, q=q).form()
    monkeypatch.undo()
    assert "reduced_sensation" not in form
    form_intake = parse_intake(q.build(_walk_rest(q, form)))
    assert fired(screener, form_intake) != card


def test_the_draft_carries_the_answers_the_patient_and_the_chart_note(ruleset: Ruleset, q: Questionnaire) -> None:
    import json

    filled = pf.prefill(_chart("lymphoedema-node-dissection", ruleset), ruleset=ruleset, q=q)
    draft = filled.draft(read_at="2026-12-01T09:00:00+00:00", hook="order-select")
    assert draft["q.lymphedema_where"] == "left upper limb"
    assert draft["r.patient_ref"] == filled.patient
    note = json.loads(draft[pf.CHART_NOTE])
    assert [a["item"] for a in note["answers"]] == [a.item for a in filled.answers]
    assert note["hook"] == "order-select"


def test_the_chart_note_field_is_the_web_forms() -> None:
    drafts = pytest.importorskip("needlescreen.web.drafts", reason="the web extra is not installed")
    assert pf.CHART_NOTE == drafts.CHART_NOTE
