"""Did-you-mean as data, and library errors that say what to do (issue 14 item 14, issue 15 item 16).

A form (the web form, intake software) offers what was likely meant: a misspelt muscle's near names, the region
an everyday word stands for, the field a misspelt key names, the drug a misspelt entry is likely to be. These
travel as data: ``FieldProblem.suggestions`` in ``IntakeError`` and the 422 problem body, and
``unrecognised_medication_details`` in the result. The expectations are written by hand from anatomy, the intake
schema and pharmacology. Each check is shown to fail with the code path it relies on broken.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import needlescreen
from needlescreen import FieldProblem, IntakeError, parse_intake, screen
from needlescreen import screening as screening_module
from needlescreen.medications import MedicationClassifier
from needlescreen.testing import baseline_intake, with_changes


def _site(**site: Any) -> dict[str, Any]:
    return {"plan": {"technique": "dry_needling", "sites": [{"id": "a", **site}]}}


def _problems(intake: Any) -> list[FieldProblem]:
    with pytest.raises(IntakeError) as caught:
        screen(intake)
    return list(caught.value.problems)


#: (intake, path at fault, suggestion that must come first): written from anatomy and the intake schema.
SUGGESTED: list[tuple[dict[str, Any], str, str]] = [
    (_site(muscle="suprasinatus"), "plan.sites[0].muscle", "supraspinatus"),
    (_site(muscle="gastrocnemus", side="left"), "plan.sites[0].muscle", "gastrocnemius"),
    (_site(region="lower_back"), "plan.sites[0].region", "lumbar"),
    (_site(nerve="tibal", technique="perineural", side="left"), "plan.sites[0].nerve", "tibial"),
    (
        with_changes(
            baseline_intake(), {"findings": {"lymphedema": {"answer": "yes", "locations": [{"region": "arm"}]}}}
        ),
        "findings.lymphedema.locations[0].region",
        "upper_limb",
    ),
    (
        with_changes(
            baseline_intake(),
            {"devices": {"answer": "yes", "items": [{"kind": "pacemaker", "location": {"region": "armpit"}}]}},
        ),
        "devices.items[0].location.region",
        "axilla",
    ),
    # a misspelt key names the field it was meant to be
    (with_changes(baseline_intake(), {"patient": {"agee": 40.0}}), "patient.agee", "age"),
    ({"pateint": {}, **_site(region="calf", side="left")}, "pateint", "patient"),
    ({"plan": {"technqiue": "dry_needling", "sites": [{"id": "a", "region": "calf"}]}}, "plan.technqiue", "technique"),
    (_site(regoin="calf"), "plan.sites[0].regoin", "region"),
    (
        with_changes(baseline_intake(), {"findings": {"dvt": {"answer": "yes", "locatoins": []}}}),
        "findings.dvt.locatoins",
        "locations",
    ),
]


def check_suggestions() -> None:
    wrong = []
    for intake, path, first in SUGGESTED:
        found = {p.path: p for p in _problems(intake)}
        got = found.get(path)
        if got is None or not got.suggestions or got.suggestions[0] != first or repr(first) not in got.message:
            wrong.append(f"{path}: {got}, expected the suggestion {first!r} first")
    assert not wrong, "\n".join(wrong)


def check_no_echo_of_a_misspelt_site_field() -> None:
    """One misspelt key in the only site is one problem: the list is not also "too short"."""
    problems = _problems(_site(regoin="calf"))
    assert [p.path for p in problems] == ["plan.sites[0].regoin"], problems
    # a list that is empty is still reported as too short
    assert [p.path for p in _problems(_site(region="calf") | {"plan": {"technique": "dry_needling", "sites": []}})] == [
        "plan.sites"
    ]


def check_a_missing_field_names_its_misspelling() -> None:
    intake = {"plan": {"technqiue": "dry_needling", "sites": [{"id": "a", "region": "calf", "side": "left"}]}}
    problems = {p.path: p.message for p in _problems(intake)}
    assert "technqiue" in problems["plan.technique"], problems


def test_each_suggestion_is_data_and_named_in_words() -> None:
    check_suggestions()


def test_a_misspelt_site_field_is_one_problem() -> None:
    check_no_echo_of_a_misspelt_site_field()


def test_a_required_field_written_misspelt_says_so() -> None:
    check_a_missing_field_names_its_misspelling()


def test_suggestions_default_to_none_and_keep_the_old_constructor() -> None:
    problem = FieldProblem("plan.sites[0].side", "needs a side")
    assert problem.suggestions == () and str(problem) == "plan.sites[0].side: needs a side"


# --- a str is never a file -----------------------------------------------------------------------------------


def test_a_str_naming_a_file_is_told_to_be_a_path_and_is_never_opened(tmp_path: Path, monkeypatch: Any) -> None:
    intake_file = tmp_path / "x.json"
    intake_file.write_text(json.dumps(baseline_intake()), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for name in ("x.json", str(intake_file)):
        with pytest.raises(IntakeError) as caught:
            screen(name)
        message = str(caught.value)
        assert "pathlib.Path" in message and name in message and "JSON object" in message
    assert screen(Path("x.json")).verdict in ("clear", "caution", "refer")  # the Path is read


@pytest.mark.parametrize(
    ("given", "says"),
    [("hello", "single text value"), (b"[1, 2]", "a list"), (5, "number"), (None, "empty"), ("", "empty")],
)
def test_what_is_not_an_intake_says_what_it_is(given: Any, says: str) -> None:
    with pytest.raises(IntakeError, match=says) as caught:
        parse_intake(given)
    assert "pathlib" not in str(caught.value)


# --- the result: unrecognised medications with their did-you-mean -----------------------------------------------


def _with_meds(*names: str) -> dict[str, Any]:
    return with_changes(baseline_intake(), {"medications": {"complete": "yes", "items": [{"name": n} for n in names]}})


def check_medication_details(screen_all: Any) -> None:
    result = screen_all(_with_meds("xeralto 20 mg", "apixaban 5 mg bd", "blood thinner", "warfrain"))
    details = [d.model_dump() for d in result.unrecognised_medication_details]
    assert [d["entry"] for d in details] == list(result.unrecognised_medications)
    assert details == [
        {"entry": "xeralto 20 mg", "did_you_mean": "rivaroxaban", "read_as": ("doac",), "undecided": ()},
        {
            "entry": "blood thinner",
            "did_you_mean": None,
            "read_as": (),
            "undecided": ("antiplatelet", "doac", "heparin", "vka"),
        },
        {"entry": "warfrain", "did_you_mean": "warfarin", "read_as": ("vka",), "undecided": ()},
    ]
    # the JSON contract names it
    data = json.loads(result.model_dump_json())
    assert data["unrecognised_medication_details"][0]["did_you_mean"] == "rivaroxaban"


def test_the_result_carries_each_unrecognised_medication_with_its_did_you_mean(screen_all: Any) -> None:
    check_medication_details(screen_all)


def test_a_misspelt_risk_drug_is_flagged_as_its_class(screen_all: Any) -> None:
    """ "xeralto" with apixaban is two anticoagulants: the combination rule fires as for Xarelto itself."""
    result = screen_all(_with_meds("xeralto 20 mg", "apixaban 5 mg bd"))
    assert "MULTI_ANTITHROMBOTIC" in {f.rule_id for f in result.findings if f.status == "fired"}
    assert result.verdict != "clear"


def test_the_command_line_did_you_mean_still_works() -> None:
    from needlescreen.medications import did_you_mean

    assert did_you_mean("xeralto") == "rivaroxaban"


def test_the_result_schema_documents_the_details() -> None:
    schema = needlescreen.ScreeningResult.model_json_schema()
    assert "unrecognised_medication_details" in schema["properties"]
    assert "unrecognised_medication_details" not in schema.get("required", [])  # older results still validate


# --- the service's 422 body -------------------------------------------------------------------------------------


def _post_422(tmp_path: Path, intake: dict[str, Any]) -> list[dict[str, Any]]:
    pytest.importorskip("fastapi", reason="the server extra is not installed")
    from fastapi.testclient import TestClient

    from needlescreen.server import Settings, create_app

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'records.db'}")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        r = client.post("/screenings", json=intake)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    errors: list[dict[str, Any]] = r.json()["errors"]
    return errors


def check_problem_body(tmp_path: Path) -> None:
    errors = _post_422(tmp_path, _site(muscle="suprasinatus") | {"patient": {"agee": 40.0}})
    by_path = {e["path"]: e for e in errors}
    assert by_path["patient.agee"]["suggestions"] == ["age"]
    assert "suggestions" not in by_path.get("plan", {})  # nothing to offer: no key


def test_the_422_body_carries_the_suggestions(tmp_path: Path) -> None:
    check_problem_body(tmp_path)
    errors = _post_422(tmp_path, _site(muscle="suprasinatus"))
    assert errors == [
        {
            "path": "plan.sites[0].muscle",
            "message": errors[0]["message"],
            "suggestions": ["supraspinatus"],
        }
    ]


# --- breakage ----------------------------------------------------------------------------------------------------


def test_breakage_without_the_field_did_you_mean_the_check_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(screening_module, "_field_meant", lambda _model, _key: None)
    with pytest.raises(AssertionError):
        check_suggestions()
    with pytest.raises(AssertionError):
        check_a_missing_field_names_its_misspelling()


def test_breakage_without_the_result_details_the_check_fails(screen_all: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(MedicationClassifier, "unrecognised", lambda _self, _meds: [])
    with pytest.raises(AssertionError):
        check_medication_details(screen_all)


def test_breakage_without_suggestions_in_the_problem_body_the_check_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("fastapi", reason="the server extra is not installed")
    from needlescreen.server import problems

    monkeypatch.setattr(problems, "_field", lambda e: {"path": e.path, "message": e.message})
    with pytest.raises((AssertionError, KeyError)):
        check_problem_body(tmp_path)


def test_the_error_page_examples_are_what_the_library_says() -> None:
    page = " ".join((Path(__file__).resolve().parents[1] / "docs" / "errors.md").read_text(encoding="utf-8").split())
    examples = [
        {
            "patient": {"agee": 40},
            "plan": {"technqiue": "dry_needling", "sites": [{"id": "a", "region": "calf", "side": "left"}]},
        },
        _site(muscle="suprasinatus"),
    ]
    for intake in examples:
        with pytest.raises(IntakeError) as caught:
            screen(intake)
        assert " ".join(str(caught.value).split()) in page
    assert "[('age',), (), ('technique',)]" in page


# --- the one way to suggest ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "name", "score"),
    [
        ("xeralto", "xarelto", 100 * (1 - 1 / 7)),  # two letters swapped, not side by side: one slip
        ("warfrain", "warfarin", 100 * (1 - 1 / 8)),  # side by side
        ("rivroaxaban", "rivaroxaban", 100 * (1 - 2 / 11)),  # a letter moved two places: two swaps
        ("xareltoo", "xarelto", 0.0),  # not the same letters: the ratio's business
        ("otlerax", "xarelto", 0.0),  # too many letters out of place
        ("xarelto", "xarelto", 0.0),  # the name itself is no transposition
    ],
)
def test_a_transposition_scores_one_slip_per_swap(typed: str, name: str, score: float) -> None:
    from needlescreen._suggest import transposition_score

    assert transposition_score(typed, name) == pytest.approx(score)


def test_nothing_long_is_compared() -> None:
    from needlescreen._suggest import MAX_TYPED, Suggester

    names = Suggester(["age", "sex"])
    assert names.best("agee", cutoff=75) == "age"
    assert names.scored("a" * (MAX_TYPED + 1), cutoff=0) == []
