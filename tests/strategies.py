"""Hypothesis strategies for intakes, and the safety orders the property tests rely on.

Intakes are drawn from the intake model itself wherever it can be read generically: every yes/no/unknown
answer and every enumerated question of the patient (and its nested consent, pregnancy and fever models), every
finding kind and every device kind the model declares. So a question the catalogue adds is drawn, screened and
ordered toward risk (see :data:`ORDERS`) without touching this file. Numbers are drawn around every numeric
constant the loaded rules compare with (policy values included), so thresholds are hit exactly and from both
sides. Regions and medication names come from the ruleset's own data files.

"Toward risk" is defined here as data (:func:`answer_order`, :data:`ORDERS`, :data:`PROTECTIVE`) and used by
the monotonicity property in ``test_properties.py``; the reasons for each order are in the comments.
"""

from __future__ import annotations

import copy
import math
import types
import typing
from collections.abc import Callable, Iterable
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st
from pydantic import BaseModel

from needlescreen.conditions import Atom, atoms
from needlescreen.intake import (
    MAX_DEVICES,
    MAX_LOCATIONS,
    MAX_MEDICATIONS,
    MAX_SITES,
    DeviceKind,
    Devices,
    Findings,
    Medications,
    Patient,
)
from needlescreen.ruleset import Ruleset, load_ruleset

Draw = Callable[[st.SearchStrategy[Any]], Any]
Intake = dict[str, Any]


@lru_cache(maxsize=1)
def bundled() -> Ruleset:
    """The bundled ruleset (loaded once per process)."""
    return load_ruleset()


# --- reading the intake model -------------------------------------------------------------------------------


def literal_values(annotation: object) -> tuple[str, ...] | None:
    """The values of a ``Literal[...]`` annotation (through ``Optional``/``Annotated``), else None."""
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return tuple(str(a) for a in typing.get_args(annotation))
    if origin is typing.Annotated:
        return literal_values(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = literal_values(arg)
            if found is not None:
                return found
    return None


def enum_fields(model: type[BaseModel], prefix: str) -> dict[str, tuple[str, ...]]:
    """Every enumerated (``Literal``) field of a model and of its nested models, by dotted intake path."""
    out: dict[str, tuple[str, ...]] = {}
    for name, info in model.model_fields.items():
        path = f"{prefix}.{name}"
        values = literal_values(info.annotation)
        if values is not None:
            out[path] = values
        elif isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            out.update(enum_fields(info.annotation, path))
    return out


#: Every enumerated question of the patient, by intake path (``patient.consent.agrees``...).
PATIENT_ENUMS: dict[str, tuple[str, ...]] = enum_fields(Patient, "patient")
FINDING_KINDS: tuple[str, ...] = tuple(Findings.model_fields)
DEVICE_KINDS: tuple[str, ...] = tuple(typing.get_args(DeviceKind))
SIDES = ("left", "right", "both", "midline")
#: Whether a device list can say that other, unlisted devices may exist (``devices.others``).
DEVICE_OTHERS = "others" in Devices.model_fields
#: Whether the intake holds the "blood thinner that needs INR checks" answer apart from the list.
MEDICATIONS_VKA = "vka" in Medications.model_fields

# --- toward risk, as data -----------------------------------------------------------------------------------
#
# A partial order per question: (safer, riskier) pairs, closed transitively. Unknown sits above every answer
# that rules a risk out and below every answer that asserts the risk ("unknown is not no", "no -> unknown ->
# yes"). Known answers of different severity are ordered only where the clinical meaning is a strict
# worsening. Values left unordered are unordered on purpose:
#
# * mild vs unknown bleeding disorder, controlled vs unknown diabetes/epilepsy: unknown may be the severe case,
#   for which a rule may ask (caution) while the mild case is decided; neither is "riskier".
# * possibly pregnant vs unknown: "unknown" includes "pregnant", which "possibly" (treated as first trimester
#   at trunk sites only) does not settle either way.
# * pregnant with known weeks vs possibly pregnant: a confirmed second-trimester pregnancy is less restricted
#   than a possible (first-trimester) one, so only "pregnant, weeks unknown" tops the order.
# * sex: only "male" is safer than the others, because it is the one answer that removes a question (the
#   pregnancy questions are not asked of male patients). Female/other/unknown are not ordered.
# * age: risk runs both ways (minors, pregnancy below 60, frailty in old age), so no order is justified.
# * the side of a past pneumothorax: either side refers thoracic needling, so the side has no direction (an
#   empty order: recorded, never moved).
# * the chemotherapy cycle day: inside the nadir window is riskier than outside it, on both sides, so no order;
#   it is drawn on and around the window's edges.

RISK_FACTOR = (("no", "unknown"), ("unknown", "yes"))
PROTECTIVE_ORDER = (("yes", "unknown"), ("unknown", "no"))

#: Yes/no questions where "yes" is the safe answer; every other yes/no question is a risk factor.
PROTECTIVE: frozenset[str] = frozenset(
    {
        "patient.consent.agrees",
        "patient.consent.capacity",
        "patient.consent.guardian_consent",
        "patient.can_keep_still",
        "medications.complete",
    }
)

ORDERS: dict[frozenset[str], tuple[tuple[str, str], ...]] = {
    # bleeding disorder: none < mild < severe, none < unknown < severe
    frozenset({"none", "mild", "severe", "unknown"}): (
        ("none", "mild"),
        ("mild", "severe"),
        ("none", "unknown"),
        ("unknown", "severe"),
    ),
    # diabetes, epilepsy: none < controlled < uncontrolled, none < unknown < uncontrolled
    frozenset({"none", "controlled", "uncontrolled", "unknown"}): (
        ("none", "controlled"),
        ("controlled", "uncontrolled"),
        ("none", "unknown"),
        ("unknown", "uncontrolled"),
    ),
    # sex: male removes the pregnancy questions; nothing else is ordered
    frozenset({"female", "male", "other", "unknown"}): (("male", "female"), ("male", "other"), ("male", "unknown")),
    # the side of a past pneumothorax: no direction (see above)
    frozenset({"left", "right", "both"}): (),
}

#: Enumerated questions handled by a dedicated move (pregnancy status goes with gestational weeks; peripheral
#: arterial disease with the limbs it is recorded in).
SPECIAL_ENUMS: frozenset[str] = frozenset({"patient.pregnancy.status", "patient.vascular_disease"})


def answer_order(path: str, values: Iterable[str]) -> tuple[tuple[str, str], ...] | None:
    """The (safer, riskier) pairs of one enumerated question, or None when no order is defined for it."""
    vals = frozenset(values)
    if vals == {"yes", "no", "unknown"}:
        return PROTECTIVE_ORDER if path in PROTECTIVE else RISK_FACTOR
    return ORDERS.get(vals)


def riskier_values(order: tuple[tuple[str, str], ...], value: str) -> list[str]:
    """Every value strictly riskier than ``value`` under the transitive closure of ``order``."""
    out: list[str] = []
    frontier = [value]
    while frontier:
        v = frontier.pop()
        for lo, hi in order:
            if lo == v and hi not in out:
                out.append(hi)
                frontier.append(hi)
    return sorted(out)


# --- values the rules compare with ------------------------------------------------------------------------


def rule_atoms(ruleset: Ruleset) -> list[Atom]:
    """Every test of every rule (policy values bound)."""
    return [a for r in ruleset.rules for a in atoms(r.condition)]


@lru_cache(maxsize=1)
def thresholds() -> tuple[float, ...]:
    """Every number a rule compares with, for drawing values on and around each threshold."""
    out = {float(a.value) for a in rule_atoms(bundled()) if isinstance(a.value, int | float) and a.value is not True}
    return tuple(sorted(out))


@cache
def _choice(values: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    # Strategies are cached: building one per draw costs more than the screening under test.
    return st.sampled_from(values)


@cache
def _ints(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.integers(lo, hi)


@cache
def number(lo: float, hi: float) -> st.SearchStrategy[float]:
    """A float in [lo, hi], often exactly on or just beside a rule threshold."""
    near = sorted({round(t + d, 2) for t in thresholds() for d in (-0.1, -0.01, 0.0, 0.01, 0.1, 1.0)})
    pool = [v for v in near if lo <= v <= hi] + [float(lo), float(hi)]
    whole = [st.integers(math.ceil(lo), math.floor(hi)).map(float)] if math.ceil(lo) <= math.floor(hi) else []
    return st.one_of(
        st.sampled_from(pool),
        *whole,
        st.floats(lo, hi, allow_nan=False, allow_infinity=False).map(lambda x: min(hi, max(lo, round(x, 2)))),
    )


# --- names from the ruleset's data files ------------------------------------------------------------------


@lru_cache(maxsize=1)
def medication_pool() -> tuple[tuple[str, str | None], ...]:
    """Recognised names, ATC codes, and names nobody recognises (unrecognised must never read as "no")."""
    data = yaml.safe_load((Path(bundled().directory) / "medications.yaml").read_text(encoding="utf-8"))
    names: list[tuple[str, str | None]] = []
    for spec in (data.get("classes") or {}).values():
        names += [(n, None) for n in spec.get("names", [])]
        names += [("unnamed", code) for code in spec.get("atc", [])]
    other = data.get("recognised_other") or {}
    names += [(n, None) for n in other.get("names", [])]
    names += [("mystery pill", None), ("Xyzzy forte", None), ("unnamed", "Z99ZZ99"), (" Warfarin ", None)]
    return tuple(names)


@lru_cache(maxsize=1)
def condition_codes() -> tuple[str, ...]:
    """Every code of the code map (``codes.yaml``), when the ruleset has one."""
    path = Path(bundled().directory) / "codes.yaml"
    if not path.exists():
        return ()
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return tuple(str(entry["code"]) for entry in data.get("codes", []))


@lru_cache(maxsize=1)
def site_regions() -> tuple[str, ...]:
    regions = bundled().regions
    return tuple(r for r in regions.ids() if not regions[r].group)


@lru_cache(maxsize=1)
def muscles() -> tuple[tuple[str, str], ...]:
    """(muscle name, region it places a site in) for every muscle the vocabulary places without a level."""
    vocabulary = bundled().vocabulary
    out = []
    for name in vocabulary.names("muscle"):
        try:
            out.append((name, vocabulary.place(name).region))
        except ValueError:
            continue  # a muscle that needs a spinal level ("multifidus L4") or the site's region
    return tuple(out)


@lru_cache(maxsize=1)
def all_regions() -> tuple[str, ...]:
    return tuple(bundled().regions.ids())


# --- strategies ---------------------------------------------------------------------------------------------


@cache
def medication() -> st.SearchStrategy[dict[str, Any]]:
    return st.sampled_from(medication_pool()).map(lambda p: {"name": p[0], **({"atc": p[1]} if p[1] else {})})


@cache
def location() -> st.SearchStrategy[dict[str, Any]]:
    # A limb finding or device is never 'midline' (the intake refuses it: it cannot be placed).
    regions = bundled().regions
    return st.builds(
        lambda region, side: {
            "region": region,
            **({"side": side} if side and not (side == "midline" and regions[region].sided) else {}),
        },
        st.sampled_from(all_regions()),
        st.sampled_from((None, *SIDES)),
    )


@cache
def device() -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda kind, loc: {"kind": kind, **({"location": loc} if loc else {})},
        st.sampled_from(DEVICE_KINDS),
        st.none() | location(),
    )


@st.composite
def site(draw: Draw, site_id: str) -> dict[str, Any]:
    """A planned site by region, by muscle name alone or by nerve alone (perineural), which normalisation places."""
    out: dict[str, Any] = {"id": site_id}
    roll = draw(_ints(0, 9))
    if roll == 0:
        nerve = draw(_choice(tuple(sorted(bundled().body.nerves))))
        region = bundled().body.nerves[nerve].default
        out.update({"nerve": nerve, "technique": "perineural"})
    elif muscles() and roll <= 2:
        name, region = draw(_choice(muscles()))
        out["muscle"] = name
    else:
        region = draw(_choice(site_regions()))
        out["region"] = region
    if bundled().regions[region].sided:
        out["side"] = draw(_choice(("left", "right")))
    else:
        side = draw(_choice((None, "left", "right", "midline")))
        if side:
            out["side"] = side
    if draw(st.booleans()):
        out["depth_mm"] = draw(number(0.5, 150))
    return out


@st.composite
def finding(draw: Draw) -> dict[str, Any]:
    answer = draw(_choice(("yes", "no", "unknown")))
    out: dict[str, Any] = {"answer": answer}
    if answer == "yes" and draw(_ints(0, 4)):
        out["locations"] = draw(st.lists(location(), min_size=1, max_size=3))
    if draw(_ints(0, 3)) == 0:
        out["weeks_ago"] = draw(number(0, 5200))
    return out


@st.composite
def lab(draw: Draw, lo: float, hi: float) -> dict[str, Any]:
    out: dict[str, Any] = {"value": draw(number(lo, hi))}
    if draw(_ints(0, 3)):
        out["age_days"] = draw(number(0, 3650) | st.sampled_from((0.0, 1.0, 7.0, 14.0, 21.0, 28.0, 29.0, 60.0)))
    return out


@st.composite
def inr_lab(draw: Draw) -> dict[str, Any]:
    out = draw(lab(0.5, 20))
    if draw(st.booleans()):
        low, high = sorted((draw(number(0.5, 10)), draw(number(0.5, 10))))
        out["target_low"], out["target_high"] = low, high
    return out


def safest(path: str, values: tuple[str, ...]) -> str | None:
    """The answer nothing is safer than (e.g. "no" for a risk factor, "yes" for consent), if the order has one."""
    order = answer_order(path, values)
    if order is None:
        return None
    lowest = [v for v in values if not any(hi == v for _lo, hi in order)]
    return lowest[0] if len(lowest) == 1 else None


@st.composite
def patient(draw: Draw, calm: int = 0) -> dict[str, Any]:
    """Every enumerated question drawn from its own values (or left out: unknown), and the numbers.

    ``calm`` 1: most answers are the safe answer; 2: each answer is safe or unknown, never a risk. Calm
    patients let one step toward risk show in the verdict instead of being masked by another reason to refer
    (the monotonicity property needs all three kinds).
    """
    p: dict[str, Any] = {}
    for path, values in PATIENT_ENUMS.items():
        safe = safest(path, values) if path != "patient.pregnancy.status" else "not_pregnant"
        if calm == 2 and safe is not None:
            if draw(_ints(0, 2)) == 0:
                continue  # unknown
            value = safe
        elif calm and safe is not None and draw(_ints(0, 9)):
            value = safe
        elif draw(_ints(0, 5)) == 0:
            continue  # absent: unknown
        else:
            value = draw(_choice(values))
        node = p
        *parents, leaf = path.split(".")[1:]
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    if p.get("vascular_disease") == "yes" and draw(_ints(0, 2)) == 0:
        p["vascular_disease_locations"] = draw(st.lists(location(), min_size=1, max_size=2))
    if not calm and draw(_ints(0, 2)) == 0:
        p["chemo_cycle_day"] = draw(number(1, 366))
    if not calm and p.get("prior_pneumothorax") == "yes" and draw(st.booleans()):
        p["pneumothorax_weeks_ago"] = draw(number(0, 5200))
    if calm:
        p["age"] = draw(number(18, 59))
    elif draw(_ints(0, 5)):
        p["age"] = draw(number(0, 130))
    if calm or draw(st.booleans()):
        p["bmi"] = draw(number(22, 25) if calm else number(8, 100))
    if not calm and draw(_ints(0, 2)) == 0:
        p.setdefault("fever", {})["temperature_c"] = draw(number(30, 45))
    status = p.get("pregnancy", {}).get("status")
    if status in ("pregnant", "possibly") and draw(_ints(0, 3)):
        p["pregnancy"]["gestational_weeks"] = draw(number(0, 45))
    elif not calm and draw(_ints(0, 9)) == 0:
        # Weeks with "not pregnant" or an unknown status: contradictory or incomplete answers, not an error.
        p.setdefault("pregnancy", {})["gestational_weeks"] = draw(number(0, 45))
    return p


@st.composite
def plan(draw: Draw, max_sites: int = 5) -> dict[str, Any]:
    n = draw(_ints(1, max_sites))
    sites = [draw(site(f"s{i}")) for i in range(n)]
    technique = draw(_choice(("dry_needling", "electrical")))
    out: dict[str, Any] = {"technique": technique, "sites": sites}
    if technique == "electrical" and n >= 2 and draw(_ints(0, 4)):
        pairs = draw(st.lists(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True), max_size=3))
        out["circuits"] = [[f"s{a}", f"s{b}"] for a, b in pairs]
    return out


@st.composite
def intakes(draw: Draw, max_sites: int = 5) -> Intake:
    """A valid intake, drawn broadly over every question of the model (unknowns included).

    Half are *calm* (see :func:`patient`; no labs, findings and devices absent or safe, or unknown): a step
    toward risk taken from a calm intake shows in the verdict instead of being masked by another reason to refer.
    """
    calm = draw(_choice((0, 0, 1, 2)))
    unknown_or = (lambda safe: draw(_choice((safe, "unknown")))) if calm == 2 else (lambda safe: safe)
    out: Intake = {"patient": draw(patient(calm))}
    out["medications"] = {
        "complete": unknown_or("yes") if calm else draw(_choice(("yes", "yes", "no", "unknown"))),
        "items": [] if calm else draw(st.lists(medication(), max_size=4)),
    }
    if MEDICATIONS_VKA:
        # The separate "blood thinner that needs INR checks" answer, which may contradict the list.
        out["medications"]["vka"] = unknown_or("no") if calm else draw(_choice(("yes", "no", "unknown")))
    labs: dict[str, Any] = {}
    if not calm and draw(st.booleans()):
        labs["inr"] = draw(inr_lab())
    for name in ("platelets", "anc"):
        if not calm and draw(st.booleans()):
            labs[name] = draw(lab(0, 5000))
    out["labs"] = labs
    answer = unknown_or("no") if calm else draw(_choice(("yes", "no", "no", "unknown")))
    devices: dict[str, Any] = {"answer": answer}
    if answer == "yes":
        devices["items"] = draw(st.lists(device(), max_size=3))
        if DEVICE_OTHERS and draw(st.booleans()):
            devices["others"] = draw(_choice(("yes", "no", "unknown")))
    devices["pacemaker_dependent"] = unknown_or("no") if calm else draw(_choice(("yes", "no", "unknown")))
    out["devices"] = devices
    findings: dict[str, Any] = {}
    for kind in FINDING_KINDS:
        if calm:
            findings[kind] = {"answer": unknown_or("no")}
        elif draw(_ints(0, 5)):
            findings[kind] = draw(finding())
    out["findings"] = findings
    if condition_codes() and not calm and draw(_ints(0, 3)) == 0:
        out["conditions"] = [{"code": c} for c in draw(st.lists(_choice(condition_codes()), max_size=2))]
    out["plan"] = draw(plan(max_sites))
    return out


# --- moves toward risk --------------------------------------------------------------------------------------
#
# Each move takes an intake and returns (before, after): it may first set up what it needs (a lab, a device
# list, an electrical plan), then makes exactly one step toward risk. The property: after >= before, overall
# and for every site planned in both.


def _get(intake: Intake, path: str, default: Any = None) -> Any:
    node: Any = intake
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node


def _set(intake: Intake, path: str, value: Any) -> None:
    node = intake
    *parents, leaf = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    if value is None:
        node.pop(leaf, None)
    else:
        node[leaf] = value


Move = Callable[[Intake, Draw], tuple[Intake, Intake]]


def _answer_move(path: str, order: tuple[tuple[str, str], ...]) -> Move:
    def move(intake: Intake, draw: Draw) -> tuple[Intake, Intake]:
        before = copy.deepcopy(intake)
        values = sorted({v for pair in order for v in pair})
        lows = [v for v in values if riskier_values(order, v)]
        current = _get(before, path, "unknown")
        if current not in lows:
            current = draw(_choice(tuple(lows)))
            _set(before, path, current)
        after = copy.deepcopy(before)
        _set(after, path, draw(_choice(tuple(riskier_values(order, current)))))
        return before, after

    return move


def _pregnancy(intake: Intake, draw: Draw) -> tuple[Intake, Intake]:
    """not_pregnant < unknown, possibly < pregnant with weeks unknown; earlier weeks are riskier."""
    before = copy.deepcopy(intake)
    preg = before["patient"].setdefault("pregnancy", {})
    status = preg.get("status", "unknown")
    weeks = preg.get("gestational_weeks")
    after = copy.deepcopy(before)
    a = after["patient"]["pregnancy"]
    if status == "not_pregnant":
        a["status"] = draw(_choice(("unknown", "possibly", "pregnant")))
    elif weeks is not None:
        step = draw(_choice(("earlier", "unknown weeks")))
        if step == "earlier" and status == "pregnant" and weeks > 0:
            a["gestational_weeks"] = draw(number(0, weeks).filter(lambda w: w < weeks))
        else:
            a.pop("gestational_weeks")
    else:
        if status == "pregnant":  # already the top: step down the "before" side instead
            preg["status"] = draw(_choice(("unknown", "possibly", "not_pregnant")))
            before["patient"]["pregnancy"] = preg
        a["status"] = "pregnant"
    return before, after


def _lower(path: str, lo: float, remove_at_or_above: float) -> Move:
    """A value where lower is riskier; removing it (unknown) is riskier from a normal value."""

    def move(intake: Intake, draw: Draw) -> tuple[Intake, Intake]:
        before = copy.deepcopy(intake)
        value = _get(before, path)
        if value is None:
            value = draw(number(lo, 5000 if path.startswith("labs") else 100))
            _set(before, path, value)
        after = copy.deepcopy(before)
        if value >= remove_at_or_above and draw(st.booleans()):
            _set(after, path.rsplit(".", 1)[0] if path.endswith(".value") else path, None)
        elif value > lo:
            _set(after, path, draw(number(lo, value).filter(lambda v: v < value)))
        return before, after

    return move


def _higher(path: str, hi: float, remove_at_or_below: float, holder: str, make: st.SearchStrategy[Any]) -> Move:
    """A value where higher is riskier; removing it (unknown) is riskier from a normal value.

    ``holder`` is set from ``make`` first when the value is absent (a whole lab, or the value itself).
    """

    def move(intake: Intake, draw: Draw) -> tuple[Intake, Intake]:
        before = copy.deepcopy(intake)
        if _get(before, path) is None:
            _set(before, holder, draw(make))
        value = _get(before, path)
        after = copy.deepcopy(before)
        if value <= remove_at_or_below and draw(st.booleans()):
            _set(after, path.rsplit(".", 1)[0] if path.endswith(".value") else path, None)
        elif value < hi:
            _set(after, path, draw(number(value, hi).filter(lambda v: v > value)))
        return before, after

    return move


def _dated(strategy: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return strategy.map(lambda x: {**x, "age_days": x.get("age_days", 3.0)})


def _inr_target_lower(intake: Intake, draw: Draw) -> tuple[Intake, Intake]:
    before = copy.deepcopy(intake)
    labs = before.setdefault("labs", {})
    if "inr" not in labs:
        labs["inr"] = draw(inr_lab())
    inr = labs["inr"]
    if "target_high" not in inr:
        inr["target_low"], inr["target_high"] = 2.0, 3.0
    after = copy.deepcopy(before)
    high = inr["target_high"]
    if high > 0.5:
        new = draw(number(0.5, high).filter(lambda v: v < high))
        after["labs"]["inr"]["target_high"] = new
        after["labs"]["inr"]["target_low"] = min(inr.get("target_low", new), new)
    return before, after


def _site_depth(intake: Intake, draw: Draw) -> tuple[Intake, Intake]:
    before = copy.deepcopy(intake)
    sites = before["plan"]["sites"]
    i = draw(_ints(0, len(sites) - 1))
    if "depth_mm" not in sites[i]:
        sites[i]["depth_mm"] = draw(number(0.5, 150))
    value = sites[i]["depth_mm"]
    after = copy.deepcopy(before)
    if value <= 10 and draw(st.booleans()):
        del after["plan"]["sites"][i]["depth_mm"]
    elif value < 150:
        after["plan"]["sites"][i]["depth_mm"] = draw(number(value, 150).filter(lambda v: v > value))
    return before, after


def _no_inr_to_explain(move: Move) -> Move:
    """The move with any raised INR brought into the normal range on both sides.

    An anticoagulant explains a raised INR (INR_UNEXPLAINED refers only when none is listed; on a listed one the
    target-range rules decide, e.g. caution for an INR of 1.6 on warfarin). So adding one, or answering "yes"
    to a blood thinner that needs INR checks, is a step toward risk only when there is no raised INR to explain.
    """

    def explained(intake: Intake, draw: Draw) -> tuple[Intake, Intake]:
        before, after = move(intake, draw)
        for side in (before, after):
            inr = side.get("labs", {}).get("inr")
            if inr is not None and inr["value"] > 1.2:
                inr["value"] = 1.0
        return before, after

    return explained


def _add_medication(intake: Intake, draw: Draw) -> tuple[Intake, Intake]:
    before = copy.deepcopy(intake)
    items = before.setdefault("medications", {}).setdefault("items", [])
    del items[MAX_MEDICATIONS - 1 :]
    after = copy.deepcopy(before)
    after["medications"]["items"].insert(draw(_ints(0, len(items))), draw(medication()))
    return before, after


def _devices(intake: Intake, draw: Draw) -> tuple[Intake, Intake]:
    """no < unknown < yes (list not given); no < yes with devices; a device added to a given list; a list's
    ``others`` no < unknown < yes; unknown < yes with devices and others unknown.

    Giving the first device of an unlisted "yes" as a complete list is not a step toward risk: the list then
    rules the other device groups out, which is information, not risk.
    """
    before = copy.deepcopy(intake)
    dev = before.setdefault("devices", {})
    answer = dev.get("answer", "unknown")
    after = copy.deepcopy(before)
    if answer == "no":
        after["devices"] = draw(
            st.sampled_from(({"answer": "unknown"}, {"answer": "yes"}))
            | st.lists(device(), min_size=1, max_size=2).map(lambda ds: {"answer": "yes", "items": ds})
        )
    elif answer == "unknown" or not dev.get("items"):
        after["devices"] = {"answer": "yes"}
        if DEVICE_OTHERS and draw(st.booleans()):
            after["devices"] = {"answer": "yes", "items": draw(st.lists(device(), min_size=1, max_size=2))}
            after["devices"]["others"] = draw(_choice(("unknown", "yes")))
    elif DEVICE_OTHERS and dev.get("others", "no") != "yes" and draw(st.booleans()):
        after["devices"]["others"] = (
            "yes" if dev.get("others", "no") == "unknown" else draw(_choice(("unknown", "yes")))
        )
    else:
        items = after["devices"]["items"]
        if len(items) < MAX_DEVICES:
            items.insert(draw(_ints(0, len(items))), draw(device()))
    return before, after


def _finding(intake: Intake, draw: Draw, kinds: tuple[str, ...] = FINDING_KINDS) -> tuple[Intake, Intake]:
    """no < unknown < yes without locations; no < yes anywhere; add a location; a location's side to both."""
    before = copy.deepcopy(intake)
    kind = draw(_choice(kinds))
    findings = before.setdefault("findings", {})
    f = findings.setdefault(kind, {"answer": "unknown"})
    answer = f.get("answer", "unknown")
    after = copy.deepcopy(before)
    g = after["findings"][kind]
    if answer == "no":
        g["answer"] = draw(_choice(("unknown", "yes")))
        if g["answer"] == "yes" and draw(st.booleans()):
            g["locations"] = draw(st.lists(location(), min_size=1, max_size=2))
    elif answer == "unknown":
        g["answer"] = "yes"
    elif g.get("locations"):
        locs = g["locations"]
        if draw(st.booleans()) and len(locs) < MAX_LOCATIONS:
            locs.insert(draw(_ints(0, len(locs))), draw(location()))
        else:
            locs[draw(_ints(0, len(locs) - 1))]["side"] = "both"
    return before, after


def _add_site(intake: Intake, draw: Draw) -> tuple[Intake, Intake]:
    before = copy.deepcopy(intake)
    sites = before["plan"]["sites"]
    del sites[MAX_SITES - 1 :]
    keep = {s["id"] for s in sites}
    before["plan"]["circuits"] = [c for c in before["plan"].get("circuits", []) if set(c) <= keep]
    if not before["plan"]["circuits"]:
        before["plan"].pop("circuits")
        if before["plan"]["technique"] == "electrical" and intake["plan"].get("circuits"):
            before["plan"]["technique"] = "dry_needling"
    after = copy.deepcopy(before)
    new = draw(site(f"n{len(sites)}"))
    after["plan"]["sites"].insert(draw(_ints(0, len(sites))), new)
    return before, after


def _electrical(intake: Intake, draw: Draw) -> tuple[Intake, Intake]:
    """Manual -> electrical (circuits not yet given, or with one circuit); another circuit on a wired plan.

    Naming the first circuit of an electrical plan is not a step toward risk: it tells which sites are *not*
    stimulated, which is information.
    """
    before = copy.deepcopy(intake)
    p = before["plan"]
    if len(p["sites"]) < 2:
        p["sites"].append(draw(site("x1")))
    ids = [s["id"] for s in p["sites"]]
    pair = draw(st.lists(st.sampled_from(ids), min_size=2, max_size=2, unique=True))
    after = copy.deepcopy(before)
    if p["technique"] == "dry_needling":
        after["plan"]["technique"] = "electrical"
        if draw(st.booleans()):
            after["plan"]["circuits"] = [pair]
    elif p.get("circuits") and len(p["circuits"]) < MAX_SITES:
        after["plan"]["circuits"].append(pair)
    else:
        p["technique"] = "dry_needling"
        p.pop("circuits", None)
        after["plan"]["technique"] = "electrical"
    return before, after


def _add_condition(intake: Intake, draw: Draw) -> tuple[Intake, Intake]:
    """A coded diagnosis only adds information (codes.yaml: "a code only adds information")."""
    before = copy.deepcopy(intake)
    after = copy.deepcopy(before)
    if condition_codes():
        after.setdefault("conditions", []).append({"code": draw(_choice(condition_codes()))})
    return before, after


def finding_move(*kinds: str) -> Move:
    """The "finding" move of :func:`risk_moves` on these finding kinds only (to aim a property at one rule)."""
    return lambda intake, draw: _finding(intake, draw, kinds)


def risk_moves() -> dict[str, Move]:
    """Every step toward risk the monotonicity property takes, by name."""
    moves: dict[str, Move] = {}
    for path, values in PATIENT_ENUMS.items():
        order = answer_order(path, values)
        if order and path not in SPECIAL_ENUMS:
            moves[f"answer:{path}"] = _answer_move(path, order)
    moves["answer:medications.complete"] = _answer_move("medications.complete", PROTECTIVE_ORDER)
    if MEDICATIONS_VKA:
        moves["answer:medications.vka"] = _no_inr_to_explain(_answer_move("medications.vka", RISK_FACTOR))
    moves["answer:devices.pacemaker_dependent"] = _answer_move("devices.pacemaker_dependent", RISK_FACTOR)
    moves["pregnancy"] = _pregnancy
    moves["vascular disease"] = _vascular
    moves["dvt more recent"] = _dvt_recent
    moves["lab:platelets lower"] = _lower("labs.platelets.value", 0, 150)
    moves["lab:anc lower"] = _lower("labs.anc.value", 0, 2.0)
    moves["lab:inr higher"] = _higher("labs.inr.value", 20, 1.2, "labs.inr", inr_lab())
    moves["lab:inr older"] = _higher("labs.inr.age_days", 3650, 7, "labs.inr", _dated(inr_lab()))
    for name in ("platelets", "anc"):
        moves[f"lab:{name} older"] = _higher(f"labs.{name}.age_days", 3650, 7, f"labs.{name}", _dated(lab(0, 5000)))
    moves["lab:inr target lower"] = _inr_target_lower
    moves["temperature higher"] = _higher(
        "patient.fever.temperature_c", 45, 37.4, "patient.fever.temperature_c", number(30, 45)
    )
    moves["bmi lower"] = _lower_bmi
    moves["site deeper"] = _site_depth
    moves["surgery more recent"] = _surgery_recent
    moves["add medication"] = _no_inr_to_explain(_add_medication)
    moves["add coded condition"] = _add_condition
    moves["devices"] = _devices
    moves["finding"] = _finding
    moves["add site"] = _add_site
    moves["electrical"] = _electrical
    return moves


def _lower_bmi(intake: Intake, draw: Draw) -> tuple[Intake, Intake]:
    """Lean habitus raises pneumothorax risk: below 25, lower is riskier; a normal BMI removed is unknown."""
    before = copy.deepcopy(intake)
    bmi = before["patient"].get("bmi")
    if bmi is None or bmi > 25:
        bmi = draw(number(8, 25))
        before["patient"]["bmi"] = bmi
    after = copy.deepcopy(before)
    if bmi >= 22 and draw(st.booleans()):
        del after["patient"]["bmi"]
    elif bmi > 8:
        after["patient"]["bmi"] = draw(number(8, bmi).filter(lambda v: v < bmi))
    return before, after


def _vascular(intake: Intake, draw: Draw) -> tuple[Intake, Intake]:
    """no < unknown < yes (no limb recorded: every distal limb site); no < yes in some limbs < yes (no limb
    recorded); a limb added. Yes in some limbs and unknown are not ordered: unknown may be any limb."""
    before = copy.deepcopy(intake)
    p = before["patient"]
    answer = p.get("vascular_disease", "unknown")
    if answer != "yes":
        p.pop("vascular_disease_locations", None)
    after = copy.deepcopy(before)
    a = after["patient"]
    if answer == "no":
        a["vascular_disease"] = draw(_choice(("unknown", "yes")))
        if a["vascular_disease"] == "yes" and draw(st.booleans()):
            a["vascular_disease_locations"] = draw(st.lists(location(), min_size=1, max_size=2))
    elif answer == "unknown":
        a["vascular_disease"] = "yes"
    elif p.get("vascular_disease_locations"):
        locs = a["vascular_disease_locations"]
        if draw(st.booleans()) and len(locs) < MAX_LOCATIONS:
            locs.insert(draw(_ints(0, len(locs))), draw(location()))
        else:
            del a["vascular_disease_locations"]
    return before, after


def _dvt_recent(intake: Intake, draw: Draw) -> tuple[Intake, Intake]:
    """A DVT diagnosed more recently is riskier; its date removed (unknown) is recent."""
    before = copy.deepcopy(intake)
    f = before.setdefault("findings", {}).setdefault("dvt", {"answer": "yes"})
    if f.get("answer") != "yes":
        f.clear()
        f["answer"] = "yes"
    if "weeks_ago" not in f:
        f["weeks_ago"] = draw(number(0, 5200))
    weeks = f["weeks_ago"]
    after = copy.deepcopy(before)
    g = after["findings"]["dvt"]
    if draw(st.booleans()):
        del g["weeks_ago"]
    elif weeks > 0:
        g["weeks_ago"] = draw(number(0, weeks).filter(lambda v: v < weeks))
    return before, after


def _surgery_recent(intake: Intake, draw: Draw) -> tuple[Intake, Intake]:
    before = copy.deepcopy(intake)
    f = before.setdefault("findings", {}).setdefault("recent_surgery", {"answer": "yes"})
    if f.get("answer") != "yes":
        f.clear()
        f["answer"] = "yes"
    if "weeks_ago" not in f:
        f["weeks_ago"] = draw(number(0, 5200))
    weeks = f["weeks_ago"]
    after = copy.deepcopy(before)
    g = after["findings"]["recent_surgery"]
    if weeks >= 52 and draw(st.booleans()):
        del g["weeks_ago"]
    elif weeks > 0:
        g["weeks_ago"] = draw(number(0, weeks).filter(lambda v: v < weeks))
    return before, after


# --- random rule files (for the durable_rules safety check of rule files that load) --------------------------

_OPS_BY_TYPE = {
    "answer": ("eq", "ne", "known"),
    "enum": ("eq", "ne", "in", "not_in", "known"),
    "number": ("lt", "le", "gt", "ge", "known"),
    "region": ("within", "not_within"),
    "list": ("known",),
}
_FACT_SCOPE = {"patient": "patient", "electrical": "patient", "site": "site", "electrical_site": "site"}


def _random_atom(rng: Any, ruleset: Ruleset, scope: str) -> dict[str, Any]:
    from needlescreen.facts import FACTS

    fact_scope = _FACT_SCOPE.get(scope, "circuit")
    names = sorted(n for n, s in FACTS.items() if s.scope in ("patient", fact_scope))
    name = rng.choice(names)
    spec = FACTS[name]
    op = rng.choice(_OPS_BY_TYPE[spec.type])
    value: Any
    if op == "known":
        value = rng.random() < 0.7
    elif spec.type == "answer":
        value = rng.choice(("yes", "no"))
    elif spec.type == "enum":
        value = (
            rng.choice(spec.values) if op in ("eq", "ne") else rng.sample(spec.values, rng.randint(1, len(spec.values)))
        )
    elif spec.type == "number":
        value = rng.choice((*thresholds(), 0.0, 1.0, 2.5, 18.0, 100.0))
    else:
        value = rng.sample(ruleset.regions.ids(), rng.randint(1, 3))
    return {"fact": name, op: value}


def _random_condition(rng: Any, ruleset: Ruleset, scope: str, depth: int) -> dict[str, Any]:
    roll = rng.random()
    if depth <= 0 or roll < 0.4:
        return _random_atom(rng, ruleset, scope)
    if roll < 0.5:
        return {"not": _random_condition(rng, ruleset, scope, depth - 1)}
    key = "all" if roll < 0.75 else "any"
    return {key: [_random_condition(rng, ruleset, scope, depth - 1) for _ in range(rng.randint(1, 4))]}


def random_rule_file(rng: Any, ruleset: Ruleset, n_rules: int) -> str:
    """A rule file of random (often odd, sometimes invalid) conditions over the whole fact catalogue."""
    rules = []
    refs = sorted(ruleset.sources)
    for i in range(n_rules):
        scope = rng.choice(("patient", "site", "electrical", "electrical_site", "circuit"))
        rules.append(
            {
                "id": f"FUZZ_{i:03d}",
                "title": f"Fuzzed rule {i}",
                "classification": rng.choice(("absolute", "relative")),
                "verdict": rng.choice(("caution", "refer")),
                "scope": scope,
                "when": _random_condition(rng, ruleset, scope, rng.randint(0, 4)),
                "unknown": rng.choice(("caution", "refer")),
                "summary": "Fuzzed rule.",
                "detail": "A randomly generated rule for the engine safety check.",
                "references": [rng.choice(refs)],
            }
        )
    return yaml.safe_dump({"schema": "needlescreen.rules/1", "topic": "Fuzz", "rules": rules}, sort_keys=False)
