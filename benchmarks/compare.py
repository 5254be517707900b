"""What a change bought: the screening modules of an earlier commit against this tree's, in one process, turn about.

``python -m benchmarks.compare REF`` loads the engines and the pipeline module (``plain.py``, ``_durable.py``,
``screening.py``) as they were at commit ``REF`` beside this tree's, everything else shared, and times both on
the same intakes call by call in random order, so the machine's load falls on both alike (a shared machine
made timings of separate runs differ by half). It prints, per cohort, median CPU µs and the multiple of the
parse floor (``Intake.model_validate_json``, timed in the same shuffle) for: validation, the result, each
engine, and the public API (``screen``, and ``screen_many`` per screening where this tree has it).

The earlier modules import this tree's other modules, so this works while their interfaces hold (it measures
exactly the modules this tree changed, against the rest as it is now).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from needlescreen import Screener, load_ruleset
from needlescreen import screening as new_screening
from needlescreen.engine import available_engines
from needlescreen.intake import Intake

from .cohorts import cohort
from .run import cpu_clock

ROOT = Path(__file__).resolve().parents[1]
MODULES = ("plain", "_durable", "screening")


def _load_old(ref: str, name: str, into: Path) -> ModuleType:
    """Module ``needlescreen.<name>`` as at ``ref``, importing this tree's other modules."""
    source = subprocess.run(
        ["git", "show", f"{ref}:src/needlescreen/{name}.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    for other in MODULES:  # the earlier versions of the swapped modules import each other
        source = re.sub(rf"^(\s*)from \.{other} import", rf"\1from old_{other} import", source, flags=re.MULTILINE)
    source = re.sub(r"^(\s*)from \.(\w+) import", r"\1from needlescreen.\2 import", source, flags=re.MULTILINE)
    source = re.sub(r"^(\s*)from \. import", r"\1from needlescreen import", source, flags=re.MULTILINE)
    path = into / f"old_{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"old_{name}", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[f"old_{name}"] = module
    spec.loader.exec_module(module)
    return module


def _calls(old: dict[str, ModuleType], texts: list[str]) -> dict[str, Callable[[int], object]]:
    rs = load_ruleset()
    engines = available_engines()
    now = {e: Screener(rs, engine=e) for e in engines}
    before = {}
    for e in engines:
        s = old["screening"].Screener(rs, engine="plain")
        s.engine = old["_durable"].DurableEngine(rs) if e == "durable_rules" else old["plain"].PlainEngine(rs)
        before[e] = s
    models = [new_screening.parse_intake(t) for t in texts]
    facts = [now["plain"].facts(m)[1] for m in models]
    fired = [now["plain"].engine.run(f) for f in facts]
    calls: dict[str, Callable[[int], object]] = {
        "parse floor": lambda k: Intake.model_validate_json(texts[k]),
        "validation before": lambda k: old["screening"].parse_intake(texts[k]),
        "validation after": lambda k: new_screening.parse_intake(texts[k]),
        "result before": lambda k: old["screening"].aggregate(models[k], facts[k], fired[k], rs, "plain"),
        "result after": lambda k: new_screening.aggregate(models[k], facts[k], fired[k], rs, "plain"),
    }
    for e in engines:
        calls[f"engine {e} before"] = lambda k, e=e: before[e].engine.run(facts[k])
        calls[f"engine {e} after"] = lambda k, e=e: now[e].engine.run(facts[k])
        calls[f"screen {e} before"] = lambda k, e=e: before[e].screen(texts[k])
        calls[f"screen {e} after"] = lambda k, e=e: now[e].screen(texts[k])
    for f in calls.values():  # warm-up
        for k in range(min(50, len(texts))):
            f(k)
    return calls


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Time both versions call by call; print and return the medians."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ref", help="the earlier commit (e.g. main)")
    p.add_argument("--n", type=int, default=500, help="intakes per cohort")
    p.add_argument("--rounds", type=int, default=3, help="passes over each cohort")
    args = p.parse_args(argv)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        old = {name: _load_old(args.ref, name, Path(tmp)) for name in MODULES}
        for name in ("typical", "worst"):
            texts = [json.dumps(i) for i in cohort(name, args.n)]
            calls = _calls(old, texts)
            screeners = {e: Screener(engine=e) for e in available_engines()}
            gc.collect()
            gc.freeze()
            clock, cost = cpu_clock()
            samples: dict[str, list[float]] = {key: [] for key in calls}
            for _ in range(args.rounds):
                for k in range(len(texts)):
                    order = list(calls.items())
                    random.shuffle(order)
                    for key, f in order:
                        t0 = clock()
                        f(k)
                        samples[key].append(clock() - t0 - cost)
                for e, s in screeners.items():
                    for start in range(0, len(texts), 100):
                        chunk = texts[start : start + 100]
                        t0 = clock()
                        s.screen_many(chunk)
                        samples.setdefault(f"screen_many {e} after", []).append((clock() - t0 - cost) / len(chunk))
            gc.unfreeze()
            medians = {key: statistics.median(v) / 1000 for key, v in samples.items()}
            floor = medians["parse floor"]
            out[name] = {key: {"median_us": v, "over_floor": v / floor} for key, v in medians.items()}
            print(f"== {name} cohort: median CPU µs (multiple of the parse floor), {args.ref} -> this tree")
            for key, v in sorted(out[name].items()):
                print(f"  {key:<32} {v['median_us']:>9.1f}  ({v['over_floor']:.1f}x)")
    return out


if __name__ == "__main__":
    main()
