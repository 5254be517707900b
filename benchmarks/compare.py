"""What a change bought: the steps of a screening timed on this tree and on an earlier commit, turn about.

``python -m benchmarks.compare REF`` exports commit ``REF`` (``git archive``) to a temporary directory and times,
in fresh processes that alternate between the two trees (so both see the same machine load), each step of a
screening on the typical and the worst cohort: validation from JSON text, normalisation, each engine, the
result, the whole public API call, and ``screen_many`` where the tree has it. It prints the medians side by
side. The cohorts are this tree's (``benchmarks/cohorts.py``), written once to a file both trees read.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from .cohorts import cohort

ROOT = Path(__file__).resolve().parents[1]

#: Run inside each tree: prints one JSON object of medians in µs per step.
_STEPS = r"""
import gc, json, statistics, sys, time
from needlescreen import Screener, load_ruleset
from needlescreen.engine import available_engines
from needlescreen.facts import normalise
from needlescreen.screening import aggregate, parse_intake

texts = json.load(open(sys.argv[1]))
rounds = int(sys.argv[2])
rs = load_ruleset()
clock = time.thread_time_ns  # CPU time of this thread, as benchmarks.run measures
gaps = []
for _ in range(2000):
    t0 = clock(); gaps.append(clock() - t0)
cost = statistics.median(gaps)

def med(f, xs):
    out = []
    for _ in range(rounds):
        for x in xs:
            t0 = clock(); f(x); out.append(clock() - t0 - cost)
    return statistics.median(out) / 1000

out = {}
for name, group in texts.items():
    screeners = {e: Screener(rs, engine=e) for e in available_engines()}
    for s in screeners.values():
        for t in group[:100]:
            s.screen(t)
    gc.collect(); gc.freeze()
    models = [parse_intake(t) for t in group]
    norm = lambda m: normalise(m, rs.regions, rs.medications, rs.codes, rs.body, vocabulary=rs.vocabulary)
    facts = [norm(m) for m in models]
    row = {"parse": med(parse_intake, group), "normalise": med(norm, models)}
    for e, s in screeners.items():
        fired = [s.engine.run(f) for f in facts]
        row[f"engine {e}"] = med(s.engine.run, facts)
        row[f"result {e}"] = med(lambda k: aggregate(models[k], facts[k], fired[k], rs, e), list(range(len(group))))
        row[f"screen {e}"] = med(s.screen, group)
        if hasattr(s, "screen_many"):
            chunks = [group[k:k + 100] for k in range(0, len(group), 100)]
            per = []
            for _ in range(rounds):
                for c in chunks:
                    t0 = clock(); s.screen_many(c); per.append((clock() - t0 - cost) / len(c))
            row[f"screen_many {e}"] = statistics.median(per) / 1000
    gc.unfreeze()
    out[name] = row
print(json.dumps(out))
"""


def _export(ref: str, into: Path) -> Path:
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True).stdout
    tree = into / "tree"
    tree.mkdir()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tree, filter="data")
    return tree


def _run(tree: Path, cohort_file: Path, rounds: int) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(tree / "src"))
    proc = subprocess.run(
        [sys.executable, "-c", _STEPS, str(cohort_file), str(rounds)],
        env=env,
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"timing {tree} failed: {proc.stderr[-2000:]}")
    data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return data


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Time both trees turn about; print and return the medians."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ref", help="the earlier commit (e.g. main)")
    p.add_argument("--n", type=int, default=500, help="intakes per cohort")
    p.add_argument("--rounds", type=int, default=2, help="passes over each cohort per process")
    p.add_argument("--turns", type=int, default=3, help="processes per tree, alternating")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        old = _export(args.ref, Path(tmp))
        cohort_file = Path(tmp) / "cohorts.json"
        texts = {c: [json.dumps(i) for i in cohort(c, args.n)] for c in ("typical", "worst")}
        cohort_file.write_text(json.dumps(texts))
        runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
        for _ in range(args.turns):
            runs["before"].append(_run(old, cohort_file, args.rounds))
            runs["after"].append(_run(ROOT, cohort_file, args.rounds))
    out: dict[str, Any] = {}
    for name in ("typical", "worst"):
        steps = list(dict.fromkeys([*runs["after"][0][name], *runs["before"][0][name]]))
        out[name] = {
            step: {
                side: statistics.median(r[name][step] for r in runs[side]) if step in runs[side][0][name] else None
                for side in ("before", "after")
            }
            for step in steps
        }
        print(f"== {name} cohort, median µs per screening ({args.ref} -> this tree)")
        for step, v in out[name].items():
            before = "-" if v["before"] is None else f"{v['before']:.1f}"
            after = "-" if v["after"] is None else f"{v['after']:.1f}"
            print(f"  {step:<26} {before:>10} {after:>10}")
    return out


if __name__ == "__main__":
    main()
