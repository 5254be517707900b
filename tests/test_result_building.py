"""A finding built from its rule's template is the model pydantic would build from the same values."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings

from needlescreen import Screener, load_ruleset
from needlescreen.result import FindingResult, ScreeningResult
from needlescreen.screening import _with_patient

from .strategies import intakes

RULESET = load_ruleset()
SCREENER = Screener(RULESET, engine="plain")


@settings(max_examples=60, deadline=None)
@given(intakes())
def test_every_finding_equals_the_validated_model_of_its_values(intake: Any) -> None:
    result = SCREENER.screen(intake)
    for finding in result.findings:
        assert FindingResult.model_validate(finding.model_dump()) == finding
        assert finding.model_fields_set == set(FindingResult.model_fields)
        assert finding.__pydantic_extra__ is None and finding.__pydantic_private__ is None
    # The whole result survives its own JSON round trip (what every client reads).
    assert ScreeningResult.model_validate_json(result.model_dump_json()) == result


def test_the_copy_matches_model_copy_and_leaves_the_template_alone() -> None:
    result = SCREENER.screen(
        {
            **_baseline(),
            "findings": {**_baseline()["findings"], "dvt": {"answer": "yes", "locations": [{"region": "calf"}]}},
        }
    )
    template = result.findings[0]
    patient = {"detail": "d", "site": None, "circuit": ("a", "b"), "facts": {"x": 1.0}, "missing": ("y",)}
    before = template.model_dump()
    built = _with_patient(template, patient)
    assert built == template.model_copy(update=patient)
    assert template.model_dump() == before, "the shared template is never changed"
    assert built.__dict__ is not template.__dict__
    # A client may copy a finding with changes, as with any pydantic model.
    assert built.model_copy(update={"detail": "e"}).detail == "e"
    assert built.model_copy(update={"detail": "e"}).model_fields_set == set(FindingResult.model_fields)


def _baseline() -> dict[str, Any]:
    from needlescreen.testing import baseline_intake

    return baseline_intake()
