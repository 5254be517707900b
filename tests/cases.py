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


def edn(a: tuple[str, str | None], b: tuple[str, str | None]) -> dict[str, Any]:
    """Electrical dry needling with one lead pair between two places."""
    sites = []
    for i, (region, side) in enumerate((a, b)):
        site: dict[str, Any] = {"id": f"e{i}", "region": region}
        if side:
            site["side"] = side
        sites.append(site)
    return {"plan": {"technique": "electrical", "sites": sites, "circuits": [["e0", "e1"]]}}


EDN_KNEE_PAIR = {
    "plan": {
        "technique": "electrical",
        "sites": [
            {"id": "s1", "region": "thigh", "side": "right"},
            {"id": "s2", "region": "knee", "side": "right"},
        ],
        "circuits": [["s1", "s2"]],
    }
}
EDN_NECK_PAIR = {
    "plan": {
        "technique": "electrical",
        "sites": [
            {"id": "s1", "region": "anterior_neck", "side": "right"},
            {"id": "s2", "region": "upper_trapezius", "side": "right"},
        ],
        "circuits": [["s1", "s2"]],
        "advanced_training": "yes",
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
    "INR_UNEXPLAINED": (
        {"labs": {"inr": {"value": 6.0, "age_days": 2.0}}},
        {"labs": {"inr": {"value": 1.5, "age_days": 2.0}}},
        "refer",
    ),
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
    "INCONSISTENT_ANSWERS": (
        {"medications": {"complete": "yes", "items": [], "vka": "yes"}},
        {"medications": {"complete": "no", "items": [], "vka": "yes"}},
        "caution",
    ),
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
        "caution",
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
    # --- consent and the person ---
    "VASOVAGAL": ({"patient": {"fainting_history": "yes"}}, {"patient": {"needle_phobia": "no"}}, "caution"),
    "ACUTE_MEDICAL": ({"patient": {"acute_illness": "yes"}}, {"patient": {"frailty": "no"}}, "refer"),
    "FRAILTY": ({"patient": {"frailty": "yes"}}, {"patient": {"age": 85.0}}, "caution"),
    "PSYCH_UNCOOPERATIVE": (
        {"patient": {"cooperation_problem": "yes"}},
        {"patient": {"cooperation_problem": "no"}},
        "caution",
    ),
    "PSYCH_CANNOT_KEEP_STILL": (
        {"patient": {"can_keep_still": "no"}},
        {"patient": {"can_keep_still": "yes", "cooperation_problem": "no"}},
        "refer",
    ),
    # --- bleeding: platelets ---
    "THROMBOCYTOPENIA_SEVERE": (
        {"patient": {"active_chemotherapy": "yes"}, "labs": {"platelets": {"value": 49.0, "age_days": 2.0}}},
        {"labs": {"platelets": {"value": 50.0, "age_days": 2.0}}},
        "refer",
    ),
    "THROMBOCYTOPENIA": (
        {"patient": {"active_chemotherapy": "yes"}, "labs": {"platelets": {"value": 50.0, "age_days": 2.0}}},
        {"labs": {"platelets": {"value": 100.0, "age_days": 2.0}}},
        "caution",
    ),
    # --- immune, infection, oncology ---
    "NEUTROPENIA_SEVERE": (
        {"patient": {"active_chemotherapy": "yes"}, "labs": {"anc": {"value": 0.4, "age_days": 2.0}}},
        {"labs": {"anc": {"value": 0.5, "age_days": 2.0}}},
        "refer",
    ),
    "NEUTROPENIA": (
        {"patient": {"active_chemotherapy": "yes"}, "labs": {"anc": {"value": 0.9, "age_days": 2.0}}},
        {"labs": {"anc": {"value": 1.0, "age_days": 2.0}}},
        "caution",
    ),
    "IMMUNOSUPPRESSION": (meds("Humira"), meds("paracetamol"), "caution"),
    "MALIGNANCY_AT_SITE": (
        finding("tumour", "calf", "right"),
        finding("tumour", "calf", "left"),
        "refer",
    ),
    "CANCER_HISTORY": (
        {"patient": {"cancer_history": "yes", "active_chemotherapy": "unknown"}},
        {"patient": {"cancer_history": "yes", "active_chemotherapy": "no"}},
        "caution",
    ),
    "ACTIVE_CHEMO": (meds("paclitaxel"), meds("letrozole"), "caution"),
    "ACTIVE_CHEMO_COUNTS_STALE": (
        merge(
            {"patient": {"active_chemotherapy": "yes"}},
            {"labs": {"platelets": {"value": 200.0, "age_days": 22.0}, "anc": {"value": 3.0, "age_days": 2.0}}},
        ),
        merge(
            {"patient": {"active_chemotherapy": "yes"}},
            {"labs": {"platelets": {"value": 200.0, "age_days": 21.0}, "anc": {"value": 3.0, "age_days": 21.0}}},
        ),
        "caution",
    ),
    "VASCULAR_ACCESS": (
        merge(
            {
                "devices": {
                    "answer": "yes",
                    "items": [{"kind": "port_picc", "location": {"region": "upper_limb", "side": "left"}}],
                }
            },
            at("forearm", "left"),
        ),
        merge(
            {
                "devices": {
                    "answer": "yes",
                    "items": [{"kind": "port_picc", "location": {"region": "upper_limb", "side": "left"}}],
                }
            },
            at("forearm", "right"),
        ),
        "caution",
    ),
    "RADIOTHERAPY_SKIN": (
        merge(finding("radiotherapy_field", "breast", "left"), at("breast", "left")),
        merge(finding("radiotherapy_field", "breast", "left"), at("breast", "right")),
        "caution",
    ),
    # --- lymphatic, vascular, cardiac ---
    "LYMPHEDEMA_ADJACENT": (
        merge(finding("lymphedema", "upper_limb", "left"), at("chest_wall", "left")),
        merge(finding("lymphedema", "upper_limb", "left"), at("chest_wall", "right")),
        "caution",
    ),
    "VARICOSE_SITE": (
        finding("varicose_veins", "calf", "right"),
        finding("varicose_veins", "calf", "left"),
        "caution",
    ),
    "DVT_ACUTE": (
        finding("dvt", "lower_limb", "right"),
        finding("dvt", "lower_limb", "left"),
        "refer",
    ),
    "VASCULAR_DISEASE": (
        {"patient": {"vascular_disease": "yes"}},
        merge({"patient": {"vascular_disease": "yes"}}, at("thigh", "right")),
        "caution",
    ),
    "HEART_VALVE": (
        {"patient": {"heart_valve_or_endocarditis": "yes"}},
        {"patient": {"heart_valve_or_endocarditis": "no"}},
        "caution",
    ),
    # --- metabolic, neurological, allergy ---
    "DIABETES": ({"patient": {"diabetes": "uncontrolled"}}, {"patient": {"diabetes": "controlled"}}, "caution"),
    "DIABETES_CONTROLLED": (
        {"patient": {"diabetes": "controlled"}},
        {"patient": {"diabetes": "controlled", "vascular_disease": "yes"}},
        "caution",
    ),
    "IMPAIRED_SENSATION": (
        finding("reduced_sensation", "calf", "right"),
        finding("reduced_sensation", "foot", "right"),
        "caution",
    ),
    "EPILEPSY_CONTROLLED": ({"patient": {"epilepsy": "controlled"}}, {"patient": {"epilepsy": "none"}}, "caution"),
    "EPILEPSY_UNCONTROLLED": (
        {"patient": {"epilepsy": "uncontrolled"}},
        {"patient": {"epilepsy": "controlled"}},
        "refer",
    ),
    "METAL_ALLERGY": ({"patient": {"metal_allergy": "yes"}}, {"patient": {"metal_allergy": "no"}}, "caution"),
    # --- implants, devices, surgery ---
    "ACTIVE_IMPLANT_ES": (
        merge({"devices": {"answer": "yes", "items": [{"kind": "spinal_cord_stimulator"}]}}, EDN_CALF_PAIR),
        {"devices": {"answer": "yes", "items": [{"kind": "spinal_cord_stimulator"}]}},
        "refer",
    ),
    "METAL_IMPLANT_ES": (
        merge(
            {
                "devices": {
                    "answer": "yes",
                    "items": [{"kind": "joint_prosthesis", "location": {"region": "knee", "side": "right"}}],
                }
            },
            EDN_KNEE_PAIR,
        ),
        merge(
            {
                "devices": {
                    "answer": "yes",
                    "items": [{"kind": "joint_prosthesis", "location": {"region": "knee", "side": "left"}}],
                }
            },
            EDN_KNEE_PAIR,
        ),
        "caution",
    ),
    "BREAST_IMPLANT": (
        merge(
            {
                "devices": {
                    "answer": "yes",
                    "items": [{"kind": "breast_implant", "location": {"region": "breast", "side": "both"}}],
                }
            },
            at("breast", "left"),
        ),
        merge(
            {
                "devices": {
                    "answer": "yes",
                    "items": [{"kind": "breast_implant", "location": {"region": "breast", "side": "both"}}],
                }
            },
            at("interscapular", "left"),
        ),
        "caution",
    ),
    "RECENT_SURGERY_SITE": (
        finding("recent_surgery", "knee", "right", weeks_ago=6.0) | at("knee", "right"),
        finding("recent_surgery", "knee", "right", weeks_ago=12.0) | at("knee", "right"),
        "refer",
    ),
    "RECENT_SURGERY_SITE_HEALED": (
        finding("recent_surgery", "knee", "right", weeks_ago=12.0) | at("knee", "right"),
        finding("recent_surgery", "knee", "right", weeks_ago=11.0) | at("knee", "right"),
        "caution",
    ),
    "PROSTHESIS_SITE": (
        merge(
            {
                "devices": {
                    "answer": "yes",
                    "items": [{"kind": "joint_prosthesis", "location": {"region": "knee", "side": "right"}}],
                }
            },
            at("knee", "right"),
        ),
        merge(
            {
                "devices": {
                    "answer": "yes",
                    "items": [{"kind": "joint_prosthesis", "location": {"region": "knee", "side": "right"}}],
                }
            },
            at("knee", "left"),
        ),
        "caution",
    ),
    # --- thorax and vulnerable regions ---
    "THORAX": (at("upper_trapezius", "right"), at("shoulder_girdle", "right"), "caution"),
    "PTX_RISK_FACTORS": (
        merge({"patient": {"bmi": 18.4}}, at("interscapular", "left")),
        merge({"patient": {"bmi": 18.5}}, at("interscapular", "left")),
        "caution",
    ),
    "PTX_HIGH_RISK": (
        merge({"patient": {"prior_pneumothorax": "yes"}}, at("chest_wall", "left")),
        {"patient": {"prior_pneumothorax": "yes"}},
        "refer",
    ),
    "BILATERAL_THORAX": (
        {
            "plan": {
                "technique": "dry_needling",
                "sites": [
                    {"id": "a", "region": "upper_trapezius", "side": "left"},
                    {"id": "b", "region": "upper_trapezius", "side": "right"},
                ],
            }
        },
        {
            "plan": {
                "technique": "dry_needling",
                "sites": [
                    {"id": "a", "region": "upper_trapezius", "side": "left"},
                    {"id": "b", "region": "interscapular", "side": "left"},
                ],
            }
        },
        "caution",
    ),
    "PROHIBITED_SITE": (
        merge({"patient": {"age": 1.0, "consent": {"guardian_consent": "yes"}}}, at("scalp")),
        merge({"patient": {"age": 3.0, "consent": {"guardian_consent": "yes"}}}, at("scalp")),
        "refer",
    ),
    "VULNERABLE_SITE": (
        at("anterior_neck", "right"),
        merge(at("anterior_neck", "right"), {"plan": {"advanced_training": "yes"}}),
        "refer",
    ),
    "SPINAL_INSTABILITY": (
        merge(finding("spinal_instability", "posterior_neck"), at("posterior_neck", "midline")),
        merge(finding("spinal_instability", "posterior_neck"), at("lumbar", "midline")),
        "refer",
    ),
    # --- electrical only ---
    "ES_CAROTID": (EDN_NECK_PAIR, merge(at("anterior_neck", "right"), {"plan": {"advanced_training": "yes"}}), "refer"),
    "ES_TRANSTHORACIC": (
        edn(("forearm", "left"), ("forearm", "right")),
        edn(("forearm", "left"), ("upper_arm", "left")),
        "refer",
    ),
    "ES_ACROSS_SPINE": (
        edn(("posterior_neck", "left"), ("posterior_neck", "right")),
        edn(("lumbar", "left"), ("lumbar", "right")),
        "refer",
    ),
    "ES_HEAD": (edn(("face", "left"), ("face", "left")), merge(at("face", "left")), "refer"),
    "ES_BROKEN_SKIN_OR_INFLAMED": (
        merge(finding("varicose_veins", "calf", "right"), EDN_CALF_PAIR),
        merge(finding("varicose_veins", "calf", "left"), EDN_CALF_PAIR),
        "refer",
    ),
    "ES_MALIGNANCY": (
        merge(finding("tumour", "ankle", "right"), EDN_CALF_PAIR),
        merge(finding("tumour", "ankle", "left"), EDN_CALF_PAIR),
        "refer",
    ),
    "RADIOTHERAPY_SKIN_ES": (
        merge(finding("radiotherapy_field", "calf", "right"), EDN_CALF_PAIR),
        merge(finding("radiotherapy_field", "calf", "right"), at("calf", "right")),
        "refer",
    ),
    "ES_CIPN_ACTIVE_CHEMO": (
        merge({"patient": {"active_chemotherapy": "yes"}}, EDN_CALF_PAIR),
        merge({"patient": {"active_chemotherapy": "no"}}, EDN_CALF_PAIR),
        "caution",
    ),
    # --- the body model: current paths and nerves ---
    "DVT_IN_CURRENT_PATH": (
        merge(finding("dvt", "calf", "left"), edn(("foot", "right"), ("foot", "left"))),
        merge(finding("dvt", "calf", "left"), edn(("foot", "right"), ("thigh", "right"))),
        "refer",
    ),
    "METAL_IN_CURRENT_PATH": (
        merge(
            {
                "devices": {
                    "answer": "yes",
                    "items": [{"kind": "joint_prosthesis", "location": {"region": "knee", "side": "right"}}],
                }
            },
            edn(("thigh", "right"), ("foot", "right")),
        ),
        merge(
            {
                "devices": {
                    "answer": "yes",
                    "items": [{"kind": "joint_prosthesis", "location": {"region": "knee", "side": "right"}}],
                }
            },
            edn(("thigh", "left"), ("foot", "left")),
        ),
        "caution",
    ),
    "NERVE_TERRITORY_REDUCED_SENSATION_ES": (
        merge(
            finding("reduced_sensation", "foot", "both"),
            {
                "plan": {
                    "technique": "electrical",
                    "sites": [
                        {"id": "n1", "nerve": "tibial", "technique": "perineural", "side": "right"},
                        {"id": "n2", "region": "calf", "side": "right"},
                    ],
                    "circuits": [["n1", "n2"]],
                }
            },
        ),
        merge(
            finding("reduced_sensation", "foot", "both"),
            {
                "plan": {
                    "technique": "electrical",
                    "sites": [
                        {"id": "n1", "nerve": "median", "technique": "perineural", "side": "right"},
                        {"id": "n2", "region": "forearm", "side": "right"},
                    ],
                    "circuits": [["n1", "n2"]],
                }
            },
        ),
        "caution",
    ),
    "PREG_CURRENT_THROUGH_TRUNK": (
        merge(PREGNANT, edn(("calf", "left"), ("calf", "right"))),
        merge(PREGNANT, edn(("calf", "right"), ("ankle", "right"))),
        "refer",
    ),
    # --- clinical round 3 (issue 14) ---
    "ACTIVE_IMPLANT_MANUAL": (
        merge(
            {
                "devices": {
                    "answer": "yes",
                    "items": [{"kind": "spinal_cord_stimulator", "location": {"region": "gluteal", "side": "left"}}],
                }
            },
            at("gluteal", "left"),
        ),
        {
            "devices": {
                "answer": "yes",
                "items": [{"kind": "spinal_cord_stimulator", "location": {"region": "gluteal", "side": "left"}}],
            }
        },
        "caution",
    ),
    "PACEMAKER_DEPENDENT_ES": (
        merge(
            {"devices": {"answer": "yes", "items": [{"kind": "pacemaker"}], "pacemaker_dependent": "yes"}},
            EDN_CALF_PAIR,
        ),
        merge(
            {"devices": {"answer": "yes", "items": [{"kind": "pacemaker"}], "pacemaker_dependent": "no"}}, EDN_CALF_PAIR
        ),
        "refer",
    ),
    "WORN_DEVICE_SITE": (
        merge(finding("worn_device", "abdomen", "left"), at("abdomen", "left")),
        finding("worn_device", "abdomen", "left"),
        "caution",
    ),
    "CHEMO_NADIR_COUNTS": (
        {
            "patient": {"active_chemotherapy": "yes", "chemo_cycle_day": 10.0},
            "labs": {"anc": {"value": 3.0, "age_days": 5.0}, "platelets": {"value": 250.0, "age_days": 5.0}},
        },
        {
            "patient": {"active_chemotherapy": "yes", "chemo_cycle_day": 10.0},
            "labs": {"anc": {"value": 3.0, "age_days": 2.0}, "platelets": {"value": 250.0, "age_days": 2.0}},
        },
        "caution",
    ),
    "DVT_PAST": (
        finding("past_dvt", "lower_limb", "right"),
        finding("past_dvt", "lower_limb", "left"),
        "caution",
    ),
    "THROMBOPHLEBITIS_SITE": (
        finding("thrombophlebitis", "calf", "right"),
        finding("thrombophlebitis", "calf", "left"),
        "refer",
    ),
    "THROMBOPHLEBITIS_IN_CURRENT_PATH": (
        merge(finding("thrombophlebitis", "calf", "right"), edn(("thigh", "right"), ("foot", "right"))),
        merge(finding("thrombophlebitis", "calf", "right"), edn(("thigh", "left"), ("foot", "left"))),
        "refer",
    ),
    "LYMPHEDEMA_AT_RISK_ADJACENT": (
        merge(finding("at_risk_limb", "upper_limb", "left"), at("upper_trapezius", "left")),
        merge(finding("at_risk_limb", "upper_limb", "left"), at("upper_trapezius", "right")),
        "caution",
    ),
    "SKIN_DISEASE_SITE": (
        finding("skin_disease", "calf", "right"),
        finding("skin_disease", "calf", "left"),
        "refer",
    ),
    "PTX_BULLOUS": (
        merge({"patient": {"lung_disease": "yes", "bullous_lung_disease": "yes"}}, at("interscapular", "left")),
        {"patient": {"lung_disease": "yes", "bullous_lung_disease": "yes"}},
        "refer",
    ),
    "BLEEDING_HISTORY": (
        merge({"patient": {"bleeding_history": "yes"}}, meds("apixaban")),
        merge({"patient": {"bleeding_history": "no"}}, meds("apixaban")),
        "caution",
    ),
    "INR_HIGH_ON_NON_VKA": (
        merge(meds("apixaban"), {"labs": {"inr": {"value": 4.0, "age_days": 2.0}}}),
        merge(meds("apixaban"), {"labs": {"inr": {"value": 3.4, "age_days": 2.0}}}),
        "refer",
    ),
    # A stimulated pair on the calf (the trunk is a scenario): without lead pairs the rule is undecided.
    "PREG_TRYING_TO_CONCEIVE": (
        merge({"patient": {"pregnancy": {"status": "not_pregnant", "trying_to_conceive": "yes"}}}, EDN_CALF_PAIR),
        {"patient": {"pregnancy": {"status": "not_pregnant", "trying_to_conceive": "yes"}}},
        "caution",
    ),
    "TUMOUR_IN_CURRENT_PATH": (
        merge(finding("tumour", "calf", "right"), edn(("thigh", "right"), ("foot", "right"))),
        merge(finding("tumour", "calf", "right"), edn(("thigh", "left"), ("foot", "left"))),
        "refer",
    ),
    "WORN_DEVICE_IN_CURRENT_PATH": (
        merge(finding("worn_device", "thigh", "left"), edn(("calf", "left"), ("gluteal", "left"))),
        merge(finding("worn_device", "thigh", "left"), edn(("calf", "right"), ("foot", "right"))),
        "caution",
    ),
    "CONDITION_UNRECOGNISED": ({"conditions": [{"code": "K21.9"}]}, {"conditions": [{"code": "I89.0"}]}, "caution"),
}
