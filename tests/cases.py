"""For every rule: a patient it fires for and a close one it does not.

Each case is a change to the baseline intake (a 40-year-old woman, not pregnant, answering no to everything,
dry needling of the right calf). A test fails if a rule of the bundled ruleset has no case here, so a new
rule cannot land without its own fire/near-miss pair.
"""

from __future__ import annotations

from typing import Any

EDN_CALF_PAIR = {
    "plan": {
        "technique": "electrical",
        "sites": [
            {"id": "s1", "region": "calf", "side": "right"},
            {"id": "s2", "region": "ankle", "side": "right"},
        ],
        "circuits": [["s1", "s2"]],
    }
}
EDN_ABDOMEN = {
    "plan": {
        "technique": "electrical",
        "sites": [
            {"id": "s1", "region": "abdomen", "side": "left"},
            {"id": "s2", "region": "abdomen", "side": "right"},
        ],
        "circuits": [["s1", "s2"]],
    }
}


def at(region: str, side: str | None = None, technique: str = "dry_needling", **extra: Any) -> dict[str, Any]:
    site: dict[str, Any] = {"id": "s1", "region": region, **extra}
    if side:
        site["side"] = side
    return {"plan": {"technique": technique, "sites": [site]}}


def merge(*parts: dict[str, Any]) -> dict[str, Any]:
    from needlescreen.testing import with_changes

    out: dict[str, Any] = {}
    for p in parts:
        out = with_changes(out, p)
    return out


def finding(kind: str, region: str, side: str | None = None, **extra: Any) -> dict[str, Any]:
    loc: dict[str, Any] = {"region": region}
    if side:
        loc["side"] = side
    return {"findings": {kind: {"answer": "yes", "locations": [loc], **extra}}}


def meds(*names: str, complete: str = "yes") -> dict[str, Any]:
    return {"medications": {"complete": complete, "items": [{"name": n} for n in names]}}


PREGNANT = {"patient": {"pregnancy": {"status": "pregnant", "gestational_weeks": 20.0}}}
PREGNANT_T1 = {"patient": {"pregnancy": {"status": "pregnant", "gestational_weeks": 8.0}}}
INR_IN_RANGE = {"labs": {"inr": {"value": 2.5, "target_low": 2.0, "target_high": 3.0, "age_days": 3.0}}}

#: rule id -> (fires: changes, near miss: changes, expected verdict when it fires)
CASES: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {
    "CONSENT_REFUSED": (
        {"patient": {"consent": {"agrees": "no"}}},
        {"patient": {"consent": {"agrees": "yes"}}},
        "refer",
    ),
    "CONSENT_CAPACITY": (
        {"patient": {"consent": {"capacity": "no", "guardian_consent": "no"}}},
        {"patient": {"consent": {"capacity": "no", "guardian_consent": "yes"}}},
        "refer",
    ),
    "MINOR": (
        {"patient": {"age": 15.0, "consent": {"guardian_consent": "yes"}}},
        {"patient": {"age": 18.0}},
        "caution",
    ),
    "MINOR_NO_GUARDIAN": (
        {"patient": {"age": 15.0, "consent": {"guardian_consent": "no"}}},
        {"patient": {"age": 15.0, "consent": {"guardian_consent": "yes"}}},
        "refer",
    ),
    "NEEDLE_PHOBIA": (
        {"patient": {"needle_phobia": "yes"}},
        {"patient": {"fainting_history": "no"}},
        "refer",
    ),
    "SYSTEMIC_INFECTION": (
        {"patient": {"fever": {"answer": "yes"}}},
        {"patient": {"fever": {"answer": "no", "temperature_c": 37.9}}},
        "refer",
    ),
    "LOCAL_SKIN_SITE": (
        finding("local_infection", "calf", "right"),
        finding("local_infection", "calf", "left"),
        "refer",
    ),
    "PREG_T1": (PREGNANT_T1, PREGNANT, "refer"),
    "PREG_POSSIBLE": (
        merge({"patient": {"pregnancy": {"status": "possibly"}}}, at("lumbar")),
        merge({"patient": {"pregnancy": {"status": "possibly"}}}, at("calf", "right")),
        "refer",
    ),
    "PREG_REGIONS": (merge(PREGNANT, at("lumbar")), merge(PREGNANT, at("thigh", "right")), "refer"),
    "PREG_T2T3": (PREGNANT, {"patient": {"pregnancy": {"status": "not_pregnant"}}}, "caution"),
    "PREG_ELECTRICAL_TRUNK": (merge(PREGNANT, EDN_ABDOMEN), merge(PREGNANT, EDN_CALF_PAIR), "refer"),
    "PREG_ELECTRICAL_LIMB": (merge(PREGNANT, EDN_CALF_PAIR), merge(PREGNANT, at("calf", "right")), "caution"),
    "BLEED_DISORDER_SEVERE": (
        {"patient": {"bleeding_disorder": "severe"}},
        {"patient": {"bleeding_disorder": "mild"}},
        "refer",
    ),
    "BLEED_DISORDER_MILD": (
        {"patient": {"bleeding_disorder": "mild"}},
        {"patient": {"bleeding_disorder": "none"}},
        "caution",
    ),
    "ANTICOAG_VKA": (merge(meds("warfarin"), INR_IN_RANGE), meds("paracetamol"), "caution"),
    "ANTICOAG_VKA_HIGH": (
        merge(
            meds("warfarin"),
            {"labs": {"inr": {"value": 3.4, "target_low": 2.0, "target_high": 3.0, "age_days": 2.0}}},
        ),
        merge(
            meds("warfarin"),
            {"labs": {"inr": {"value": 3.0, "target_low": 2.0, "target_high": 3.0, "age_days": 2.0}}},
        ),
        "refer",
    ),
    "ANTICOAG_LAB_MISSING": (
        merge(meds("Coumadin"), {"labs": {"inr": {"value": 2.5, "target_high": 3.0, "age_days": 29.0}}}),
        merge(meds("Coumadin"), {"labs": {"inr": {"value": 2.5, "target_high": 3.0, "age_days": 28.0}}}),
        "caution",
    ),
    "ANTICOAG_OTHER": (meds("Eliquis"), meds("paracetamol"), "caution"),
    "ANTIPLATELET": (meds("clopidogrel"), meds("paracetamol"), "caution"),
    "MULTI_ANTITHROMBOTIC": (meds("aspirin", "ibuprofen"), meds("aspirin", "paracetamol"), "caution"),
    "MULTI_ANTITHROMBOTIC_TRIPLE": (
        meds("aspirin", "Plavix", "apixaban"),
        meds("aspirin", "Plavix"),
        "refer",
    ),
    "ANTICOAG_STATUS_UNKNOWN": (
        {"medications": {"complete": "no"}},
        {"medications": {"complete": "yes"}},
        "caution",
    ),
    "MEDICATION_UNRECOGNISED": (meds("zyxoplan"), meds("Zoloft"), "caution"),
    "DEEP_NONCOMPRESSIBLE_SITE": (
        merge(meds("Xarelto"), at("iliopsoas")),
        merge(meds("Xarelto"), at("thigh", "right")),
        "caution",
    ),
    "LYMPHEDEMA_LIMB": (
        merge(finding("lymphedema", "upper_limb", "left"), at("forearm", "left")),
        merge(finding("lymphedema", "upper_limb", "left"), at("calf", "right")),
        "refer",
    ),
    "LYMPHEDEMA_AT_RISK": (
        merge(finding("at_risk_limb", "upper_limb", "right"), at("upper_arm", "right")),
        merge(finding("at_risk_limb", "upper_limb", "right"), at("upper_arm", "left")),
        "refer",
    ),
    "CARDIAC_DEVICE_ES": (
        merge({"devices": {"answer": "yes", "items": [{"kind": "pacemaker"}]}}, EDN_CALF_PAIR),
        {"devices": {"answer": "yes", "items": [{"kind": "pacemaker"}]}},
        "refer",
    ),
    "CARDIAC_DEVICE_MANUAL": (
        merge(
            {
                "devices": {
                    "answer": "yes",
                    "items": [{"kind": "icd", "location": {"region": "infraclavicular", "side": "left"}}],
                }
            },
            at("chest_wall", "left"),
        ),
        merge(
            {
                "devices": {
                    "answer": "yes",
                    "items": [{"kind": "icd", "location": {"region": "infraclavicular", "side": "left"}}],
                }
            },
            at("chest_wall", "right"),
        ),
        "caution",
    ),
}
