"""Seeded synthetic intakes for the benchmark: a typical clinic list and a worst case.

The *typical* cohort follows plausible prevalence: most patients answer everything and are clear; a few take
anticoagulants or antiplatelets, are pregnant, have lymphoedema or an at-risk limb, an implanted device or
chemotherapy; 1 to 6 sites; some answers are unknown; about one plan in five is electrical. The *worst* cohort
makes many rules fire or stay undecided at once. Prevalences are illustrative, not epidemiology.
"""

from __future__ import annotations

import random
from typing import Any

from needlescreen.testing import baseline_intake, with_changes

#: Planned regions with a relative weight: limbs, low back and neck most often; sites over the lung (which
#: always call for pneumothorax precautions) in about one plan in six.
SITES = [
    ("calf", True, 10),
    ("thigh", True, 8),
    ("gluteal", True, 8),
    ("shoulder_girdle", True, 8),
    ("forearm", True, 6),
    ("upper_arm", True, 4),
    ("foot", True, 3),
    ("lumbar", False, 10),
    ("posterior_neck", False, 5),
    ("upper_trapezius", False, 1),
    ("interscapular", False, 1),
]
QUESTIONS = ["needle_phobia", "fainting_history", "acute_illness", "immunocompromised", "frailty", "metal_allergy"]


def _sites(rng: random.Random, n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        region, sided, _w = rng.choices(SITES, weights=[w for *_, w in SITES])[0]
        site: dict[str, Any] = {"id": f"s{i}", "region": region}
        site["side"] = rng.choice(["left", "right"]) if sided else rng.choice(["left", "right", "midline"])
        out.append(site)
    return out


def typical(rng: random.Random) -> dict[str, Any]:
    """One intake of an ordinary clinic list."""
    intake = baseline_intake()
    changes: dict[str, Any] = {"patient": {"age": float(rng.randint(18, 88)), "sex": rng.choice(["female", "male"])}}
    meds: list[dict[str, Any]] = []
    roll = rng.random()
    if roll < 0.04:
        meds.append({"name": rng.choice(["warfarin", "Coumadin"])})
        changes["labs"] = {
            "inr": {"value": rng.choice([2.2, 2.6, 3.4]), "target_low": 2.0, "target_high": 3.0, "age_days": 7.0}
        }
    elif roll < 0.09:
        meds.append({"name": rng.choice(["Eliquis", "rivaroxaban", "Pradaxa", "enoxaparin"])})
    elif roll < 0.16:
        meds.append({"name": rng.choice(["aspirin", "Plavix", "ticagrelor"])})
    if rng.random() < 0.2:
        meds.append({"name": rng.choice(["paracetamol", "atorvastatin", "metformin", "ibuprofen", "sertraline"])})
    changes["medications"] = {"complete": "yes" if rng.random() < 0.95 else "unknown", "items": meds}
    if changes["patient"]["sex"] == "female" and changes["patient"]["age"] < 45 and rng.random() < 0.05:
        changes["patient"]["pregnancy"] = {"status": "pregnant", "gestational_weeks": float(rng.randint(6, 36))}
    if rng.random() < 0.05:
        side = rng.choice(["left", "right"])
        kind = rng.choice(["lymphedema", "at_risk_limb"])
        changes["findings"] = {kind: {"answer": "yes", "locations": [{"region": "upper_limb", "side": side}]}}
    if rng.random() < 0.04:
        changes["devices"] = {
            "answer": "yes",
            "items": [{"kind": rng.choice(["pacemaker", "icd", "joint_prosthesis"])}],
        }
    if rng.random() < 0.05:
        changes["patient"]["active_chemotherapy"] = "yes"
        changes["labs"] = {
            **changes.get("labs", {}),
            "platelets": {"value": float(rng.choice([45, 90, 180])), "age_days": 5.0},
        }
    for q in QUESTIONS:
        if rng.random() < 0.03:
            changes["patient"][q] = "unknown"
    sites = _sites(rng, rng.choices([1, 2, 3, 4, 5, 6], weights=[3, 4, 3, 2, 1, 1])[0])
    plan: dict[str, Any] = {"technique": "dry_needling", "sites": sites}
    if len(sites) >= 2 and rng.random() < 0.2:
        plan = {"technique": "electrical", "sites": sites, "circuits": [[sites[0]["id"], sites[1]["id"]]]}
    changes["plan"] = plan
    out = with_changes(intake, changes)
    out["plan"] = plan  # the plan replaces the baseline's, it does not merge
    return out


def worst(rng: random.Random) -> dict[str, Any]:
    """An intake that makes many rules fire or stay undecided."""
    sites = _sites(rng, 6)
    for s, region in zip(
        sites, ["iliopsoas", "chest_wall", "abdomen", "forearm", "calf", "upper_trapezius"], strict=True
    ):
        s["region"] = region
        s["side"] = rng.choice(["left", "right"])
    return {
        "patient": {
            "age": 16.0,
            "sex": "female",
            "pregnancy": {"status": "pregnant", "gestational_weeks": 10.0},
            "needle_phobia": "unknown",
            "fever": {"answer": "unknown", "temperature_c": 38.4},
            "bleeding_disorder": "mild",
            "active_chemotherapy": "yes",
        },
        "medications": {
            "complete": "no",
            "items": [{"name": "warfarin"}, {"name": "aspirin"}, {"name": "mystery pill"}],
        },
        "labs": {"inr": {"value": 4.1, "age_days": 40.0}},
        "devices": {"answer": "yes", "items": [{"kind": "pacemaker"}]},
        "findings": {
            "lymphedema": {"answer": "yes", "locations": [{"region": "upper_limb", "side": "left"}]},
            "local_infection": {"answer": "unknown"},
        },
        "plan": {"technique": "electrical", "sites": sites, "circuits": [["s0", "s1"], ["s2", "s3"]]},
    }


COHORTS = {"typical": typical, "worst": worst}


def cohort(name: str, n: int, seed: int = 20261121) -> list[dict[str, Any]]:
    """``n`` intakes of a cohort, the same for the same seed."""
    rng = random.Random(seed)
    make = COHORTS[name]
    return [make(rng) for _ in range(n)]
