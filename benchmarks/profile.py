"""Where a screening's time goes, and what precomputing the body model's answers would buy.

``python -m benchmarks.profile`` prints, for the typical and the worst cohort:

* the split of one screening through the public API into its steps (validation from JSON text, normalisation,
  engine, result), median µs per step and engine;
* the functions normalisation spends its time in (cProfile, cumulative), and how often per screening it asks
  the body model where a finding, a device or a current reaches (``facts.py`` and ``body.py`` call each other
  once per site and per finding kind);
* an upper bound of what precomputing those answers would buy: normalisation timed again with the body model's
  place functions memoised (a memo lookup costs about what a precomputed table would), the difference being
  the most that "each site's place once" can save.

The figures are for the lead to decide on restructuring ``facts.py`` and ``body.py``; nothing here changes them.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import pstats
import statistics
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from needlescreen import Screener, load_ruleset
from needlescreen.body import BodyModel
from needlescreen.engine import available_engines
from needlescreen.facts import normalise
from needlescreen.screening import aggregate, parse_intake

from .cohorts import cohort

#: The body model's functions normalisation calls per site and per finding.
PLACE_FUNCTIONS = ("concerns", "finding_place", "device_places", "extent", "neighbourhood", "limb_of", "path")


def _median_us(f: Callable[[Any], object], xs: list[Any], rounds: int) -> float:
    """Median CPU time of ``f`` over ``xs`` (as ``benchmarks.run`` measures)."""
    from .run import cpu_clock

    clock, cost = cpu_clock()
    samples = []
    for _ in range(rounds):
        for x in xs:
            t0 = clock()
            f(x)
            samples.append(clock() - t0 - cost)
    return statistics.median(samples) / 1000


def steps(name: str, n: int, rounds: int) -> dict[str, float]:
    """Median µs of each step of a screening, per engine."""
    ruleset = load_ruleset()
    texts = [json.dumps(i) for i in cohort(name, n)]
    models = [parse_intake(t) for t in texts]
    rs = ruleset

    def norm(m: Any) -> Any:
        return normalise(m, rs.regions, rs.medications, rs.codes, rs.body, vocabulary=rs.vocabulary)

    facts = [norm(m) for m in models]
    out = {
        "parse (from JSON text)": _median_us(parse_intake, texts, rounds),
        "normalise": _median_us(norm, models, rounds),
    }
    for engine in available_engines():
        s = Screener(ruleset, engine=engine)
        fired = [s.engine.run(f) for f in facts]
        out[f"engine {engine}"] = _median_us(s.engine.run, facts, rounds)
        k = list(range(len(models)))
        out[f"result ({engine})"] = _median_us(
            lambda i, s=s, fired=fired: aggregate(models[i], facts[i], fired[i], rs, s.engine.name), k, rounds
        )
    return out


@contextmanager
def counting(body: BodyModel) -> Iterator[Counter[str]]:
    """Count calls of the body model's place functions on one instance."""
    counts: Counter[str] = Counter()
    saved = {}
    for fname in PLACE_FUNCTIONS:
        real = getattr(body, fname)
        saved[fname] = real

        def counted(*args: Any, _real: Any = real, _name: str = fname, **kwargs: Any) -> Any:
            counts[_name] += 1
            return _real(*args, **kwargs)

        setattr(body, fname, counted)
    try:
        yield counts
    finally:
        for fname in saved:
            delattr(body, fname)


@contextmanager
def memoised(body: BodyModel) -> Iterator[None]:
    """The body model's place functions answered from a memo (what precomputing them once would cost)."""
    for fname in PLACE_FUNCTIONS:
        setattr(body, fname, lru_cache(maxsize=None)(getattr(body, fname)))
    try:
        yield
    finally:
        for fname in PLACE_FUNCTIONS:
            delattr(body, fname)


def normalisation(name: str, n: int, rounds: int) -> dict[str, Any]:
    """Where normalisation spends its time, how often it asks the body model, and what memoising buys."""
    rs = load_ruleset()
    models = [parse_intake(json.dumps(i)) for i in cohort(name, n)]
    sites = sum(len(m.plan.sites) for m in models)

    def norm(m: Any) -> Any:
        return normalise(m, rs.regions, rs.medications, rs.codes, rs.body, vocabulary=rs.vocabulary)

    for m in models:
        norm(m)
    with counting(rs.body) as counts:
        for m in models:
            norm(m)
    profile = cProfile.Profile()
    profile.enable()
    for m in models:
        norm(m)
    profile.disable()
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(18)
    plain = _median_us(norm, models, rounds)
    with memoised(rs.body):
        for m in models:
            norm(m)
        memo = _median_us(norm, models, rounds)
    plain_again = _median_us(norm, models, rounds)
    base = min(plain, plain_again)
    return {
        "sites_per_screening": sites / n,
        "calls_per_screening": {k: v / n for k, v in counts.most_common()},
        "normalise_us": base,
        "normalise_memoised_us": memo,
        "most_saved_us": base - memo,
        "most_saved_share": (base - memo) / base,
        "profile": text.getvalue(),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Print where the time goes for both cohorts; return the figures."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.rounds = 30, 1
    gc.collect()
    gc.freeze()
    figures: dict[str, Any] = {}
    for name in ("typical", "worst"):
        split = steps(name, args.n, args.rounds)
        norm = normalisation(name, args.n, args.rounds)
        figures[name] = {"steps": split, "normalisation": {k: v for k, v in norm.items() if k != "profile"}}
        print(f"== {name} cohort ({args.n} intakes), median µs per screening")
        for step, us in split.items():
            print(f"  {step:<28} {us:8.1f}")
        print(f"  sites per screening: {norm['sites_per_screening']:.2f}; body model calls per screening:")
        for fname, calls in norm["calls_per_screening"].items():
            print(f"    {fname:<16} {calls:8.1f}")
        print(
            f"  normalise {norm['normalise_us']:.1f} µs; with the body model's answers memoised "
            f"{norm['normalise_memoised_us']:.1f} µs: precomputing each site's place would save at most "
            f"{norm['most_saved_us']:.1f} µs ({norm['most_saved_share']:.0%} of normalisation)"
        )
        print(norm["profile"])
    return figures


if __name__ == "__main__":
    main()
