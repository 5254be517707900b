"""The baseline patient: a fully answered intake with no risk factor, the starting point of "change one thing".

It lives in the core (not in :mod:`needlescreen.testing`) because the durable_rules adapter screens it as a
canary before it takes real screenings; :mod:`needlescreen.testing` re-exports it for clinics and tests.
"""

from __future__ import annotations

from typing import Any, get_args

from .intake import FindingKind

__all__ = ["baseline_intake"]

_NO_FINDING = {"answer": "no"}


def baseline_intake() -> dict[str, Any]:
    """A 40-year-old woman, not pregnant, who answers no to every screening question.

    Dry needling of the right calf is planned. With the bundled rules this intake is clear: start from it and
    change one thing to see what that one thing does. It is exactly what the questionnaire's first pass gives
    when every screening question is answered "no" (follow-ups that only a "yes" opens stay unasked: the
    weeks of a pregnancy, trying to conceive, a count's date).
    """
    return {
        "schema_version": "needlescreen.intake/1",
        "patient": {
            "age": 40,
            "sex": "female",
            "pregnancy": {"status": "not_pregnant"},
            "consent": {"agrees": "yes", "capacity": "yes", "guardian_consent": "unknown"},
            "needle_phobia": "no",
            "fainting_history": "no",
            "acute_illness": "no",
            "fever": {"answer": "no"},
            "bleeding_disorder": "none",
            "bleeding_history": "no",
            "immunocompromised": "no",
            "active_chemotherapy": "no",
            "diabetes": "none",
            "epilepsy": "none",
            "metal_allergy": "no",
            "heart_valve_or_endocarditis": "no",
            "lung_disease": "no",
            "bullous_lung_disease": "no",
            "prior_pneumothorax": "no",
            "bmi": 23.0,
            "frailty": "no",
            "can_keep_still": "yes",
            "cooperation_problem": "no",
            "vascular_disease": "no",
            "cancer_history": "no",
            "chest_wall_condition": "no",
        },
        "medications": {"complete": "yes", "items": []},
        "labs": {},
        "devices": {"answer": "no", "pacemaker_dependent": "no"},
        "findings": {k: dict(_NO_FINDING) for k in get_args(FindingKind)},
        "conditions": [],
        "plan": {
            "technique": "dry_needling",
            "sites": [{"id": "s1", "region": "calf", "side": "right"}],
            "advanced_training": "no",
        },
    }
