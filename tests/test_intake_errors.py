"""A malformed intake is rejected with errors that name each field by its JSON path; nothing is screened."""

from __future__ import annotations

import json
from typing import Any

import pytest

from needlescreen import Intake, IntakeError, parse_intake, screen
from needlescreen.testing import baseline_intake, with_changes


def _problems(data: Any) -> dict[str, str]:
    with pytest.raises(IntakeError) as info:
        screen(data)
    return {p.path: p.message for p in info.value.problems}


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"patient": {"age": "40"}}, "patient.age"),
        ({"patient": {"age": True}}, "patient.age"),
        ({"patient": {"age": -1.0}}, "patient.age"),
        ({"patient": {"needle_phobia": True}}, "patient.needle_phobia"),
        ({"patient": {"needle_phobia": "maybe"}}, "patient.needle_phobia"),
        ({"patient": {"favourite_colour": "blue"}}, "patient.favourite_colour"),
        ({"labs": {"inr": {"value": 1000.0}}}, "labs.inr.value"),
        ({"plan": {"technique": "acupuncture"}}, "plan.technique"),
        ({"plan": {"sites": []}}, "plan.sites"),
        (
            {"plan": {"sites": [{"id": "s1", "region": "calf", "side": "right", "depth_mm": "deep"}]}},
            "plan.sites[0].depth_mm",
        ),
        ({"medications": {"items": [{"name": ""}]}}, "medications.items[0].name"),
        ({"devices": {"answer": "no", "items": [{"kind": "pacemaker"}]}}, "devices"),
    ],
)
def test_each_bad_field_is_named(changes: dict[str, Any], path: str) -> None:
    problems = _problems(with_changes(baseline_intake(), changes))
    assert path in problems, problems


def test_all_problems_are_reported_at_once() -> None:
    data = with_changes(baseline_intake(), {"patient": {"age": "x", "sex": "robot"}, "plan": {"technique": "x"}})
    assert {"patient.age", "patient.sex", "plan.technique"} <= set(_problems(data))


def test_unknown_region_and_missing_side_are_named_with_a_hint() -> None:
    data = with_changes(
        baseline_intake(),
        {"plan": {"sites": [{"id": "a", "region": "forearn", "side": "left"}, {"id": "b", "region": "forearm"}]}},
    )
    problems = _problems(data)
    assert "unknown body region 'forearn'" in problems["plan.sites[0].region"]
    assert "needs side" in problems["plan.sites[1].side"]


def test_a_circuit_must_pair_planned_sites() -> None:
    data = with_changes(
        baseline_intake(),
        {
            "plan": {
                "technique": "electrical",
                "sites": [{"id": "a", "region": "calf", "side": "left"}],
                "circuits": [["a", "zz"]],
            }
        },
    )
    assert any("not a planned site" in m for m in _problems(data).values())


_PLAN = '"plan": {"technique": "dry_needling", "sites": [{"id": "a", "region": "calf", "side": "left"}]}'


@pytest.mark.parametrize(
    "text",
    [
        "{" + _PLAN + ', "plan": {}}',
        '{"patient": {"age": NaN}, ' + _PLAN + "}",
        '{"patient": {"age": Infinity}, ' + _PLAN + "}",
        '{"patient": {"age": 1e400}, ' + _PLAN + "}",
        "plan:\n  technique: dry_needling\nplan: {}\n",
        "[1, 2, 3]",
        "{not json",
        "!!python/object/apply:os.system ['echo pwned']",
    ],
)
def test_text_that_is_not_a_valid_intake_is_rejected(text: str) -> None:
    with pytest.raises(IntakeError):
        parse_intake(text)


def test_yaml_and_json_text_give_the_same_intake() -> None:
    import yaml

    data = baseline_intake()
    assert parse_intake(json.dumps(data)) == parse_intake(yaml.safe_dump(data)) == Intake.model_validate(data)


def test_the_intake_json_schema_is_exported_and_forbids_unknown_fields() -> None:
    schema = Intake.model_json_schema()
    assert schema["additionalProperties"] is False
    assert "plan" in schema["required"]
    assert set(schema["$defs"]["Patient"]["properties"]) >= {"age", "pregnancy", "consent", "needle_phobia"}


def test_the_error_page_example_is_what_the_library_says() -> None:
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "errors.md").read_text()
    with pytest.raises(IntakeError) as info:
        screen({"patient": {"age": "40"}, "plan": {"technique": "laser", "sites": []}})
    assert str(info.value) in page


def test_an_unquoted_yaml_no_is_explained() -> None:
    text = "plan: {technique: dry_needling, sites: [{id: a, region: calf, side: left}]}\npatient: {needle_phobia: no}\n"
    with pytest.raises(IntakeError) as info:
        parse_intake(text)
    (problem,) = info.value.problems
    assert problem.path == "patient.needle_phobia"
    assert "in quotes" in problem.message
