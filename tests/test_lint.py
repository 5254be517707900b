"""The rule-file check: clean on the bundled rules, and it finds each kind of mistake in a broken copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from needlescreen.lint import Problem, check_rules, exercised_rule_ids
from needlescreen.ruleset import default_rules_dir

ROOT = Path(__file__).resolve().parent.parent
FEATURES = ROOT / "features"


def test_bundled_rules_are_clean() -> None:
    problems = check_rules(default_rules_dir(), FEATURES)
    assert problems == [], "\n".join(map(str, problems))


def test_every_rule_is_named_by_a_scenario() -> None:
    from needlescreen import load_ruleset

    assert {r.id for r in load_ruleset().rules} <= exercised_rule_ids(FEATURES)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A writable copy of the bundled rules and the features."""
    rules = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), rules)
    shutil.copytree(FEATURES, tmp_path / "features")
    return rules


def _append_rule(rules: Path, text: str) -> None:
    path = rules / "rules" / "consent.yaml"
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


_NEW_RULE = """
  - id: {rid}
    title: A rule for the check
    classification: relative
    verdict: caution
    scope: patient
    when: {{fact: {fact}, eq: yes}}
    unknown: caution
    summary: "{summary}"
    detail: Test.
    references: [{ref}]
"""


def _kinds(problems: list[Problem]) -> set[str]:
    return {p.kind for p in problems}


def test_rule_without_a_scenario(copy: Path) -> None:
    _append_rule(copy, _NEW_RULE.format(rid="NOBODY_TESTS_ME", fact="patient.frailty", summary="x y z", ref="SEC"))
    problems = check_rules(copy, copy.parent / "features")
    assert [(p.rule_id, p.kind) for p in problems] == [("NOBODY_TESTS_ME", "no-scenario")]


def test_unknown_fact_with_did_you_mean(copy: Path) -> None:
    _append_rule(copy, _NEW_RULE.format(rid="FRAILTY_TYPO", fact="patient.fraility", summary="x y z", ref="SEC"))
    problems = check_rules(copy)
    assert _kinds(problems) == {"unknown-fact"}
    assert "did you mean 'patient.frailty'" in problems[0].message
    assert problems[0].field == "when.fact" and problems[0].file == "rules/consent.yaml"


def test_missing_source(copy: Path) -> None:
    _append_rule(copy, _NEW_RULE.format(rid="NO_SOURCE", fact="patient.frailty", summary="x y z", ref="APTA14"))
    problems = check_rules(copy)
    assert _kinds(problems) == {"missing-source"}
    assert "APTA13" in problems[0].message


def test_duplicate_id(copy: Path) -> None:
    _append_rule(copy, _NEW_RULE.format(rid="FRAILTY", fact="patient.frailty", summary="x y z", ref="SEC"))
    problems = check_rules(copy)
    assert [(p.rule_id, p.kind) for p in problems] == [("FRAILTY", "duplicate-id")]


def test_summary_too_long(copy: Path) -> None:
    _append_rule(copy, _NEW_RULE.format(rid="LONG_SUMMARY", fact="patient.frailty", summary="x" * 141, ref="SEC"))
    assert _kinds(check_rules(copy)) == {"summary-too-long"}


def test_every_problem_is_reported_not_just_the_first(copy: Path) -> None:
    _append_rule(copy, _NEW_RULE.format(rid="FRAILTY", fact="patient.fraility", summary="x" * 200, ref="NOPE"))
    problems = check_rules(copy, copy.parent / "features")
    assert {"duplicate-id", "unknown-fact", "missing-source", "summary-too-long"} <= _kinds(problems)


def test_content_change_without_a_new_hash(copy: Path) -> None:
    path = copy / "policy.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("value: 38.0", "value: 38.5"), encoding="utf-8")
    problems = check_rules(copy)
    assert [p.kind for p in problems] == ["hash-mismatch"]
    assert "content_sha256" in str(problems[0])


def test_revision_without_a_changelog_entry(copy: Path) -> None:
    manifest = copy / "ruleset.yaml"
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(text.replace('revision: "', 'revision: "9999.'), encoding="utf-8")
    assert [p.kind for p in check_rules(copy)] == ["changelog-missing"]


def test_a_loader_error_is_reported(copy: Path) -> None:
    _append_rule(
        copy,
        _NEW_RULE.format(rid="BAD_OPERATOR", fact="patient.frailty", summary="x y z", ref="SEC").replace(
            "eq: yes", "gt: 3"
        ),
    )
    problems = check_rules(copy)
    assert [(p.rule_id, p.kind) for p in problems] == [("BAD_OPERATOR", "invalid")]


def test_a_code_map_with_an_unknown_region(copy: Path) -> None:
    path = copy / "codes.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("{region: upper_limb}]", "{region: upper_limbs}]"), "utf-8"
    )
    problems = check_rules(copy)
    assert [(p.file, p.kind) for p in problems] == [("codes.yaml", "invalid")]
    assert "upper_limbs" in problems[0].message


REFERENCE = ROOT.parent / "shared" / "clinical-reference.md"


@pytest.mark.skipif(not REFERENCE.exists(), reason="the clinical reference is not beside the repository")
def test_every_catalogue_row_is_a_rule_or_documented_as_not_encoded() -> None:
    import re

    from needlescreen import load_ruleset

    section = REFERENCE.read_text(encoding="utf-8").split("## 1. Catalogue")[1].split("## 2.")[0]
    rows = set(re.findall(r"^\| ([A-Z][A-Z0-9_]+) \|", section, re.M)) - {"ID"}
    documented = (default_rules_dir() / "NOT_ENCODED.md").read_text(encoding="utf-8")
    rules = {r.id for r in load_ruleset().rules}
    assert len(rows) > 50
    assert (
        sorted(r for r in rows if r not in rules and f"**{r}" not in documented and f"| {r} |" not in documented) == []
    )
