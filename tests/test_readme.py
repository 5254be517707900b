"""The README's command-line session runs as written, so it cannot drift from the tool.

Every ```console block of the README's cli section is executed: a line starting with ``$ `` is a command (with
its here-doc, if any) run by bash in a scratch directory that holds ``examples/``; the lines after it are its
expected standard output, in order (``...`` elides lines), at 80 columns. The verdict is the first line of the
output, and the exit code is the verdict's (``explain``, a report, exits 0).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from needlescreen.cli import EXIT_CODES

ROOT = Path(__file__).resolve().parents[1]


def _section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = text.index("<!-- section:cli -->"), text.index("<!-- /section:cli -->")
    return text[start:end]


def _examples() -> list[tuple[str, list[str]]]:
    """(command, expected output lines) for every command of every console block, in README order."""
    out: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", _section(), flags=re.DOTALL):
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            if not lines[i].startswith("$ "):
                raise AssertionError(f"console block line outside a command: {lines[i]!r}")
            command = [lines[i][2:]]
            heredoc = re.search(r"<<'?(\w+)'?", lines[i])
            i += 1
            if heredoc:
                while lines[i] != heredoc.group(1):
                    command.append(lines[i])
                    i += 1
                command.append(lines[i])
                i += 1
            expected = []
            while i < len(lines) and not lines[i].startswith("$ "):
                expected.append(lines[i])
                i += 1
            out.append(("\n".join(command), expected))
    return out


EXAMPLES = _examples()


def test_the_readme_has_a_clinician_session_with_ask_and_check() -> None:
    commands = [c for c, _ in EXAMPLES]
    assert any(c.startswith("needlescreen ask") for c in commands)
    assert any(c.startswith("needlescreen check") for c in commands)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One scratch directory for the whole session, so a later command can read what an earlier one saved."""
    path = tmp_path_factory.mktemp("readme")
    (path / "examples").symlink_to(ROOT / "examples")
    return path


@pytest.mark.parametrize(("command", "expected"), EXAMPLES, ids=[c.split("\n")[0][:60] for c, _ in EXAMPLES])
def test_readme_command_runs_as_shown(command: str, expected: list[str], workdir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "80"
    proc = subprocess.run(["bash", "-c", command], cwd=workdir, env=env, capture_output=True, text=True, check=False)
    actual = [line.strip() for line in proc.stdout.splitlines()]
    assert actual and actual[0] == next(e.strip() for e in expected if e.strip()), "the verdict comes first"
    position = 0
    for want in (line.strip() for line in expected):
        if want in ("", "..."):
            continue
        try:
            position = actual.index(want, position) + 1
        except ValueError:
            raise AssertionError(f"README line not in the output (in order): {want!r}\n{proc.stdout}") from None
    shown = next((v for v in ("clear", "caution", "refer") if any(f"{v.upper()} -" in e for e in expected)), None)
    assert shown is not None, "each example shows its verdict"
    # explain is a report about a screening, not one: it states the verdict and exits 0.
    assert proc.returncode == (0 if command.startswith("needlescreen explain") else EXIT_CODES[shown]), proc.stderr
    assert "Traceback" not in proc.stderr
