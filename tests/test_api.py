"""The public API as the README documents it: its examples run, the exported names are complete and sorted,
``Screener`` takes a rules directory, a policy file and an engine, a path is read as a file, and every error is
one of the documented exceptions (also at the command line: one ``error:`` line, never a traceback)."""

from __future__ import annotations

import importlib.metadata
import inspect
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import needlescreen
from needlescreen import errors
from needlescreen.engine import available_engines, make_engine
from needlescreen.ruleset import default_rules_dir

from .cases import PREGNANT_T1
from .conftest import changed

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
EXAMPLE = ROOT / "examples" / "cipn-electrical.json"


def _python_blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Use it from Python") : text.index("## How a verdict is reached")]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_readme_python_example_runs(capsys) -> None:
    code = _python_blocks()[0]
    assert len(code.strip().splitlines()) == 3, "the example is three lines"
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    # The example patient gives no other answer than age: unknown answers must not read as clear.
    assert out.startswith(("caution", "refer")), out
    assert "Does the patient agree to needling?" in out


def test_readme_screener_example_runs(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = _python_blocks()
    assert len(blocks) == 2, "the section shows screen() and a Screener"
    monkeypatch.chdir(ROOT)  # the example names files under examples/, as a user in a checkout would
    exec(compile(blocks[1], "README.md", "exec"), {})
    version, verdict, source, engine = capsys.readouterr().out.split()
    assert version == needlescreen.__version__
    # The clinic's file lowers the limb *at risk* to caution; the lymphoedematous limb itself still refers.
    assert verdict == "refer" and source == "examples/clinic-policy.yaml" and engine in available_engines()


def test_public_names_are_sorted_and_complete() -> None:
    assert needlescreen.__all__ == sorted(needlescreen.__all__)
    # Every public class or function defined by needlescreen and visible at the top level is exported.
    public = {
        n
        for n, v in vars(needlescreen).items()
        if not n.startswith("_") and getattr(v, "__module__", "").startswith("needlescreen")
    }
    assert public | {"__version__"} == set(needlescreen.__all__)


def test_the_version_is_the_installed_one_everywhere(baseline) -> None:
    version = needlescreen.__version__
    assert version == importlib.metadata.version("needlescreen")
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", version)
    assert needlescreen.screen(baseline).package_version == version
    proc = subprocess.run(
        [sys.executable, "-m", "needlescreen", "--version"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and proc.stdout == f"needlescreen {version}\n" and proc.stderr == ""


def test_screen_accepts_a_path_and_names_the_file_in_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"plan": {"technique": "laser", "sites": []}}')
    with pytest.raises(needlescreen.IntakeError) as info:
        needlescreen.screen(bad)
    assert str(bad) in str(info.value)
    assert {p.path for p in info.value.problems} >= {"plan.technique", "plan.sites"}


class _PathLike(os.PathLike[str]):
    def __init__(self, path: Path) -> None:
        self.path = path

    def __fspath__(self) -> str:
        return str(self.path)


@pytest.mark.parametrize("engine", available_engines())
def test_a_screener_reads_a_path_like_the_function_does(engine: str) -> None:
    screener = needlescreen.Screener(engine=engine)  # type: ignore[arg-type]
    by_path = screener.screen(EXAMPLE)
    by_pathlike = screener.screen(_PathLike(EXAMPLE))
    by_text = screener.screen(EXAMPLE.read_text(encoding="utf-8"))
    assert by_path.verdict == by_pathlike.verdict == by_text.verdict == "refer"
    assert [f.rule_id for f in by_path.findings] == [f.rule_id for f in by_text.findings]
    assert by_path.engine == engine
    with pytest.raises(needlescreen.IntakeError, match="cannot read file") as info:
        screener.screen(EXAMPLE.with_name("nobody.json"))
    assert info.value.source == str(EXAMPLE.with_name("nobody.json"))


@pytest.mark.parametrize("engine", available_engines())
def test_a_screener_takes_a_rules_directory_and_a_clinic_policy_file(tmp_path: Path, engine: str) -> None:
    rules = tmp_path / "our-rules"
    shutil.copytree(default_rules_dir(), rules)
    policy = tmp_path / "clinic.yaml"
    policy.write_text("schema: needlescreen.policy-override/1\nsettings: {first_trimester_verdict: caution}\n")
    first_trimester = changed(PREGNANT_T1)

    ours = needlescreen.Screener(rules_dir=rules, policy_file=policy, engine=engine)  # type: ignore[arg-type]
    as_text = needlescreen.Screener(rules_dir=str(rules), policy_file=str(policy), engine=engine)  # type: ignore[arg-type]
    default = needlescreen.Screener(engine=engine)  # type: ignore[arg-type]

    assert ours.ruleset.directory == as_text.ruleset.directory == str(rules)
    assert default.screen(first_trimester).verdict == "refer"
    for screener in (ours, as_text):
        result = screener.screen(first_trimester)
        assert result.verdict == "caution" and result.policy_source == str(policy)
        assert result.policy["first_trimester_verdict"] == "caution" and result.engine == engine


def test_a_screener_built_the_older_way_still_works(ruleset, baseline) -> None:
    assert needlescreen.Screener(ruleset, engine="plain").screen(baseline).verdict == "clear"
    overridden = needlescreen.Screener(policy_overrides={"first_trimester_verdict": "caution"}, engine="plain")
    assert overridden.screen(changed(PREGNANT_T1)).verdict == "caution"


def test_a_screener_refuses_ambiguous_arguments(ruleset, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="not both"):
        needlescreen.Screener(ruleset, rules_dir=tmp_path)
    with pytest.raises(TypeError, match="rules_dir="):
        needlescreen.Screener(str(default_rules_dir()))  # type: ignore[arg-type]


def test_an_unknown_engine_is_a_documented_error_listing_the_engines(ruleset) -> None:
    for build in (
        lambda: needlescreen.Screener(engine="drools"),  # type: ignore[arg-type]
        lambda: make_engine(ruleset, "drools"),  # type: ignore[arg-type]
    ):
        with pytest.raises(needlescreen.EngineUnavailableError) as info:
            build()
        assert "unknown engine 'drools'" in str(info.value)
        assert all(repr(name) in str(info.value) for name in ("auto", *available_engines()))
        assert info.value.code == "NS302"


def _dir_not_file(tmp_path: Path) -> Path:
    (tmp_path / "policy-dir").mkdir()
    return tmp_path / "policy-dir"


def _file_not_dir(tmp_path: Path) -> Path:
    path = tmp_path / "rules.txt"
    path.write_text("not a directory\n")
    return path


#: name -> (a call that must fail, the documented exception it must raise)
MISUSES: dict[str, tuple[Callable[[Path], Any], type[errors.NeedlescreenError]]] = {
    "missing rules directory": (lambda t: needlescreen.Screener(rules_dir=t / "nowhere"), errors.RuleFileError),
    "rules directory is a file": (lambda t: needlescreen.Screener(rules_dir=_file_not_dir(t)), errors.RuleFileError),
    "empty rules directory": (needlescreen.load_ruleset, errors.RuleFileError),
    "missing policy file": (lambda t: needlescreen.Screener(policy_file=t / "none.yaml"), errors.PolicyError),
    "policy file is a directory": (lambda t: needlescreen.Screener(policy_file=_dir_not_file(t)), errors.PolicyError),
    "unknown policy setting in code": (
        lambda _: needlescreen.Screener(policy_overrides={"nope": 1}),
        errors.PolicyError,
    ),
    "unknown engine": (lambda _: needlescreen.Screener(engine="fast"), errors.EngineUnavailableError),  # type: ignore[arg-type]
    "missing intake file": (lambda t: needlescreen.screen(t / "none.json"), errors.IntakeError),
    "intake path is a directory": (needlescreen.screen, errors.IntakeError),
    "intake is not a mapping": (lambda _: needlescreen.screen(42), errors.IntakeError),  # type: ignore[arg-type]
    "intake text is a file name": (lambda _: needlescreen.screen(str(EXAMPLE)), errors.IntakeError),
    "intake bytes are not UTF-8": (lambda _: needlescreen.screen(b"\xff\xfe"), errors.IntakeError),
}


@pytest.mark.parametrize("name", sorted(MISUSES))
def test_every_error_is_a_documented_exception(tmp_path: Path, name: str) -> None:
    call, expected = MISUSES[name]
    with pytest.raises(errors.NeedlescreenError) as info:
        call(tmp_path)
    assert type(info.value) is expected, repr(info.value)


def test_every_exception_has_its_section_in_the_error_docs() -> None:
    docs = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    documented = [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.NeedlescreenError) and cls is not errors.NeedlescreenError
    ]
    assert {c.__name__ for c in documented} == set(errors.__all__) - {"FieldProblem", "NeedlescreenError"}
    for cls in documented:
        assert re.search(rf"^## {cls.code} `{cls.__name__}`", docs, re.M), cls
        base = next(b for b in cls.__mro__[1:] if b is not errors.NeedlescreenError)
        assert f"| {cls.code} | `{cls.__name__}` | `{base.__name__}` |" in docs, cls
        assert cls.__name__ in errors.__doc__ and getattr(needlescreen, cls.__name__) is cls
    assert len({c.code for c in documented}) == len(documented), "codes are unique"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "300"}
    return subprocess.run(
        [sys.executable, "-m", "needlescreen", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
    )


COMMANDS: dict[str, list[str]] = {
    "check": ["check", str(EXAMPLE)],
    "explain": ["explain", str(EXAMPLE)],
    "ask": ["ask"],
    "rules list": ["rules", "list"],
    "rules show": ["rules", "show", "PREG_T1"],
    "batch": ["batch", str(EXAMPLE.with_suffix(".jsonl"))],
}


@pytest.mark.parametrize("problem", ["missing rules directory", "rules directory is a file", "missing policy file"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_command_line_gives_one_error_line_for_missing_rules_or_policy(
    tmp_path: Path, command: str, problem: str
) -> None:
    if command == "batch":
        rows = tmp_path / "day.jsonl"
        rows.write_text(EXAMPLE.read_text(encoding="utf-8").replace("\n", " ") + "\n", encoding="utf-8")
        args = ["batch", str(rows)]
    else:
        args = COMMANDS[command]
    if problem == "missing rules directory":
        bad, option = tmp_path / "nowhere", "--rules"
    elif problem == "rules directory is a file":
        bad, option = _file_not_dir(tmp_path), "--rules"
    else:
        bad, option = tmp_path / "clinic.yaml", "--policy"
    proc = _cli(*args, option, str(bad), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {bad}"), proc.stderr
    assert proc.stdout == ""


def test_the_rule_check_names_a_missing_directory_in_one_line(tmp_path: Path) -> None:
    proc = _cli("rules", "check", "--rules", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip() == f"error: {tmp_path / 'nowhere'}: no such ruleset directory"


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
