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
from typing import Any

from .baseline import baseline_intake

__all__ = ["baseline_intake", "clinic_screener", "comparable", "with_changes"]


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
