"""Seeded random intakes that reach every fact the rules read, unknowns included.

Used by the engine-agreement test and the property tests. Not realistic prevalence (the benchmark
generator is): every answer, lab, device, finding and site is drawn broadly so that rare combinations occur.
"""

from __future__ import annotations

import random
from typing import Any, get_args

from needlescreen.intake import DeviceKind, FindingKind
from needlescreen.regions import RegionMap

ANSWERS = ("yes", "no", "unknown")
FINDINGS: tuple[str, ...] = get_args(FindingKind)
DEVICES: tuple[str, ...] = get_args(DeviceKind)
DRUGS = (
    ("warfarin", None),
    ("Eliquis", None),
    ("xarelto", None),
    ("Clexane", None),
    ("aspirin", None),
    ("Plavix", None),
    ("ibuprofen", None),
    ("sertraline", None),
    ("paclitaxel", None),
    ("methotrexate", None),
    ("prednisolone", None),
    ("paracetamol", None),
    ("mystery pill", None),
    ("unnamed", "B01AF02"),
    ("unnamed", "Z99ZZ99"),
    ("letrozole", "L02BG04"),
    ("Humira", None),
    ("oxaliplatin", None),
)
#: Codes of clinical-reference.md section 2 (and unknown prefixes are never generated: they are rejected).
CODES = ("I89.0", "I97.2", "Z95.0", "Z95.810", "Z96.82", "Z79.01", "Z79.82", "D66", "D68.0", "D70.1", "G62.0")
CODES += ("Z85.3", "F40.231", "F40.230", "G40.909", "G40.919", "E11.42", "Z33.1", "Z3A.10", "Z3A.20", "J44.9")
CODES += ("L03.115", "I82.402", "I83.93", "L23.0", "Z96.641", "B20", "Z79.52", "R50.9", "Z98.82")
CODES += ("J43.9", "Z86.718", "I80.01", "I80.9", "I82.612", "L40.0", "L91.0", "I73.9", "R23.3")
#: Review 2: codes newly mapped, and two a screening does not read (CONDITION_UNRECOGNISED).
CODES += ("C50.912", "Z92.3", "Z51.11", "J93.9", "K21.9", "I10")
#: Muscles a site may name instead of a region.
MUSCLES = ("gastrocnemius", "Upper Trapezius", "rhomboid major", "multifidus L4", "multifidus T6", "scalenes")
#: Places that meet the electrical circuit rules (neck, spine, head, chest), drawn more often than chance.
HOT_SITES = (
    ("posterior_neck", "left"),
    ("posterior_neck", "right"),
    ("interscapular", "left"),
    ("thoracic_paraspinal", "right"),
    ("anterior_neck", "right"),
    ("face", "left"),
    ("chest_wall", "left"),
    ("forearm", "right"),
    ("knee", "right"),
    ("breast", "left"),
)


#: Nerves a perineural site may name (placed at the nerve's usual point by normalisation); limb nerves only.
NERVES = ("tibial", "common_fibular", "sural", "saphenous", "median", "ulnar", "radial", "sciatic", "femoral")


def _maybe(rng: random.Random, value: Any, p: float = 0.7) -> Any:
    return value if rng.random() < p else None


def _location(rng: random.Random, regions: RegionMap, places: list[str]) -> dict[str, Any]:
    region = rng.choice(places)
    side = rng.choice(["left", "right", "both", "midline", None])
    if side == "midline" and regions[region].sided:
        side = None  # a limb finding or device is never 'midline' (the intake refuses it)
    loc: dict[str, Any] = {"region": region}
    if side is not None:
        loc["side"] = side
    return loc


def random_intake(rng: random.Random, regions: RegionMap) -> dict[str, Any]:
    """One intake drawn broadly over every question the intake model has."""
    sites_pool = [r for r in regions.ids() if not regions[r].group]
    places = regions.ids()
    p: dict[str, Any] = {}
    for key in (
        "needle_phobia",
        "fainting_history",
        "acute_illness",
        "immunocompromised",
        "active_chemotherapy",
        "metal_allergy",
        "heart_valve_or_endocarditis",
        "lung_disease",
        "bullous_lung_disease",
        "prior_pneumothorax",
        "bleeding_history",
        "frailty",
        "can_keep_still",
        "cooperation_problem",
        "vascular_disease",
        "cancer_history",
        "chest_wall_condition",
    ):
        if rng.random() < 0.9:
            p[key] = rng.choices(ANSWERS, weights=(1, 4, 1))[0]
    if rng.random() < 0.9:
        p["age"] = float(rng.choice([5, 12, 16, 17, 18, 25, 40, 59, 60, 75, 95]) + rng.random())
    p["sex"] = rng.choice(["female", "male", "other", "unknown"])
    status = rng.choice(["pregnant", "not_pregnant", "possibly", "unknown"])
    preg: dict[str, Any] = {"status": status}
    if status in ("pregnant", "possibly") and rng.random() < 0.7:
        preg["gestational_weeks"] = float(rng.choice([4, 12, 12.9, 13, 14, 30]))
    if rng.random() < 0.7:
        preg["trying_to_conceive"] = rng.choices(ANSWERS, weights=(1, 3, 1))[0]
    p["pregnancy"] = preg
    if p.get("vascular_disease") == "yes" and rng.random() < 0.5:
        p["vascular_disease_locations"] = [_location(rng, regions, places) for _ in range(rng.choice([1, 2]))]
    if rng.random() < 0.5:
        p["chemo_cycle_day"] = float(rng.choice([1, 3, 6.9, 7, 10, 14, 14.1, 21]))
    if p.get("prior_pneumothorax") == "yes" and rng.random() < 0.5:
        p["pneumothorax_side"] = rng.choice(["left", "right", "both"])
        p["pneumothorax_weeks_ago"] = float(rng.choice([2, 100]))
    p["consent"] = {k: rng.choices(ANSWERS, weights=(4, 1, 1))[0] for k in ("agrees", "capacity", "guardian_consent")}
    fever: dict[str, Any] = {"answer": rng.choices(ANSWERS, weights=(1, 4, 1))[0]}
    if rng.random() < 0.3:
        fever["temperature_c"] = rng.choice([36.5, 37.9, 38.0, 39.2])
    p["fever"] = fever
    p["bleeding_disorder"] = rng.choice(["none", "mild", "severe", "unknown"])
    p["diabetes"] = rng.choice(["none", "controlled", "uncontrolled", "unknown"])
    p["epilepsy"] = rng.choice(["none", "controlled", "uncontrolled", "unknown"])
    if rng.random() < 0.7:
        p["bmi"] = rng.choice([16.0, 18.4, 18.5, 24.0, 33.0])

    meds = {
        "complete": rng.choices(ANSWERS, weights=(3, 1, 1))[0],
        "items": [
            {"name": n, **({"atc": a} if a else {})} for n, a in rng.sample(DRUGS, rng.choice([0, 0, 1, 1, 2, 3]))
        ],
    }
    labs: dict[str, Any] = {}
    if rng.random() < 0.5:
        inr: dict[str, Any] = {"value": rng.choice([1.0, 2.5, 3.0, 3.1, 3.5, 3.6, 4.2])}
        if rng.random() < 0.6:
            inr["target_low"], inr["target_high"] = rng.choice([(2.0, 3.0), (2.5, 3.5)])
        if rng.random() < 0.7:
            inr["age_days"] = float(rng.choice([1, 27, 28, 29, 60]))
        labs["inr"] = inr
    for lab, values in (
        ("platelets", [20, 49, 50, 51, 99, 100, 250]),
        ("anc", [0.2, 0.49, 0.5, 0.9, 1.0, 3.0]),
    ):
        if rng.random() < 0.4:
            entry: dict[str, Any] = {"value": float(rng.choice(values))}
            if rng.random() < 0.7:
                entry["age_days"] = float(rng.choice([0, 2, 5, 21, 30]))
            labs[lab] = entry

    dev_answer = rng.choices(ANSWERS, weights=(2, 3, 1))[0]
    devices: dict[str, Any] = {"answer": dev_answer}
    if dev_answer == "yes":
        items = []
        for kind in rng.sample(DEVICES, rng.choice([0, 1, 1, 2])):
            d: dict[str, Any] = {"kind": kind}
            roll = rng.random()
            if roll < 0.2:
                region, side = rng.choice(HOT_SITES)
                d["location"] = {"region": region, "side": side}
            elif roll < 0.6:
                d["location"] = _location(rng, regions, places)
            items.append(d)
        devices["items"] = items
        if rng.random() < 0.3:
            devices["others"] = rng.choice(ANSWERS)
    if rng.random() < 0.8:
        devices["pacemaker_dependent"] = rng.choices(ANSWERS, weights=(1, 3, 1))[0]

    findings: dict[str, Any] = {}
    for kind in FINDINGS:
        roll = rng.random()
        if roll < 0.1:
            continue
        answer = rng.choices(ANSWERS, weights=(1, 5, 1))[0]
        f: dict[str, Any] = {"answer": answer}
        if answer == "yes" and rng.random() < 0.85:
            f["locations"] = [_location(rng, regions, places) for _ in range(rng.choice([1, 1, 2]))]
            if kind == "recent_surgery" and rng.random() < 0.6:
                f["weeks_ago"] = float(rng.choice([1, 6, 12, 52]))
            if kind == "dvt" and rng.random() < 0.6:
                f["weeks_ago"] = float(rng.choice([2, 25.9, 26, 260]))
        findings[kind] = f

    technique = rng.choice(["dry_needling", "electrical"])
    sites = []
    for i in range(rng.choice([1, 1, 2, 3, 4, 6])):
        roll = rng.random()
        site: dict[str, Any] = {"id": f"s{i}"}
        if roll < 0.04:
            nerve = rng.choice(NERVES)
            site.update({"nerve": nerve, "technique": "perineural", "side": rng.choice(["left", "right"])})
        elif roll < 0.05:
            muscle = rng.choice(MUSCLES)
            site["muscle"] = muscle
            if muscle == "gastrocnemius":
                site["side"] = rng.choice(["left", "right"])
        elif roll < 0.25:
            site["region"], site["side"] = rng.choice(HOT_SITES)
        else:
            region = rng.choice(sites_pool)
            site["region"] = region
            if regions[region].sided:
                site["side"] = rng.choice(["left", "right"])
            elif rng.random() < 0.5:
                site["side"] = rng.choice(["left", "right", "midline"])
        if rng.random() < 0.3:
            site["depth_mm"] = float(rng.choice([5, 20, 45]))
        sites.append(site)
    plan: dict[str, Any] = {"technique": technique, "sites": sites}
    if rng.random() < 0.8:
        plan["advanced_training"] = rng.choices(ANSWERS, weights=(1, 3, 1))[0]
    if technique == "electrical" and len(sites) >= 2 and rng.random() < 0.8:
        ids = [s["id"] for s in sites]
        pairs = []
        for _ in range(rng.choice([1, 1, 2])):
            a, b = rng.sample(ids, 2)
            pairs.append([a, b])
        plan["circuits"] = pairs
    conditions = [{"code": c} for c in rng.sample(CODES, rng.choice([0, 0, 0, 0, 1, 2]))]
    return {
        "conditions": conditions,
        "patient": p,
        "medications": meds,
        "labs": labs,
        "devices": devices,
        "findings": findings,
        "plan": plan,
    }
