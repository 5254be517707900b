"""The ``needlescreen`` command through its real entry point: exit codes, plain-language output, no tracebacks."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from needlescreen import ScreeningResult
from needlescreen.questionnaire import load_questionnaire
from needlescreen.ruleset import default_rules_dir
from needlescreen.testing import baseline_intake, with_changes

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "cipn-electrical.json"


def command() -> list[str]:
    """The installed ``needlescreen`` script beside this interpreter, else ``python -m needlescreen``."""
    script = Path(sys.executable).with_name("needlescreen")
    return [str(script)] if script.exists() else [sys.executable, "-m", "needlescreen"]


def run(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    env["COLUMNS"] = "100"
    return subprocess.run(
        [*command(), *args], input=stdin, capture_output=True, text=True, check=False, env=env, cwd=cwd
    )


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr


# --- check ----------------------------------------------------------------------------------------------------


def test_check_prints_the_verdict_first_then_reasons_sources_and_what_is_missing() -> None:
    proc = run("check", str(EXAMPLE))
    assert proc.returncode == 20, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert "REFER" in lines[1]  # inside the verdict panel, before anything else
    for heading in ("Sites", "Reasons", "instead:", "sources:", "Sources", "decision"):
        assert heading in proc.stdout
    assert "L-forearm" in proc.stdout and "LYMPHEDEMA_LIMB" in proc.stdout
    assert "\x1b[" not in proc.stdout, "no colour codes when standard output is not a terminal"


def test_check_reads_yaml_from_standard_input_and_exits_by_verdict() -> None:
    clear = run("check", "-", stdin=yaml.safe_dump(baseline_intake()))
    assert clear.returncode == 0 and "CLEAR" in clear.stdout
    unknown = with_changes(baseline_intake(), {"patient": {"needle_phobia": "unknown"}})
    caution = run("check", "-", stdin=yaml.safe_dump(unknown))
    assert caution.returncode == 10 and "CAUTION" in caution.stdout
    assert "Still unknown" in caution.stdout and "needle phobia" in caution.stdout


def test_check_json_is_the_result_model_exactly() -> None:
    proc = run("check", str(EXAMPLE), "--format", "json", "--engine", "plain")
    assert proc.returncode == 20
    result = ScreeningResult.model_validate_json(proc.stdout)
    assert result.verdict == "refer" and result.engine == "plain"
    assert json.loads(proc.stdout) == json.loads(result.model_dump_json())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (json.dumps(with_changes(baseline_intake(), {"patient": {"age": "forty"}})), "patient.age"),
        (
            json.dumps(with_changes(baseline_intake(), {"plan": {"sites": [{"id": "a", "region": "calf"}]}})),
            "plan.sites[0].side",
        ),
        ('{"plan": {"technique": "dry_needling",\n  "sites": [}', "line 2"),
        ("patient: [unclosed\n", "line"),
    ],
)
def test_check_names_the_field_or_line_of_invalid_input(text: str, expected: str) -> None:
    proc = run("check", "-", stdin=text)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: <stdin>")
    assert expected in proc.stderr
    no_traceback(proc)


def test_check_rejects_bytes_that_are_not_utf8() -> None:
    proc = subprocess.run([*command(), "check", "-"], input=b"\xff\xfe{}", capture_output=True, check=False)
    assert proc.returncode == 2 and b"not UTF-8" in proc.stderr and b"Traceback" not in proc.stderr


def test_check_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    proc = run("check", str(tmp_path / "missing.json"))
    assert proc.returncode == 2 and "missing.json" in proc.stderr
    no_traceback(proc)


def test_python_dash_m_runs_the_same_command() -> None:
    proc = subprocess.run([sys.executable, "-m", "needlescreen", "--help"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    for name in ("check", "ask", "explain", "rules", "batch", "schema"):
        assert name in proc.stdout


# --- ask ------------------------------------------------------------------------------------------------------

#: The answers of a patient with nothing to report; everything else is "no" (yes/no questions) or unknown.
CLEAR = {
    "technique": "dry needling",
    "sites": "right calf (gastrocnemius)",
    "age": "46",
    "sex": "female",
    "consent": "yes",
    "capacity": "yes",
    "pregnancy": "not pregnant",
    "diabetes": "none",
    "epilepsy": "none",
    "bmi": "24",
    "can_keep_still": "yes",
    "bleeding_disorder": "none",
    "medications": "none",
    "medications_complete": "yes",
}


def answer_lines(**overrides: str) -> list[str]:
    """One typed answer per question that will be asked, in order, following the questionnaire's gating."""
    q = load_questionnaire()
    chosen = {**CLEAR, **overrides}
    answers: dict[str, Any] = {}
    lines = []
    for item in q.items:
        if q.enabled(item, answers):
            text = chosen.get(item.id, "no" if item.type == "answer" else "unknown")
            answers[item.id] = q.parse(item, text, answers)
            lines.append(text)
    return lines


def test_ask_from_standard_input_screens_and_saves_for_the_chart(tmp_path: Path) -> None:
    lines = answer_lines()
    proc = run(
        "ask",
        "--save-intake",
        "intake.yaml",
        "--save-result",
        "result.json",
        stdin="\n".join(lines) + "\n",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "CLEAR" in proc.stdout
    assert "How old is the patient" in proc.stderr, "questions go to standard error, the verdict to standard output"
    assert "\x1b[" not in proc.stdout + proc.stderr
    saved = yaml.safe_load((tmp_path / "intake.yaml").read_text(encoding="utf-8"))
    assert saved["plan"]["sites"] == [{"id": "s1", "region": "calf", "side": "right", "muscle": "gastrocnemius"}]
    result = ScreeningResult.model_validate_json((tmp_path / "result.json").read_text(encoding="utf-8"))
    assert result.verdict == "clear"
    again = run("check", "intake.yaml", cwd=tmp_path)
    assert again.returncode == 0, "the saved intake screens to the same verdict"


def test_ask_follow_ups_reach_the_rules_and_json_output() -> None:
    lines = answer_lines(
        pregnancy="pregnant", gestational_weeks="8", medications="warfarin", bleeding="yes", vka="yes", inr="4.2"
    )
    assert "8" in lines and "4.2" in lines  # the follow-ups were asked
    proc = run("ask", "--format", "json", stdin="\n".join(lines) + "\n")
    assert proc.returncode == 20, proc.stderr
    result = ScreeningResult.model_validate_json(proc.stdout)
    fired = {f.rule_id for f in result.findings if f.status == "fired"}
    assert {"PREG_T1", "ANTICOAG_VKA_HIGH"} <= fired


def test_ask_stops_at_an_answer_that_does_not_fit_naming_its_line() -> None:
    lines = answer_lines()
    lines[3] = "forty"  # the age
    proc = run("ask", stdin="\n".join(lines) + "\n")
    assert proc.returncode == 2
    assert "line 4" in proc.stderr and "age" in proc.stderr and "number" in proc.stderr
    no_traceback(proc)


def test_ask_treats_questions_left_at_the_end_of_input_as_unknown() -> None:
    lines = answer_lines()[:5]
    proc = run("ask", stdin="\n".join(lines) + "\n")
    assert proc.returncode in (10, 20), "unknown answers never give clear"
    assert "recorded as unknown" in proc.stderr and "Still unknown" in proc.stdout


def test_ask_without_the_required_plan_is_an_error() -> None:
    proc = run("ask", stdin="dry needling\n")
    assert proc.returncode == 2 and "sites" in proc.stderr
    no_traceback(proc)


def _read_until_exit(master: int, proc: subprocess.Popen[bytes]) -> bytes:
    out = b""
    deadline = time.monotonic() + 120  # a safety net against a hang, not a timing assertion
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    return out


def test_ask_on_a_terminal_prompts_in_colour_and_re_asks_after_a_mistake() -> None:
    lines = answer_lines()
    lines.insert(3, "forty")  # a mistake before the age: re-asked on a terminal, not fatal
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(TERM="xterm-256color", COLUMNS="100", LINES="40")
    proc = subprocess.Popen([*command(), "ask"], stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    try:
        os.write(master, ("\n".join(lines) + "\n").encode())
        out = _read_until_exit(master, proc)
    finally:
        os.close(master)
        proc.wait(timeout=60)
    text = out.decode("utf-8", errors="replace")
    assert proc.returncode == 0, text[-2000:]
    assert "\x1b[" in text, "a terminal gets colour"
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    assert "How old is the patient (years)? [0-130 years, or unknown]" in plain
    assert "[dry_needling/electrical]" in plain, "answer hints are shown, not swallowed as markup"
    assert "answer a number" in text, "a mistake is explained and the question asked again"
    assert "Planned treatment" in text and "CLEAR" in text


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_ask_renders_in_tmux(tmp_path: Path) -> None:
    answers = tmp_path / "answers.txt"
    answers.write_text("\n".join(answer_lines()) + "\n", encoding="utf-8")
    session = f"ns{os.getpid()}"
    script = tmp_path / "run.sh"
    script.write_text(f"{' '.join(command())} ask < {answers}; echo EXIT=$?; sleep 30\n", encoding="utf-8")
    base = ["tmux", "-L", session, "-f", "/dev/null"]
    subprocess.run(
        [*base, "new-session", "-d", "-s", session, "-x", "100", "-y", "50", "bash", str(script)], check=True
    )
    try:
        screen = ""
        deadline = time.monotonic() + 120  # a safety net against a hang, not a timing assertion
        while "EXIT=" not in screen and time.monotonic() < deadline:
            time.sleep(0.3)
            screen = subprocess.run(
                [*base, "capture-pane", "-p", "-t", session, "-S", "-200"], capture_output=True, text=True, check=False
            ).stdout
    finally:
        subprocess.run([*base, "kill-server"], check=False, capture_output=True)
    assert "EXIT=0" in screen, screen
    assert "CLEAR - no contraindication found" in screen


# --- explain, rules, schema -----------------------------------------------------------------------------------


def test_explain_lists_every_rule_with_its_outcome_and_facts(ruleset: Any) -> None:
    proc = run("explain", str(EXAMPLE), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [r["rule_id"] for r in report] == [r.id for r in ruleset.rules]
    limb = next(r for r in report if r["rule_id"] == "LYMPHEDEMA_LIMB")
    forearm = next(e for e in limb["evaluations"] if e["where"] == "site L-forearm")
    assert forearm["outcome"] == "true" and forearm["verdict"] == "refer"
    assert forearm["facts"]["site.lymphedema"] == "yes"
    text = run("explain", str(EXAMPLE))
    assert "LYMPHEDEMA_LIMB" in text.stdout and "FIRED" in text.stdout and "unknown" in text.stdout


def test_rules_list_show_and_check(ruleset: Any, tmp_path: Path) -> None:
    listed = run("rules", "list", "--format", "json")
    assert listed.returncode == 0
    assert {r["id"] for r in json.loads(listed.stdout)} == {r.id for r in ruleset.rules}
    table = run("rules", "list")
    assert all(r.id in table.stdout for r in ruleset.rules)

    shown = run("rules", "show", "LYMPHEDEMA_LIMB")
    assert shown.returncode == 0
    for part in ("classification", "absolute", "Sources", "APTA13", "Scenarios", "lymphoedema.feature"):
        assert part in shown.stdout
    typo = run("rules", "show", "LYMPHEDEMA_LIMBS")
    assert typo.returncode == 2 and "did you mean LYMPHEDEMA_LIMB" in typo.stderr

    bundled = run("rules", "check", "--format", "json")
    found = json.loads(bundled.stdout)
    assert bundled.returncode == (2 if found else 0), "exit 2 exactly when there is a problem"
    assert all(set(p) == {"file", "rule_id", "field", "message"} for p in found)

    broken = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), broken)
    victim = broken / "rules" / "lymphedema.yaml"
    victim.write_text(victim.read_text(encoding="utf-8").replace("verdict: refer", "verdict: maybe", 1), "utf-8")
    bad = run("rules", "check", "--rules", str(broken), "--format", "json")
    assert bad.returncode == 2
    problems = json.loads(bad.stdout)
    assert any("lymphedema.yaml" in p["file"] and "verdict" in (p["field"] or "") for p in problems), problems
    no_traceback(bad)
    text = run("rules", "check", "--rules", str(broken))
    assert text.returncode == 2 and "lymphedema.yaml" in text.stdout


def test_rules_show_without_scenarios_says_so(tmp_path: Path) -> None:
    copy = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), copy)
    proc = run("rules", "show", "LYMPHEDEMA_LIMB", "--rules", str(copy))
    assert proc.returncode == 0 and "no scenarios found" in proc.stdout


@pytest.mark.parametrize("which", ["intake", "result"])
def test_schema_prints_json_schema(which: str) -> None:
    proc = run("schema", which)
    assert proc.returncode == 0
    schema = json.loads(proc.stdout)
    assert ("verdict" if which == "result" else "plan") in schema["properties"]


def test_an_error_naming_a_long_path_is_not_broken_across_lines(tmp_path: Path) -> None:
    missing = tmp_path / ("d" * 120) / "intake.json"
    proc = run("check", str(missing))
    assert proc.returncode == 2
    assert str(missing) in proc.stderr
