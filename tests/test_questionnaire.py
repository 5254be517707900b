"""The questionnaire definition: it loads strictly, every fact a rule reads is reachable by some question, every
intake field is asked (or deliberately not), and any walk through it yields a valid intake."""

from __future__ import annotations

import copy
import fnmatch
import json
import random
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml

from needlescreen import Screener, parse_intake
from needlescreen.errors import RuleFileError
from needlescreen.facts import ALWAYS_KNOWN, Facts
from needlescreen.intake import DeviceKind
from needlescreen.questionnaire import (
    AnswerError,
    EnableWhen,
    Item,
    Questionnaire,
    intake_leaf_paths,
    load_questionnaire,
)
from needlescreen.ruleset import Ruleset, default_rules_dir
from needlescreen.testing import baseline_intake

QFILE = default_rules_dir() / "questionnaire.yaml"


@pytest.fixture(scope="module")
def questionnaire(ruleset: Ruleset) -> Questionnaire:
    return load_questionnaire(regions=ruleset.regions)


@pytest.fixture(scope="module")
def plain(ruleset: Ruleset) -> Screener:
    return Screener(ruleset, engine="plain")


def _medication_names() -> list[str]:
    data = yaml.safe_load((default_rules_dir() / "medications.yaml").read_text(encoding="utf-8"))
    return [spec["names"][0] for spec in data["classes"].values() if spec.get("names")]


def sample_texts(item: Item) -> list[str]:
    """Typed answers that cover each kind of answer an item takes, unknown included."""
    unknown = [] if item.required else ["unknown"]
    if item.type == "answer":
        return ["yes", "no", *unknown]
    if item.type == "choice":
        return [o.value for o in item.options] + unknown
    if item.type == "number":
        assert item.min is not None and item.max is not None
        return [f"{item.min:g}", f"{item.max:g}", f"{(item.min + item.max) / 2:g}", *unknown]
    if item.type == "drugs":
        return [*_medication_names(), "none", "Mystery Tonic", *unknown]
    if item.type == "locations":
        return ["right calf", "calf", "left upper_limb", "both lower_limb", "left chest_wall", "body", *unknown]
    if item.type == "devices":
        kinds = list(get_args(DeviceKind))
        return kinds + [f"{k} right calf" for k in kinds] + [f"{k} left chest_wall" for k in kinds] + unknown
    if item.type == "sites":
        return [
            "left calf 30mm",
            "right calf (soleus) 60mm",
            "left chest_wall",
            "lumbar",
            "right calf, left calf",
            "right tibial nerve",
        ]
    if item.type == "circuits":
        return ["1-2", *unknown]
    raise AssertionError(item.type)


def _set(intake: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = intake
    for part in parents:
        node = node.setdefault(part, {})
        if node is None:
            raise AssertionError(path)
    node[leaf] = value


def _unset(intake: dict[str, Any], path: str) -> None:
    *parents, leaf = path.split(".")
    node: Any = intake
    for part in parents:
        node = node.get(part)
        if not isinstance(node, dict):
            return
    node.pop(leaf, None)


def _apply(q: Questionnaire, intake: dict[str, Any], item: Item, value: Any) -> None:
    if item.path is None:
        return
    if value is None:
        written = "unknown" if item.type == "answer" else item.unknown_value
        if written is None:
            _unset(intake, item.path)
        else:
            _set(intake, item.path, written)
    else:
        _set(intake, item.path, copy.deepcopy(value))


def _enable(q: Questionnaire, intake: dict[str, Any], answers: dict[str, Any], item: Item) -> None:
    """Answer the earlier items so that ``item`` is asked (one satisfying choice per gate)."""
    conds: list[EnableWhen] = list(item.enable_when)
    if item.enable_behavior == "any":
        conds = conds[:1]
    for cond in conds:
        ref = q.item(cond.question)
        _enable(q, intake, answers, ref)
        if cond.operator == "exists":
            value = q.parse(ref, sample_texts(ref)[0], answers) if cond.answer else None
        elif cond.operator == "!=":
            value = None
        elif cond.operator == "<":
            value = float(cond.answer) - 1
        elif cond.operator == ">":
            value = float(cond.answer) + 1
        else:
            value = cond.answer
        answers[ref.id] = value
        _apply(q, intake, ref, value)
    assert q.enabled(item, answers), f"could not enable {item.id}"


def _fact_pairs(facts: Facts) -> set[tuple[str, str]]:
    sets = [facts.patient, *(fs for _, fs in facts.sites), *(fs for _, fs in facts.circuits)]
    return {(name, repr(value)) for fs in sets for name, value in fs.items()}


#: A second starting plan: electrical stimulation beside the right tibial nerve (perineural), so that questions
#: whose facts only matter for a stimulated nerve (reduced sensation in its territory) can show they reach them.
PERINEURAL_PLAN = {
    "technique": "electrical",
    "sites": [{"id": "s1", "nerve": "tibial", "technique": "perineural", "side": "right"}],
}


#: A third: a lead pair in the right leg of a patient on day 10 of a chemotherapy cycle, so that facts two answers
#: make together (a count's cycle day; a DVT's weeks on a current path) show they are reached.
CHEMO_CIRCUIT_PLAN = {
    "technique": "electrical",
    "sites": [{"id": "s1", "region": "calf", "side": "right"}, {"id": "s2", "region": "ankle", "side": "right"}],
    "circuits": [["s1", "s2"]],
}


def _baselines() -> list[dict[str, Any]]:
    perineural = baseline_intake()
    perineural["plan"] = copy.deepcopy(PERINEURAL_PLAN)
    chemo = baseline_intake()
    chemo["patient"].update(active_chemotherapy="yes", chemo_cycle_day=10.0)
    chemo["plan"] = copy.deepcopy(CHEMO_CIRCUIT_PLAN)
    return [baseline_intake(), perineural, chemo]


#: Plan questions are not re-answered from the wired start (manual needling with its lead pairs is invalid).
_PLAN_ITEMS = frozenset({"technique", "sites", "circuits"})


def _reached(q: Questionnaire, plain: Screener) -> dict[str, set[str]]:
    """Black box: for each question and each kind of answer, which facts change from a baseline."""
    reached: dict[str, set[str]] = {}
    for start in _baselines():
        skip = _PLAN_ITEMS if start["plan"].get("circuits") else frozenset()
        for name, items in _reached_from(q, plain, start, skip).items():
            reached.setdefault(name, set()).update(items)
    return reached


def _reached_from(
    q: Questionnaire, plain: Screener, start: dict[str, Any], skip: frozenset[str] = frozenset()
) -> dict[str, set[str]]:
    base = _fact_pairs(plain.facts(start)[1])
    reached: dict[str, set[str]] = {}
    for item in q.items:
        if item.id in skip:
            continue
        for text in sample_texts(item):
            intake = copy.deepcopy(start)
            answers: dict[str, Any] = {}
            _enable(q, intake, answers, item)
            # Follow-ups opened by the same answer are answered too (the surgery's place, then its timing).
            for sibling in q.items[: q.items.index(item)]:
                if sibling.enable_when and sibling.enable_when == item.enable_when:
                    answers[sibling.id] = q.parse(sibling, sample_texts(sibling)[0], answers)
                    _apply(q, intake, sibling, answers[sibling.id])
            if item.type == "circuits":
                sites = q.item("sites")
                answers["sites"] = q.parse(sites, "right calf, right ankle", answers)
                _apply(q, intake, sites, answers["sites"])
            value = q.parse(item, text, answers)
            _apply(q, intake, item, value)
            try:
                facts = plain.facts(intake)[1]
            except ValueError as exc:
                raise AssertionError(f"question {item.id!r} answered {text!r} gives an invalid intake: {exc}") from None
            for name, _ in _fact_pairs(facts) ^ base:
                reached.setdefault(name, set()).add(item.id)
    return reached


#: Facts only a coded diagnosis sets (the intake's ``conditions``, not asked: they come from the chart), each with
#: a code that sets it.
_CODED_ONLY = {"patient.unrecognised_conditions": "K21.9"}


def test_every_fact_a_rule_reads_is_reachable_by_a_question(questionnaire: Questionnaire, plain: Screener) -> None:
    reached = _reached(questionnaire, plain)
    read = {name for rule in plain.ruleset.rules for name in rule.reads}
    for fact, code in _CODED_ONLY.items():  # reached from the chart instead, and shown to be
        start = copy.deepcopy(_baselines()[0])
        assert fact not in plain.facts(start)[1].patient
        start["conditions"] = [{"system": "ICD-10-CM", "code": code}]
        assert fact in plain.facts(start)[1].patient, fact
    unreachable = sorted(read - ALWAYS_KNOWN - set(reached) - set(_CODED_ONLY))
    assert not unreachable, f"no question reaches these facts (add questions to {QFILE.name}): {unreachable}"


def test_every_intake_field_is_asked_or_deliberately_not(questionnaire: Questionnaire) -> None:
    asked = {item.path for item in questionnaire.items if item.path}
    skipped = [n.path for n in questionnaire.not_asked]
    missing = [p for p in intake_leaf_paths() if p not in asked and not any(fnmatch.fnmatchcase(p, s) for s in skipped)]
    assert not missing, f"intake fields without a question (add one, or list them under not_asked): {missing}"


def test_random_walks_give_valid_intakes(questionnaire: Questionnaire, plain: Screener) -> None:
    rng = random.Random(20261121)
    for _ in range(80):
        answers: dict[str, Any] = {}
        for item in questionnaire.items:
            if questionnaire.enabled(item, answers):
                texts = sample_texts(item)
                if item.type == "circuits":
                    n = len(answers["sites"])
                    texts = ["1-2", "unknown"] if n >= 2 else ["unknown"]
                answers[item.id] = questionnaire.parse(item, rng.choice(texts), answers)
        result = plain.screen(parse_intake(questionnaire.build(answers)))
        assert result.verdict in ("clear", "caution", "refer")


def test_follow_ups_open_only_when_an_answer_opens_them(questionnaire: Questionnaire) -> None:
    q = questionnaire
    assert not q.enabled(q.item("gestational_weeks"), {"pregnancy": "not_pregnant"})
    assert not q.enabled(q.item("gestational_weeks"), {"pregnancy": None})
    assert q.enabled(q.item("gestational_weeks"), {"pregnancy": "pregnant"})
    assert not q.enabled(q.item("pregnancy"), {"sex": "male"})
    assert q.enabled(q.item("pregnancy"), {"sex": None}), "an unknown sex must still ask about pregnancy"
    # An INR is asked of everyone the bleeding question opens, blood thinner or not: a raised INR with no
    # anticoagulant listed is a reason of its own.
    assert q.enabled(q.item("inr"), {"bleeding": "yes", "vka": "no"})
    assert q.enabled(q.item("inr"), {"bleeding": "yes", "vka": None})
    assert not q.enabled(q.item("inr"), {"bleeding": "no"})
    assert q.enabled(q.item("inr_age_days"), {"bleeding": "yes", "vka": "no", "inr": 2.5})
    assert not q.enabled(q.item("inr_age_days"), {"bleeding": "yes", "vka": "yes", "inr": None})
    assert q.enabled(q.item("inr_target_high"), {"bleeding": "yes", "vka": "yes", "inr": 2.5})
    assert not q.enabled(q.item("inr_target_high"), {"bleeding": "yes", "vka": "no", "inr": 2.5})
    # A stale answer behind a closed gate opens nothing (FHIR: a disabled question has no answer).
    assert not q.enabled(q.item("inr_target_high"), {"bleeding": "no", "vka": "yes", "inr": 2.5})
    assert not q.enabled(q.item("dvt_where"), {"body": "yes", "lymph_veins": "no", "dvt": "yes"})
    assert q.enabled(q.item("dvt_where"), {"body": "yes", "lymph_veins": "yes", "dvt": "yes"})
    assert q.enabled(q.item("guardian_consent"), {"age": 15.0})
    assert q.enabled(q.item("guardian_consent"), {"age": None}), "an unknown age must ask for the guardian"
    assert not q.enabled(q.item("guardian_consent"), {"age": 40.0})
    assert not q.enabled(q.item("circuits"), {"technique": "dry_needling"})
    # Pacemaker dependence matters only for electrical needling (PACEMAKER_DEPENDENT_ES), and only with an implant.
    implant = {"implants_or_worn": "yes", "devices": "yes"}
    assert q.enabled(q.item("pacemaker_dependent"), {"technique": "electrical", **implant})
    assert not q.enabled(q.item("pacemaker_dependent"), {"technique": "dry_needling", **implant})
    assert not q.enabled(q.item("pacemaker_dependent"), {"technique": "electrical", **implant, "devices": "no"})


def test_a_gated_off_answer_is_not_written(questionnaire: Questionnaire) -> None:
    q = questionnaire
    answers = {
        "technique": "dry_needling",
        "sites": q.parse(q.item("sites"), "right calf", {}),
        "pregnancy": "not_pregnant",
        "gestational_weeks": 20.0,  # stale: the status no longer opens it
    }
    intake = q.build(answers)
    assert "gestational_weeks" not in intake["patient"]["pregnancy"]
    parse_intake(intake)


@pytest.mark.parametrize(
    ("item_id", "text", "message"),
    [
        ("sites", "calff right", "did you mean calf"),
        ("sites", "calf", "say left or right"),
        ("sites", "upper_limb left", "grouping"),
        ("sites", "", "needs an answer"),
        ("technique", "laser", "one of: dry_needling, electrical"),
        ("age", "forty", "a number"),
        ("age", "200", "outside 0-130"),
        ("consent", "maybe", "yes, no or unknown"),
        ("device_items", "toaster", "unknown implant"),
        ("lymphedema_where", "left right arm", "one side"),
    ],
)
def test_answers_that_do_not_fit_say_what_would(
    questionnaire: Questionnaire, item_id: str, text: str, message: str
) -> None:
    with pytest.raises(AnswerError, match=message):
        questionnaire.parse(questionnaire.item(item_id), text, {})


def test_unknown_is_accepted_wherever_an_answer_is_optional(questionnaire: Questionnaire) -> None:
    for item in questionnaire.items:
        if not item.required:
            for word in ("", "?", "unknown", "Unknown"):
                assert questionnaire.parse(item, word, {}) is None, item.id


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "questionnaire.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _at(data: dict[str, Any], item_id: str) -> int:
    return next(i for i, item in enumerate(data["items"]) if item["id"] == item_id)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (lambda d: d["items"][_at(d, "age")].update(colour="red"), "(age).colour", "Extra inputs"),
        (lambda d: d["items"][_at(d, "age")].update(path="patient.agee"), "(age).path", "did you mean 'patient.age'"),
        (lambda d: d["items"][_at(d, "age")].update(type="essay"), "(age).type", "Input should be"),
        (
            lambda d: d["items"][_at(d, "circuits")]["enable_when"][0].update(question="later"),
            "(circuits).enable_when[0].question",
            "not an earlier item",
        ),
        (
            lambda d: d["items"][_at(d, "circuits")]["enable_when"][0].update(answer="laser"),
            "(circuits).enable_when[0].answer",
            "not an answer of 'technique'",
        ),
        (lambda d: d["items"].append(dict(d["items"][_at(d, "age")])), "(age).id", "duplicate item id"),
        (lambda d: d.update(schema="needlescreen.questionnaire/9"), "schema", "String should match"),
    ],
)
def test_a_malformed_questionnaire_names_file_item_and_field(
    tmp_path: Path, ruleset: Ruleset, change: Any, field: str, message: str
) -> None:
    data = yaml.safe_load(QFILE.read_text(encoding="utf-8"))
    change(data)
    path = _write(tmp_path, data)
    with pytest.raises(RuleFileError, match=message) as info:
        load_questionnaire(path, regions=ruleset.regions)
    assert info.value.file == str(path)
    assert info.value.field is not None and field in info.value.field


def test_unquoted_yes_in_a_gate_is_caught(tmp_path: Path, ruleset: Ruleset) -> None:
    data = yaml.safe_load(QFILE.read_text(encoding="utf-8"))
    for item in data["items"]:
        if item["id"] == "temperature":
            item["enable_when"][0]["answer"] = True  # what `answer: yes` becomes in YAML
    with pytest.raises(RuleFileError, match="quote yes and no"):
        load_questionnaire(_write(tmp_path, data), regions=ruleset.regions)


# --- every answer lands in the saved intake -------------------------------------------------------------------


def _saved(q: Questionnaire, answers: dict[str, Any]) -> dict[str, Any]:
    """What ``needlescreen ask --save-intake`` writes for these answers."""
    saved: dict[str, Any] = parse_intake(q.build(answers)).model_dump(mode="json", exclude_none=True)
    return saved


def _enabled_answers(q: Questionnaire, item: Item) -> dict[str, Any]:
    answers: dict[str, Any] = {"technique": "dry_needling", "sites": q.parse(q.item("sites"), "right calf", {})}
    _enable(q, baseline_intake(), answers, item)
    if item.type == "circuits":
        answers["technique"] = "electrical"
        answers["sites"] = q.parse(q.item("sites"), "right calf, right ankle", answers)
    return answers


def test_every_question_changes_the_saved_intake(questionnaire: Questionnaire) -> None:
    """Each question, answered, is saved: its answers give different saved intakes, and a known answer differs
    from "unknown". A question whose answer lands nowhere fails here (the blood thinner that needs INR checks
    once did, so a warfarin answer was lost)."""
    q = questionnaire
    for item in q.items:
        answers = _enabled_answers(q, item)
        saved: dict[str, list[str]] = {}
        for text in sample_texts(item):
            value = q.parse(item, text, answers)
            key = json.dumps(_saved(q, {**answers, item.id: value}), sort_keys=True)
            saved.setdefault(key, []).append(text)
        assert len(saved) >= 2, f"{item.id}: every answer gives the same saved intake"
        if item.type in ("answer", "choice"):
            # A gate's "yes" only opens its follow-ups: until they are answered it saves what "unknown" saves.
            clash = [texts for texts in saved.values() if len(texts) > 1 and not (item.covers and "no" not in texts)]
            assert not clash, f"{item.id}: different answers saved alike: {clash}"
        if not item.required:
            unknown = json.dumps(_saved(q, {**answers, item.id: None}), sort_keys=True)
            known = [t for t in sample_texts(item) if q.parse(item, t, answers) is not None]
            landed = [
                t
                for t in known
                if json.dumps(_saved(q, {**answers, item.id: q.parse(item, t, answers)}), sort_keys=True) != unknown
            ]
            # "none" for the medication list is an empty list, as unknown is; the completeness question differs.
            # A gate's "yes" is saved by the follow-ups it opens (above).
            assert set(known) - set(landed) <= {"none", *(["yes"] if item.covers else [])}, (
                f"{item.id}: answers saved as if unknown: {set(known) - set(landed)}"
            )


def test_the_intake_holds_every_answer_the_questions_ask(questionnaire: Questionnaire) -> None:
    """Every answer lands: in its own field, or (a gate) as the answers of the items it covers."""
    asked_nowhere = [item.id for item in questionnaire.items if item.path is None and not item.covers]
    assert not asked_nowhere, f"questions whose answer is saved nowhere: {asked_nowhere}"


def test_ask_no_medications_then_warfarin_with_a_high_inr_refers_and_saves_the_answer(tmp_path: Path) -> None:
    """The issue's case: "no medications, list complete", then yes to a blood thinner that needs INR checks and an
    INR of 4.5 above a target of 3. It screened clear and the warfarin answer was saved nowhere."""
    from .test_cli import answer_lines, run

    lines = answer_lines(
        medications="none", medications_complete="yes", bleeding="yes", vka="yes", inr="4.5", inr_target_high="3"
    )
    proc = run("ask", "--save-intake", "intake.json", "--format", "json", stdin="\n".join(lines) + "\n", cwd=tmp_path)
    assert proc.returncode == 20, proc.stderr
    result = json.loads(proc.stdout)
    fired = {f["rule_id"]: f for f in result["findings"] if f["status"] == "fired"}
    assert fired["ANTICOAG_VKA_HIGH"]["verdict"] == "refer"
    assert "medications: none (list complete)" in fired["INCONSISTENT_ANSWERS"]["detail"]
    saved = json.loads((tmp_path / "intake.json").read_text(encoding="utf-8"))
    assert saved["medications"] == {"complete": "yes", "items": [], "vka": "yes"}
    assert saved["labs"]["inr"]["value"] == 4.5 and saved["labs"]["inr"]["target_high"] == 3.0


#: Sites as a physiotherapist types them at the table, and what each becomes (written from the vocabulary's
#: meaning, not read from it).
TYPED_SITES = [
    ("L gastroc", {"muscle": "L gastroc", "side": "left"}),
    ("right UT 20mm", {"muscle": "UT", "side": "right", "depth_mm": 20.0}),
    ("lower back", {"muscle": "lower back"}),
    ("left calf (soleus)", {"region": "calf", "side": "left", "muscle": "soleus"}),
    ("left tibial nerve", {"nerve": "tibial", "technique": "perineural", "side": "left"}),
]


@pytest.mark.parametrize(("typed", "site"), TYPED_SITES)
def test_a_site_is_typed_as_a_clinician_says_it(ruleset: Ruleset, typed: str, site: dict[str, Any]) -> None:
    q = load_questionnaire(regions=ruleset.regions, vocabulary=ruleset.vocabulary)
    assert q.parse(q.item("sites"), typed, {}) == [{"id": "s1", **site}]


@pytest.mark.parametrize(
    ("typed", "says"),
    [("gastrocnemus left", "did you mean 'gastrocnemius'"), ("gastroc", "say left or right"), ("ITB", "ITB")],
)
def test_a_mistyped_site_is_asked_again_with_a_suggestion(ruleset: Ruleset, typed: str, says: str) -> None:
    q = load_questionnaire(regions=ruleset.regions, vocabulary=ruleset.vocabulary)
    with pytest.raises(AnswerError, match=says):
        q.parse(q.item("sites"), typed, {})
