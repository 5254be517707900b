"""A malformed rule file fails at load, naming the file, the rule id, the field and what was expected."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from needlescreen import RuleFileError, load_ruleset
from needlescreen.ruleset import default_rules_dir


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), target)
    return target


def _edit_rule(root: Path, rule_id: str, **changes: object) -> Path:
    for path in sorted((root / "rules").glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        for rule in data["rules"]:
            if rule["id"] == rule_id:
                for key, value in changes.items():
                    if value is None:
                        rule.pop(key, None)
                    else:
                        rule[key] = value
                path.write_text(yaml.safe_dump(data, sort_keys=False))
                return path
    raise KeyError(rule_id)


def _error(root: Path) -> RuleFileError:
    with pytest.raises(RuleFileError) as info:
        load_ruleset(root)
    return info.value


@pytest.mark.parametrize(
    ("changes", "field", "text"),
    [
        ({"verdict": "clear"}, "verdict", "expected"),
        ({"summary": "x" * 141}, "summary", "at most 140"),
        ({"summary": None}, "summary", "Field required"),
        ({"when": {"fact": "patient.needle_phobai", "eq": "yes"}}, "when.fact", "did you mean 'patient.needle_phobia'"),
        ({"when": {"fact": "patient.needle_phobia", "eq": "maybe"}}, "when.eq", "yes or no"),
        ({"when": {"fact": "patient.needle_phobia", "lt": 3}}, "when.lt", "does not apply"),
        ({"when": {"fact": "patient.needle_phobia", "eq": None}}, "when.eq", "without a value"),
        ({"when": {"all": []}}, "when.all", "non-empty"),
        ({"when": {"fact": "patient.age", "known": False}}, "when", "absent facts alone"),
        ({"when": {"fact": "site.lymphedema", "eq": "yes"}}, "when.fact", "belongs to site rules"),
        ({"references": ["NOPE12"]}, "references[0]", "unknown source"),
        ({"scope": "everywhere"}, "scope", "expected"),
        ({"extra_key": 1}, "extra_key", "Extra inputs"),
    ],
)
def test_malformed_rule_is_named(rules_copy: Path, changes: dict, field: str, text: str) -> None:
    path = _edit_rule(rules_copy, "NEEDLE_PHOBIA", **changes)
    err = _error(rules_copy)
    assert err.rule_id == "NEEDLE_PHOBIA"
    assert err.file is not None and Path(err.file).name == path.name
    assert err.field == field
    assert text in str(err)


def test_duplicate_ids_are_rejected(rules_copy: Path) -> None:
    path = rules_copy / "rules" / "zz-dup.yaml"
    src = yaml.safe_load((rules_copy / "rules" / "consent.yaml").read_text())
    src["rules"] = [r for r in src["rules"] if r["id"] == "NEEDLE_PHOBIA"]
    path.write_text(yaml.safe_dump(src))
    err = _error(rules_copy)
    assert "duplicate rule id" in str(err)
    assert err.rule_id == "NEEDLE_PHOBIA"


def test_yaml_tags_that_construct_objects_are_refused(rules_copy: Path) -> None:
    path = rules_copy / "rules" / "consent.yaml"
    path.write_text(path.read_text() + "\nevil: !!python/object/apply:os.system ['echo pwned']\n")
    assert "not valid YAML" in str(_error(rules_copy))


def test_too_complex_conditions_are_refused_before_the_engine_sees_them(rules_copy: Path) -> None:
    wide = {"any": [{"fact": "patient.age", "lt": float(i)} for i in range(1, 600)]}
    _edit_rule(rules_copy, "MINOR", when=wide)
    err = _error(rules_copy)
    assert err.rule_id == "MINOR"
    assert "split the rule" in str(err)


def test_content_hash_changes_with_rule_content(rules_copy: Path) -> None:
    before = load_ruleset(rules_copy).content_hash
    _edit_rule(rules_copy, "MINOR", detail="Changed detail.")
    assert load_ruleset(rules_copy).content_hash != before


def test_a_clinic_policy_file_is_validated(tmp_path: Path) -> None:
    bad = tmp_path / "clinic.yaml"
    bad.write_text("schema: needlescreen.policy-override/1\nsettings:\n  first_trimster_verdict: caution\n")
    with pytest.raises(RuleFileError, match="did you mean 'first_trimester_verdict'"):
        load_ruleset(policy_file=bad)
    bad.write_text("schema: needlescreen.policy-override/1\nsettings:\n  first_trimester_verdict: clear\n")
    with pytest.raises(RuleFileError, match="one of"):
        load_ruleset(policy_file=bad)


def test_a_duplicated_key_in_a_rule_is_refused_not_silently_overridden(rules_copy: Path) -> None:
    path = rules_copy / "rules" / "consent.yaml"
    text = path.read_text().replace("    verdict: refer\n", "    verdict: refer\n    verdict: caution\n", 1)
    path.write_text(text)
    err = _error(rules_copy)
    assert "duplicate key 'verdict'" in str(err)
    assert err.file is not None and err.file.endswith("consent.yaml")
