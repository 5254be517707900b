"""How many blood thinners a patient takes, as a clinician counts them (MUN22: combined antithrombotics raise
bleeding risk; the reference proposes refer for triple therapy). The expectations are written here."""

from __future__ import annotations

from typing import Any

import pytest

from needlescreen import Screener
from needlescreen.testing import baseline_intake, with_changes

#: (medication list, list complete, the verdict of the triple-therapy rule: fired, unknown or absent)
CASES: list[tuple[list[str], str, str]] = [
    (["apixaban", "aspirin 81 mg", "clopidogrel 75 mg"], "yes", "fired"),
    (["apixaban", "aspirin 81 mg", "clopidogrel 75 mg"], "no", "fired"),  # three listed: at least three
    (["apixaban", "aspirin 81 mg"], "yes", "absent"),  # exactly two
    (["apixaban", "aspirin 81 mg"], "no", "unknown"),  # two listed, the list may hide a third
    (["warfarin 5 mg", "Coumadin", "warfarin"], "yes", "absent"),  # one drug written three ways
    (["clopidogrel/aspirin", "apixaban 5 mg bid"], "yes", "fired"),  # a combination tablet is two drugs
]


@pytest.fixture(scope="module")
def plain() -> Screener:
    return Screener(engine="plain")


@pytest.mark.parametrize(("drugs", "complete", "triple"), CASES)
def test_blood_thinners_are_counted_as_a_clinician_counts_them(
    plain: Screener, drugs: list[str], complete: str, triple: str
) -> None:
    changes: dict[str, Any] = {"medications": {"complete": complete, "items": [{"name": d} for d in drugs]}}
    result = plain.screen(with_changes(baseline_intake(), changes))
    hits = [f for f in result.findings if f.rule_id == "MULTI_ANTITHROMBOTIC_TRIPLE"]
    if triple == "absent":
        assert not hits, hits
    else:
        assert [f.status for f in hits] == [triple]
        assert hits[0].verdict == ("refer" if triple == "fired" else "caution")
