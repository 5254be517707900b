"""needlescreen benchmark: prints a table of figures and writes them as JSON.

Every figure is measured in one run on this machine, so ratios between engines are meaningful even on a noisy
machine. Run ``make bench`` (full sizes) or ``python -m benchmarks.run --quick`` (tiny, as the test suite does).

Figures:
* per cohort (typical, worst) and engine (durable_rules, plain): median and p99 latency of one screening
  through the public API (validation, normalisation, engine, result) and screenings per second on one core;
  the durable/plain ratio;
* ``needlescreen batch`` end to end on all cores (JSON lines in, results file out);
* cold start of the whole ``needlescreen check`` process on one file;
* resident memory before and after many screenings in one process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from needlescreen import Screener, load_ruleset
from needlescreen.engine import available_engines

from .cohorts import cohort

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "cipn-electrical.json"


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def latency(n: int, rounds: int) -> dict[str, Any]:
    """Per cohort and engine: median, p99 and throughput on one core, engines interleaved round by round."""
    ruleset = load_ruleset()
    engines = available_engines()
    screeners = {e: Screener(ruleset, engine=e) for e in engines}
    out: dict[str, Any] = {}
    for name in ("typical", "worst"):
        intakes = cohort(name, n)
        samples: dict[str, list[int]] = {e: [] for e in engines}
        for s in screeners.values():  # warm-up: caches, first-call costs
            for intake in intakes[: min(200, n)]:
                s.screen(intake)
        for _ in range(rounds):
            for e, s in screeners.items():
                clock = time.perf_counter_ns
                for intake in intakes:
                    t0 = clock()
                    s.screen(intake)
                    samples[e].append(clock() - t0)
        row: dict[str, Any] = {}
        for e, xs in samples.items():
            xs.sort()
            row[e] = {
                "n": len(xs),
                "median_us": statistics.median(xs) / 1000,
                "p99_us": xs[min(len(xs) - 1, int(len(xs) * 0.99))] / 1000,
                "per_second": 1e9 / statistics.fmean(xs),
            }
        if "durable_rules" in row:
            row["durable_over_plain_median"] = row["durable_rules"]["median_us"] / row["plain"]["median_us"]
        out[name] = row
    return out


def batch(n: int, workers: int | None) -> dict[str, Any]:
    """``needlescreen batch`` end to end on a JSON-lines file of ``n`` typical intakes."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "intakes.jsonl"
        with src.open("w") as fh:
            for intake in cohort("typical", n, seed=7):
                fh.write(json.dumps(intake) + "\n")
        cmd = [sys.executable, "-m", "needlescreen", "batch", str(src), "-o", str(Path(tmp) / "out.jsonl")]
        cmd += ["--errors", str(Path(tmp) / "errors.jsonl")]
        if workers:
            cmd += ["--workers", str(workers)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - t0
        out_file = Path(tmp) / "out.jsonl"
        results = len(out_file.read_text().splitlines()) if out_file.exists() else 0
    if proc.returncode != 0:
        raise SystemExit(f"batch failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return {
        "rows": n,
        "results": results,
        "seconds": elapsed,
        "per_second": n / elapsed,
        "workers": workers or os.cpu_count(),
    }


def cold_start(runs: int) -> dict[str, Any]:
    """Wall time of the whole ``needlescreen check`` process on the bundled example."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "needlescreen", "check", str(EXAMPLE), "--format", "json"],
            capture_output=True,
            check=False,
        )
        times.append(time.perf_counter() - t0)
        if proc.returncode not in (0, 10, 20):
            raise SystemExit(f"check failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    return {"runs": runs, "median_s": statistics.median(times), "min_s": min(times)}


def memory(screenings: int) -> dict[str, Any]:
    """Resident memory before and after ``screenings`` screenings in one fresh process (preferred engine)."""
    code = (
        "import json, sys\n"
        "from benchmarks.run import _rss_kb\n"
        "from benchmarks.cohorts import cohort\n"
        "from needlescreen import Screener\n"
        "s = Screener()\n"
        "intakes = cohort('typical', 1000, seed=3)\n"
        "for i in intakes: s.screen(i)\n"
        "before = _rss_kb()\n"
        f"n = {screenings}\n"
        "for k in range(n): s.screen(intakes[k % 1000])\n"
        "after = _rss_kb()\n"
        "out = {'engine': s.engine.name, 'screenings': n, 'rss_before_kb': before, 'rss_after_kb': after}\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"memory run failed: {proc.stderr[-2000:]}")
    data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    data["growth_mb"] = (data["rss_after_kb"] - data["rss_before_kb"]) / 1024
    return data


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run every benchmark, print the table, write the JSON, return the figures."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes (the test suite uses this)")
    p.add_argument("--n", type=int, default=2000, help="intakes per cohort")
    p.add_argument("--rounds", type=int, default=5, help="passes over each cohort per engine")
    p.add_argument("--batch-rows", type=int, default=100_000)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--cold-runs", type=int, default=10)
    p.add_argument("--memory-screenings", type=int, default=1_000_000)
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "latest.json")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.rounds, args.batch_rows, args.cold_runs, args.memory_screenings = 40, 1, 200, 1, 2000

    figures: dict[str, Any] = {
        "machine": {
            "cpu": _cpu(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "engines": list(available_engines()),
        },
        "latency": latency(args.n, args.rounds),
        "batch": batch(args.batch_rows, args.workers),
        "cold_start": cold_start(args.cold_runs),
        "memory": memory(args.memory_screenings),
    }
    _print(figures)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nwritten: {args.json}")
    return figures


def _print(f: dict[str, Any]) -> None:
    m = f["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, engines {', '.join(m['engines'])}")
    print(f"{'cohort':<9} {'engine':<14} {'median µs':>10} {'p99 µs':>10} {'per second':>11}")
    for name, row in f["latency"].items():
        for e in ("durable_rules", "plain"):
            if e in row:
                r = row[e]
                print(f"{name:<9} {e:<14} {r['median_us']:>10.1f} {r['p99_us']:>10.1f} {r['per_second']:>11.0f}")
        if "durable_over_plain_median" in row:
            print(f"{name:<9} {'durable/plain':<14} {row['durable_over_plain_median']:>10.2f}")
    b = f["batch"]
    print(f"batch: {b['rows']} rows in {b['seconds']:.2f} s = {b['per_second']:.0f} rows/s on {b['workers']} workers")
    c = f["cold_start"]
    print(f"cold start (needlescreen check, whole process): median {c['median_s'] * 1000:.0f} ms over {c['runs']} runs")
    mem = f["memory"]
    print(
        f"memory ({mem['engine']}): {mem['rss_before_kb'] / 1024:.1f} MB -> {mem['rss_after_kb'] / 1024:.1f} MB "
        f"after {mem['screenings']} screenings (growth {mem['growth_mb']:.2f} MB)"
    )


if __name__ == "__main__":
    main()
