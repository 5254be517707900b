"""The public API: the README's three-line example runs, the exported names are complete and sorted."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import needlescreen

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(capsys) -> None:
    block = re.search(r"## Use it from Python\n\n```python\n(.*?)```", README.read_text(), re.S)
    assert block, "README lost its Python example"
    code = block.group(1)
    assert len(code.strip().splitlines()) == 3, "the example is three lines"
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    # The example patient gives no other answer than age: unknown answers must not read as clear.
    assert out.startswith(("caution", "refer")), out
    assert "Does the patient agree to needling?" in out


def test_public_names_are_sorted_and_complete() -> None:
    assert needlescreen.__all__ == sorted(needlescreen.__all__)
    # Every public class or function defined by needlescreen and visible at the top level is exported.
    public = {
        n
        for n, v in vars(needlescreen).items()
        if not n.startswith("_") and getattr(v, "__module__", "").startswith("needlescreen")
    }
    assert public == set(needlescreen.__all__)


def test_screen_accepts_a_path_and_names_the_file_in_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"plan": {"technique": "laser", "sites": []}}')
    with pytest.raises(needlescreen.IntakeError) as info:
        needlescreen.screen(bad)
    assert str(bad) in str(info.value)
    assert {p.path for p in info.value.problems} >= {"plan.technique", "plan.sites"}


def test_results_carry_their_provenance(baseline) -> None:
    result = needlescreen.screen(baseline)
    ruleset = needlescreen.load_ruleset()
    assert result.ruleset.revision == ruleset.revision
    assert result.ruleset.content_hash == ruleset.content_hash
    assert len(result.ruleset.content_hash) == 64
    assert result.package_version
    assert result.decision_id != needlescreen.screen(baseline).decision_id
    assert result.timestamp.tzinfo is not None
    assert result.engine in needlescreen.available_engines()


def test_screen_rejects_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b'{"patient": {"age": 40}, "plan": "\xe9"}')
    with pytest.raises(needlescreen.IntakeError, match="not UTF-8"):
        needlescreen.screen(bad)
