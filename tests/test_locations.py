"""Locations as people write them (issue 14 item 15): where a finding or a device is, typed in everyday words.

"left arm", "L arm", "R leg", "both feet", "right chest", "lower back", "left axilla", "right groin" and the
other forms below are placed by one public function, :meth:`Vocabulary.locate`, which every location question
of the questionnaire goes through (so the terminal, the web form and FHIR read them alike). The expected places
are written here from anatomy, never read from ``rules/vocabulary.yaml``; each check takes a vocabulary, so the
breakage tests at the end run the same check on a deliberately broken copy and show that it fails.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from needlescreen import Screener
from needlescreen.questionnaire import AnswerError, Questionnaire, load_questionnaire
from needlescreen.ruleset import Ruleset, default_rules_dir
from needlescreen.testing import baseline_intake, with_changes
from needlescreen.vocabulary import Vocabulary, VocabularyError

# --- the tables (from anatomy) ----------------------------------------------------------------------------------

#: (typed, the region it is, the side). A limb word is the whole limb: the upper limb runs from the shoulder
#: girdle to the fingers, the lower limb from the hip and buttock to the toes. The groin's lymph nodes lie at the
#: front of the hip joint (the femoral triangle), so a groin is placed at the hip. The shin and the lower leg are
#: the leg between knee and ankle (the calf region); the heel and toes are the foot; the armpit is the axilla.
NAMED = [
    ("left arm", "upper_limb", "left"),
    ("L arm", "upper_limb", "left"),
    ("R leg", "lower_limb", "right"),
    ("both feet", "foot", "both"),
    ("right chest", "chest_wall", "right"),
    ("lower back", "lumbar", None),
    ("left axilla", "axilla", "left"),
    ("right groin", "hip", "right"),
]
MORE = [
    ("Lt arm", "upper_limb", "left"),
    ("arm (left)", "upper_limb", "left"),
    ("arm, right", "upper_limb", "right"),
    ("left upper limb", "upper_limb", "left"),
    ("upper_limb left", "upper_limb", "left"),
    ("rt leg", "lower_limb", "right"),
    ("both legs", "lower_limb", "both"),
    ("bilateral lower limbs", "lower_limb", "both"),
    ("left and right arms", "upper_limb", "both"),
    ("b/l feet", "foot", "both"),
    ("L upper arm", "upper_arm", "left"),
    ("left forearm", "forearm", "left"),
    ("R hand", "hand", "right"),
    ("both hands", "hand", "both"),
    ("right wrist", "wrist", "right"),
    ("left elbow", "elbow", "left"),
    ("left shoulder", "shoulder_girdle", "left"),
    ("right armpit", "axilla", "right"),
    ("left breast", "breast", "left"),
    ("right side of the chest", "chest_wall", "right"),
    ("left sided groin", "hip", "left"),
    ("left inguinal region", "hip", "left"),
    ("left buttock", "gluteal", "left"),
    ("right hip", "hip", "right"),
    ("left thigh", "thigh", "left"),
    ("R knee", "knee", "right"),
    ("both knees", "knee", "both"),
    ("left lower leg", "calf", "left"),
    ("right shin", "calf", "right"),
    ("R ankle", "ankle", "right"),
    ("left heel", "foot", "left"),
    ("right big toe", "foot", "right"),
    ("low back", "lumbar", None),
    ("upper back", "interscapular", None),
    ("tailbone", "sacral", None),
    ("tummy", "abdomen", None),
    ("back of the neck", "posterior_neck", None),
    ("front of the neck", "anterior_neck", None),
    ("left temple", "scalp", "left"),
    ("midline lower back", "lumbar", "midline"),
    # a muscle or an abbreviation is a place too
    ("left gastroc", "calf", "left"),
    ("R UT", "upper_trapezius", "right"),
]

#: (typed, a word that must be among the suggestions): a word that is several places asks which; a misspelling
#: is offered the word it is near, with its side kept so that the suggestion can be taken whole.
REFUSED = [
    ("neck", "back of the neck"),
    ("left neck", "front of the neck"),
    ("back", "lower back"),
    ("back", "upper back"),
    ("left forarm", "left forearm"),
    ("right armpt", "right armpit"),
    ("left hnd", "left hand"),
    ("R kneee", "right knee"),
]
#: (typed, what the message says): refused with no place to suggest.
CONTRADICTIONS = [("midline arm", "midline"), ("left midline chest", "more than one side"), ("left", "name a part")]


@pytest.fixture(scope="module")
def vocabulary(ruleset: Ruleset) -> Vocabulary:
    return ruleset.vocabulary


def _raw() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((default_rules_dir() / "vocabulary.yaml").read_text(encoding="utf-8"))
    return data


# --- checks: each takes a vocabulary ------------------------------------------------------------------------------


def check_locations(vocab: Vocabulary) -> None:
    wrong = []
    for typed, region, side in NAMED + MORE:
        try:
            placed = vocab.locate(typed)
        except VocabularyError as exc:
            wrong.append(f"{typed!r}: refused ({exc})")
            continue
        if (placed.region, placed.side) != (region, side):
            wrong.append(f"{typed!r}: {placed.region} {placed.side}, expected {region} {side}")
    assert not wrong, "\n".join(wrong)


def check_refusals(vocab: Vocabulary) -> None:
    wrong = []
    for typed, offered in REFUSED:
        try:
            placed = vocab.locate(typed)
        except VocabularyError as exc:
            if offered not in exc.suggestions or offered not in str(exc):
                wrong.append(f"{typed!r}: suggests {exc.suggestions}, not {offered!r}")
        else:
            wrong.append(f"{typed!r}: placed at {placed.region}, expected a refusal offering {offered!r}")
    assert not wrong, "\n".join(wrong)


def check_whole_limb(vocab: Vocabulary, ruleset: Ruleset) -> None:
    """A finding recorded as "left arm" concerns the whole left arm, shoulder to fingers, and not the other arm.

    A limb at risk concerns its whole limb whatever part was recorded; an infection "on the left arm" is known no
    more precisely than the arm, so every part of that arm is concerned too (the hand as much as the shoulder).
    """
    screener = Screener(ruleset, engine="plain")
    where = vocab.locate("left arm")
    location = [{"region": where.region, "side": where.side}]
    sites = [
        {"id": "deltoid", "region": "shoulder_girdle", "side": "left"},
        {"id": "hand", "region": "hand", "side": "left"},
        {"id": "forearm", "region": "forearm", "side": "left"},
        {"id": "other", "region": "hand", "side": "right"},
        {"id": "leg", "region": "calf", "side": "left"},
    ]
    expected = {"deltoid": "yes", "hand": "yes", "forearm": "yes", "other": "no", "leg": "no"}
    for kind in ("at_risk_limb", "local_infection"):
        finding = {kind: {"answer": "yes", "locations": location}}
        intake = with_changes(baseline_intake(), {"findings": finding, "plan": {"sites": sites}})
        _, facts = screener.facts(intake)
        assert {site.id: fs.get(f"site.{kind}") for site, fs in facts.sites} == expected, kind


CHECKS: dict[str, Callable[[Vocabulary], None]] = {"locations": check_locations, "refusals": check_refusals}


# --- the bundled vocabulary passes -------------------------------------------------------------------------------


def test_the_tables_hold_the_named_forms_and_thirty_more() -> None:
    assert len(NAMED) == 8 and len(MORE) >= 30
    assert len({t for t, *_ in NAMED + MORE}) == len(NAMED + MORE)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_the_bundled_vocabulary_passes(name: str, vocabulary: Vocabulary) -> None:
    CHECKS[name](vocabulary)


def test_a_limb_word_is_the_whole_limb(vocabulary: Vocabulary, ruleset: Ruleset) -> None:
    check_whole_limb(vocabulary, ruleset)


@pytest.mark.parametrize(("typed", "says"), CONTRADICTIONS)
def test_what_a_location_cannot_be(typed: str, says: str, vocabulary: Vocabulary) -> None:
    with pytest.raises(VocabularyError, match=says):
        vocabulary.locate(typed)


def test_a_region_value_that_is_an_everyday_word_is_offered_its_region(vocabulary: Vocabulary) -> None:
    """In an intake's JSON a region is an id; "arm" is refused there, offering the id it stands for."""
    assert vocabulary.region_suggestions("arm") == ["upper_limb"]
    assert vocabulary.region_suggestions("lower_back") == ["lumbar"]
    # a needle goes into one part of the limb, never "the arm": a site is offered the arm's parts
    assert {"upper_arm", "forearm", "hand"} <= set(vocabulary.region_suggestions("arm", site=True))
    assert "upper_limb" not in vocabulary.region_suggestions("arm", site=True)


# --- the questionnaire: every location question reads through Vocabulary.locate ------------------------------------


@pytest.fixture(scope="module")
def questionnaire(ruleset: Ruleset) -> Questionnaire:
    return load_questionnaire(regions=ruleset.regions, vocabulary=ruleset.vocabulary)


def test_the_answer_refused_before_is_accepted(questionnaire: Questionnaire) -> None:
    """`at_risk_limb_where: 'left arm'` was refused with "unknown body region 'arm'"."""
    item = questionnaire.item("at_risk_limb_where")
    assert questionnaire.parse(item, "left arm", {}) == [{"region": "upper_limb", "side": "left"}]
    assert questionnaire.parse(item, "right groin, L arm", {}) == [
        {"region": "hip", "side": "right"},
        {"region": "upper_limb", "side": "left"},
    ]


def test_every_location_question_goes_through_locate(
    questionnaire: Questionnaire, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    real = Vocabulary.locate

    def spy(self: Vocabulary, text: str) -> Any:
        asked.append(text)
        return real(self, text)

    monkeypatch.setattr(Vocabulary, "locate", spy)
    items = [i for i in questionnaire.items if i.type in ("locations", "devices")]
    assert any(i.type == "devices" for i in items) and len(items) >= 10
    for item in items:
        asked.clear()
        typed = "pacemaker left chest" if item.type == "devices" else "R leg"
        parsed = questionnaire.parse(item, typed, {})
        where = parsed[0]["location"] if item.type == "devices" else parsed[0]
        assert asked and where == (
            {"region": "chest_wall", "side": "left"}
            if item.type == "devices"
            else {
                "region": "lower_limb",
                "side": "right",
            }
        ), item.id


@pytest.mark.parametrize(
    ("typed", "device"),
    [
        ("pacemaker left chest", {"kind": "pacemaker", "location": {"region": "chest_wall", "side": "left"}}),
        ("left chest pacemaker", {"kind": "pacemaker", "location": {"region": "chest_wall", "side": "left"}}),
        ("port_picc in the R arm", {"kind": "port_picc", "location": {"region": "upper_limb", "side": "right"}}),
        ("joint_prosthesis left knee", {"kind": "joint_prosthesis", "location": {"region": "knee", "side": "left"}}),
        ("drug_pump tummy", {"kind": "drug_pump", "location": {"region": "abdomen"}}),
        ("icd", {"kind": "icd"}),
    ],
)
def test_a_device_and_its_place_are_typed_as_said(questionnaire: Questionnaire, typed: str, device: Any) -> None:
    assert questionnaire.parse(questionnaire.item("device_items"), typed, {}) == [device]


def test_a_misspelt_place_is_asked_again_with_suggestions(questionnaire: Questionnaire) -> None:
    item = questionnaire.item("lymphedema_where")
    with pytest.raises(AnswerError, match="did you mean 'left forearm'") as caught:
        questionnaire.parse(item, "left forarm", {})
    assert caught.value.suggestions[0] == "left forearm"
    with pytest.raises(AnswerError) as several:
        questionnaire.parse(item, "neck", {})
    assert {"back of the neck", "front of the neck"} <= set(several.value.suggestions)
    # an implant word of several kinds is offered the kinds, never taken as one
    with pytest.raises(AnswerError) as stimulator:
        questionnaire.parse(questionnaire.item("device_items"), "stimulator", {})
    assert {"neurostimulator", "spinal_cord_stimulator"} <= set(stimulator.value.suggestions)


@pytest.mark.parametrize(
    ("typed", "device"),
    [
        ("port", {"kind": "port_picc"}),
        ("Portacath R upper chest", {"kind": "port_picc", "location": {"region": "infraclavicular", "side": "right"}}),
        ("port-a-cath", {"kind": "port_picc"}),
        ("PICC line left arm", {"kind": "port_picc", "location": {"region": "upper_limb", "side": "left"}}),
        ("left TKR", {"kind": "joint_prosthesis", "location": {"region": "knee", "side": "left"}}),
        ("TKR", {"kind": "joint_prosthesis", "location": {"region": "knee"}}),
        ("R THR", {"kind": "joint_prosthesis", "location": {"region": "hip", "side": "right"}}),
        ("right hip replacement", {"kind": "joint_prosthesis", "location": {"region": "hip", "side": "right"}}),
        ("ICD", {"kind": "icd"}),
        ("AICD left chest", {"kind": "icd", "location": {"region": "chest_wall", "side": "left"}}),
        ("CRT-D", {"kind": "icd"}),
        ("PPM", {"kind": "pacemaker"}),
        ("SCS left buttock", {"kind": "spinal_cord_stimulator", "location": {"region": "gluteal", "side": "left"}}),
        ("VNS", {"kind": "neurostimulator"}),
        ("baclofen pump", {"kind": "drug_pump"}),
        ("intrathecal pump abdomen", {"kind": "drug_pump", "location": {"region": "abdomen"}}),
        ("ORIF right ankle", {"kind": "metal_fixation", "location": {"region": "ankle", "side": "right"}}),
        ("metal plate left forearm", {"kind": "metal_fixation", "location": {"region": "forearm", "side": "left"}}),
        ("TKR right knee", {"kind": "joint_prosthesis", "location": {"region": "knee", "side": "right"}}),
    ],
)
def test_implant_words_as_clinicians_write_them(questionnaire: Questionnaire, typed: str, device: Any) -> None:
    assert questionnaire.parse(questionnaire.item("device_items"), typed, {}) == [device]


@pytest.mark.parametrize("typed", ["insulin pump", "insulin pump left abdomen", "Dexcom sensor"])
def test_a_worn_pump_or_sensor_is_sent_to_its_own_question(questionnaire: Questionnaire, typed: str) -> None:
    with pytest.raises(AnswerError, match="worn on the skin"):
        questionnaire.parse(questionnaire.item("device_items"), typed, {})


def test_a_groin_at_risk_is_the_whole_leg_on_that_side(questionnaire: Questionnaire, ruleset: Ruleset) -> None:
    """After an inguinal node dissection the leg on that side is at risk (its lymph drains to the groin)."""
    where = questionnaire.parse(questionnaire.item("at_risk_limb_where"), "right groin", {})
    finding = {"at_risk_limb": {"answer": "yes", "locations": where}}
    sites = [
        {"id": "foot", "region": "foot", "side": "right"},
        {"id": "thigh", "region": "thigh", "side": "right"},
        {"id": "other", "region": "foot", "side": "left"},
    ]
    intake = with_changes(baseline_intake(), {"findings": finding, "plan": {"sites": sites}})
    _, facts = Screener(ruleset, engine="plain").facts(intake)
    assert {s.id: fs.get("site.at_risk_limb") for s, fs in facts.sites} == {
        "foot": "yes",
        "thigh": "yes",
        "other": "no",
    }


# --- breakage: each check fails on a deliberately broken vocabulary or reader -----------------------------------


def _break_drop_arm(data: dict[str, Any]) -> None:
    del data["words"]["arm"]


def _break_groin_location(data: dict[str, Any]) -> None:
    data["words"]["groin"].pop("location")


def _break_neck_is_the_front(data: dict[str, Any]) -> None:
    data["words"]["neck"] = {"region": "anterior_neck"}


def _break_feet_alias(data: dict[str, Any]) -> None:
    data["words"]["foot"]["aliases"].remove("feet")


@pytest.mark.parametrize(
    ("check", "breakage"),
    [
        ("locations", _break_drop_arm),
        ("locations", _break_groin_location),
        ("locations", _break_feet_alias),
        ("refusals", _break_neck_is_the_front),
    ],
)
def test_breakage_each_check_fails_on_a_broken_vocabulary(
    check: str, breakage: Callable[[dict[str, Any]], None], ruleset: Ruleset
) -> None:
    data = copy.deepcopy(_raw())
    breakage(data)
    broken = Vocabulary.from_data(data, ruleset.regions)
    with pytest.raises(AssertionError):
        CHECKS[check](broken)


def test_breakage_side_words_read_only_at_the_ends_miss_both_and_bilateral(
    vocabulary: Vocabulary, monkeypatch: pytest.MonkeyPatch
) -> None:
    from needlescreen import vocabulary as module

    monkeypatch.setattr(module, "_LOCATION_SIDES", dict(module._SIDES))
    with pytest.raises(AssertionError):
        check_locations(vocabulary)


def test_breakage_the_limb_check_fails_when_a_limb_word_places_one_segment(
    vocabulary: Vocabulary, ruleset: Ruleset, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Vocabulary.locate

    def upper_arm_only(self: Vocabulary, text: str) -> Any:
        placed = real(self, text)
        return type(placed)("upper_arm", placed.side, placed.term) if placed.region == "upper_limb" else placed

    monkeypatch.setattr(Vocabulary, "locate", upper_arm_only)
    with pytest.raises(AssertionError):
        check_whole_limb(vocabulary, ruleset)
