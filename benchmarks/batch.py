"""``needlescreen batch`` throughput: local worker processes against a Dask local cluster, and what batch costs.

Run ``python -m benchmarks.batch`` (20,000 typical intakes, 2 workers) or ``--quick``. Every figure comes from
one run on this machine, so the ratios are meaningful on a noisy machine too:

* rows per second end to end (the whole ``needlescreen batch`` process: start, read, screen, write) on
  ``--workers N`` local processes and on ``--dask local`` with N workers (which includes starting the cluster,
  measured on its own too);
* bytes per result row, compact (the default) and full (``--full``);
* per row, in one process: reading and decoding the input, validating the intake, screening, encoding the
  compact and the full result, the inter-process cost of a row and its outcome (pickling both ways), and
  writing; batch's own overhead is reading + inter-process + writing + encoding, beside validation and
  screening, which any caller pays.

:func:`figures` returns them as a dict for ``benchmarks/run.py``; :func:`report` prints them.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from needlescreen import batch as b
from needlescreen.compact import compact
from needlescreen.engine import available_engines
from needlescreen.screening import parse_intake

from .cohorts import cohort
from .processes import bytecode_cached

ROOT = Path(__file__).resolve().parents[1]


def _run_batch(source: Path, workers: int, *extra: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    out, err = source.with_suffix(".out.jsonl"), source.with_suffix(".err.jsonl")
    cmd = [sys.executable, "-m", "needlescreen", "batch", str(source), "-o", str(out), "--errors", str(err)]
    cmd += ["--workers", str(workers), "--force", "--format", "json", *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT, env=env)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"batch {' '.join(extra)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout)
    return {
        "rows": summary["rows"],
        "results": summary["results"],
        "errors": summary["errors"],
        "seconds": elapsed,
        "per_second": summary["rows"] / elapsed,
        "bytes_per_result": out.stat().st_size / max(1, summary["results"]),
    }


def _cluster_start(workers: int) -> float:
    """Seconds to start and close a Dask local cluster (what ``--dask local`` adds before the first row)."""
    from needlescreen._dask import connect

    t0 = time.perf_counter()
    with connect("local", workers=workers) as client:
        client.run(os.getpid)
    return time.perf_counter() - t0


def _per_row(sample: list[str], engine: str) -> dict[str, float]:
    """Microseconds per row of each step, in this process, over ``sample`` JSON lines."""
    spec = b.ScreenSpec(b.BatchConfig().spec().ruleset, engine)
    screener = b.worker_screener(spec)
    data = "".join(line + "\n" for line in sample).encode()
    n = len(sample)
    for line in sample[:200]:  # warm-up: caches, first-call costs
        screener.screen(parse_intake(line))

    def timed(step: Callable[[], Any]) -> tuple[float, Any]:
        t0 = time.perf_counter()
        value = step()
        return (time.perf_counter() - t0) / n * 1e6, value

    read_us, rows = timed(lambda: list(b.read_rows(io.BytesIO(data), "jsonl")))
    parse_us, intakes = timed(lambda: [parse_intake(r.text) for r in rows])
    screen_us, results = timed(lambda: [screener.screen(i) for i in intakes])
    compact_us, _ = timed(lambda: [compact(r).model_dump_json() for r in results])
    full_us, _ = timed(lambda: [r.model_dump_json() for r in results])
    outcomes = b.screen_partition(rows, spec)

    def ipc() -> None:
        for k in range(0, n, 100):  # a chunk out to a worker, its outcomes back: what crosses the pipe
            pickle.loads(pickle.dumps(rows[k : k + 100], pickle.HIGHEST_PROTOCOL))
            pickle.loads(pickle.dumps(outcomes[k : k + 100], pickle.HIGHEST_PROTOCOL))

    ipc_us, _ = timed(ipc)
    with tempfile.TemporaryDirectory() as tmp:
        output = b.Output(Path(tmp) / "r.jsonl", Path(tmp) / "e.jsonl")

        def write() -> None:
            for o in outcomes:
                output.write(o)
            output.flush()

        write_us, _ = timed(write)
        output.finish()  # the fsyncs and renames: once per run, not per row
    overhead = read_us + ipc_us + write_us + compact_us
    return {
        "read_us": read_us,
        "parse_us": parse_us,
        "screen_us": screen_us,
        "encode_compact_us": compact_us,
        "encode_full_us": full_us,
        "ipc_us": ipc_us,
        "write_us": write_us,
        "batch_overhead_us": overhead,
        "overhead_share": overhead / (overhead + parse_us + screen_us),
    }


def figures(rows: int = 20_000, workers: int = 2, *, dask: bool = True, sample: int = 2000) -> dict[str, Any]:
    """Every batch figure in one run: throughput local and on Dask, bytes per row, per-row costs per engine."""
    intakes = cohort("typical", rows, seed=7)
    lines = [json.dumps(i) for i in intakes]
    out: dict[str, Any] = {"rows": rows, "workers": workers}
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "intakes.jsonl"
        source.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        with bytecode_cached() as env:  # as an installed package runs (benchmarks.processes)
            out["local"] = _run_batch(source, workers, env=env)
            if dask:
                out["dask"] = _run_batch(source, workers, "--dask", "local", env=env)
                out["dask"]["cluster_start_s"] = _cluster_start(workers)
                out["dask_over_local"] = out["dask"]["per_second"] / out["local"]["per_second"]
    head = lines[: min(sample, rows)]
    spec = b.BatchConfig().spec()
    screened = [b.worker_screener(spec).screen(line) for line in head]
    full = sum(len(r.model_dump_json()) for r in screened) / len(screened)
    small = sum(len(compact(r).model_dump_json()) for r in screened) / len(screened)
    out["bytes_per_result"] = {"compact": small, "full": full, "ratio": full / small}
    out["per_row"] = {e: _per_row(head, e) for e in available_engines()}
    return out


def report(f: dict[str, Any]) -> None:
    """Print the figures as a short table."""
    print(f"batch, {f['rows']} typical intakes, {f['workers']} workers (end to end, whole process):")
    runs = [("local processes", f["local"])] + ([("dask local", f["dask"])] if "dask" in f else [])
    for name, r in runs:
        print(f"  {name:<16} {r['seconds']:6.2f} s  {r['per_second']:8.0f} rows/s  {r['bytes_per_result']:6.0f} B/row")
    if "dask" in f:
        print(
            f"  dask/local {f['dask_over_local']:.2f}; starting the local cluster alone: "
            f"{f['dask']['cluster_start_s']:.2f} s"
        )
    size = f["bytes_per_result"]
    print(f"  result bytes per row: compact {size['compact']:.0f}, full {size['full']:.0f} ({size['ratio']:.1f}x)")
    print("  per row, µs:   read  validate    screen  compact     full      ipc    write  overhead (share)")
    for engine, p in f["per_row"].items():
        print(
            f"  {engine:<13} {p['read_us']:5.1f} {p['parse_us']:9.1f} {p['screen_us']:9.1f} "
            f"{p['encode_compact_us']:8.1f} {p['encode_full_us']:8.1f} {p['ipc_us']:8.1f} {p['write_us']:8.1f} "
            f"{p['batch_overhead_us']:9.1f} ({p['overhead_share']:.0%})"
        )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Measure, print, and return the figures."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=20_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--no-dask", action="store_true", help="skip the Dask local cluster")
    p.add_argument("--quick", action="store_true", help="tiny sizes (the test suite uses this)")
    args = p.parse_args(argv)
    rows, sample = (200, 100) if args.quick else (args.rows, 2000)
    result = figures(rows, args.workers, dask=not args.no_dask, sample=sample)
    report(result)
    return result


if __name__ == "__main__":
    main()
