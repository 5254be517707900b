"""The benchmark runs from a fresh clone and reports every figure (tiny sizes; no timing assertions)."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmarks.cohorts import cohort
from benchmarks.run import main

from needlescreen import Screener
from needlescreen.engine import available_engines

pytestmark = pytest.mark.slow


def test_cohorts_are_valid_seeded_and_realistic() -> None:
    screener = Screener(engine="plain")
    typical = cohort("typical", 300)
    assert typical == cohort("typical", 300), "same seed, same cohort"
    verdicts = [screener.screen(i).verdict for i in typical]
    assert verdicts.count("clear") > len(verdicts) * 0.4, "a clinic list is largely clear"
    assert {"caution", "refer"} <= set(verdicts)
    worst = [screener.screen(i) for i in cohort("worst", 20)]
    assert all(r.verdict == "refer" and len(r.findings) >= 10 for r in worst)


def test_quick_benchmark_prints_every_figure(tmp_path: Path, capsys) -> None:
    figures = main(["--quick", "--json", str(tmp_path / "bench.json")])
    out = capsys.readouterr().out
    for word in ("median", "p99", "batch", "cold start", "memory"):
        assert word in out
    for cohort_name in ("typical", "worst"):
        assert set(available_engines()) <= set(figures["latency"][cohort_name])
    for word in ("parse floor", "screen_many", "x floor", "bytes per result", "impact"):
        assert word in out
    for cohort_name in ("typical", "worst"):
        row = figures["latency"][cohort_name]
        assert row["parse_floor"]["median_us"] > 0 and row["result_bytes"] > 1000
        for engine in available_engines():
            assert row[engine]["over_floor"] > 1, "a whole screening costs more than validating its intake"
            assert row[f"{engine}_many"]["per_screening_us"] > 0
    if "durable_rules" in available_engines():
        assert figures["latency"]["typical"]["durable_over_plain_median"] > 0
        raw = figures["raw_durable"]
        assert raw["raw"] > 0 and raw["run"] > 0 and raw["screen"] > 0
    assert figures["impact"]["screened"] == figures["impact"]["rows"] > 0
    assert figures["batch"]["results"] == figures["batch"]["rows"]
    # A compact result row (the default) holds at least its row id, verdict, reasons' ids and the ruleset hash.
    assert figures["batch"]["bytes_per_row"] > 200
    dask = figures["batch"].get("dask")
    if dask is not None:  # the dask extra is installed (make test's venvs)
        assert dask["results"] == dask["rows"] == figures["batch"]["rows"] and dask["dask_over_local"] > 0
        running = figures["batch"]["dask_running"]
        assert running["results"] == running["rows"] == figures["batch"]["rows"]
        assert running["cluster_start_seconds"] > 0 and running["dask_over_local"] > 0
        assert "local Dask cluster" in out
    assert figures["memory"]["screenings"] == 2000
    assert (tmp_path / "bench.json").exists()


def test_the_profile_runs_and_counts_body_model_calls(capsys) -> None:
    from benchmarks.profile import main as profile

    figures = profile(["--quick"])
    out = capsys.readouterr().out
    assert "precomputing each site's place" in out
    worst = figures["worst"]["normalisation"]
    assert worst["calls_per_screening"]["concerns"] > 0, "the worst cohort asks where its findings reach"
    assert figures["typical"]["steps"]["normalise"] > 0
