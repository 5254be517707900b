"""Helpers for testing screenings, shipped for clinics and integrators as well as our own suite.

A clinic that overrides policy can write its own checks::

    from needlescreen.testing import baseline_intake, clinic_screener, with_changes
    first_trimester = {"patient": {"pregnancy": {"status": "pregnant", "gestational_weeks": 8.0}}}
    intake = with_changes(baseline_intake(), first_trimester)
    assert clinic_screener("clinic-policy.yaml").screen(intake).verdict == "caution"
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, get_args

from .intake import FindingKind

__all__ = ["baseline_intake", "clinic_screener", "comparable", "with_changes"]

_NO_FINDING = {"answer": "no"}


def baseline_intake() -> dict[str, Any]:
    """A 40-year-old woman, not pregnant, who answers no to every screening question.

    Dry needling of the right calf is planned. With the bundled rules this intake is clear: start from it and
    change one thing to see what that one thing does.
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
            "immunocompromised": "no",
            "active_chemotherapy": "no",
            "diabetes": "none",
            "epilepsy": "none",
            "metal_allergy": "no",
            "heart_valve_or_endocarditis": "no",
            "lung_disease": "no",
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
        "devices": {"answer": "no"},
        "findings": {k: dict(_NO_FINDING) for k in get_args(FindingKind)},
        "conditions": [],
        "plan": {
            "technique": "dry_needling",
            "sites": [{"id": "s1", "region": "calf", "side": "right"}],
            "advanced_training": "no",
        },
    }


def clinic_screener(policy_file: Any = None, **overrides: object) -> Any:
    """A plain-engine screener with a clinic's policy file and/or settings, for testing a clinic's own policy.

    Example: ``clinic_screener(first_trimester_verdict="caution").screen(intake).policy`` shows the values used.
    """
    from .ruleset import load_ruleset
    from .screening import Screener

    return Screener(load_ruleset(policy_file=policy_file, policy_overrides=overrides or None), engine="plain")


def with_changes(intake: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``intake`` with ``changes`` merged in (mappings merge; anything else replaces)."""
    out = copy.deepcopy(dict(intake))
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = with_changes(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def comparable(result: Any) -> dict[str, Any]:
    """A result without the fields that differ between runs (decision id, timestamp, engine name)."""
    data: dict[str, Any] = result.model_dump(mode="json", exclude={"decision_id", "timestamp", "engine"})
    return data
