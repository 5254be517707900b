"""Batch screening: every valid row screened, every invalid row reported with its line, nothing lost."""

from __future__ import annotations

import codecs
import csv
import io
import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from needlescreen import Screener, ScreeningResult
from needlescreen import batch as batch_mod
from needlescreen.batch import BatchConfig, Row, read_rows, screen_rows
from needlescreen.compact import CompactResult, compact
from needlescreen.errors import EngineError
from needlescreen.ruleset import default_rules_dir
from needlescreen.testing import baseline_intake, with_changes

from .test_cli import command

#: What differs between two screenings of the same intake.
_STAMP = {"decision_id", "timestamp"}

MALFORMED = (
    '{"plan": oops}',  # not JSON
    '["an", "array"]',  # not an object
    '{"plan": {"technique": "dry_needling", "sites": [{"id": "a", "region": "calff", "side": "left"}]}}',
    '{"patient": {"age": "forty"}, "plan": {"technique": "dry_needling", "sites": [{"id": "a", "region": "calf"}]}}',
    '{"colour": "red", "plan": {"technique": "dry_needling", "sites": [{"id": "a", "region": "lumbar"}]}}',
    "plain words",
)


def _intake(rng: random.Random) -> dict[str, Any]:
    """A one- or two-site intake with a few answers changed: quick to screen, all three verdicts occur."""
    answers = ("yes", "no", "unknown")
    sites = rng.choice(
        [
            [{"id": "s1", "region": "calf", "side": "right"}],
            [{"id": "s1", "region": "forearm", "side": "left"}, {"id": "s2", "region": "lumbar"}],
            [{"id": "s1", "region": "upper_trapezius", "side": "left", "depth_mm": 20.0}],
        ]
    )
    changes: dict[str, Any] = {
        "patient": {
            "age": float(rng.randint(10, 90)),
            "needle_phobia": rng.choice(answers),
            "fever": {"answer": rng.choice(answers)},
            "pregnancy": {"status": rng.choice(["pregnant", "not_pregnant", "unknown"])},
        },
        "medications": {"complete": rng.choice(answers), "items": rng.choice([[], [{"name": "warfarin"}]])},
        "findings": {"lymphedema": rng.choice([{"answer": "no"}, {"answer": "yes"}, {"answer": "unknown"}])},
        "plan": {"technique": rng.choice(["dry_needling", "electrical"]), "sites": sites},
    }
    return with_changes(baseline_intake(), changes)


def _write_day(path: Path, rows: int, bad_every: int, seed: int = 7) -> dict[int, str]:
    """Write a JSON-lines file; return the line numbers of the malformed rows."""
    rng = random.Random(seed)
    bad: dict[int, str] = {}
    with path.open("w", encoding="utf-8") as f:
        for line in range(1, rows + 1):
            if line % bad_every == 0:
                bad[line] = MALFORMED[line // bad_every % len(MALFORMED)]
                f.write(bad[line] + "\n")
            else:
                f.write(json.dumps(_intake(rng)) + "\n")
    return bad


@pytest.mark.slow
def test_ten_thousand_rows_with_one_percent_malformed_nothing_lost(tmp_path: Path) -> None:
    day = tmp_path / "day.jsonl"
    bad = _write_day(day, 10_000, 100)
    proc = subprocess.run(
        # The plain evaluator keeps this quick; engine agreement is proven elsewhere (test_engine_agreement).
        [*command(), "batch", str(day), "--workers", "2", "--format", "json", "--engine", "plain", "--no-strict"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr  # --no-strict: rejected rows are accepted
    assert "Traceback" not in proc.stderr
    summary = json.loads(proc.stdout)
    results = (tmp_path / "day.results.jsonl").read_text(encoding="utf-8").splitlines()
    errors = (tmp_path / "day.errors.jsonl").read_text(encoding="utf-8").splitlines()
    assert summary["rows"] == 10_000 == len(results) + len(errors)
    assert summary["invalid"] == len(bad) == len(errors) == 100
    assert summary["results"] == len(results) == summary["clear"] + summary["caution"] + summary["refer"]
    assert summary["engine"] == summary["internal"] == 0
    assert sum(1 for v in ("clear", "caution", "refer") if summary[v]) >= 2, "the rows are not all alike"

    error_rows = [json.loads(e) for e in errors]
    assert [e["line"] for e in error_rows] == sorted(bad)
    assert all(e["kind"] == "invalid" and e["errors"] and e["errors"][0]["message"] for e in error_rows)
    by_line = {e["line"]: e for e in error_rows}
    assert by_line[200]["errors"][0]["path"] == "plan.sites[0].region"  # names the field, not just the row

    result_lines = [json.loads(r)["line"] for r in results]
    assert result_lines == sorted(set(range(1, 10_001)) - set(bad)), "results are in input order, one per row"
    # Spot-check: results are the compact result and agree with screening the same row directly.
    screener = Screener(engine="plain")
    inputs = day.read_text(encoding="utf-8").splitlines()
    for raw in results[::499]:
        row = json.loads(raw)
        stored = CompactResult.model_validate(row["result"])
        direct = compact(screener.screen(inputs[row["line"] - 1]))
        assert stored.model_dump(exclude=_STAMP) == direct.model_dump(exclude=_STAMP)


def test_csv_rows_keep_their_id_and_line_numbers(tmp_path: Path) -> None:
    good = json.dumps(baseline_intake())
    multi = json.dumps(baseline_intake(), indent=1)  # a quoted field spanning several lines
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["id", "intake", "note"])
    writer.writerow(["A1", good, "first"])
    writer.writerow(["A2", multi, "spans lines"])
    writer.writerow(["A3", "not json", "x"])
    writer.writerow(["A4", "too", "many", "columns"])
    writer.writerow(["A5", good, "last"])
    text = buffer.getvalue()
    path = tmp_path / "day.csv"
    path.write_text(text, encoding="utf-8")
    proc = subprocess.run(
        [*command(), "batch", str(path), "--workers", "1", "--strict"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2, proc.stderr  # --strict: rejected rows fail the run
    assert "5 rows" in proc.stderr and "rejected 2" in proc.stderr
    results = [json.loads(r) for r in (tmp_path / "day.results.jsonl").read_text().splitlines()]
    errors = [json.loads(e) for e in (tmp_path / "day.errors.jsonl").read_text().splitlines()]
    a3_line = 3 + multi.count("\n") + 1
    assert [(r["id"], r["line"]) for r in results] == [("A1", 2), ("A2", 3), ("A5", a3_line + 2)]
    assert [(e["id"], e["line"]) for e in errors] == [("A3", a3_line), ("A4", a3_line + 1)]
    assert "columns" in errors[1]["errors"][0]["message"]


def test_a_csv_without_an_intake_column_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "day.csv"
    path.write_text("id,json\n1,{}\n", encoding="utf-8")
    proc = subprocess.run([*command(), "batch", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert "'intake' column" in proc.stderr and "Traceback" not in proc.stderr


def test_reading_rows_streams_and_rejects_bad_bytes() -> None:
    data = b'{"a": 1}\n\n\xff\xfe not utf-8\n' + b"{" + b" " * batch_mod.MAX_ROW_BYTES + b"}\n"
    rows = list(read_rows(io.BytesIO(data), "jsonl"))
    assert [r.line for r in rows] == [1, 3, 4]  # the blank line 2 is not a row
    assert rows[0].text == '{"a": 1}'
    assert rows[1].text is None and "UTF-8" in rows[1].problems[0].message
    assert rows[2].text is None and "longer than" in rows[2].problems[0].message


class _Failing:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def screen(self, _intake: Any) -> Any:
        raise self.exc

    def decide(self, _intake: Any) -> Any:
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "kind"), [(EngineError("session lost"), "engine"), (RuntimeError("a bug"), "internal")]
)
def test_an_engine_failure_is_an_error_row_never_a_verdict(
    monkeypatch: pytest.MonkeyPatch, exc: Exception, kind: str
) -> None:
    monkeypatch.setattr(batch_mod, "worker_screener", lambda _spec: _Failing(exc))
    rows = [Row(1, json.dumps(baseline_intake())), Row(2, "{broken")]
    outcomes = list(screen_rows(rows, BatchConfig(), workers=1))
    assert [(o.line, o.kind) for o in outcomes] == [(1, kind), (2, "invalid")]
    body = json.loads(outcomes[0].json_line)
    assert "result" not in body and "no verdict" in body["errors"][0]["message"]


class _OneBadRow:
    """A screener whose engine fails on one intake: screening many together fails them all (fail closed)."""

    def __init__(self, bad_age: int) -> None:
        self.real = Screener(engine="plain")
        self.bad_age = bad_age
        self.calls: list[int] = []

    def screen(self, intake: Any) -> ScreeningResult:
        if intake.patient.age == self.bad_age:
            raise EngineError("session lost")
        return self.real.screen(intake)

    def screen_many(self, intakes: list[Any]) -> list[Any]:
        self.calls.append(len(intakes))
        if any(i.patient.age == self.bad_age for i in intakes):
            raise EngineError("session lost")
        return self.real.screen_many(intakes)

    # What batch calls without --full: the same failures, the compact results.
    def decide(self, intake: Any) -> Any:
        if intake.patient.age == self.bad_age:
            raise EngineError("session lost")
        return self.real.decide(intake)

    def decide_many(self, intakes: list[Any]) -> list[Any]:
        self.calls.append(len(intakes))
        if any(i.patient.age == self.bad_age for i in intakes):
            raise EngineError("session lost")
        return self.real.decide_many(intakes)


def test_rows_are_screened_together_and_a_failed_group_is_screened_row_by_row(monkeypatch: pytest.MonkeyPatch) -> None:
    screener = _OneBadRow(bad_age=77)
    monkeypatch.setattr(batch_mod, "worker_screener", lambda _spec: screener)
    ages = [30 + (i % 40) for i in range(250)]
    ages[130] = 77
    rows = [Row(n, json.dumps(with_changes(baseline_intake(), {"patient": {"age": a}}))) for n, a in enumerate(ages, 1)]
    outcomes = batch_mod.screen_partition(rows, BatchConfig().spec())
    assert screener.calls == [100, 100, 50], "rows go to the engine in groups"
    assert [o.line for o in outcomes] == list(range(1, 251))
    assert [o.line for o in outcomes if o.kind == "engine"] == [131], "only the failing row lost its verdict"
    alone = Screener(engine="plain")
    for o, row in zip(outcomes, rows, strict=True):
        if o.kind != "engine":
            expected = compact(alone.screen(row.text)).model_dump(mode="json")
            got = json.loads(o.json_line)["result"]
            assert (got["verdict"], got["fired"]) == (expected["verdict"], expected["fired"])


def test_batch_cli_errors_for_a_person(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*command(), "batch", "-"], input="", capture_output=True, text=True, check=False
    )  # standard input needs explicit outputs
    assert proc.returncode == 2 and "--output" in proc.stderr
    missing = subprocess.run(
        [*command(), "batch", str(tmp_path / "nope.jsonl")], capture_output=True, text=True, check=False
    )
    assert missing.returncode == 2 and "nope.jsonl" in missing.stderr and "Traceback" not in missing.stderr
    rules = tmp_path / "rules"
    rules.mkdir()
    day = tmp_path / "d.jsonl"
    day.write_text(json.dumps(baseline_intake()) + "\n", encoding="utf-8")
    bad_rules = subprocess.run(
        [*command(), "batch", str(day), "--rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert bad_rules.returncode == 2 and "ruleset.yaml" in bad_rules.stderr and "Traceback" not in bad_rules.stderr


def test_batch_reads_standard_input_and_writes_standard_output(tmp_path: Path) -> None:
    lines = [json.dumps(baseline_intake()), "{bad"]
    errors = tmp_path / "errors.jsonl"
    proc = subprocess.run(
        [*command(), "batch", "-", "-o", "-", "--errors", str(errors), "--workers", "1"],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr  # the rejected row is not hidden by a 0
    out = [json.loads(x) for x in proc.stdout.splitlines()]
    assert [(o["line"], o["result"]["verdict"]) for o in out] == [(1, "clear")]
    assert [json.loads(x)["line"] for x in errors.read_text().splitlines()] == [2]


# --- issue 15 item 11: a byte order mark, and rows that cannot be read -------------------------------------

BOM = codecs.BOM_UTF8


def _batch(tmp_path: Path, name: str, data: bytes, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    path = tmp_path / name
    path.write_bytes(data)
    proc = subprocess.run(
        [*command(), "batch", str(path), "--workers", "1", "--engine", "plain", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc, path


def _outputs(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    stem = path.name.rsplit(".", 1)[0]
    read = [(path.with_name(f"{stem}.{what}.jsonl")) for what in ("results", "errors")]
    res, err = ([json.loads(x) for x in p.read_text(encoding="utf-8").splitlines()] for p in read)
    return res, err


GOOD = json.dumps(baseline_intake()).encode()


def test_a_byte_order_mark_at_the_start_of_a_json_lines_file_is_read(tmp_path: Path) -> None:
    proc, path = _batch(tmp_path, "day.jsonl", BOM + GOOD + b"\n" + GOOD + b"\n")
    assert proc.returncode == 0, proc.stderr
    results, errors = _outputs(path)
    assert [r["line"] for r in results] == [1, 2] and errors == []


def test_a_byte_order_mark_elsewhere_rejects_its_row_and_names_it(tmp_path: Path) -> None:
    # Two files joined together: the second one's byte order mark lands at the start of line 2.
    proc, path = _batch(tmp_path, "day.jsonl", GOOD + b"\n" + BOM + GOOD + b"\n" + GOOD + b"\n")
    assert proc.returncode == 2, proc.stderr  # a rejected row is not a clean run
    assert "rejected 1" in proc.stderr
    results, errors = _outputs(path)
    assert [r["line"] for r in results] == [1, 3]
    assert [e["line"] for e in errors] == [2]
    assert "byte order mark" in errors[0]["errors"][0]["message"]
    assert "JSON object" not in errors[0]["errors"][0]["message"]
    lenient, _ = _batch(tmp_path, "again.jsonl", path.read_bytes(), "--no-strict")
    assert lenient.returncode == 0, "--no-strict accepts rejected rows"


def test_a_csv_with_a_byte_order_mark_keeps_its_header(tmp_path: Path) -> None:
    good = json.dumps(baseline_intake())
    rows = [["id", "intake"], ["A1", good], ["A2", "\ufeff" + good], ["A3", good]]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    proc, path = _batch(tmp_path, "day.csv", BOM + buffer.getvalue().encode())
    assert proc.returncode == 2, proc.stderr
    results, errors = _outputs(path)
    assert [(r["id"], r["line"]) for r in results] == [("A1", 2), ("A3", 4)]
    assert [(e["id"], e["line"]) for e in errors] == [("A2", 3)]
    assert "byte order mark" in errors[0]["errors"][0]["message"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_a_utf16_or_utf32_file_is_refused_whole_with_the_fix(tmp_path: Path, encoding: str) -> None:
    proc, _path = _batch(tmp_path, "day.jsonl", (GOOD.decode() + "\n").encode(encoding))
    assert proc.returncode == 2
    assert encoding.upper() in proc.stderr and "UTF-8" in proc.stderr
    assert not list(tmp_path.glob("day.*.jsonl*")), "nothing is written for a file that cannot be read"


def test_a_csv_row_with_a_stray_quote_is_an_error_row_not_glued_to_the_next(tmp_path: Path) -> None:
    good = json.dumps(baseline_intake()).replace('"', '""')
    text = f'id,intake\nA1,"{good}"\nA2,"{{"x" oops}}"\nA3,"{good}"\n'
    proc, path = _batch(tmp_path, "day.csv", text.encode())
    assert proc.returncode == 2, proc.stderr
    results, errors = _outputs(path)
    assert [r["line"] for r in results] == [2, 4]
    assert [e["line"] for e in errors] == [3] and "cannot be read" in errors[0]["errors"][0]["message"]


# --- issue 15 item 10: a rerun never destroys earlier output -------------------------------------------------


def test_a_rerun_leaves_earlier_outputs_alone_without_force(tmp_path: Path) -> None:
    proc, path = _batch(tmp_path, "day.jsonl", GOOD + b"\n" + GOOD + b"\n")
    assert proc.returncode == 0, proc.stderr
    outputs = sorted(tmp_path.glob("day.*.jsonl*"))
    assert [p.name for p in outputs] == ["day.errors.jsonl", "day.results.jsonl"], "no partial file is left"
    before = {p: p.read_bytes() for p in outputs}
    again = subprocess.run(
        [*command(), "batch", str(path), "--workers", "1", "--engine", "plain"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 2 and "--force" in again.stderr and "Traceback" not in again.stderr
    assert {p: p.read_bytes() for p in outputs} == before, "a refused rerun touched the earlier outputs"
    forced = subprocess.run(
        [*command(), "batch", str(path), "--workers", "1", "--engine", "plain", "--force"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert forced.returncode == 0, forced.stderr
    assert sorted(tmp_path.glob("day.*.jsonl*")) == outputs
    assert outputs[1].read_bytes() != before[outputs[1]], "--force screens again (new decision ids)"


def test_resume_continues_only_the_same_run(tmp_path: Path) -> None:
    """What --resume reads: the .partial files and the run's state; another input or ruleset is refused."""
    day = tmp_path / "day.jsonl"
    _write_day(day, 12, 5)
    reference = tmp_path / "ref.jsonl"
    reference.write_bytes(day.read_bytes())
    ran = subprocess.run([*command(), "batch", str(reference), "--workers", "1", "--engine", "plain"], check=False)
    assert ran.returncode == 2  # rows 5 and 10 are malformed
    # An interrupted run of day.jsonl: its state, and the first rows of each output (the second file cut mid-line).
    spec = BatchConfig(engine="plain").spec()
    state = batch_mod.run_state(spec, "plain", source=day, fmt="jsonl") | {"force": False}
    batch_mod.state_path(tmp_path / "day.results.jsonl").write_text(json.dumps(state), encoding="utf-8")
    ref_results = (tmp_path / "ref.results.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    ref_errors = (tmp_path / "ref.errors.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp_path / "day.results.jsonl.partial").write_text("".join(ref_results[:6]), encoding="utf-8")
    (tmp_path / "day.errors.jsonl.partial").write_text(ref_errors[0] + ref_errors[1][:9], encoding="utf-8")

    def resume(*extra: str) -> subprocess.CompletedProcess[str]:
        args = [*command(), "batch", str(day), "--workers", "1", "--engine", "plain", "--resume", *extra]
        return subprocess.run(args, capture_output=True, text=True, check=False)

    refused = resume("--full")
    assert refused.returncode == 2 and "cannot resume" in refused.stderr and "results" in refused.stderr
    # Another policy or another ruleset: the rows already written were decided under the first run's.
    stricter = tmp_path / "stricter.yaml"
    stricter.write_text("schema: needlescreen.policy-override/1\nsettings:\n  at_risk_limb_verdict: refer\n")
    refused = resume("--policy", str(stricter))
    assert refused.returncode == 2 and "cannot resume" in refused.stderr and "policy" in refused.stderr
    other_rules = tmp_path / "rules-next"
    shutil.copytree(default_rules_dir(), other_rules)
    manifest = other_rules / "ruleset.yaml"
    manifest.write_text(manifest.read_text(encoding="utf-8").replace('revision: "', 'revision: "next-'), "utf-8")
    refused = resume("--rules", str(other_rules))
    assert refused.returncode == 2 and "cannot resume" in refused.stderr and "ruleset" in refused.stderr
    with day.open("ab") as f:
        f.write(GOOD + b"\n")
    refused = resume()
    assert refused.returncode == 2 and "input_sha256" in refused.stderr
    day.write_bytes(reference.read_bytes())
    done = resume("--format", "json")
    assert done.returncode == 2, done.stderr
    assert json.loads(done.stdout)["rows"] == 12
    res, err = _outputs(day)
    ref_res, ref_err = _outputs(reference)
    assert [e["line"] for e in err] == [e["line"] for e in ref_err] == [5, 10]
    assert [r["line"] for r in res] == [r["line"] for r in ref_res]
    strip = [{k: v for k, v in r["result"].items() if k not in _STAMP} for r in res]
    assert strip == [{k: v for k, v in r["result"].items() if k not in _STAMP} for r in ref_res]
    assert [r["result"]["decision_id"] for r in res[:6]] == [
        json.loads(x)["result"]["decision_id"] for x in ref_results[:6]
    ]
    assert not list(tmp_path.glob("day.*partial*")) and not list(tmp_path.glob("*.resume.json"))
    nothing = resume()
    assert nothing.returncode == 2 and "nothing to resume" in nothing.stderr


# --- issue 15 item 12: compact results by default ------------------------------------------------------------


def test_results_are_compact_by_default_and_whole_with_full(tmp_path: Path) -> None:
    day = tmp_path / "day.jsonl"
    _write_day(day, 40, 1000)
    base = [*command(), "batch", str(day), "--workers", "1", "--engine", "plain"]
    assert subprocess.run(base, check=False).returncode == 0
    full_out = tmp_path / "full.jsonl"
    assert subprocess.run([*base, "--full", "-o", str(full_out), "--force"], check=False).returncode == 0
    small = [json.loads(x) for x in (tmp_path / "day.results.jsonl").read_text(encoding="utf-8").splitlines()]
    whole = [json.loads(x) for x in full_out.read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in small] == [r["line"] for r in whole] == list(range(1, 41))
    for s, w in zip(small, whole, strict=True):
        mine = CompactResult.model_validate(s["result"])
        from_full = compact(ScreeningResult.model_validate(w["result"]))
        assert mine.model_dump(exclude=_STAMP) == from_full.model_dump(exclude=_STAMP)
    per_row = (tmp_path / "day.results.jsonl").stat().st_size / 40
    assert per_row < 2000 and per_row * 4 < full_out.stat().st_size / 40, f"{per_row:.0f} bytes a row"
