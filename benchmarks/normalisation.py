"""Normalisation before and after issue 18 (item 2), measured side by side in one process.

``python -m benchmarks.normalisation`` screens the *typical* and *worst* cohorts through the public
``Screener.screen`` with each engine, *before* (the normalisation the test suite keeps as its oracle,
``tests/oracle_normalisation.py``, and the did-you-mean index of the drug dictionary as lists, as they were)
and *after* (the package as it is). It prints CPU time per screening (the thread's CPU time: steadier than
wall time on a shared machine, and it includes garbage collection, which runs in the screening's thread):

* the median from each intake screened with both normalisations in turn (the machine's drift cancels);
* the p99 from whole passes over the cohort per variant in alternating order, where the collector runs as it
  would (a full collection is the tail, and its cost depends on what the process holds);
* normalisation alone: before, the old normalisation over the new body model's tables, after;
* the full garbage collections each variant ran, and their median pause.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tests import oracle_normalisation as oracle

from needlescreen import Screener, load_ruleset, parse_intake, screening
from needlescreen.body import BodyModel
from needlescreen.engine import available_engines
from needlescreen.facts import normalise
from needlescreen.ruleset import Ruleset

from .cohorts import cohort

VARIANTS = ("before", "after")
Normalise = Callable[..., Any]


def _tables_only() -> Normalise:
    """The old normalisation over the new body model: the old per-site questions, each answered by the tables
    (what the body model's tables bought alone, apart from working out places once per screening)."""
    spec = importlib.util.find_spec(oracle.__name__)
    assert spec is not None
    assert spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for name in ("concerns", "finding_place", "device_places", "quadrant_concerns", "path", "path_regions"):
        setattr(mod, name, getattr(BodyModel, name))
    return mod.normalise  # type: ignore[no-any-return]


def _suggesters(ruleset: Ruleset) -> list[Any]:
    # The drug dictionary's did-you-mean indexes, built on the first unrecognised drug (the warm-up builds them).
    return list(ruleset.medications._vocab.values())


@contextmanager
def variant(name: str, ruleset: Ruleset) -> Iterator[None]:
    """Screen as before (the oracle's normalisation, the index as lists) or as after (the package as it is)."""

    def layout(kind: type) -> None:
        for s in _suggesters(ruleset):
            s._by_letters = {k: kind(v) for k, v in s._by_letters.items()}

    before = name == "before"
    layout(list if before else tuple)
    screening.normalise = oracle.normalise if before else normalise  # type: ignore[attr-defined,assignment]
    gc.collect()
    try:
        yield
    finally:
        screening.normalise = normalise  # type: ignore[attr-defined]
        layout(tuple)


def _figures(samples: list[int]) -> dict[str, float]:
    xs = sorted(samples)
    return {
        "n": len(xs),
        "median_us": statistics.median(xs) / 1000,
        "p99_us": xs[min(len(xs) - 1, int(len(xs) * 0.99))] / 1000,
    }


def _full_collections() -> list[int]:
    """The CPU time of every full (generation 2) garbage collection from now on, in ns."""
    pauses: list[int] = []
    started = [0]

    def seen(phase: str, info: dict[str, int]) -> None:
        if info["generation"] == 2:
            if phase == "start":
                started[0] = time.thread_time_ns()
            else:
                pauses.append(time.thread_time_ns() - started[0])

    gc.callbacks.append(seen)
    return pauses


def measure(n: int, rounds: int) -> dict[str, Any]:
    """Per cohort, engine and variant: median CPU time per screening (the normalisations in turn on each intake)
    and its p99 (whole passes per variant, as the collector sees them); normalisation alone (before, the body
    model's tables only, after); the full garbage collections each variant ran."""
    # "before" swaps the normalise that Screener.facts calls; refuse to measure if that is no longer where it is.
    if Screener.facts.__globals__ is not vars(screening) or "normalise" not in Screener.facts.__code__.co_names:
        raise SystemExit("Screener.facts no longer calls needlescreen.screening.normalise: update this benchmark")
    ruleset = load_ruleset()
    engines = available_engines()
    screeners = {e: Screener(ruleset, engine=e) for e in engines}
    for s in screeners.values():  # as a long-running process: the first unrecognised drug builds the index
        s.screen(cohort("worst", 1)[0])
    clock = time.thread_time_ns
    full = _full_collections()
    normalisers = {"before": oracle.normalise, "tables only": _tables_only(), "after": normalise}
    out: dict[str, Any] = {}
    for name in ("typical", "worst"):
        # Kept as JSON text, each intake made just before it is screened: a list of thousands of nested dicts
        # would sit in the heap every full garbage collection walks, and the tail would measure the benchmark.
        blobs = [json.dumps(i) for i in cohort(name, n)]
        paired: dict[tuple[str, str], list[int]] = {(e, v): [] for e in engines for v in VARIANTS}
        passes: dict[tuple[str, str], list[int]] = {(e, v): [] for e in engines for v in VARIANTS}
        alone: dict[str, list[int]] = {v: [] for v in normalisers}
        collections: dict[str, list[int]] = {v: [] for v in VARIANTS}
        for r in range(rounds + 1):  # round 0 warms up (caches, the did-you-mean index, first calls)
            order = VARIANTS if r % 2 else VARIANTS[::-1]
            for v in order:
                with variant(v, ruleset):
                    seen = len(full)
                    for e, s in screeners.items():
                        for blob in blobs:
                            intake = json.loads(blob)
                            t0 = clock()
                            s.screen(intake)
                            if r:
                                passes[(e, v)].append(clock() - t0)
                    if r:
                        collections[v] += full[seen:]
            # The median: each intake screened with both normalisations in turn, so the machine's drift cancels.
            for e, s in screeners.items():
                for blob in blobs:
                    for v in order:
                        intake = json.loads(blob)
                        screening.normalise = normalisers[v]  # type: ignore[attr-defined]
                        t0 = clock()
                        s.screen(intake)
                        if r:
                            paired[(e, v)].append(clock() - t0)
            screening.normalise = normalise  # type: ignore[attr-defined]
            for blob in blobs:
                model = parse_intake(blob)
                for what, norm in normalisers.items():
                    t0 = clock()
                    norm(model, ruleset.regions, ruleset.medications, ruleset.codes, ruleset.body,
                         vocabulary=ruleset.vocabulary)  # fmt: skip
                    if r:
                        alone[what].append(clock() - t0)
        out[name] = {
            "screen": {
                f"{e} {v}": {"median_us": _figures(paired[(e, v)])["median_us"], "p99_us": _figures(xs)["p99_us"]}
                for (e, v), xs in passes.items()
            },
            "normalise": {v: _figures(xs) for v, xs in alone.items()},
            "full_collections": {
                v: {"count": len(xs), "median_ms": statistics.median(xs) / 1e6 if xs else 0.0}
                for v, xs in collections.items()
            },
        }
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Measure, print the table, return the figures."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=400, help="intakes per cohort")
    p.add_argument("--rounds", type=int, default=4, help="rounds over each cohort (variants in alternating order)")
    args = p.parse_args(argv)
    figures = measure(args.n, args.rounds)
    print(f"CPU time per screening (median: paired per intake; p99: whole passes), n={args.n}, rounds={args.rounds}")
    print(f"{'cohort':<8} {'what':<28} {'median µs':>10} {'p99 µs':>10}")
    for name, row in figures.items():
        for what, f in (*row["screen"].items(), *((f"normalise {v}", f) for v, f in row["normalise"].items())):
            print(f"{name:<8} {what:<28} {f['median_us']:>10.1f} {f['p99_us']:>10.1f}")
        for v, c in row["full_collections"].items():
            print(f"{name:<8} full garbage collections {v}: {c['count']}, median {c['median_ms']:.1f} ms each")
    gc.collect()
    print(f"objects the collector tracks after the run: {len(gc.get_objects())}")
    return figures


if __name__ == "__main__":
    main()
