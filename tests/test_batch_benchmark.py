"""The batch benchmark runs from a fresh clone and reports every figure (tiny sizes; no timing assertions)."""

from __future__ import annotations

import pytest
from benchmarks.batch import main

from needlescreen.engine import available_engines

pytestmark = pytest.mark.slow


def test_quick_batch_benchmark_reports_throughput_bytes_and_per_row_costs(capsys) -> None:
    figures = main(["--quick", "--no-dask"])
    out = capsys.readouterr().out
    for words in ("rows/s", "compact", "full", "overhead"):
        assert words in out
    assert figures["local"]["rows"] == figures["local"]["results"] == 200
    assert figures["bytes_per_result"]["full"] > figures["bytes_per_result"]["compact"] > 0
    assert set(figures["per_row"]) == set(available_engines())
    assert all(0 < p["overhead_share"] < 1 for p in figures["per_row"].values())
