"""Numbers are compared exactly as entered, on both engines, at every threshold of every rule.

The boundaries are read from the loaded rules (policy values bound), so a new threshold is tested without a new
row here; each needs a *base* patient (below) in which that one comparison decides the rule. The expected side
of each boundary follows the rule's own comparison operator: ``lt 18`` holds at 17.999999 and not at 18.0.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from needlescreen import Screener
from needlescreen.conditions import All, Atom, Not
from needlescreen.conditions import Any as AnyOf
from needlescreen.engine import available_engines
from needlescreen.ruleset import Ruleset, load_ruleset

from .cases import EDN_ABDOMEN, EDN_CALF_PAIR, at, edn, finding, meds, merge
from .conftest import changed

EPSILON = Decimal("0.000001")
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "lt": lambda x, t: x < t,
    "le": lambda x, t: x <= t,
    "gt": lambda x, t: x > t,
    "ge": lambda x, t: x >= t,
}


def _put(*path: str) -> Callable[[dict[str, Any], float], None]:
    def put(intake: dict[str, Any], value: float) -> None:
        node = intake
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value

    return put


def _inr_over_target(intake: dict[str, Any], value: float) -> None:
    # The base gives a target upper bound of 3.0; the INR is that plus the wanted excess, as a person types it.
    intake["labs"]["inr"]["value"] = float(Decimal("3.0") + Decimal(repr(value)))


def _count_on_cycle_day(lab: str) -> Callable[[dict[str, Any], float], None]:
    # The base is on day 14 of a cycle; the count's cycle day is 14 minus its age, as a person types the age.
    def put(intake: dict[str, Any], value: float) -> None:
        intake["labs"][lab]["age_days"] = float(Decimal("14") - Decimal(repr(value)))

    return put


#: Numeric facts, and how a clinician's answer sets each one.
SETTERS: dict[str, Callable[[dict[str, Any], float], None]] = {
    "patient.age": _put("patient", "age"),
    "patient.bmi": _put("patient", "bmi"),
    "patient.temperature_c": _put("patient", "fever", "temperature_c"),
    "patient.gestational_weeks": _put("patient", "pregnancy", "gestational_weeks"),
    "labs.inr": _put("labs", "inr", "value"),
    "labs.inr_age_days": _put("labs", "inr", "age_days"),
    "labs.inr_above_target_by": _inr_over_target,
    "labs.platelets": _put("labs", "platelets", "value"),
    "labs.platelets_age_days": _put("labs", "platelets", "age_days"),
    "labs.anc": _put("labs", "anc", "value"),
    "labs.anc_age_days": _put("labs", "anc", "age_days"),
    "site.surgery_weeks_ago": _put("findings", "recent_surgery", "weeks_ago"),
    "site.dvt_weeks_ago": _put("findings", "dvt", "weeks_ago"),
    "circuit.dvt_weeks_ago": _put("findings", "dvt", "weeks_ago"),
    "patient.chemo_cycle_day": _put("patient", "chemo_cycle_day"),
    "labs.anc_cycle_day": _count_on_cycle_day("anc"),
    "labs.platelets_cycle_day": _count_on_cycle_day("platelets"),
}
#: Counts of things (drugs, sides of the chest): whole numbers, never a millionth either side.
COUNTS = frozenset({"meds.antithrombotic_count", "meds.antithrombotic_listed", "plan.thorax_sides"})

WARFARIN = meds("warfarin")
PREGNANCY_UNKNOWN = {"patient": {"pregnancy": {"status": "unknown"}}}
SURGERY_AT_SITE = finding("recent_surgery", "calf", "right")
DVT_AT_SITE = finding("dvt", "calf", "right")
#: (rule, fact) -> (a patient in which that comparison alone decides the rule, the rule's status when it holds)
BASES: dict[tuple[str, str], tuple[dict[str, Any], str]] = {
    ("ANTICOAG_VKA_HIGH", "labs.inr_above_target_by"): (
        merge(WARFARIN, {"labs": {"inr": {"value": 2.5, "target_low": 2.0, "target_high": 3.0, "age_days": 2.0}}}),
        "fired",
    ),
    ("ANTICOAG_VKA_HIGH", "labs.inr"): (merge(WARFARIN, {"labs": {"inr": {"value": 2.5, "age_days": 2.0}}}), "fired"),
    ("ANTICOAG_LAB_MISSING", "labs.inr_age_days"): (
        merge(WARFARIN, {"labs": {"inr": {"value": 2.5, "target_high": 3.0}}}),
        "fired",
    ),
    ("INR_UNEXPLAINED", "labs.inr"): ({"labs": {"inr": {"value": 1.0, "age_days": 2.0}}}, "fired"),
    ("THROMBOCYTOPENIA_SEVERE", "labs.platelets"): ({"labs": {"platelets": {"value": 1.0, "age_days": 2.0}}}, "fired"),
    ("THROMBOCYTOPENIA", "labs.platelets"): ({"labs": {"platelets": {"value": 1.0, "age_days": 2.0}}}, "fired"),
    ("NEUTROPENIA_SEVERE", "labs.anc"): ({"labs": {"anc": {"value": 1.0, "age_days": 2.0}}}, "fired"),
    ("NEUTROPENIA", "labs.anc"): ({"labs": {"anc": {"value": 1.0, "age_days": 2.0}}}, "fired"),
    ("ACTIVE_CHEMO_COUNTS_STALE", "labs.platelets_age_days"): (
        {
            "patient": {"active_chemotherapy": "yes"},
            "labs": {"platelets": {"value": 200.0}, "anc": {"value": 3.0, "age_days": 2.0}},
        },
        "fired",
    ),
    ("ACTIVE_CHEMO_COUNTS_STALE", "labs.anc_age_days"): (
        {
            "patient": {"active_chemotherapy": "yes"},
            "labs": {"platelets": {"value": 200.0, "age_days": 2.0}, "anc": {"value": 3.0}},
        },
        "fired",
    ),
    ("MINOR", "patient.age"): ({"patient": {"consent": {"guardian_consent": "yes"}}}, "fired"),
    ("MINOR_NO_GUARDIAN", "patient.age"): ({"patient": {"consent": {"guardian_consent": "no"}}}, "fired"),
    ("SYSTEMIC_INFECTION", "patient.temperature_c"): ({"patient": {"fever": {"answer": "no"}}}, "fired"),
    ("PREG_T1", "patient.gestational_weeks"): ({"patient": {"pregnancy": {"status": "pregnant"}}}, "fired"),
    ("PREG_T2T3", "patient.gestational_weeks"): ({"patient": {"pregnancy": {"status": "pregnant"}}}, "fired"),
    # Age decides the pregnancy rules only while the pregnancy status is unknown: under 60 they ask (unknown).
    ("PREG_T1", "patient.age"): (PREGNANCY_UNKNOWN, "unknown"),
    ("PREG_T2T3", "patient.age"): (PREGNANCY_UNKNOWN, "unknown"),
    ("PREG_POSSIBLE", "patient.age"): (merge(PREGNANCY_UNKNOWN, at("lumbar")), "unknown"),
    ("PREG_REGIONS", "patient.age"): (merge(PREGNANCY_UNKNOWN, at("lumbar")), "unknown"),
    ("PREG_ELECTRICAL_TRUNK", "patient.age"): (merge(PREGNANCY_UNKNOWN, EDN_ABDOMEN), "unknown"),
    ("PREG_ELECTRICAL_LIMB", "patient.age"): (merge(PREGNANCY_UNKNOWN, EDN_CALF_PAIR), "unknown"),
    ("PREG_CURRENT_THROUGH_TRUNK", "patient.age"): (
        merge(PREGNANCY_UNKNOWN, edn(("calf", "left"), ("calf", "right"))),
        "unknown",
    ),
    ("PTX_RISK_FACTORS", "patient.bmi"): (at("interscapular", "left"), "fired"),
    ("PROHIBITED_SITE", "patient.age"): (
        merge({"patient": {"consent": {"guardian_consent": "yes"}}}, at("scalp")),
        "fired",
    ),
    ("RECENT_SURGERY_SITE", "site.surgery_weeks_ago"): (SURGERY_AT_SITE, "fired"),
    ("RECENT_SURGERY_SITE_HEALED", "site.surgery_weeks_ago"): (SURGERY_AT_SITE, "fired"),
    ("DVT_ACUTE", "site.dvt_weeks_ago"): (DVT_AT_SITE, "fired"),
    ("DVT_PAST", "site.dvt_weeks_ago"): (DVT_AT_SITE, "fired"),
    ("DVT_IN_CURRENT_PATH", "circuit.dvt_weeks_ago"): (merge(DVT_AT_SITE, EDN_CALF_PAIR), "fired"),
    # Counts from the previous cycle (30 days old) never show this cycle's nadir: the cycle day decides.
    ("CHEMO_NADIR_COUNTS", "patient.chemo_cycle_day"): (
        {
            "patient": {"active_chemotherapy": "yes"},
            "labs": {"anc": {"value": 3.0, "age_days": 30.0}, "platelets": {"value": 250.0, "age_days": 30.0}},
        },
        "fired",
    ),
    # On day 14, with the other count taken today (inside the window): the count's cycle day decides.
    ("CHEMO_NADIR_COUNTS", "labs.anc_cycle_day"): (
        {
            "patient": {"active_chemotherapy": "yes", "chemo_cycle_day": 14.0},
            "labs": {"anc": {"value": 3.0}, "platelets": {"value": 250.0, "age_days": 0.0}},
        },
        "fired",
    ),
    ("CHEMO_NADIR_COUNTS", "labs.platelets_cycle_day"): (
        {
            "patient": {"active_chemotherapy": "yes", "chemo_cycle_day": 14.0},
            "labs": {"anc": {"value": 3.0, "age_days": 0.0}, "platelets": {"value": 250.0}},
        },
        "fired",
    ),
    # On warfarin with the bleeding question unanswered: an INR too old to count leaves it to be asked.
    ("BLEEDING_HISTORY", "labs.inr_age_days"): (
        merge(
            WARFARIN,
            {"patient": {"bleeding_history": "unknown"}},
            {"labs": {"inr": {"value": 2.5, "target_high": 3.0}}},
        ),
        "unknown",
    ),
    ("INR_HIGH_ON_NON_VKA", "labs.inr"): (
        merge(meds("apixaban"), {"labs": {"inr": {"value": 1.0, "age_days": 2.0}}}),
        "fired",
    ),
}


def _atoms(cond: Any, negated: bool = False) -> Iterator[tuple[Atom, bool]]:
    if isinstance(cond, Atom):
        yield cond, negated
    elif isinstance(cond, Not):
        yield from _atoms(cond.part, not negated)
    else:
        assert isinstance(cond, All | AnyOf)
        for part in cond.parts:
            yield from _atoms(part, negated)


def _thresholds(ruleset: Ruleset) -> list[tuple[str, str, str, float, bool]]:
    """(rule, fact, operator, threshold, under a negation) for every numeric comparison of every rule."""
    return [
        (rule.id, atom.fact, atom.op, float(atom.value), negated)  # type: ignore[arg-type]
        for rule in ruleset.rules
        for atom, negated in _atoms(rule.condition)
        if atom.op in _COMPARE
    ]


THRESHOLDS = _thresholds(load_ruleset())


def test_every_numeric_threshold_has_a_deciding_patient() -> None:
    unset = sorted({fact for _r, fact, *_ in THRESHOLDS} - set(SETTERS) - COUNTS)
    assert not unset, f"no intake answer sets these numeric facts (add to SETTERS): {unset}"
    missing = sorted({(r, f) for r, f, *_ in THRESHOLDS if f not in COUNTS} - set(BASES))
    assert not missing, f"thresholds without a base patient (add to BASES): {missing}"


def _status(result: Any, rule_id: str) -> str | None:
    statuses = {f.status for f in result.findings if f.rule_id == rule_id}
    assert len(statuses) <= 1, statuses
    return next(iter(statuses), None)


DECIMAL_THRESHOLDS = [t for t in THRESHOLDS if t[1] not in COUNTS]


DECIMAL_IDS = [f"{r}-{f}-{op}-{t:g}" for r, f, op, t, _ in DECIMAL_THRESHOLDS]


@pytest.mark.parametrize("where", DECIMAL_THRESHOLDS, ids=DECIMAL_IDS)
@pytest.mark.parametrize("delta", [-EPSILON, Decimal(0), EPSILON], ids=["minus_1e-6", "at", "plus_1e-6"])
def test_a_millionth_either_side_of_a_threshold_lands_on_the_operators_side(
    where: tuple[str, str, str, float, bool], delta: Decimal, screeners: dict[str, Screener], screen_all: Any
) -> None:
    rule_id, fact, op, threshold, negated = where
    base, when_holds = BASES[(rule_id, fact)]
    value = float(Decimal(repr(threshold)) + delta)
    intake = changed(base)
    SETTERS[fact](intake, value)
    facts = next(iter(screeners.values())).facts(intake)[1]
    fact_sets = [facts.patient, *(fs for _s, fs in facts.sites), *(fs for _c, fs in facts.circuits)]
    assert {fs[fact] for fs in fact_sets if fact in fs} == {value}, "the fact is not the number as entered"
    holds = _COMPARE[op](value, threshold) != negated
    assert _status(screen_all(intake), rule_id) == (when_holds if holds else None), (rule_id, fact, op, value)


ANTITHROMBOTICS = ("aspirin", "clopidogrel", "apixaban", "enoxaparin")


def _on_drugs(n: int, *others: str) -> dict[str, Any]:
    return meds(*ANTITHROMBOTICS[:n], *others)


def _thorax_sides(n: int) -> dict[str, Any]:
    sides = ("left", "right")[:n]
    sites = [{"id": f"t{i}", "region": "upper_trapezius", "side": side} for i, side in enumerate(sides)]
    return {"plan": {"technique": "dry_needling", "sites": sites or [{"id": "c", "region": "calf", "side": "right"}]}}


#: (rule, count fact, threshold) -> (a patient with n of the thing counted, the rule's status when it holds)
COUNT_BASES: dict[tuple[str, str, float], tuple[Callable[[int], dict[str, Any]], str]] = {
    ("MULTI_ANTITHROMBOTIC", "meds.antithrombotic_count", 2.0): (_on_drugs, "fired"),
    ("MULTI_ANTITHROMBOTIC_TRIPLE", "meds.antithrombotic_count", 3.0): (_on_drugs, "fired"),
    ("MULTI_ANTITHROMBOTIC", "meds.antithrombotic_listed", 2.0): (_on_drugs, "fired"),
    ("MULTI_ANTITHROMBOTIC", "meds.antithrombotic_listed", 1.0): (lambda n: _on_drugs(n, "ibuprofen"), "fired"),
    ("MULTI_ANTITHROMBOTIC_TRIPLE", "meds.antithrombotic_listed", 3.0): (_on_drugs, "fired"),
    ("BILATERAL_THORAX", "plan.thorax_sides", 2.0): (_thorax_sides, "fired"),
}
COUNT_THRESHOLDS = [t for t in THRESHOLDS if t[1] in COUNTS]


def test_every_count_threshold_has_a_deciding_patient() -> None:
    assert sorted((r, f, t) for r, f, _op, t, _n in COUNT_THRESHOLDS) == sorted(COUNT_BASES)


@pytest.mark.parametrize("where", COUNT_THRESHOLDS, ids=[f"{r}-{f}-{op}-{t:g}" for r, f, op, t, _ in COUNT_THRESHOLDS])
@pytest.mark.parametrize("step", [-1, 0, 1])
def test_one_either_side_of_a_count_threshold_lands_on_the_operators_side(
    where: tuple[str, str, str, float, bool], step: int, screen_all: Any
) -> None:
    rule_id, fact, op, threshold, negated = where
    build, when_holds = COUNT_BASES[(rule_id, fact, threshold)]
    n = int(threshold) + step
    assert n >= 0 and float(int(threshold)) == threshold, "count thresholds are whole numbers from 1"
    holds = _COMPARE[op](float(n), threshold) != negated
    assert _status(screen_all(changed(build(n))), rule_id) == (when_holds if holds else None), (rule_id, n)


#: Clinical statements from the issue: numbers that rounding put on the wrong side.
EXACT_CASES = [
    ("a 17.99999-year-old is a minor", {"patient": {"age": 17.99999}}, "MINOR", "fired"),
    ("an 18-year-old is not", {"patient": {"age": 18.0}}, "MINOR", None),
    (
        "platelets of 49.99999 are below 50",
        {"labs": {"platelets": {"value": 49.99999, "age_days": 1.0}}},
        "THROMBOCYTOPENIA_SEVERE",
        "fired",
    ),
    (
        "an INR of 3.50001 on warfarin with no target is above 3.5",
        merge(WARFARIN, {"labs": {"inr": {"value": 3.50001, "age_days": 1.0}}}),
        "ANTICOAG_VKA_HIGH",
        "fired",
    ),
    (
        "an INR 1e-7 above its target of 3.0 is above it",
        merge(WARFARIN, {"labs": {"inr": {"value": 3.0000001, "target_high": 3.0, "age_days": 1.0}}}),
        "ANTICOAG_VKA_HIGH",
        "fired",
    ),
    (
        "an INR equal to its target is not above it",
        merge(WARFARIN, {"labs": {"inr": {"value": 3.1, "target_high": 3.1, "age_days": 1.0}}}),
        "ANTICOAG_VKA_HIGH",
        None,
    ),
    (
        "a temperature of 37.99999 C is not a fever",
        {"patient": {"fever": {"answer": "no", "temperature_c": 37.99999}}},
        "SYSTEMIC_INFECTION",
        None,
    ),
]


@pytest.mark.parametrize(("statement", "changes", "rule_id", "status"), EXACT_CASES, ids=[c[0] for c in EXACT_CASES])
def test_numbers_close_to_a_threshold(
    statement: str, changes: Any, rule_id: str, status: str | None, screen_all: Any
) -> None:
    assert _status(screen_all(changed(changes)), rule_id) == status, statement


def test_an_inr_margin_is_the_decimal_difference(ruleset: Ruleset) -> None:
    """3.6 - 3.1 is exactly the 0.5 margin a clinic set, not 0.5000000000000004 (which is above it)."""
    from needlescreen.testing import clinic_screener

    intake = changed(merge(WARFARIN, {"labs": {"inr": {"value": 3.6, "target_high": 3.1, "age_days": 1.0}}}))
    result = clinic_screener(inr_margin=0.5).screen(intake)
    assert "ANTICOAG_VKA_HIGH" not in {f.rule_id for f in result.findings}


needs_durable = pytest.mark.skipif("durable_rules" not in available_engines(), reason="durable_rules not loadable")


@needs_durable
@given(st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([1e-7, -1e-7, 1e-5, 1e16, 17.99999, 0.0]))
def test_the_durable_adapter_writes_every_number_exactly_without_an_exponent(x: float) -> None:
    from needlescreen._durable import encode

    text = encode({"x": x, "xs": [x], "s": "e-1"})
    assert "e" not in text.replace('"e-1"', "").lower(), text
    assert json.loads(text) == {"x": x, "xs": [x], "s": "e-1"}


@needs_durable
def test_the_durable_adapter_refuses_a_number_it_cannot_write() -> None:
    from needlescreen._durable import encode
    from needlescreen.errors import EngineError

    with pytest.raises(EngineError):
        encode({"x": math.inf})
