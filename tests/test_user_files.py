"""Every file a user can supply is read by the one safe loader, and a bad one is refused naming the file.

A custom ruleset directory (each of its files), a questionnaire, an intake file and batch rows. The hostile
variants are the ones a careless edit or a hostile file produces: a duplicate key (the last would silently
win), bytes that are not UTF-8, nesting past the limit, an alias bomb, a tag that would run code, a file too
large to be a rule file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import needlescreen
from needlescreen import IntakeError, RuleFileError, load_ruleset
from needlescreen._yaml import MAX_FILE_BYTES
from needlescreen.lint import check_rules
from needlescreen.questionnaire import load_questionnaire
from needlescreen.ruleset import default_rules_dir
from needlescreen.testing import baseline_intake

RULESET_FILES = [
    "ruleset.yaml",
    "regions.yaml",
    "medications.yaml",
    "codes.yaml",
    "sources.yaml",
    "policy.yaml",
    "rules/consent.yaml",
]

_LAUGHS = "zz_bomb:\n  a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"  {c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)

#: name -> (what to append to a valid YAML file, words of the error)
HOSTILE: dict[str, tuple[bytes, str]] = {
    "duplicate key": (b"\nschema: needlescreen.whatever/1\n", "duplicate key 'schema'"),
    "not UTF-8": (b"\n# r\xe9vision\n", "not UTF-8 text"),
    "nested past the limit": (b"\nzz_deep: " + b"[" * 70 + b"]" * 70 + b"\n", "nested deeper than 64 levels"),
    "alias bomb": (b"\n" + _LAUGHS.encode(), "expands to more than"),
    "object tag": (b"\nzz_evil: !!python/object/apply:os.system ['echo pwned']\n", "constructs objects"),
    "too large": (b"\n" + b"#" * MAX_FILE_BYTES + b"\n", "file is too large"),
}


@pytest.fixture
def rules_copy(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), target)
    return target


def _spoil(path: Path, hostile: str) -> None:
    with path.open("ab") as stream:
        stream.write(HOSTILE[hostile][0])


@pytest.mark.parametrize("hostile", sorted(HOSTILE))
@pytest.mark.parametrize("name", RULESET_FILES)
def test_every_file_of_a_custom_ruleset_directory_is_read_safely(rules_copy: Path, name: str, hostile: str) -> None:
    path = rules_copy / name
    _spoil(path, hostile)
    with pytest.raises(RuleFileError) as info:
        load_ruleset(rules_copy)
    assert info.value.file is not None and Path(info.value.file).name == path.name
    assert HOSTILE[hostile][1] in info.value.detail
    with pytest.raises(RuleFileError, match=HOSTILE[hostile][1]):
        needlescreen.Screener(rules_dir=rules_copy, engine="plain")


@pytest.mark.parametrize("hostile", sorted(HOSTILE))
def test_the_rule_check_reports_a_hostile_file_instead_of_reading_it(rules_copy: Path, hostile: str) -> None:
    _spoil(rules_copy / "rules" / "consent.yaml", hostile)
    problems = check_rules(rules_copy)
    assert any(p.file.endswith("consent.yaml") and HOSTILE[hostile][1] in p.message for p in problems), problems


@pytest.mark.parametrize("hostile", sorted(HOSTILE))
def test_a_questionnaire_is_read_safely(rules_copy: Path, hostile: str) -> None:
    path = rules_copy / "questionnaire.yaml"
    _spoil(path, hostile)
    with pytest.raises(RuleFileError, match=HOSTILE[hostile][1]) as info:
        load_questionnaire(path)
    assert info.value.file == str(path)


def test_a_questionnaire_that_cannot_be_read_is_a_rule_file_error(tmp_path: Path) -> None:
    with pytest.raises(RuleFileError, match="cannot read file"):
        load_questionnaire(tmp_path / "missing.yaml")


#: Intake files (YAML): the same hostile inputs are an IntakeError naming the file.
INTAKE_HOSTILE: dict[str, tuple[bytes, str]] = {
    "duplicate key": (b"plan: {technique: dry_needling}\nplan: {technique: electrical}\n", "duplicate key 'plan'"),
    "not UTF-8": (b"patient: {sex: f\xe9minin}\n", "not UTF-8"),
    "nested past the limit": (b"patient: " + b"[" * 70 + b"]" * 70 + b"\n", "nested deeper than 64 levels"),
    "alias bomb": (_LAUGHS.encode(), "expands to more than"),
    "object tag": (b"patient: {age: !!python/object/apply:os.getpid []}\n", "constructor for the tag"),
}


@pytest.mark.parametrize("hostile", sorted(INTAKE_HOSTILE))
def test_an_intake_file_is_read_safely(tmp_path: Path, hostile: str) -> None:
    path = tmp_path / "intake.yaml"
    path.write_bytes(INTAKE_HOSTILE[hostile][0])
    with pytest.raises(IntakeError) as info:
        needlescreen.screen(path)
    assert info.value.source == str(path)
    assert INTAKE_HOSTILE[hostile][1] in str(info.value)


def test_batch_rows_are_read_safely(tmp_path: Path) -> None:
    good = json.dumps(baseline_intake())
    duplicate = good[:-1] + ', "plan": ' + json.dumps(baseline_intake()["plan"]) + "}"
    rows = tmp_path / "day.jsonl"
    rows.write_bytes(f"{good}\n{duplicate}\n".encode() + b'{"patient": "\xe9"}\n')
    proc = subprocess.run(
        [sys.executable, "-m", "needlescreen", "batch", str(rows), "--engine", "plain", "--workers", "1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Traceback" not in proc.stderr
    errors = [json.loads(line) for line in (tmp_path / "day.errors.jsonl").read_text().splitlines()]
    results = (tmp_path / "day.results.jsonl").read_text().splitlines()
    assert len(results) == 1
    assert {e["line"] for e in errors} == {2, 3}
    messages = " ".join(m["message"] for e in errors for m in e["errors"])
    assert "duplicate key 'plan'" in messages


LOADERS: dict[str, Callable[[Path], object]] = {
    "ruleset directory": load_ruleset,
    "policy file": lambda p: load_ruleset(policy_file=p),
    "questionnaire": load_questionnaire,
}


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_a_missing_file_is_named(tmp_path: Path, loader: str) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(RuleFileError) as info:
        LOADERS[loader](missing)
    assert info.value.file is not None and info.value.file.startswith(str(missing))
