"""Clinical round 3 (issue 14) against tables written here from the reference and anatomy.

Every expectation is a table in this file (clinical-reference.md sections 1, 7 and 8; standard anatomy), never
read from ``rules/``: a rule or body model that was wrong would otherwise agree with itself. Each ``check_*``
screens on every engine that loads here (they must agree) and is run again at the bottom of this file against a
deliberately broken rule file, body model or engine, where it must fail.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from needlescreen import Screener, load_ruleset
from needlescreen.body import BodyModel
from needlescreen.engine import available_engines
from needlescreen.result import ScreeningResult
from needlescreen.ruleset import Ruleset, default_rules_dir
from needlescreen.testing import baseline_intake, comparable, with_changes

Screen = Callable[[dict[str, Any]], ScreeningResult]
RANK = {"clear": 0, "caution": 1, "refer": 2}

# --- clinical tables ------------------------------------------------------------------------------------------

Place = tuple[str, str | None]

#: Reference section 7 "Devices" and section 8 "Manual needle over any implanted device": where each implanted
#: kind sits (as recorded), a site at its pocket, a site along its leads or catheter, and a site far from it.
#: The rule whose reason names it. (kind, recorded at, pocket site, lead or catheter site, far site, rule)
IMPLANTS: list[tuple[str, Place, Place, Place, Place, str]] = [
    (
        "pacemaker",
        ("infraclavicular", "left"),
        ("infraclavicular", "left"),
        ("chest_wall", "left"),
        ("calf", "right"),
        "CARDIAC_DEVICE_MANUAL",
    ),
    (
        "icd",
        ("infraclavicular", "right"),
        ("infraclavicular", "right"),
        ("chest_wall", "right"),
        ("forearm", "left"),
        "CARDIAC_DEVICE_MANUAL",
    ),
    # Spinal cord stimulator: the generator in the buttock, its extension and epidural leads to the low back.
    (
        "spinal_cord_stimulator",
        ("gluteal", "left"),
        ("gluteal", "left"),
        ("lumbar", None),
        ("forearm", "right"),
        "ACTIVE_IMPLANT_MANUAL",
    ),
    # ... or its leads recorded at the lumbar spine, the generator in the buttock.
    (
        "spinal_cord_stimulator",
        ("lumbar", None),
        ("lumbar", None),
        ("thoracolumbar_junction", None),
        ("calf", "left"),
        "ACTIVE_IMPLANT_MANUAL",
    ),
    # Vagus nerve stimulator: chest pocket, lead up the neck.
    (
        "neurostimulator",
        ("chest_wall", "left"),
        ("chest_wall", "left"),
        ("anterior_neck", "left"),
        ("calf", "right"),
        "ACTIVE_IMPLANT_MANUAL",
    ),
    # Sacral nerve stimulator: buttock pocket, lead into a sacral foramen.
    (
        "neurostimulator",
        ("gluteal", "right"),
        ("gluteal", "right"),
        ("sacral", None),
        ("forearm", "left"),
        "ACTIVE_IMPLANT_MANUAL",
    ),
    # Intrathecal pump: abdominal pocket, catheter round the flank to the lumbar spine.
    ("drug_pump", ("abdomen", None), ("abdomen", None), ("lumbar", None), ("calf", "left"), "ACTIVE_IMPLANT_MANUAL"),
    (
        "cochlear_implant",
        ("scalp", "left"),
        ("scalp", "left"),
        ("scalp", "left"),
        ("calf", "left"),
        "ACTIVE_IMPLANT_MANUAL",
    ),
    # Port: upper chest pocket, catheter to the jugular vein.
    (
        "port_picc",
        ("infraclavicular", "right"),
        ("infraclavicular", "right"),
        ("anterior_neck", "right"),
        ("forearm", "left"),
        "VASCULAR_ACCESS",
    ),
    # PICC: inserted in the upper arm, running through the axilla to the chest.
    (
        "port_picc",
        ("upper_arm", "left"),
        ("upper_arm", "left"),
        ("axilla", "left"),
        ("upper_arm", "right"),
        "VASCULAR_ACCESS",
    ),
    ("breast_implant", ("breast", "left"), ("breast", "left"), ("breast", "left"), ("calf", "left"), "BREAST_IMPLANT"),
    # Joint replacement and metal fixation: no pocket or leads; the implant and the segments next to it.
    ("joint_prosthesis", ("knee", "right"), ("knee", "right"), ("calf", "right"), ("knee", "left"), "PROSTHESIS_SITE"),
    (
        "metal_fixation",
        ("forearm", "left"),
        ("forearm", "left"),
        ("wrist", "left"),
        ("forearm", "right"),
        "PROSTHESIS_SITE",
    ),
]
IMPLANT_IDS = [f"{kind}@{at[0]}" for kind, at, *_ in IMPLANTS]
#: Kinds with a pocket and leads or a catheter: the reason says to needle elsewhere (reference section 8).
WITH_POCKET = {
    "pacemaker",
    "icd",
    "spinal_cord_stimulator",
    "neurostimulator",
    "drug_pump",
    "cochlear_implant",
    "port_picc",
    "breast_implant",
}

#: Every limb: where a finding in it may be recorded, sites of that limb, and sites of the other limbs.
LIMBS: dict[str, tuple[Place, tuple[Place, ...], tuple[Place, ...]]] = {
    "left arm": (
        ("forearm", "left"),
        (("shoulder_girdle", "left"), ("upper_arm", "left"), ("hand", "left")),
        (("forearm", "right"), ("calf", "left")),
    ),
    "right arm": (
        ("upper_arm", "right"),
        (("elbow", "right"), ("forearm", "right"), ("wrist", "right")),
        (("upper_arm", "left"), ("thigh", "right")),
    ),
    "left leg": (
        ("calf", "left"),
        (("gluteal", "left"), ("thigh", "left"), ("foot", "left")),
        (("calf", "right"), ("forearm", "left")),
    ),
    "right leg": (
        ("thigh", "right"),
        (("hip", "right"), ("knee", "right"), ("ankle", "right")),
        (("thigh", "left"), ("hand", "right")),
    ),
}
#: The trunk quadrant a limb's lymph drains to (section 8 "Truncal lymphoedema risk"; anatomy: the arm to the
#: axillary basin with the chest wall, breast and upper back; the leg to the inguinal basin with the abdomen,
#: low back and pelvis), and the sites of each quadrant.
QUADRANT_SITES = {
    "upper": ("chest_wall", "breast", "axilla", "upper_trapezius", "interscapular", "thoracic_paraspinal"),
    "lower": ("abdomen", "lumbar", "sacral", "pelvic"),
}
LIMB_QUADRANT = {
    "left arm": ("upper", "left"),
    "right arm": ("upper", "right"),
    "left leg": ("lower", "left"),
    "right leg": ("lower", "right"),
}
#: Distal sites of each limb (poor circulation, section 1d VASCULAR_DISEASE) and proximal ones (not distal).
DISTAL = {"arm": ("forearm", "hand"), "leg": ("calf", "foot")}
PROXIMAL = {"arm": ("upper_arm",), "leg": ("thigh",)}
#: Sites over the lung fields (reference section 0 "thorax") and sites away from them.
THORACIC = (("interscapular", "left"), ("upper_trapezius", "left"), ("chest_wall", "left"))  # one side only
NOT_THORACIC = (("calf", "right"), ("lumbar", None), ("forearm", "left"))
#: Section 8: counts fall lowest about days 7-14 of a cycle [K]; (cycle day, count age in days, nadir reason?)
NADIR: list[tuple[float, float, bool]] = [
    (10, 5, True),  # taken on day 5, before the window
    (10, 2, False),  # taken on day 8, inside it
    (7, 0, False),  # taken today, the window's first day
    (14, 8, True),  # taken on day 6
    (14, 7, False),  # taken on day 7
    (3, 1, False),  # before the window: not the nadir yet
    (20, 18, False),  # after the window
    (8, 21, True),  # last cycle's count
]


# --- helpers --------------------------------------------------------------------------------------------------


def _site(i: int, place: Place) -> dict[str, Any]:
    region, side = place
    return {"id": f"s{i}", "region": region, **({"side": side} if side else {})}


def _plan(*places: Place) -> dict[str, Any]:
    return {"plan": {"technique": "dry_needling", "sites": [_site(i, p) for i, p in enumerate(places)]}}


def _edn(a: Place, b: Place) -> dict[str, Any]:
    return {"plan": {"technique": "electrical", "sites": [_site(0, a), _site(1, b)], "circuits": [["s0", "s1"]]}}


def _loc(place: Place) -> dict[str, Any]:
    region, side = place
    return {"region": region, **({"side": side} if side else {})}


def _finding(kind: str, place: Place, **extra: Any) -> dict[str, Any]:
    return {"findings": {kind: {"answer": "yes", "locations": [_loc(place)], **extra}}}


def _limb_group(place: Place) -> Place:
    region, side = place
    return ("upper_limb" if region in ("forearm", "upper_arm") else "lower_limb", side)


def _intake(*changes: dict[str, Any]) -> dict[str, Any]:
    out = baseline_intake()
    for change in changes:
        out = with_changes(out, change)
    return out


def _at(result: ScreeningResult, place: Place) -> tuple[str, set[str], list[str]]:
    """The verdict of the site at ``place``, its rules that fired, and their modifications."""
    region, side = place
    (sv,) = [s for s in result.sites if s.site.region == region and s.site.side == side]
    fired = {f.rule_id for f in result.findings if f.site and f.site.id == sv.site.id and f.status == "fired"}
    mods = [m for f in result.findings if f.site and f.site.id == sv.site.id for m in f.modifications]
    return sv.verdict, fired, mods


def _site_findings(result: ScreeningResult, place: Place, rule_id: str) -> set[str]:
    region, side = place
    (sv,) = [s for s in result.sites if s.site.region == region and s.site.side == side]
    return {f.status for f in result.findings if f.rule_id == rule_id and f.site and f.site.id == sv.site.id}


def _screener_over(ruleset: Ruleset) -> Screen:
    screeners = {name: Screener(ruleset, engine=name) for name in available_engines()}

    def screen(intake: dict[str, Any]) -> ScreeningResult:
        results = [s.screen(intake) for s in screeners.values()]
        for other in results[1:]:
            assert comparable(other) == comparable(results[0]), "engines disagree"
        return results[0]

    return screen


@pytest.fixture(scope="module")
def screen(ruleset: Ruleset) -> Screen:
    return _screener_over(ruleset)


# --- item 1: a needle at any implanted device -------------------------------------------------------------------


def _with_device(kind: str, at: Place | None) -> dict[str, Any]:
    item: dict[str, Any] = {"kind": kind}
    if at is not None:
        item["location"] = _loc(at)
    return {"devices": {"answer": "yes", "items": [item], "others": "no"}}


def check_a_needle_at_any_implant_is_a_caution(screen: Screen, rows: list[Any] = IMPLANTS) -> None:
    """At the pocket and along the leads or catheter: at least caution, by the device's reason (needle
    elsewhere); far from it: clear. Manual needling, every implanted kind."""
    for kind, at, pocket, lead, far, rule in rows:
        result = screen(_intake(_with_device(kind, at), _plan(*dict.fromkeys((pocket, lead, far)))))
        for place in (pocket, lead):
            verdict, fired, mods = _at(result, place)
            assert RANK[verdict] >= RANK["caution"], (kind, at, place, verdict)
            assert rule in fired, (kind, at, place, fired)
            if kind in WITH_POCKET:
                assert any("needle elsewhere" in m.lower() for m in mods), (kind, place, mods)
        assert _at(result, far)[0] == "clear", (kind, at, far, _at(result, far))


def check_an_implant_whose_place_is_unknown_is_never_clear_where_it_could_be(screen: Screen) -> None:
    """A device recorded without its place may be at any of its usual places: undecided there (caution, never
    clear), the conservative reading of the previous rounds."""
    for kind, _at_place, pocket, _lead, _far, rule in IMPLANTS:
        result = screen(_intake(_with_device(kind, None), _plan(pocket)))
        verdict, _fired, _mods = _at(result, pocket)
        assert RANK[verdict] >= RANK["caution"], (kind, pocket, verdict)
        assert _site_findings(result, pocket, rule) == {"unknown"}, (kind, pocket, rule)


@pytest.mark.parametrize("row", IMPLANTS, ids=IMPLANT_IDS)
def test_a_needle_at_every_implanted_device_kind_is_a_caution(row: Any, screen: Screen) -> None:
    check_a_needle_at_any_implant_is_a_caution(screen, [row])


def test_every_implanted_device_kind_is_in_the_table() -> None:
    from typing import get_args

    from needlescreen.intake import DeviceKind

    assert {kind for kind, *_ in IMPLANTS} == set(get_args(DeviceKind))


def test_an_implant_whose_place_is_unknown_is_never_clear(screen: Screen) -> None:
    check_an_implant_whose_place_is_unknown_is_never_clear_where_it_could_be(screen)


# --- item 2: acute or recent DVT vs past DVT ----------------------------------------------------------------------

#: Reference section 8: recent is within the anticoagulation course, usually 3-6 months; the shipped boundary is
#: 26 weeks [I]. (weeks ago or None = not known, the limb's worst reason, a current path through it refers?)
DVT_TIMES: list[tuple[float | None, str, bool]] = [
    (None, "refer", True),
    (2, "refer", True),
    (25.9, "refer", True),
    (26, "caution", False),
    (260, "caution", False),
]


def check_dvt_recent_refers_and_past_cautions(screen: Screen) -> None:
    """For every limb: a recent DVT (or one with no date) refers every site of that limb and any current through
    it; a past one is a caution there (post-thrombotic limb) and does not refer a circuit; other limbs clear."""
    for limb, (recorded, same, others) in LIMBS.items():
        for weeks, verdict, circuit_refers in DVT_TIMES:
            extra = {} if weeks is None else {"weeks_ago": float(weeks)}
            dvt = _finding("dvt", recorded, **extra)
            result = screen(_intake(dvt, _plan(*same, *others)))
            for place in same:
                assert _at(result, place)[0] == verdict, (limb, weeks, place, _at(result, place))
            for place in others:
                assert _at(result, place)[0] == "clear", (limb, weeks, place)
            a, b = same[0], same[-1]
            wired = screen(_intake(dvt, _edn(a, b)))
            refers = [f for f in wired.findings if f.circuit and f.verdict == "refer" and f.status == "fired"]
            assert bool(refers) == circuit_refers, (limb, weeks, [f.rule_id for f in refers])
        past = screen(_intake(_finding("past_dvt", recorded), _plan(*same, *others)))
        for place in same:
            assert _at(past, place)[0] == "caution", (limb, "past", place, _at(past, place))
        for place in others:
            assert _at(past, place)[0] == "clear", (limb, "past", place)


def test_a_recent_dvt_refers_and_a_past_one_cautions_on_every_limb(screen: Screen) -> None:
    check_dvt_recent_refers_and_past_cautions(screen)


# --- item 3: the trunk quadrant of an at-risk limb --------------------------------------------------------------


def check_the_trunk_quadrant_of_an_at_risk_limb_is_a_caution(screen: Screen) -> None:
    """For every limb: nodes removed from its basin make the trunk quadrant draining to it at least a caution on
    that side; the other side's quadrant and the other quadrant are not concerned by it."""
    for limb, (recorded, _same, _others) in LIMBS.items():
        quadrant, side = LIMB_QUADRANT[limb]
        other_side = "right" if side == "left" else "left"
        other_quadrant = "lower" if quadrant == "upper" else "upper"
        near = [(r, side) for r in QUADRANT_SITES[quadrant]]
        far = [(r, other_side) for r in QUADRANT_SITES[quadrant]] + [(r, side) for r in QUADRANT_SITES[other_quadrant]]
        result = screen(_intake(_finding("at_risk_limb", _limb_group(recorded)), _plan(*near, *far)))
        for place in near:
            verdict, fired, _ = _at(result, place)
            assert RANK[verdict] >= RANK["caution"], (limb, place, verdict)
            assert fired & {"LYMPHEDEMA_AT_RISK_ADJACENT", "LYMPHEDEMA_AT_RISK"}, (limb, place, fired)
        for place in far:
            _verdict, fired, _ = _at(result, place)
            assert not fired & {"LYMPHEDEMA_AT_RISK_ADJACENT", "LYMPHEDEMA_AT_RISK"}, (limb, place, fired)


def test_the_trunk_quadrant_of_an_at_risk_limb_is_a_caution_for_every_limb(screen: Screen) -> None:
    check_the_trunk_quadrant_of_an_at_risk_limb_is_a_caution(screen)


# --- items 4-12 -------------------------------------------------------------------------------------------------


def check_skin_disease_refers_its_site(screen: Screen) -> None:
    """Section 8: eczema, psoriasis, a scar or keloid, a burn at the site: refer for that site (and "at or near"
    it: the knee and the segments either side), needle elsewhere; not the other leg or the hip."""
    result = screen(
        _intake(
            _finding("skin_disease", ("knee", "right")),
            _plan(("knee", "right"), ("thigh", "right"), ("calf", "right"), ("hip", "right"), ("knee", "left")),
        )
    )
    for place in (("knee", "right"), ("thigh", "right"), ("calf", "right")):
        assert _at(result, place)[0] == "refer", place
    for place in (("hip", "right"), ("knee", "left")):
        assert _at(result, place)[0] == "clear", place


def check_thrombophlebitis_is_as_strict_as_a_dvt_at_its_site(screen: Screen) -> None:
    """Section 8: no needles or current over an inflamed superficial vein or along it: refer at the site and the
    adjacent segments, and for a current path along it; clear elsewhere."""
    phlebitis = _finding("thrombophlebitis", ("calf", "left"))
    result = screen(
        _intake(
            phlebitis, _plan(("calf", "left"), ("knee", "left"), ("ankle", "left"), ("calf", "right"), ("hip", "left"))
        )
    )
    for place in (("calf", "left"), ("knee", "left"), ("ankle", "left")):
        assert _at(result, place)[0] == "refer", place
    for place in (("calf", "right"), ("hip", "left")):
        assert _at(result, place)[0] == "clear", place
    wired = screen(_intake(phlebitis, _edn(("thigh", "left"), ("foot", "left"))))
    assert any(f.circuit and f.verdict == "refer" for f in wired.findings), "current along the vein"
    other = screen(_intake(phlebitis, _edn(("thigh", "right"), ("foot", "right"))))
    assert other.verdict == "clear"


def check_poor_circulation_concerns_the_affected_limb(screen: Screen) -> None:
    """Section 8: the distal sites of the affected limb are a caution; other limbs are not; with no limb
    recorded, every distal limb site (the whole-patient reading)."""
    for limb, side in (("arm", "left"), ("arm", "right"), ("leg", "left"), ("leg", "right")):
        # Recorded at one part of the limb (the forearm, the calf): the disease concerns the whole limb.
        part = "forearm" if limb == "arm" else "calf"
        pad = {"patient": {"vascular_disease": "yes", "vascular_disease_locations": [{"region": part, "side": side}]}}
        other = "right" if side == "left" else "left"
        distal = [(r, side) for r in DISTAL[limb]]
        spared = [(r, side) for r in PROXIMAL[limb]] + [(r, other) for r in DISTAL[limb]]
        spared += [(r, side) for r in DISTAL["leg" if limb == "arm" else "arm"]]
        result = screen(_intake(pad, _plan(*distal, *spared)))
        for place in distal:
            assert _at(result, place)[0] == "caution", (limb, side, place)
        for place in spared:
            assert _at(result, place)[0] == "clear", (limb, side, place)
    anywhere = screen(_intake({"patient": {"vascular_disease": "yes"}}, _plan(("hand", "left"), ("foot", "right"))))
    assert [s.verdict for s in anywhere.sites] == ["caution", "caution"]


def check_bullous_disease_refers_thoracic_sites(screen: Screen) -> None:
    """PTX_RISK_FACTORS row and section 8: emphysema or bullae refer thoracic sites; other chronic lung disease
    is a caution there; sites away from the thorax are not concerned."""
    bullous = screen(
        _intake({"patient": {"lung_disease": "yes", "bullous_lung_disease": "yes"}}, _plan(*THORACIC, *NOT_THORACIC))
    )
    chronic = screen(
        _intake({"patient": {"lung_disease": "yes", "bullous_lung_disease": "no"}}, _plan(*THORACIC, *NOT_THORACIC))
    )
    for place in THORACIC:
        assert _at(bullous, place)[0] == "refer", place
        assert _at(chronic, place)[0] == "caution", place
    for place in NOT_THORACIC:
        assert _at(bullous, place)[0] == "clear", place
        assert _at(chronic, place)[0] == "clear", place


def check_a_worn_device_is_not_an_implant(screen: Screen) -> None:
    """Section 8: an insulin pump or glucose sensor worn on the skin: no electrical refer (not an implant); a
    caution for needles or current at or next to its set or sensor; nothing far from it."""
    pump = _finding("worn_device", ("abdomen", "left"))
    far = screen(_intake(pump, _edn(("calf", "right"), ("ankle", "right"))))
    assert far.verdict == "clear", [(f.rule_id, f.verdict) for f in far.findings]
    near = screen(_intake(pump, _edn(("abdomen", "left"), ("lumbar", "left"))))
    assert _at(near, ("abdomen", "left"))[0] == "caution"
    manual = screen(_intake(pump, _plan(("abdomen", "left"), ("calf", "right"))))
    assert [s.verdict for s in manual.sites] == ["caution", "clear"]


def check_counts_before_the_nadir_do_not_clear_it(screen: Screen) -> None:
    """Section 8: during the nadir window a count taken before it does not show the nadir (caution, unknown
    counts); inside the window, or outside the window, normal counts leave it to ACTIVE_CHEMO's caution."""
    for day, age, flagged in NADIR:
        intake = _intake(
            {
                "patient": {"active_chemotherapy": "yes", "chemo_cycle_day": float(day)},
                "labs": {
                    "anc": {"value": 3.0, "age_days": float(age)},
                    "platelets": {"value": 250.0, "age_days": float(age)},
                },
            }
        )
        result = screen(intake)
        assert result.verdict == "caution", (day, age)
        nadir = [f for f in result.findings if f.status == "fired" and "labs.anc_cycle_day" in f.facts]
        assert bool(nadir) == flagged, (day, age, [f.rule_id for f in nadir])
    unknown_day = screen(
        _intake(
            {
                "patient": {"active_chemotherapy": "yes"},
                "labs": {"anc": {"value": 3.0, "age_days": 1.0}, "platelets": {"value": 250.0, "age_days": 1.0}},
            }
        )
    )
    assert any(m.fact == "patient.chemo_cycle_day" for m in unknown_day.missing), "the cycle day is asked"


def check_bleeding_history(screen: Screen) -> None:
    """Section 8: bruising or bleeding easily is a caution; on a blood thinner without a recent INR the question
    must be answered (never clear, asked); without one an unasked question is not a reason of its own."""
    assert screen(_intake({"patient": {"bleeding_history": "yes"}})).verdict == "caution"
    on_warfarin = screen(
        _intake({"patient": {"bleeding_history": "unknown"}}, {"medications": {"items": [{"name": "warfarin"}]}})
    )
    assert any(m.fact == "patient.bleeding_history" for m in on_warfarin.missing)
    assert screen(_intake({"patient": {"bleeding_history": "unknown"}})).verdict == "clear"


def check_pacemaker_dependence_and_trying_to_conceive(screen: Screen) -> None:
    """Section 8: pacemaker dependence is recorded and read with electrical needling (a refer reason of its own);
    trying to conceive is a possible pregnancy at trunk sites (caution), not at the limbs."""
    pacer = {
        "devices": {"answer": "yes", "items": [{"kind": "pacemaker"}], "others": "no", "pacemaker_dependent": "yes"}
    }
    wired = screen(_intake(pacer, _edn(("calf", "right"), ("ankle", "right"))))
    dependent = [f for f in wired.findings if f.facts.get("devices.pacemaker_dependent") == "yes"]
    assert dependent and all(f.verdict == "refer" for f in dependent)
    assert screen(_intake(pacer, _plan(("calf", "right")))).verdict == "clear"
    ttc = {"patient": {"pregnancy": {"status": "not_pregnant", "trying_to_conceive": "yes"}}}
    result = screen(_intake(ttc, _plan(("lumbar", None), ("calf", "right"))))
    assert [s.verdict for s in result.sites] == ["caution", "clear"]


def check_controlled_diabetes_is_a_clinic_setting(ruleset: Ruleset) -> None:
    """Section 8: controlled diabetes with normal sensation and circulation is a caution by default; a clinic
    may choose clear (recorded in the result); with neuropathy or poor circulation it stays a caution."""
    controlled = {"patient": {"diabetes": "controlled"}}
    numb = {"findings": {"reduced_sensation": {"answer": "yes", "locations": [{"region": "foot", "side": "both"}]}}}
    assert _screener_over(ruleset)(_intake(controlled)).verdict == "caution"
    clinic = load_ruleset(ruleset.directory, policy_overrides={"controlled_diabetes_verdict": "clear"})
    relaxed = _screener_over(clinic)
    result = relaxed(_intake(controlled))
    assert result.verdict == "clear" and result.policy["controlled_diabetes_verdict"] == "clear"
    assert relaxed(_intake(controlled, numb, _plan(("thigh", "right")))).verdict == "caution"
    assert (
        relaxed(_intake(controlled, {"patient": {"vascular_disease": "yes"}}, _plan(("thigh", "right")))).verdict
        == "caution"
    )


def check_a_high_inr_on_a_doac_refers(screen: Screen) -> None:
    """Decision on last round's open question: an INR above the VKA referral level (3.5 with no target) with a
    DOAC or heparin is not explained by the drug: refer; a modest rise on a DOAC is the DOAC's caution."""
    for drug in ("apixaban", "rivaroxaban", "enoxaparin"):
        meds = {"medications": {"complete": "yes", "items": [{"name": drug}]}}
        high = screen(_intake(meds, {"labs": {"inr": {"value": 4.0, "age_days": 1.0}}}))
        modest = screen(_intake(meds, {"labs": {"inr": {"value": 2.0, "age_days": 1.0}}}))
        assert high.verdict == "refer", drug
        assert modest.verdict == "caution", drug


CHECKS: list[Callable[[Screen], None]] = [
    check_skin_disease_refers_its_site,
    check_thrombophlebitis_is_as_strict_as_a_dvt_at_its_site,
    check_poor_circulation_concerns_the_affected_limb,
    check_bullous_disease_refers_thoracic_sites,
    check_a_worn_device_is_not_an_implant,
    check_counts_before_the_nadir_do_not_clear_it,
    check_bleeding_history,
    check_pacemaker_dependence_and_trying_to_conceive,
    check_a_high_inr_on_a_doac_refers,
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_the_facts_the_intake_could_not_say_change_the_verdict(check: Callable[[Screen], None], screen: Screen) -> None:
    check(screen)


def test_controlled_diabetes_is_a_clinic_setting(ruleset: Ruleset) -> None:
    check_controlled_diabetes_is_a_clinic_setting(ruleset)


# --- breakage: each check fails on a deliberately broken rule file, body model or engine ---------------------------


def _rules_copy(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> Ruleset:
    """A copy of the bundled rules with one rule file's data changed by ``change`` (given every file's rules)."""
    root = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), root)
    files = {p: yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted((root / "rules").glob("*.yaml"))}
    rules = {r["id"]: r for data in files.values() for r in data["rules"]}
    change(rules)
    for path, data in files.items():
        data["rules"] = [r for r in data["rules"] if not r.get("_drop")]
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_ruleset(root)


def _drop(*rule_ids: str) -> Callable[[dict[str, Any]], None]:
    def change(rules: dict[str, Any]) -> None:
        for rid in rule_ids:
            rules[rid]["_drop"] = True

    return change


def _dvt_ignores_its_date(rules: dict[str, Any]) -> None:
    rules["DVT_ACUTE"]["when"] = {"fact": "site.dvt", "eq": "yes"}


def _controlled_diabetes_always_caution(rules: dict[str, Any]) -> None:
    rules["DIABETES_CONTROLLED"]["verdict"] = "caution"


def _broken_body(ruleset: Ruleset, change: Callable[[dict[str, Any]], None]) -> Ruleset:
    data = yaml.safe_load((Path(ruleset.directory) / "body.yaml").read_text(encoding="utf-8"))
    change(data)
    return dataclasses.replace(ruleset, body=BodyModel.from_data(data, regions=ruleset.regions))


def _pump_without_catheter(data: dict[str, Any]) -> None:
    data["devices"]["drug_pump"]["places"][0]["runs"] = ["abdomen"]
    data["devices"]["drug_pump"]["extent"] = "region"


def _past_dvt_only_where_recorded(data: dict[str, Any]) -> None:
    data["findings"]["past_dvt"]["extent"] = "region"


def _phlebitis_only_where_recorded(data: dict[str, Any]) -> None:
    data["findings"]["thrombophlebitis"]["extent"] = "region"


def _pad_on_every_limb(data: dict[str, Any]) -> None:
    data["findings"]["vascular_disease"]["extent"] = "neighbourhood"


class _NoQuadrant(BodyModel):
    """A body model that forgets lymphatic territories: no trunk site drains to any limb."""

    def quadrant_concerns(self, *_args: Any) -> Any:
        return "no"


RULE_BREAKAGES: list[tuple[Callable[[Screen], None], Callable[[dict[str, Any]], None]]] = [
    (check_a_needle_at_any_implant_is_a_caution, _drop("ACTIVE_IMPLANT_MANUAL")),
    (check_an_implant_whose_place_is_unknown_is_never_clear_where_it_could_be, _drop("VASCULAR_ACCESS")),
    (check_dvt_recent_refers_and_past_cautions, _dvt_ignores_its_date),
    (check_dvt_recent_refers_and_past_cautions, _drop("DVT_PAST")),
    (check_the_trunk_quadrant_of_an_at_risk_limb_is_a_caution, _drop("LYMPHEDEMA_AT_RISK_ADJACENT")),
    (check_skin_disease_refers_its_site, _drop("SKIN_DISEASE_SITE")),
    (check_thrombophlebitis_is_as_strict_as_a_dvt_at_its_site, _drop("THROMBOPHLEBITIS_IN_CURRENT_PATH")),
    (check_poor_circulation_concerns_the_affected_limb, _drop("VASCULAR_DISEASE")),
    (check_bullous_disease_refers_thoracic_sites, _drop("PTX_BULLOUS")),
    (check_a_worn_device_is_not_an_implant, _drop("WORN_DEVICE_SITE")),
    (check_counts_before_the_nadir_do_not_clear_it, _drop("CHEMO_NADIR_COUNTS")),
    (check_bleeding_history, _drop("BLEEDING_HISTORY")),
    (check_pacemaker_dependence_and_trying_to_conceive, _drop("PACEMAKER_DEPENDENT_ES")),
    (check_pacemaker_dependence_and_trying_to_conceive, _drop("PREG_TRYING_TO_CONCEIVE")),
    (check_a_high_inr_on_a_doac_refers, _drop("INR_HIGH_ON_NON_VKA")),
]


@pytest.mark.parametrize(
    ("check", "breakage"),
    RULE_BREAKAGES,
    ids=[f"{c.__name__.removeprefix('check_')}-{i}" for i, (c, _) in enumerate(RULE_BREAKAGES)],
)
def test_breakage_each_check_fails_on_a_broken_rule(
    check: Callable[[Screen], None], breakage: Callable[[dict[str, Any]], None], tmp_path: Path
) -> None:
    broken = Screener(_rules_copy(tmp_path, breakage), engine="plain")
    with pytest.raises(AssertionError):
        check(broken.screen)


BODY_BREAKAGES: list[tuple[Callable[[Screen], None], Callable[[dict[str, Any]], None]]] = [
    (check_a_needle_at_any_implant_is_a_caution, _pump_without_catheter),
    (check_dvt_recent_refers_and_past_cautions, _past_dvt_only_where_recorded),
    (check_thrombophlebitis_is_as_strict_as_a_dvt_at_its_site, _phlebitis_only_where_recorded),
    (check_poor_circulation_concerns_the_affected_limb, _pad_on_every_limb),
]


@pytest.mark.parametrize(
    ("check", "breakage"),
    BODY_BREAKAGES,
    ids=[f"{c.__name__.removeprefix('check_')}-{i}" for i, (c, _) in enumerate(BODY_BREAKAGES)],
)
def test_breakage_each_check_fails_on_a_broken_body_model(
    check: Callable[[Screen], None], breakage: Callable[[dict[str, Any]], None], ruleset: Ruleset
) -> None:
    broken = Screener(_broken_body(ruleset, breakage), engine="plain")
    with pytest.raises(AssertionError):
        check(broken.screen)


def test_breakage_the_quadrant_check_fails_on_a_model_without_territories(ruleset: Ruleset) -> None:
    data = yaml.safe_load((Path(ruleset.directory) / "body.yaml").read_text(encoding="utf-8"))
    blind = dataclasses.replace(ruleset, body=_NoQuadrant.from_data(data, regions=ruleset.regions))
    with pytest.raises(AssertionError):
        check_the_trunk_quadrant_of_an_at_risk_limb_is_a_caution(Screener(blind, engine="plain").screen)


def test_breakage_the_diabetes_check_fails_when_the_setting_is_ignored(tmp_path: Path) -> None:
    with pytest.raises(AssertionError):
        check_controlled_diabetes_is_a_clinic_setting(_rules_copy(tmp_path, _controlled_diabetes_always_caution))
