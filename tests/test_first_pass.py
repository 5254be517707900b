"""The questionnaire's short first pass (PAR-Q+ style): plain screening questions whose "yes" opens follow-ups.

A healthy patient answers about 15 questions; a first pass of all "no" builds exactly the baseline patient (the
fully answered healthy patient, clear); a screening question left unknown never screens clear; and the loader
refuses a gate that could not say "no" for what it covers. Each check is also run against a deliberately broken
questionnaire (code or data) and must fail there.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from needlescreen import RuleFileError, Screener, parse_intake
from needlescreen.questionnaire import Item, Questionnaire, load_questionnaire
from needlescreen.ruleset import Ruleset, default_rules_dir
from needlescreen.testing import baseline_intake

QFILE = default_rules_dir() / "questionnaire.yaml"
#: "About 15 answers" for a healthy patient (issue 16 acceptance): the plan, who the patient is, consent, the
#: BMI, the medication list and the screening questions.
MOST = 15

#: What a healthy 40-year-old woman's clinician types (the baseline patient); every other question asked: "no".
HEALTHY = {
    "technique": "dry_needling",
    "sites": "right calf",
    "age": "40",
    "sex": "female",
    "pregnancy": "not_pregnant",
    "consent": "yes",
    "bmi": "23",
    "medications": "none",
    "medications_complete": "yes",
}


@pytest.fixture(scope="module")
def questionnaire(ruleset: Ruleset) -> Questionnaire:
    return load_questionnaire(regions=ruleset.regions)


@pytest.fixture(scope="module")
def plain(ruleset: Ruleset) -> Screener:
    return Screener(ruleset, engine="plain")


def walk(q: Questionnaire, typed: dict[str, str], default: Callable[[Item], str] | None = None) -> dict[str, Any]:
    """Answer every question that is asked, in order, as a clinician would: ``typed``, else "no" to a yes/no
    question (``default`` may say otherwise) and "unknown" to anything else."""
    answers: dict[str, Any] = {}
    for item in q.items:
        if q.enabled(item, answers):
            text = typed.get(item.id)
            if text is None:
                text = default(item) if default else ("no" if item.type == "answer" else "unknown")
            answers[item.id] = q.parse(item, text, answers)
    return answers


def gates(q: Questionnaire) -> list[Item]:
    return [item for item in q.items if item.covers]


def _opening(q: Questionnaire, gate: Item) -> dict[str, str]:
    """The answers that ask ``gate`` (its parent gates "yes"), with every other screening question "no"."""
    typed = dict(HEALTHY)
    parent = next((g for g in gates(q) if gate.id in g.covers), None)
    while parent is not None:
        typed[parent.id] = "yes"
        parent = next((g for g in gates(q) if parent is not None and parent.id in g.covers), None)
    return typed


# --- checks -----------------------------------------------------------------------------------------------------


def check_a_healthy_patient_answers_about_15_questions(q: Questionnaire) -> None:
    for sex, pregnancy in (("female", "not_pregnant"), ("male", None)):
        typed = {**HEALTHY, "sex": sex}
        if pregnancy is None:
            typed.pop("pregnancy")
        asked = walk(q, typed)
        assert len(asked) <= MOST, f"a healthy {sex} patient answers {len(asked)} questions: {list(asked)}"


def check_a_first_pass_of_no_is_the_baseline_patient(q: Questionnaire, plain: Screener) -> None:
    built = q.build(walk(q, HEALTHY))
    assert parse_intake(built) == parse_intake(baseline_intake()), built
    assert plain.screen(built).verdict == "clear"


def check_an_unknown_screening_question_never_screens_clear(q: Questionnaire, plain: Screener) -> None:
    """Each screening question left unknown (the others "no"): nothing it covers is recorded, and the verdict
    is not clear; the result asks what is missing."""
    for gate in gates(q):
        typed = {**_opening(q, gate), gate.id: "unknown"}
        answers = walk(q, typed)
        assert gate.id in answers and answers[gate.id] is None, gate.id
        built = parse_intake(q.build(answers)).model_dump(mode="json")
        result = plain.screen(built)
        assert result.verdict != "clear", gate.id
        assert result.missing, gate.id
        for covered_id in gate.covers:
            covered = q.item(covered_id)
            if covered.path and not covered.covers:
                node: Any = built
                for part in covered.path.split("."):
                    node = node.get(part) if isinstance(node, dict) else None
                assert node in (None, "unknown"), (gate.id, covered.path, node)


def check_a_gate_answered_yes_asks_each_item_it_covers(q: Questionnaire) -> None:
    for gate in gates(q):
        answers = walk(q, {**_opening(q, gate), gate.id: "yes"}, default=lambda _item: "unknown")
        for covered_id in gate.covers:
            covered = q.item(covered_id)
            own = [c for c in covered.enable_when if c.question != gate.id]
            if not own:
                assert covered_id in answers, (gate.id, covered_id)
        closed = walk(q, {**_opening(q, gate), gate.id: "no"})
        assert not set(gate.covers) & set(closed), (gate.id, set(gate.covers) & set(closed))


# --- tests --------------------------------------------------------------------------------------------------------


def test_a_healthy_patient_answers_about_15_questions(questionnaire: Questionnaire) -> None:
    check_a_healthy_patient_answers_about_15_questions(questionnaire)


def test_a_first_pass_of_no_is_the_baseline_patient(questionnaire: Questionnaire, plain: Screener) -> None:
    check_a_first_pass_of_no_is_the_baseline_patient(questionnaire, plain)


def test_an_unknown_screening_question_never_screens_clear(questionnaire: Questionnaire, plain: Screener) -> None:
    check_an_unknown_screening_question_never_screens_clear(questionnaire, plain)


def test_a_gate_answered_yes_asks_each_item_it_covers(questionnaire: Questionnaire) -> None:
    check_a_gate_answered_yes_asks_each_item_it_covers(questionnaire)


def test_covered_items_are_gated_as_ordinary_enable_when(questionnaire: Questionnaire) -> None:
    """Every front end (ask, the web form, a FHIR Questionnaire's enableWhen) gates a covered item alike."""
    for gate in gates(questionnaire):
        for covered_id in gate.covers:
            conditions = questionnaire.item(covered_id).enable_when
            assert any(c.question == gate.id and c.operator == "=" and c.answer == "yes" for c in conditions)
            assert questionnaire.item(covered_id).enable_behavior == "all"


def test_every_screening_question_is_asked_of_everyone(questionnaire: Questionnaire) -> None:
    top = [g for g in gates(questionnaire) if not g.enable_when]
    assert len(top) >= 5, [g.id for g in top]
    asked = walk(questionnaire, HEALTHY)
    assert all(g.id in asked for g in top)


def test_a_stale_answer_behind_a_closed_gate_is_not_saved(questionnaire: Questionnaire) -> None:
    """A follow-up answered "yes" and then its gate changed to "no": the gate's "no" is saved, not the stale answer,
    nor the stale answer's own follow-up (a place given under a "no" would be an invalid intake)."""
    answers = walk(
        questionnaire, {**HEALTHY, "body": "yes", "lymph_veins": "yes", "dvt": "yes", "dvt_where": "left calf"}
    )
    answers["lymph_veins"] = "no"
    built = questionnaire.build(answers)
    assert built["findings"]["dvt"] == {"answer": "no"}
    parse_intake(built)


# --- the loader refuses a gate that cannot say "no" ----------------------------------------------------------------


def _data() -> dict[str, Any]:
    data = yaml.safe_load(QFILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _item(data: dict[str, Any], item_id: str) -> dict[str, Any]:
    return next(i for i in data["items"] if i["id"] == item_id)


def _cover(gate: str, item_id: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        _item(data, gate)["covers"].append(item_id)

    return change


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (_cover("body", "recent_surgery_weeks"), "(recent_surgery_weeks).type", "has no 'no' answer to record"),
        (_cover("implants_or_worn", "device_items"), "(device_items).type", "has no 'no' answer to record"),
        (lambda d: _item(d, "diabetes").pop("no_value"), "(diabetes).no_value", "has no no_value"),
        (lambda d: _item(d, "diabetes").update(no_value="absent"), "(diabetes).no_value", "not an answer of"),
        (lambda d: _item(d, "age").update(no_value="no"), "(age).no_value", "only for an item a gate covers"),
        (_cover("body", "consent"), "(body).covers", "not a later item"),
        (_cover("lymph_veins", "skin_disease"), "(skin).covers", "already covered by 'lymph_veins'"),
        (_cover("body", "fever_typo"), "(body).covers", "not an item"),
        (
            lambda d: _item(d, "today").update(type="choice", options=[{"value": "a", "label": "a"}]),
            "(today).type",
            "a gate",
        ),
        (lambda d: _item(d, "metabolic").update(no_value="yes"), "(metabolic).no_value", "records 'no'"),
        (lambda d: _item(d, "body").pop("covers"), "(body).path", "saved nowhere"),
    ],
)
def test_a_gate_that_cannot_say_no_is_refused(
    tmp_path: Path, ruleset: Ruleset, change: Callable[[dict[str, Any]], None], field: str, message: str
) -> None:
    data = _data()
    change(data)
    path = tmp_path / "questionnaire.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(RuleFileError, match=message) as info:
        load_questionnaire(path, regions=ruleset.regions)
    assert info.value.file == str(path)
    assert info.value.field is not None and field in info.value.field, info.value.field


def test_a_covered_required_question_is_refused(tmp_path: Path, ruleset: Ruleset) -> None:
    data = _data()
    data["items"].insert(
        1, {"id": "plan_gate", "text": "Anything about the plan?", "type": "answer", "covers": ["sites"]}
    )
    path = tmp_path / "questionnaire.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(RuleFileError, match="required question cannot be covered"):
        load_questionnaire(path, regions=ruleset.regions)


def test_a_covered_item_opened_by_any_of_its_conditions_is_refused(tmp_path: Path, ruleset: Ruleset) -> None:
    data = _data()
    _item(data, "lymph_veins")["covers"].append("varicose_veins_where")
    _item(data, "lymph_veins")["covers"].remove("varicose_veins")
    path = tmp_path / "questionnaire.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(RuleFileError):
        load_questionnaire(path, regions=ruleset.regions)
    data = _data()
    platelets = _item(data, "platelets")
    platelets.update(type="answer")
    for key in ("min", "max"):
        platelets.pop(key)
    _item(data, "bleeding")["covers"].append("platelets")
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(RuleFileError, match="enable_behavior: all"):
        load_questionnaire(path, regions=ruleset.regions)


# --- breakage: each check fails on a broken questionnaire ------------------------------------------------------------


class _RecordsNoForUnknown(Questionnaire):
    """A build that reads an unknown screening question as "no": unknown would silently become clear."""

    def build(self, answers: Any) -> dict[str, Any]:
        return super().build({k: ("no" if v is None and self.item(k).covers else v) for k, v in answers.items()})


class _AsksEverything(Questionnaire):
    """Gating ignored: every question is asked, as before the first pass."""

    def enabled(self, item: Item, answers: Any) -> bool:  # noqa: ARG002 - deliberately ignored
        return True


def _reload(cls: type[Questionnaire], q: Questionnaire) -> Questionnaire:
    broken = cls.__new__(cls)
    broken.__dict__.update(q.__dict__)
    return broken


def test_breakage_the_unknown_check_fails_when_unknown_reads_as_no(
    questionnaire: Questionnaire, plain: Screener
) -> None:
    with pytest.raises(AssertionError):
        check_an_unknown_screening_question_never_screens_clear(_reload(_RecordsNoForUnknown, questionnaire), plain)


def test_breakage_the_count_fails_without_gating(questionnaire: Questionnaire) -> None:
    with pytest.raises((AssertionError, ValueError)):
        check_a_healthy_patient_answers_about_15_questions(_reload(_AsksEverything, questionnaire))


def test_breakage_the_baseline_check_fails_on_a_wrong_no_value(
    tmp_path: Path, ruleset: Ruleset, plain: Screener
) -> None:
    """A gate whose "no" records the wrong value for a protective question (cannot keep still) is caught."""
    data = _data()
    _item(data, "can_keep_still").pop("no_value")
    path = tmp_path / "questionnaire.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    broken = load_questionnaire(path, regions=ruleset.regions)
    with pytest.raises(AssertionError):
        check_a_first_pass_of_no_is_the_baseline_patient(broken, plain)


def test_breakage_the_gate_check_fails_when_a_closed_gate_still_asks(questionnaire: Questionnaire) -> None:
    with pytest.raises(AssertionError):
        check_a_gate_answered_yes_asks_each_item_it_covers(_reload(_AsksEverything, questionnaire))
