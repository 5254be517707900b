"""The body model against clinical statements written here, from the reference and anatomy.

Every expectation below is a table in this file, not read from ``rules/body.yaml`` or ``rules/regions.yaml``:
a model whose data were wrong would otherwise agree with itself. Each ``check_*`` is also run against a
deliberately broken copy of the model and must fail there (the ``test_breakage_*`` tests).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from needlescreen import _yaml, parse_intake
from needlescreen.body import BodyModel
from needlescreen.facts import Facts, normalise
from needlescreen.ruleset import Ruleset, default_rules_dir, load_ruleset
from needlescreen.testing import baseline_intake, with_changes

# --- clinical tables ------------------------------------------------------------------------------------------

#: Every site region of each limb (shoulder girdle to fingers; hip and buttock to toes): reference section 0.
LIMB: dict[str, tuple[str, ...]] = {
    "arm": ("shoulder_girdle", "upper_arm", "elbow", "forearm", "wrist", "hand", "first_web_space"),
    "leg": (
        "gluteal",
        "deep_gluteal",
        "hip",
        "thigh",
        "knee",
        "calf",
        "medial_lower_leg",
        "ankle",
        "foot",
        "lateral_foot",
    ),
}
ALL_LIMB_SITES = [(r, side) for regions in LIMB.values() for r in regions for side in ("left", "right")]
#: Reference section 7 and 8: lymphoedema, the at-risk limb, a DVT, acute or past (the post-thrombotic limb).
LIMB_KINDS = ("lymphedema", "at_risk_limb", "dvt", "past_dvt")
#: "At or near the site": section 7, and section 8 for skin disease, superficial thrombophlebitis ("that site
#: and the adjacent segments") and a device worn on the skin ("at or next to it").
NEAR_KINDS = (
    "local_infection",
    "open_wound",
    "tumour",
    "recent_surgery",
    "radiotherapy_field",
    "varicose_veins",
    "skin_disease",
    "thrombophlebitis",
    "worn_device",
)

#: "At or near": a joint and the segments either side, a segment and the joints at its ends (anatomy).
NEAR: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # recorded at: (sites it must concern, sites it must not concern), same side
    "knee": (("thigh", "knee", "calf", "medial_lower_leg"), ("hip", "ankle", "foot", "gluteal")),
    "elbow": (("upper_arm", "elbow", "forearm"), ("shoulder_girdle", "wrist", "hand")),
    "ankle": (("calf", "medial_lower_leg", "ankle", "foot", "lateral_foot"), ("knee", "thigh")),
    "wrist": (("forearm", "wrist", "hand", "first_web_space"), ("elbow", "upper_arm")),
    "calf": (("knee", "calf", "ankle"), ("thigh", "foot", "hip")),
    "hip": (("hip", "gluteal", "deep_gluteal", "thigh"), ("knee", "calf", "foot")),
    "forearm": (("elbow", "forearm", "wrist"), ("upper_arm", "hand")),
    "shoulder_girdle": (("shoulder_girdle", "upper_arm", "upper_trapezius"), ("elbow", "forearm")),
    "lumbar": (
        ("lumbar", "quadratus_lumborum", "thoracolumbar_junction", "sacral"),
        ("posterior_neck", "interscapular"),
    ),
    "posterior_neck": (("posterior_neck", "suboccipital", "upper_trapezius"), ("lumbar", "sacral")),
    "thoracolumbar_junction": (("thoracolumbar_junction", "lumbar"), ("sacral", "posterior_neck")),
}

#: Where a device is, and what it concerns (reference section 7): (kind, recorded at or None, side),
#: sites it must concern (yes), sites where it is possible (unknown), sites it must not concern.
DEVICES: list[
    tuple[tuple[str, str | None, str | None], list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]
] = [
    (
        ("joint_prosthesis", "hip", "right"),
        [("gluteal", "right"), ("deep_gluteal", "right"), ("hip", "right"), ("thigh", "right")],
        [],
        [("gluteal", "left"), ("calf", "right"), ("foot", "right"), ("forearm", "right")],
    ),
    (
        ("joint_prosthesis", "knee", "left"),
        [("thigh", "left"), ("knee", "left"), ("calf", "left")],
        [],
        [("knee", "right"), ("foot", "left"), ("hip", "left")],
    ),
    (
        ("port_picc", "upper_arm", "left"),
        [("forearm", "left"), ("hand", "left"), ("upper_arm", "left"), ("axilla", "left"), ("infraclavicular", "left")],
        [],
        [("forearm", "right"), ("calf", "left")],
    ),
    (
        ("port_picc", None, None),
        [],
        [("forearm", "left"), ("upper_arm", "right"), ("infraclavicular", "left"), ("anterior_neck", "right")],
        [("calf", "left"), ("lumbar", "left")],
    ),
    (
        ("pacemaker", None, None),
        [],
        [("infraclavicular", "left"), ("chest_wall", "right")],
        [("calf", "left"), ("lumbar", "midline"), ("forearm", "left")],
    ),
    (
        ("pacemaker", "infraclavicular", "left"),
        [("infraclavicular", "left"), ("chest_wall", "left")],
        [],
        [("infraclavicular", "right"), ("calf", "left")],
    ),
    (
        ("spinal_cord_stimulator", "lumbar", None),
        [("lumbar", "midline"), ("thoracolumbar_junction", "midline")],
        [],
        [("calf", "left"), ("posterior_neck", "midline")],
    ),
    (
        ("joint_prosthesis", None, None),
        [],
        [("hip", "left"), ("knee", "right"), ("shoulder_girdle", "left")],
        [("lumbar", "midline"), ("posterior_neck", "left")],
    ),
]
GROUP = {
    "pacemaker": "cardiac",
    "port_picc": "vascular_access",
    "joint_prosthesis": "metal_implant",
    "spinal_cord_stimulator": "active_implant",
}

#: What a lead pair's current crosses (reference section 7, MAN/CSET): (a, b) -> chest, pelvis, spinal cord.
CIRCUITS: list[tuple[tuple[str, str], tuple[str, str], tuple[bool, bool, bool]]] = [
    (("forearm", "left"), ("forearm", "right"), (True, False, False)),  # arm to arm: across the chest
    (("hand", "left"), ("upper_arm", "right"), (True, False, False)),
    (("calf", "left"), ("calf", "right"), (False, True, False)),  # leg to leg: through the pelvis
    (("foot", "left"), ("thigh", "right"), (False, True, False)),
    (("hand", "left"), ("foot", "left"), (True, True, False)),  # arm to leg: through the whole trunk
    (("forearm", "right"), ("calf", "left"), (True, True, False)),
    (("forearm", "left"), ("lumbar", "left"), (True, True, False)),  # a limb and the trunk at another level
    (("calf", "left"), ("thigh", "left"), (False, False, False)),  # one limb: only the segments between
    (("forearm", "right"), ("hand", "right"), (False, False, False)),
    (("forearm", "left"), ("chest_wall", "left"), (False, False, False)),
    (("upper_trapezius", "left"), ("upper_trapezius", "right"), (True, False, True)),
    (("thoracic_paraspinal", "left"), ("thoracic_paraspinal", "right"), (True, False, True)),
    (("posterior_neck", "left"), ("posterior_neck", "right"), (True, False, True)),
    (("lumbar", "left"), ("lumbar", "right"), (False, True, False)),  # below the cord (cauda equina)
    (("chest_wall", "left"), ("interscapular", "left"), (True, False, False)),  # front to back of the chest
    (("lumbar", "left"), ("sacral", "left"), (False, False, False)),
]

#: The skin each nerve supplies (reference section 7 [K]; standard anatomy): sites of that skin on the same
#: side, and sites it does not supply.
NERVES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "tibial": (("foot",), ("hand", "thigh")),
    "common_fibular": (("foot", "calf"), ("hand", "thigh")),
    "superficial_fibular": (("foot",), ("hand",)),
    "deep_fibular": (("foot",), ("hand", "thigh")),
    "sural": (("foot", "ankle"), ("hand", "thigh")),
    "saphenous": (("calf",), ("hand",)),
    "sciatic": (("foot", "calf"), ("hand",)),
    "femoral": (("thigh",), ("hand", "foot")),
    "lateral_femoral_cutaneous": (("thigh",), ("foot", "hand")),
    "median": (("hand",), ("foot",)),
    "ulnar": (("hand",), ("foot",)),
    "radial": (("hand",), ("foot",)),
    "superficial_radial": (("hand",), ("foot",)),
    "musculocutaneous": (("forearm",), ("foot",)),
    "greater_occipital": (("scalp",), ("foot", "hand")),
}


# --- fixtures and helpers -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ruleset() -> Ruleset:
    return load_ruleset()


def _body_data() -> dict[str, Any]:
    data = _yaml.load((default_rules_dir() / "body.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _body(ruleset: Ruleset, change: Callable[[dict[str, Any]], None] | None = None) -> BodyModel:
    data = _body_data()
    if change is not None:
        change(data)
    return BodyModel.from_data(data, regions=ruleset.regions)


FactsOf = Callable[[dict[str, Any]], Facts]


def _facts_of(ruleset: Ruleset, body: BodyModel) -> FactsOf:
    def facts(intake: dict[str, Any]) -> Facts:
        model = parse_intake(intake)
        return normalise(model, ruleset.regions, ruleset.medications, ruleset.codes, body)

    return facts


def _site(i: int, region: str, side: str | None) -> dict[str, Any]:
    return {"id": f"s{i}", "region": region, **({"side": side} if side else {})}


def _plan(sites: Iterable[tuple[str, str | None]], **extra: Any) -> dict[str, Any]:
    return {"plan": {"technique": "dry_needling", "sites": [_site(i, r, s) for i, (r, s) in enumerate(sites)], **extra}}


def _finding(kind: str, region: str, side: str | None) -> dict[str, Any]:
    return {
        "findings": {kind: {"answer": "yes", "locations": [{"region": region, **({"side": side} if side else {})}]}}
    }


def _site_values(facts: Facts, name: str) -> dict[tuple[str, str | None], Any]:
    return {(s.region or "", s.side): fs.get(name) for s, fs in facts.sites}


# --- checks (each also run on a broken model) -------------------------------------------------------------------


def check_limb_findings_concern_the_whole_limb(facts: FactsOf) -> None:
    """Lymphoedema, an at-risk limb or a DVT recorded anywhere on a limb concerns every site of that limb on that
    side, and no site of the other limbs."""
    for kind in LIMB_KINDS:
        for limb_regions in LIMB.values():
            for recorded in limb_regions:
                for side in ("left", "right"):
                    intake = with_changes(baseline_intake(), _finding(kind, recorded, side))
                    values = _site_values(facts(with_changes(intake, _plan(ALL_LIMB_SITES))), f"site.{kind}")
                    for (region, site_side), value in values.items():
                        same = site_side == side and region in limb_regions
                        assert value == ("yes" if same else "no"), (kind, recorded, side, region, site_side, value)


def check_near_findings_concern_the_neighbours(facts: FactsOf) -> None:
    """Infection, a wound, a tumour, surgery, a radiotherapy field or varicose veins concern the recorded region
    and the regions next to it, on that side, and nothing further away."""
    for kind in NEAR_KINDS:
        for recorded, (near, far) in NEAR.items():
            sites = [(r, "left") for r in (*near, *far)]
            intake = with_changes(baseline_intake(), _finding(kind, recorded, "left"))
            values = _site_values(facts(with_changes(intake, _plan(sites))), f"site.{kind}")
            for region in near:
                assert values[(region, "left")] == "yes", (kind, recorded, region)
            for region in far:
                assert values[(region, "left")] == "no", (kind, recorded, region)
            other = _site_values(facts(with_changes(intake, _plan([(recorded, "right")]))), f"site.{kind}")
            if recorded in {r for rs in LIMB.values() for r in rs}:
                assert other[(recorded, "right")] == "no", (kind, recorded, "other side")


def check_devices_concern_where_they_sit_and_run(facts: FactsOf) -> None:
    """Each device concerns where it sits and runs; a device whose place is unknown is unknown wherever it could
    be, never clear there."""
    for (kind, at, side), yes, unknown, no in DEVICES:
        item: dict[str, Any] = {"kind": kind}
        if at:
            item["location"] = {"region": at, **({"side": side} if side else {})}
        intake = with_changes(baseline_intake(), {"devices": {"answer": "yes", "items": [item], "others": "no"}})
        values = _site_values(facts(with_changes(intake, _plan([*yes, *unknown, *no]))), f"site.{GROUP[kind]}_area")
        for place in yes:
            assert values[place] == "yes", (kind, at, side, place, values[place])
        for place in unknown:
            assert values[place] is None, (kind, at, side, place, values[place])
        for place in no:
            assert values[place] == "no", (kind, at, side, place, values[place])


def _circuit(a: tuple[str, str], b: tuple[str, str]) -> dict[str, Any]:
    return {
        "plan": {
            "technique": "electrical",
            "sites": [_site(0, *a), _site(1, *b)],
            "circuits": [["s0", "s1"]],
        }
    }


def check_current_paths(facts: FactsOf) -> None:
    """A lead pair's current crosses the chest, the pelvis or the spinal cord as the table says."""
    for a, b, (chest, pelvis, cord) in CIRCUITS:
        for x, y in ((a, b), (b, a)):
            fs = facts(with_changes(baseline_intake(), _circuit(x, y))).circuits[0][1]
            path = fs["circuit.path"]
            assert isinstance(path, frozenset)
            got = ("chest_crossing" in path, "pelvis_crossing" in path, "spinal_cord_crossing" in path)
            assert got == (chest, pelvis, cord), (x, y, got)


def check_current_between_limbs_crosses_the_trunk(facts: FactsOf) -> None:
    """Every pair of needles on two different limbs (or the two sides) sends current through the trunk."""
    ends = [(r, s) for r, s in ALL_LIMB_SITES if r in ("hand", "upper_arm", "foot", "thigh", "gluteal")]
    for i, a in enumerate(ends):
        for b in ends[i + 1 :]:
            limb_a = next(k for k, v in LIMB.items() if a[0] in v)
            limb_b = next(k for k, v in LIMB.items() if b[0] in v)
            if (limb_a, a[1]) == (limb_b, b[1]):
                continue
            path = facts(with_changes(baseline_intake(), _circuit(a, b))).circuits[0][1]["circuit.path"]
            assert isinstance(path, frozenset)
            assert path & {"chest_crossing", "pelvis_crossing"}, (a, b)


def check_dvt_concerns_every_circuit_through_the_leg(facts: FactsOf) -> None:
    """A DVT in the left leg concerns every circuit whose current passes through the left leg, and no other."""
    dvt = _finding("dvt", "calf", "left")
    cases = [
        (("thigh", "left"), ("foot", "left"), "yes"),
        (("foot", "left"), ("foot", "right"), "yes"),
        (("hand", "left"), ("gluteal", "left"), "yes"),
        (("thigh", "right"), ("foot", "right"), "no"),
        (("forearm", "left"), ("hand", "left"), "no"),
    ]
    for a, b, expected in cases:
        fs = facts(with_changes(with_changes(baseline_intake(), dvt), _circuit(a, b))).circuits[0][1]
        assert fs.get("circuit.dvt") == expected, (a, b)


def check_nerve_territories(facts: FactsOf) -> None:
    """A stimulated needle beside a nerve concerns the skin that nerve supplies (reduced sensation)."""
    for nerve, (supplies, not_supplied) in NERVES.items():
        for numb, expected in [*((r, "yes") for r in supplies), *((r, "no") for r in not_supplied)]:
            intake = with_changes(baseline_intake(), _finding("reduced_sensation", numb, "both"))
            plan = {
                "plan": {
                    "technique": "electrical",
                    "sites": [{"id": "n", "nerve": nerve, "side": "left", "technique": "perineural"}],
                }
            }
            fs = facts(with_changes(intake, plan)).sites[0][1]
            assert fs.get("site.nerve_territory_reduced_sensation") == expected, (nerve, numb)


def check_a_node_basin_concerns_its_limb(facts: FactsOf) -> None:
    """Nodes removed from (or lymphoedema, or a thrombosis at) the axilla put the whole arm of that side at risk."""
    for kind in LIMB_KINDS:
        intake = with_changes(baseline_intake(), _finding(kind, "axilla", "left"))
        values = _site_values(
            facts(with_changes(intake, _plan((r, s) for r, s in ALL_LIMB_SITES if r in LIMB["arm"]))), f"site.{kind}"
        )
        for (region, side), value in values.items():
            assert value == ("yes" if side == "left" else "no"), (kind, region, side, value)


CHECKS = [
    check_limb_findings_concern_the_whole_limb,
    check_near_findings_concern_the_neighbours,
    check_devices_concern_where_they_sit_and_run,
    check_current_paths,
    check_current_between_limbs_crosses_the_trunk,
    check_dvt_concerns_every_circuit_through_the_leg,
    check_nerve_territories,
    check_a_node_basin_concerns_its_limb,
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_the_body_model_says_what_clinicians_mean(check: Callable[[FactsOf], None], ruleset: Ruleset) -> None:
    check(_facts_of(ruleset, ruleset.body))


# --- breakage: each check fails on a deliberately wrong model ---------------------------------------------------


def _set_extent(kind: str, extent: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["findings"][kind]["extent"] = extent

    return change


def _drop_neighbours(region: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["neighbours"] = [p for p in data["neighbours"] if region not in p]

    return change


def _picc_only_at_chest(data: dict[str, Any]) -> None:
    data["devices"]["port_picc"]["places"] = data["devices"]["port_picc"]["places"][:1]


def _no_pelvis_crossing(data: dict[str, Any]) -> None:
    data["current_paths"]["levels"]["pelvis"] = []


def _arms_in_one_chain_with_the_trunk(data: dict[str, Any]) -> None:
    chains = data["current_paths"]["chains"]
    chains["upper_limb"] = [*chains["back"], *chains["upper_limb"]]
    del chains["back"]


def _tibial_to_the_hand(data: dict[str, Any]) -> None:
    data["nerves"]["tibial"]["territory"] = ["hand"]


BREAKAGES: list[tuple[Callable[[FactsOf], None], Callable[[dict[str, Any]], None]]] = [
    (check_limb_findings_concern_the_whole_limb, _set_extent("lymphedema", "region")),
    (check_limb_findings_concern_the_whole_limb, _set_extent("dvt", "neighbourhood")),
    (check_near_findings_concern_the_neighbours, _drop_neighbours("knee")),
    (check_near_findings_concern_the_neighbours, _set_extent("tumour", "region")),
    (check_devices_concern_where_they_sit_and_run, _picc_only_at_chest),
    (check_devices_concern_where_they_sit_and_run, lambda d: d["devices"]["joint_prosthesis"].update(extent="region")),
    (check_current_paths, _no_pelvis_crossing),
    (check_current_between_limbs_crosses_the_trunk, _no_pelvis_crossing),
    (check_current_paths, _arms_in_one_chain_with_the_trunk),
    (check_dvt_concerns_every_circuit_through_the_leg, _set_extent("dvt", "region")),
    (check_nerve_territories, _tibial_to_the_hand),
    (check_a_node_basin_concerns_its_limb, lambda d: d.pop("basins")),
]


@pytest.mark.parametrize(
    ("check", "breakage"),
    BREAKAGES,
    ids=[f"{c.__name__.removeprefix('check_')}-{i}" for i, (c, _) in enumerate(BREAKAGES)],
)
def test_breakage_each_body_check_fails_on_a_broken_model(
    check: Callable[[FactsOf], None], breakage: Callable[[dict[str, Any]], None], ruleset: Ruleset
) -> None:
    broken = _body(ruleset, breakage)
    with pytest.raises(AssertionError):
        check(_facts_of(ruleset, broken))


# --- the model's own file ----------------------------------------------------------------------------------------


def test_every_finding_kind_has_an_extent_and_every_device_kind_a_place(ruleset: Ruleset) -> None:
    from typing import get_args

    from needlescreen.intake import DeviceKind, FindingKind

    # Peripheral arterial disease recorded in a limb is placed like a finding (patient.vascular_disease_locations).
    assert set(ruleset.body.extents) == {*get_args(FindingKind), "vascular_disease"}
    assert set(ruleset.body.devices) == set(get_args(DeviceKind))


@pytest.mark.parametrize(
    ("change", "text"),
    [
        (lambda d: d["neighbours"].append(["knee", "kneee"]), "unknown region 'kneee'"),
        (lambda d: d["neighbours"].append(["knee", "knee"]), "not its own neighbour"),
        (lambda d: d["nerves"]["tibial"].update(default="hand"), "default must be one of the points"),
        (lambda d: d["findings"]["dvt"].update(extent="everywhere"), "findings.dvt.extent"),
        (lambda d: d["current_paths"]["crossings"].update(chest="chest_wall"), "must be a grouping"),
        (lambda d: d["devices"]["pacemaker"]["places"][0].update(at=["heart"]), "unknown region 'heart'"),
    ],
)
def test_a_broken_body_file_is_refused_naming_the_entry(
    change: Callable[[dict[str, Any]], None], text: str, ruleset: Ruleset
) -> None:
    from needlescreen import RuleFileError

    data = copy.deepcopy(_body_data())
    change(data)
    with pytest.raises(RuleFileError, match=text.replace("(", r"\(")):
        BodyModel.from_data(data, regions=ruleset.regions)


# --- every region x every finding kind x every side ----------------------------------------------------------


def check_every_finding_concerns_its_own_site_and_never_the_other_limb(facts: FactsOf, ruleset: Ruleset) -> None:
    """For every site region, finding kind and side: a finding recorded at a site's own region and side concerns
    that site, and a finding on one limb never concerns a site of the same limb on the other side."""
    regions = ruleset.regions
    site_regions = [r for r in regions.ids() if not regions[r].group]
    for kind in (*LIMB_KINDS, *NEAR_KINDS, "reduced_sensation", "spinal_instability"):
        for region in site_regions:
            sided = regions[region].sided
            for side in ("left", "right") if sided else (None, "left", "right", "midline"):
                intake = with_changes(baseline_intake(), _finding(kind, region, side))
                site_side = side or ("left" if sided else None)
                own = _site_values(facts(with_changes(intake, _plan([(region, site_side)]))), f"site.{kind}")
                assert own[(region, site_side)] == "yes", (kind, region, side)
                if sided:
                    other = "right" if side == "left" else "left"
                    limb = next(k for k, v in LIMB.items() if region in v)
                    values = _site_values(
                        facts(with_changes(intake, _plan((r, other) for r in LIMB[limb]))), f"site.{kind}"
                    )
                    assert all(v == "no" for v in values.values()), (kind, region, side, values)


def test_every_finding_concerns_its_own_site_and_never_the_other_limb(ruleset: Ruleset) -> None:
    check_every_finding_concerns_its_own_site_and_never_the_other_limb(_facts_of(ruleset, ruleset.body), ruleset)


def test_breakage_the_side_check_fails_on_a_model_that_ignores_sides(ruleset: Ruleset) -> None:
    class SideBlind(BodyModel):
        def concerns(self, place: Any, region: str, side: str | None) -> Any:  # noqa: ARG002 - deliberately ignored
            return super().concerns(type(place)(place.regions, None if place.side != "both" else "both"), region, None)

    data = _body_data()
    blind = SideBlind.from_data(data, regions=ruleset.regions)
    with pytest.raises(AssertionError):
        check_every_finding_concerns_its_own_site_and_never_the_other_limb(_facts_of(ruleset, blind), ruleset)
