"""Record metadata (patient reference, clinician, encounter date, clinic) never influences a verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from needlescreen import IntakeError, Screener, parse_intake
from needlescreen.testing import baseline_intake, comparable, with_changes

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "cipn-electrical.json"
RECORDS = [
    {"patient_ref": "MRN-1", "clinician": "Dr A", "encounter_date": "2026-11-02", "clinic": "North"},
    {"patient_ref": "pregnant-refer-lymphedema"},  # words a rule might read, were it wired to the record
    {"encounter_date": "1900-01-01"},
    {},
]
INTAKES: list[dict[str, Any]] = [
    baseline_intake(),
    json.loads(EXAMPLE.read_text()),
    {"plan": {"technique": "dry_needling", "sites": [{"id": "a", "region": "calf", "side": "left"}]}},
    with_changes(baseline_intake(), {"patient": {"pregnancy": {"status": "pregnant", "gestational_weeks": 8.0}}}),
]


@pytest.mark.parametrize("intake", INTAKES)
@pytest.mark.parametrize("record", RECORDS)
def test_same_result_with_and_without_record(screeners: dict[str, Screener], intake: Any, record: Any) -> None:
    for name, screener in screeners.items():
        without = screener.screen(intake)
        with_record = screener.screen(intake | {"record": record})
        assert comparable(with_record) == comparable(without), f"{name}: the record changed the result"


def test_record_fields_are_validated() -> None:
    plan = {"technique": "dry_needling", "sites": [{"id": "a", "region": "calf"}]}
    assert parse_intake({"plan": plan, "record": {"patient_ref": "  A-1 "}}).record.patient_ref == "A-1"  # type: ignore[union-attr]
    for record, path in (
        ({"patient_ref": ""}, "record.patient_ref"),
        ({"clinician": "x" * 201}, "record.clinician"),
        ({"clinic": "line\nbreak"}, "record.clinic"),
        ({"encounter_date": "2026-13-01"}, "record.encounter_date"),
        ({"name": "Ann"}, "record.name"),
    ):
        with pytest.raises(IntakeError) as err:
            parse_intake({"plan": plan, "record": record})
        assert [p.path for p in err.value.problems] == [path]
