"""Result out: the screening as a GuidanceResponse and DetectedIssues that validate as R4B.

Severity follows the verdict (refer -> high, caution -> moderate), every finding becomes an issue (fired:
final, undecided: preliminary), every missing item a data requirement, and nothing of the result is lost.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fhir.resources", reason="the fhir extra is not installed")
from fhir.resources.R4B.bundle import Bundle

from needlescreen import Ruleset, Screener
from needlescreen.fhir.guidance import result_bundle

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "cipn-electrical.json"
SEVERITY = {"refer": "high", "caution": "moderate"}


@pytest.fixture(scope="module")
def plain(ruleset: Ruleset) -> Screener:
    return Screener(ruleset, engine="plain")


def check_bundle(result: Any, bundle: Bundle) -> list[str]:
    """What a reader of the Bundle must find: one issue per finding with its severity, one requirement per gap."""
    wrong = []
    entries = [e.resource for e in bundle.entry or ()]
    guidance, params, issues = entries[0], entries[1], entries[2:]
    if guidance.status != ("data-required" if result.missing else "success"):
        wrong.append("status")
    requirements = [
        next(e.valueString for e in r.extension if e.url.endswith("missing-fact"))
        for r in guidance.dataRequirement or ()
    ]
    if requirements != [m.fact for m in result.missing]:
        wrong.append("dataRequirement")
    if guidance.requestIdentifier.value != result.decision_id:
        wrong.append("requestIdentifier")
    if guidance.moduleCodeableConcept.coding[0].version != result.ruleset.revision:
        wrong.append("module")
    if len(issues) != len(result.findings):
        wrong.append("issue count")
    for f, issue in zip(result.findings, issues, strict=False):
        if issue.code.coding[0].code != f.rule_id or issue.severity != SEVERITY[f.verdict]:
            wrong.append(f"issue {f.rule_id}")
        if issue.status != ("final" if f.status == "fired" else "preliminary"):
            wrong.append(f"issue status {f.rule_id}")
        if [m.action.text for m in issue.mitigation or ()] != list(f.modifications):
            wrong.append(f"mitigation {f.rule_id}")
        if f.summary not in (issue.detail or ""):
            wrong.append(f"detail {f.rule_id}")
    verdict = next(p.valueCode for p in params.parameter if p.name == "verdict")
    if verdict != result.verdict:
        wrong.append("verdict")
    return wrong


def test_the_example_result_is_a_valid_bundle_that_keeps_every_reason(plain: Screener) -> None:
    result = plain.screen(EXAMPLE)
    text = result_bundle(result).model_dump_json()
    bundle = Bundle.model_validate_json(text)  # what needlescreen writes validates
    assert check_bundle(result, bundle) == []
    assert "null" not in text


def test_breakage_a_bundle_that_loses_an_issue_or_softens_a_severity_is_caught(plain: Screener) -> None:
    result = plain.screen(EXAMPLE)
    bundle = result_bundle(result)
    dropped = bundle.model_copy(update={"entry": (bundle.entry or [])[:-1]})
    assert "issue count" in check_bundle(result, dropped)
    entries = list(bundle.entry or [])
    high = next(i for i, e in enumerate(entries) if getattr(e.resource, "severity", None) == "high")
    softened = entries[high].resource.model_copy(update={"severity": "moderate"})
    entries[high] = entries[high].model_copy(update={"resource": softened})
    assert any(w.startswith("issue ") for w in check_bundle(result, bundle.model_copy(update={"entry": entries})))


def test_a_clear_result_is_success_without_issues(plain: Screener) -> None:
    from needlescreen.testing import baseline_intake

    result = plain.screen(baseline_intake())
    assert result.verdict == "clear"
    bundle = result_bundle(result)
    guidance = bundle.entry[0].resource  # type: ignore[index]
    assert guidance.status == "success" and not guidance.dataRequirement and len(bundle.entry or ()) == 2


def test_check_prints_the_result_as_fhir() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "needlescreen", "check", str(EXAMPLE), "--format", "fhir"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 20, proc.stderr
    bundle = Bundle.model_validate_json(proc.stdout)
    data: dict[str, Any] = json.loads(proc.stdout)
    assert data["entry"][0]["resource"]["resourceType"] == "GuidanceResponse"
    assert {e.resource.get_resource_type() for e in bundle.entry or ()} == {
        "GuidanceResponse",
        "Parameters",
        "DetectedIssue",
    }


def test_the_readme_fhir_commands_run_as_written() -> None:
    """The commands of the README's FHIR section (all but installing and serving) run and give a verdict."""
    import shlex

    root = Path(__file__).resolve().parents[1]
    text = (root / "README.md").read_text(encoding="utf-8")
    section = text[text.index("<!-- section:fhir -->") : text.index("<!-- /section:fhir -->")]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].split(">", 1)[0].strip() for line in block.splitlines()]
    commands = [c for c in commands if c.startswith("needlescreen ") and not c.startswith("needlescreen serve")]
    assert len(commands) == 3
    for command in commands:
        args = shlex.split(command)[1:]
        proc = subprocess.run(
            [sys.executable, "-m", "needlescreen", *args], cwd=root, capture_output=True, text=True, check=False
        )
        assert proc.returncode in (0, 10, 20), (command, proc.stderr)
        json.loads(proc.stdout)
