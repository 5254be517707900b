"""Batch screening: every valid row screened, every invalid row reported with its line, nothing lost."""

from __future__ import annotations

import csv
import io
import json
import random
import subprocess
from pathlib import Path
from typing import Any

import pytest

from needlescreen import Screener, ScreeningResult
from needlescreen import batch as batch_mod
from needlescreen.batch import BatchConfig, Row, read_rows, screen_rows
from needlescreen.errors import EngineError
from needlescreen.testing import baseline_intake, with_changes

from .test_cli import command

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
        [*command(), "batch", str(day), "--workers", "2", "--format", "json", "--engine", "plain"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
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
    # Spot-check: results are the result model and agree with screening the same row directly.
    screener = Screener(engine="plain")
    inputs = day.read_text(encoding="utf-8").splitlines()
    for raw in results[::499]:
        row = json.loads(raw)
        stored = ScreeningResult.model_validate(row["result"])
        direct = screener.screen(inputs[row["line"] - 1])
        assert stored.verdict == direct.verdict
        assert [f.rule_id for f in stored.findings] == [f.rule_id for f in direct.findings]


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


@pytest.mark.parametrize(
    ("exc", "kind"), [(EngineError("session lost"), "engine"), (RuntimeError("a bug"), "internal")]
)
def test_an_engine_failure_is_an_error_row_never_a_verdict(
    monkeypatch: pytest.MonkeyPatch, exc: Exception, kind: str
) -> None:
    monkeypatch.setattr(batch_mod, "_init_worker", lambda _config: None)
    monkeypatch.setattr(batch_mod, "_SCREENER", _Failing(exc))
    rows = [Row(1, json.dumps(baseline_intake())), Row(2, "{broken")]
    outcomes = list(screen_rows(rows, BatchConfig(), workers=1))
    assert [(o.line, o.kind) for o in outcomes] == [(1, kind), (2, "invalid")]
    body = json.loads(outcomes[0].json_line)
    assert "result" not in body and "no verdict" in body["errors"][0]["message"]


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
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(x) for x in proc.stdout.splitlines()]
    assert [(o["line"], o["result"]["verdict"]) for o in out] == [(1, "clear")]
    assert [json.loads(x)["line"] for x in errors.read_text().splitlines()] == [2]
