"""The ``needlescreen`` command through its real entry point: exit codes, plain-language output, no tracebacks."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from needlescreen import Screener, ScreeningResult
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


def normalised(text: str) -> str:
    """Text with every run of whitespace one space: a wrapped line reads as the sentence it was."""
    return " ".join(text.split())


def check_summary_shows_the_result(text: str, result: ScreeningResult) -> None:
    """What a summary must say about a result: the verdict first, each site's verdict, and every unknown.

    The summary may shorten the reasons; it never drops a missing answer, an unrecognised medication or a reason
    that could not be decided, and never shows a site's verdict milder than the result's.
    """
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert lines[0].strip().startswith(f"{result.verdict.upper()} - "), "the verdict comes first"
    flat = normalised(text)
    for sv in result.sites:
        row = next((ln for ln in lines if ln.split()[:1] == [sv.site.id]), None)
        assert row is not None and row.split()[-1] == sv.verdict.upper(), (sv.site.id, row)
    for item in result.missing:
        assert normalised(item.question) in flat, f"missing answer not shown: {item.question}"
    for name in result.unrecognised_medications:
        assert normalised(name) in flat, f"unrecognised medication not shown: {name}"
    for f in result.findings:
        assert normalised(f.title) in flat, f"reason not shown: {f.rule_id}"
        if f.status == "fired":
            for m in f.modifications:
                assert normalised(m) in flat, f"what to do not shown: {m}"
    for verdict in ("caution", "refer"):
        if any(f.status == "unknown" and f.verdict == verdict for f in result.findings):
            assert f"{verdict.upper()} until then, undecided:" in flat, f"undecided {verdict} reasons not shown"
    if result.missing or result.unrecognised_medications:
        assert "What to find out" in flat


def test_check_prints_the_clinicians_summary_verdict_first() -> None:
    proc = run("check", str(EXAMPLE))
    assert proc.returncode == 20, proc.stderr
    result = ScreeningResult.model_validate_json(run("check", str(EXAMPLE), "--format", "json").stdout)
    check_summary_shows_the_result(proc.stdout, result)
    lines = proc.stdout.splitlines()
    assert lines[0] == "REFER - do not needle (at the sites shown) without clearance"
    assert len(lines) <= 30, f"the summary of the bundled example is {len(lines)} lines at 100 columns"
    for heading in ("What to do", "What to find out", "--full"):
        assert heading in proc.stdout
    assert "Sources" not in proc.stdout, "sources are in the full report"
    assert "\x1b[" not in proc.stdout, "no colour codes when standard output is not a terminal"


def test_check_full_prints_every_reason_with_its_facts_and_sources() -> None:
    proc = run("check", str(EXAMPLE), "--full")
    assert proc.returncode == 20, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert "REFER" in lines[1]  # inside the verdict panel, before anything else
    for heading in ("Sites", "Reasons", "instead:", "sources:", "Sources", "decision"):
        assert heading in proc.stdout
    assert "L-forearm" in proc.stdout and "LYMPHEDEMA_LIMB" in proc.stdout
    assert len(lines) > 60


def _summary(result: ScreeningResult) -> str:
    from rich.console import Console

    from needlescreen.cli import render_summary

    console = Console(record=True, width=100, file=io.StringIO(), color_system=None)
    render_summary(result, console)
    return console.export_text()


def _unknown_one_by_one() -> list[dict[str, Any]]:
    """The baseline patient with each yes/no answer made unknown in turn, and with an unrecognised drug."""
    base = baseline_intake()
    out = [with_changes(base, {"patient": {k: "unknown"}}) for k, v in base["patient"].items() if v in ("yes", "no")]
    out += [with_changes(base, {"findings": {k: {"answer": "unknown"}}}) for k in base["findings"]]
    out.append(with_changes(base, {"medications": {"items": [{"name": "zorblaxin 5mg"}, {"name": "warfrin"}]}}))
    out.append(json.loads(EXAMPLE.read_text(encoding="utf-8")))
    return out


def test_the_summary_never_hides_an_unknown_or_softens_a_site() -> None:
    screener = Screener(engine="plain")
    seen_unknown = 0
    for intake in _unknown_one_by_one():
        result = screener.screen(intake)
        seen_unknown += bool(result.missing)
        check_summary_shows_the_result(_summary(result), result)
    assert seen_unknown > 10, "the intakes exercise missing answers"


@pytest.mark.parametrize("broken", ["missing dropped", "site softened", "unrecognised dropped", "reason dropped"])
def test_breakage_the_summary_check_fails_on_a_summary_that_hides_something(broken: str) -> None:
    screener = Screener(engine="plain")
    intake = with_changes(
        json.loads(EXAMPLE.read_text(encoding="utf-8")), {"medications": {"items": [{"name": "zorblaxin"}]}}
    )
    result = screener.screen(intake)
    assert result.missing and result.unrecognised_medications
    if broken == "missing dropped":
        shown = result.model_copy(update={"missing": result.missing[1:]})
    elif broken == "site softened":
        sites = tuple(sv.model_copy(update={"verdict": "clear"}) for sv in result.sites)
        shown = result.model_copy(update={"sites": sites})
    elif broken == "unrecognised dropped":
        shown = result.model_copy(update={"unrecognised_medications": ()})
    else:
        shown = result.model_copy(update={"findings": result.findings[1:]})
    with pytest.raises(AssertionError):
        check_summary_shows_the_result(_summary(shown), result)


def test_check_reads_yaml_from_standard_input_and_exits_by_verdict() -> None:
    clear = run("check", "-", stdin=yaml.safe_dump(baseline_intake()))
    assert clear.returncode == 0 and "CLEAR" in clear.stdout
    unknown = with_changes(baseline_intake(), {"patient": {"needle_phobia": "unknown"}})
    caution = run("check", "-", stdin=yaml.safe_dump(unknown))
    assert caution.returncode == 10 and "CAUTION" in caution.stdout
    assert "What to find out" in caution.stdout and "needle phobia" in caution.stdout


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


def answered(**overrides: str) -> list[tuple[str, str]]:
    """(question id, typed answer) for each question that will be asked, in order, following the gating."""
    q = load_questionnaire()
    chosen = {**CLEAR, **overrides}
    answers: dict[str, Any] = {}
    out = []
    for item in q.items:
        if q.enabled(item, answers):
            text = chosen.get(item.id, "no" if item.type == "answer" else "unknown")
            answers[item.id] = q.parse(item, text, answers)
            out.append((item.id, text))
    return out


def answer_lines(**overrides: str) -> list[str]:
    """One typed answer per question that will be asked, in order."""
    return [text for _, text in answered(**overrides)]


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


def _unread_candidate() -> tuple[int, Any, Any]:
    """The first yes/no question about the patient whose unknown opens no more questions than its answer, and the
    question after it: an unreadable answer there leaves the answers that follow in their places."""
    q = load_questionnaire()
    asked = answered()
    answers: dict[str, Any] = {}
    for at, (qid, text) in enumerate(asked):
        item = q.item(qid)
        if item.type == "answer" and not item.required and item.path and not item.path.startswith("plan."):
            as_given = {i.id for i in q.items if q.enabled(i, {**answers, qid: q.parse(item, text, answers)})}
            as_unknown = {i.id for i in q.items if q.enabled(i, {**answers, qid: None})}
            if as_unknown <= as_given and at + 1 < len(asked):
                return at, item, q.item(asked[at + 1][0])
        answers[qid] = q.parse(item, text, answers)
    raise AssertionError("no yes/no question to try")


def _at(data: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        data = data.get(part, {}) if isinstance(data, dict) else {}
    return data


def test_ask_reports_an_answer_it_cannot_read_by_line_and_goes_on_with_it_unknown(tmp_path: Path) -> None:
    lines = answer_lines()
    at, item, after = _unread_candidate()
    lines[at] = "not really"  # not an answer a yes/no question takes
    proc = run("ask", "--save-intake", "intake.json", stdin="\n".join(lines) + "\n", cwd=tmp_path)
    assert proc.returncode in (10, 20), "the answer is unknown: never clear"
    assert f"line {at + 1}: {item.id}:" in proc.stderr and "'not really' recorded as unknown" in proc.stderr
    assert f"line {at + 1}: {item.id}: 'not really'" in normalised(proc.stdout), "the verdict's reader is told"
    saved = json.loads((tmp_path / "intake.json").read_text(encoding="utf-8"))
    assert _at(saved, item.path) == "unknown", "unknown, never no"
    expected = load_questionnaire().parse(after, lines[at + 1], {})
    assert after.path is None or _at(saved, after.path) == expected, "the answers after it kept their places"
    no_traceback(proc)


def test_ask_says_which_questions_an_unread_answer_opens(tmp_path: Path) -> None:
    lines = answer_lines()
    lines[lines.index("46")] = "forty"  # an unknown age opens the guardian's consent, which the next line answers
    proc = run("ask", stdin="\n".join(lines) + "\n", cwd=tmp_path)
    assert proc.returncode in (10, 20)
    assert "line 4: age: answer a number" in proc.stderr
    assert "recorded as unknown; this opens guardian_consent, which the next lines answer" in proc.stderr


def test_ask_stops_at_a_required_answer_it_cannot_read_and_keeps_a_draft(tmp_path: Path) -> None:
    lines = answer_lines()
    lines[1] = "somewhere vague"  # the sites: required, cannot be unknown
    proc = run("ask", stdin="\n".join(lines) + "\n", cwd=tmp_path)
    assert proc.returncode == 2
    assert "line 2" in proc.stderr and "sites" in proc.stderr
    draft = _draft_named_in(proc.stderr, tmp_path)
    assert [a["id"] for a in json.loads(draft.read_text(encoding="utf-8"))["answers"]] == ["technique"]
    no_traceback(proc)


def test_ask_back_revises_the_previous_answer_in_a_piped_session(tmp_path: Path) -> None:
    lines = answer_lines(pregnancy="pregnant", gestational_weeks="8")
    at = lines.index("8")
    assert lines[at - 1] == "pregnant"
    # 30 years, then back to 46; pregnant at 8 weeks, then back twice and not pregnant: the weeks are not asked.
    age = lines.index("46")
    revised = [*lines[:age], "30", "back", *lines[age : at - 1], "pregnant", "8", "back", "back", "not pregnant"]
    revised += lines[at + 1 :]
    proc = run("ask", "--save-intake", "intake.json", stdin="\n".join(revised) + "\n", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "back to: How old is the patient" in proc.stderr
    saved = json.loads((tmp_path / "intake.json").read_text(encoding="utf-8"))
    assert saved["patient"]["age"] == 46
    assert saved["patient"]["pregnancy"]["status"] == "not_pregnant"
    assert "gestational_weeks" not in saved["patient"]["pregnancy"], "the follow-up closed again"


def test_ask_back_at_the_first_question_changes_nothing() -> None:
    proc = run("ask", "--format", "json", stdin="\n".join(["back", *answer_lines()]) + "\n")
    assert proc.returncode == 0, proc.stderr
    assert "line 1: nothing to go back to" in proc.stderr


def _draft_named_in(message: str, cwd: Path) -> Path:
    found = re.search(r"continue with: needlescreen ask --resume (\S+)", message)
    assert found, message
    path = Path(found.group(1))
    path = path if path.is_absolute() else cwd / path
    assert path.is_file(), path
    assert path.stat().st_mode & 0o077 == 0, "a draft holds patient answers: only its owner may read it"
    return path


def test_ask_a_save_path_that_cannot_be_written_keeps_a_draft_that_resume_finishes(tmp_path: Path) -> None:
    (tmp_path / "chart").mkdir()
    lines = answer_lines()
    proc = run("ask", "--save-intake", "chart", stdin="\n".join(lines) + "\n", cwd=tmp_path)
    assert proc.returncode == 2 and "cannot write chart" in proc.stderr
    draft = _draft_named_in(proc.stderr, tmp_path)
    assert len(json.loads(draft.read_text(encoding="utf-8"))["answers"]) == len(lines)
    again = run("ask", "--resume", str(draft), "--save-intake", "chart/maria.json", stdin="", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "CLEAR" in again.stdout and "How old" not in again.stderr, "every answer came from the draft"
    saved = json.loads((tmp_path / "chart" / "maria.json").read_text(encoding="utf-8"))
    assert saved["patient"]["age"] == 46
    assert not draft.exists(), "a finished draft is removed"


def test_ask_refuses_a_save_path_in_a_missing_directory_before_asking(tmp_path: Path) -> None:
    stdin = "\n".join(answer_lines()) + "\n"
    proc = run("ask", "--save-result", "nowhere/result.json", stdin=stdin, cwd=tmp_path)
    assert proc.returncode == 2 and "nowhere/result.json: no such directory" in proc.stderr
    assert "Is the plan" not in proc.stderr, "nothing was asked"


def test_ask_resume_refuses_a_file_that_is_not_a_draft(tmp_path: Path) -> None:
    bogus = tmp_path / "draft.json"
    bogus.write_text(json.dumps({"schema": "something/1", "answers": []}), encoding="utf-8")
    proc = run("ask", "--resume", str(bogus), stdin="")
    assert proc.returncode == 2 and "not an ask draft" in proc.stderr
    no_traceback(proc)


SHORT_FIRST_PASS = """
schema: needlescreen.questionnaire/1
title: A short first pass
items:
  - {id: technique, text: Manual or electrical?, path: plan.technique, type: choice, required: true,
     options: [{value: dry_needling, label: dry needling}, {value: electrical, label: electrical}]}
  - {id: sites, text: Where will you needle?, path: plan.sites, type: sites, required: true}
  - {id: age, text: How old is the patient?, path: patient.age, type: number, min: 0, max: 130}
  - {id: vka, text: Does the patient take a blood thinner that needs INR checks?, path: medications.vka,
     type: answer}
  - {id: inr, text: What is the latest INR?, path: labs.inr.value, type: number, min: 0.5, max: 20,
     enable_when: [{question: vka, operator: "=", answer: "yes"}]}
  - {id: inr_age_days, text: How many days ago was it taken?, path: labs.inr.age_days, type: number, min: 0,
     max: 3650, enable_when: [{question: inr, operator: exists, answer: true}]}
"""


def test_ask_walks_a_first_pass_whose_yes_opens_follow_ups(tmp_path: Path) -> None:
    """Nothing in ask knows the questionnaire's shape: the gating alone decides what is asked."""
    qfile = tmp_path / "short.yaml"
    qfile.write_text(SHORT_FIRST_PASS, encoding="utf-8")
    base = ["dry needling", "right calf", "46"]
    ask = ("ask", "--questionnaire", str(qfile), "--format", "json")
    no = run(*ask, stdin="\n".join([*base, "no"]) + "\n")
    assert no.stderr.count(" -> ") == 4, "a 'no' opens nothing"
    yes = run(*ask, stdin="\n".join([*base, "yes", "4.5", "2"]) + "\n")
    assert yes.stderr.count(" -> ") == 6, "a 'yes' opens the INR, and the INR its date"
    assert "What is the latest INR?" in yes.stderr and "What is the latest INR?" not in no.stderr
    result = ScreeningResult.model_validate_json(yes.stdout)
    assert "ANTICOAG_VKA_HIGH" in {f.rule_id for f in result.findings if f.status == "fired"}, "the follow-ups landed"


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


def _terminal(*args: str, cwd: Path | None = None) -> tuple[subprocess.Popen[bytes], int]:
    """The command on a pseudo-terminal (standard input, output and error), as a person would run it."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(TERM="xterm-256color", COLUMNS="100", LINES="40")
    proc = subprocess.Popen([*command(), *args], stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd)
    os.close(slave)
    return proc, master


def _read_until(master: int, proc: subprocess.Popen[bytes], text: str) -> bytes:
    out = b""
    deadline = time.monotonic() + 120  # a safety net against a hang, not a timing assertion
    while text.encode() not in out and time.monotonic() < deadline and proc.poll() is None:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            out += os.read(master, 65536)
    return out


def _plain(out: bytes) -> str:
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.decode("utf-8", errors="replace"))


def test_ask_on_a_terminal_prompts_in_colour_re_asks_after_a_mistake_and_goes_back(tmp_path: Path) -> None:
    lines = answer_lines()
    age = lines.index("46")
    # A mistake (re-asked, not fatal), then 30 years, then 'back' to change it to 46.
    lines[age:age] = ["forty", "30", "back"]
    proc, master = _terminal("ask", "--save-intake", "intake.json", cwd=tmp_path)
    try:
        os.write(master, ("\n".join(lines) + "\n").encode())
        out = _read_until_exit(master, proc)
    finally:
        os.close(master)
        proc.wait(timeout=60)
    text = out.decode("utf-8", errors="replace")
    assert proc.returncode == 0, text[-2000:]
    assert "\x1b[" in text, "a terminal gets colour"
    plain = _plain(out)
    assert "How old is the patient (years)? [0-130 years, or unknown]" in plain
    assert "[dry_needling/electrical]" in plain, "answer hints are shown, not swallowed as markup"
    assert "answer a number" in plain, "a mistake is explained and the question asked again"
    assert "back to: How old is the patient" in plain
    assert "Planned treatment" in plain and "CLEAR" in plain
    assert json.loads((tmp_path / "intake.json").read_text(encoding="utf-8"))["patient"]["age"] == 46


def _interrupt(master: int, proc: subprocess.Popen[bytes]) -> bytes:
    """Press Ctrl-C (SIGINT) until the command ends, as a person would when the first press seems lost.

    A signal that lands between Python's last check and the blocking read of the prompt waits for the next
    keystroke (so does Python's own prompt); a second press interrupts the read.
    """
    out = b""
    for _ in range(20):  # a safety net against a hang, not a timing assertion
        proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and proc.poll() is None:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    out += os.read(master, 65536)
                except OSError:
                    return out
        if proc.poll() is not None:
            return out + _read_until_exit(master, proc)
    return out


def test_ask_ctrl_c_at_a_terminal_keeps_a_draft_that_resume_continues(tmp_path: Path) -> None:
    lines = answer_lines()
    age = lines.index("46")
    proc, master = _terminal("ask", cwd=tmp_path)
    try:
        os.write(master, ("\n".join(lines[:age]) + "\n").encode())
        seen = _read_until(master, proc, "How old is the patient")
        assert b"How old is the patient" in seen, _plain(seen)[-2000:]
        out = seen + _interrupt(master, proc)
    finally:
        os.close(master)
        proc.wait(timeout=60)
    message = _plain(out)
    assert proc.returncode == 130, message[-2000:]
    assert "interrupted: nothing was screened" in message and "Traceback" not in message
    draft = _draft_named_in(" ".join(message.split()), tmp_path)
    kept = json.loads(draft.read_text(encoding="utf-8"))
    assert [a["text"] for a in kept["answers"]] == lines[:age]
    resumed = run(
        "ask",
        "--resume",
        str(draft),
        "--save-intake",
        "resumed.json",
        stdin="\n".join(lines[age:]) + "\n",
        cwd=tmp_path,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {age} answer(s)" in resumed.stderr and "Is the plan" not in resumed.stderr
    whole = run("ask", "--save-intake", "whole.json", stdin="\n".join(lines) + "\n", cwd=tmp_path)
    assert whole.returncode == 0
    read = {n: json.loads((tmp_path / n).read_text(encoding="utf-8")) for n in ("resumed.json", "whole.json")}
    assert read["resumed.json"] == read["whole.json"], "a resumed session gives the intake an unbroken one gives"
    assert not draft.exists()


def test_ask_ctrl_c_in_a_piped_session_keeps_a_draft(tmp_path: Path) -> None:
    lines = answer_lines()
    proc = subprocess.Popen(
        [*command(), "ask"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path
    )
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.write(("\n".join(lines[:5]) + "\n").encode())
    proc.stdin.flush()
    err = b""
    deadline = time.monotonic() + 120  # a safety net against a hang, not a timing assertion
    while err.count(b" -> ") < 5 and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 0.5)
        if ready:
            err += os.read(proc.stderr.fileno(), 65536)
    proc.send_signal(signal.SIGINT)
    rest, more = proc.communicate(timeout=60)
    message = (err + more).decode()
    assert proc.returncode == 130, message
    assert rest == b"", "no verdict for half a screening"
    draft = _draft_named_in(message, tmp_path)
    assert len(json.loads(draft.read_text(encoding="utf-8"))["answers"]) == 5


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


def test_explain_json_lists_every_rule_with_its_outcome_and_facts(ruleset: Any) -> None:
    proc = run("explain", str(EXAMPLE), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert [r["rule_id"] for r in report] == [r.id for r in ruleset.rules]
    limb = next(r for r in report if r["rule_id"] == "LYMPHEDEMA_LIMB")
    forearm = next(e for e in limb["evaluations"] if e["where"] == "site L-forearm")
    assert forearm["outcome"] == "true" and forearm["verdict"] == "refer"
    assert forearm["facts"]["site.lymphedema"] == "yes"


def test_explain_states_the_verdict_then_the_rules_that_acted(ruleset: Any) -> None:
    report = json.loads(run("explain", str(EXAMPLE), "--format", "json").stdout)
    acted = {r["rule_id"] for r in report if any(e["outcome"] != "false" for e in r["evaluations"])}
    quiet = {r["rule_id"] for r in report} - acted
    proc = run("explain", str(EXAMPLE))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == run("check", str(EXAMPLE)).stdout.splitlines()[0], "the verdict check gives, first"
    assert len(lines) <= 30, f"{len(lines)} lines"
    named = set(re.findall(r"^ (?:REFER|CAUTION)  ([A-Z][A-Z0-9_]+) (?:fired|undecided)", proc.stdout, re.MULTILINE))
    assert named == acted, "exactly the rules that fired or could not be decided"
    assert quiet and not (named & quiet)
    flat = normalised(proc.stdout)
    assert "LYMPHEDEMA_LIMB fired at L-forearm: site.lymphedema=yes" in flat
    for entry in report:
        undecided = [e for e in entry["evaluations"] if e["outcome"] == "unknown"]
        if undecided:
            line = flat[flat.index(f"{entry['rule_id']} undecided") :]
            for fact in {k for e in undecided for k, v in e["facts"].items() if v == "unknown"}:
                assert fact in line[: line.index(" unknown")], (entry["rule_id"], fact)


def test_explain_full_shows_every_rule_and_states_the_verdict_first_and_last(ruleset: Any) -> None:
    proc = run("explain", str(EXAMPLE), "--full")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "REFER - do not needle (at the sites shown) without clearance"
    assert lines[-1] == "Verdict: REFER - do not needle (at the sites shown) without clearance"
    for rule in ruleset.rules:
        assert re.search(rf"^{rule.id}  \(", proc.stdout, flags=re.MULTILINE), rule.id


def _into_a_closed_pipe(*args: str) -> subprocess.CompletedProcess[bytes]:
    """Run a command whose standard output has no reader (``| head`` after it stopped reading)."""
    read, write = os.pipe()
    os.close(read)
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
        return subprocess.run([*command(), *args], stdout=write, stderr=subprocess.PIPE, check=False, env=env)
    finally:
        os.close(write)


@pytest.mark.parametrize(
    "args",
    [
        ["rules", "body"],
        ["rules", "vocabulary"],
        ["rules", "list", "--format", "json"],
        ["rules", "show", "LYMPHEDEMA_LIMB"],
        ["schema", "result"],
        ["check", str(EXAMPLE)],
        ["check", str(EXAMPLE), "--full"],
        ["explain", str(EXAMPLE), "--full"],
        ["--version"],
    ],
    ids=lambda args: " ".join(Path(a).name for a in args),
)
def test_a_closed_pipe_is_not_an_error(args: list[str]) -> None:
    """``needlescreen rules body | head``: the reader left; the command ends quietly with its own exit code."""
    expected = run(*args).returncode
    proc = _into_a_closed_pipe(*args)
    assert proc.returncode == expected, proc.stderr.decode()
    assert proc.stderr == b"", proc.stderr.decode()


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


def test_ctrl_c_in_any_command_is_no_traceback_and_exit_130() -> None:
    """`check -` waiting on its input, interrupted: no traceback, no verdict, the shell's code for SIGINT (typer
    turns the interruption into exit 130; ask and batch, which have answers or outputs to keep, say more)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "needlescreen", "check", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(3)  # past the imports, into the read of standard input
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    message = err.decode()
    assert proc.returncode == 130, message
    assert "Traceback" not in message
    assert out == b""
