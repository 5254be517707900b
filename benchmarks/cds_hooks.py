"""CDS Hooks call latency on this machine: p50/p99 of ``POST /cds-services/{id}`` (target p99 < 500 ms, aim 50 ms).

Starts ``needlescreen serve`` (2 uvicorn workers, a fresh SQLite file) on a free loopback port and sends
``order-select`` and ``appointment-book`` calls for the six synthetic patients of ``tests/fixtures/fhir/patients``
(prefetch filled as an EHR fills it), one at a time and then from several keep-alive connections. Every call is
stored (a screening record and its cards, and the draft of the prefilled form the cards link to when the web
extra is installed), as in production. Before that it times the same calls in process (read the prefetch, screen,
build the cards; no HTTP, no database), without and with the prefilled form's answers. Traffic goes only to
127.0.0.1; every phase is bounded in count and time, and the server is stopped at the end.

    python -m benchmarks.cds_hooks            # the figures in docs/fhir.md
    python -m benchmarks.cds_hooks --quick    # a few calls
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .server_load import _free_port, _phase, _wait_ready, run_async, stop_server

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]


def _requests() -> list[tuple[str, dict[str, Any]]]:
    sys.path.insert(0, str(ROOT))
    from tests.test_fhir_cdshooks import hook_request

    names = sorted(p.stem for p in (ROOT / "tests" / "fixtures" / "fhir" / "patients").glob("*.json"))
    out = []
    for name in names:
        out.append(("/cds-services/needlescreen-order-select", hook_request(name, "order-select")))
        out.append(("/cds-services/needlescreen-appointment-book", hook_request(name, "appointment-book")))
    return out


def _in_process(calls: list[tuple[str, dict[str, Any]]], n: int, *, form_link: bool = False) -> dict[str, float]:
    """The calls without HTTP or database; with ``form_link``, also the prefilled form's answers a card links to."""
    from needlescreen import Screener
    from needlescreen.fhir.cdshooks import cards_for, prefetch_intake
    from needlescreen.fhir.prefill import prefill

    screener = Screener()
    times = []
    for i in range(n):
        _path, body = calls[i % len(calls)]
        start = time.perf_counter()
        chart = prefetch_intake(body, ruleset=screener.ruleset)
        assert chart.intake is not None
        cards = cards_for(screener.screen(chart.intake), chart)
        if form_link:
            prefill(chart, ruleset=screener.ruleset).draft(read_at="now", hook=body["hook"])
        json.dumps({"cards": [c.dump() for c in cards]})
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"calls": n, "p50_ms": round(statistics.median(times), 2), "p99_ms": round(times[int(n * 0.99) - 1], 2)}


async def _all_phases(port: int, calls: list[tuple[str, dict[str, Any]]], count: int, server: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for concurrency in (1, 4):
        merged: list[dict[str, Any]] = []
        for path in sorted({p for p, _ in calls}):
            bodies = [json.dumps(b).encode() for p, b in calls if p == path]
            merged.append(await _phase(port, path, bodies, count=count, concurrency=concurrency, server=server))
        out[f"concurrency {concurrency}"] = {
            path.rsplit("/", 1)[-1]: m for path, m in zip(sorted({p for p, _ in calls}), merged, strict=True)
        }
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the figures and return them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=600, help="calls per hook and phase")
    parser.add_argument("--quick", action="store_true", help="a few calls (the test suite's smoke run)")
    args = parser.parse_args(argv)
    count = 12 if args.quick else args.calls
    calls = _requests()
    n = 24 if args.quick else 600
    figures: dict[str, Any] = {
        "in_process": _in_process(calls, n),
        "in_process_with_form_link": _in_process(calls, n, form_link=True),
    }
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, NEEDLESCREEN_DATABASE_URL=f"sqlite:///{tmp}/records.db")
        cmd = [sys.executable, "-m", "needlescreen", "serve", "--port", str(port), "--workers", "2"]
        log = open(Path(tmp) / "server.log", "wb")  # noqa: SIM115 - closed after the server stops
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, start_new_session=True)
        try:
            _wait_ready(f"http://127.0.0.1:{port}", 90)
            figures |= run_async(_all_phases(port, calls, count, proc.pid))
        finally:
            stop_server(proc, 20)
            log.close()
    figures["cpus"] = os.cpu_count()
    figures["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(figures, indent=2))
    bad = {
        k: v["statuses"]
        for phase in figures.values()
        if isinstance(phase, dict)
        for k, v in phase.items()
        if isinstance(v, dict) and set(v.get("statuses", {200: 0})) != {200}
    }
    if bad:
        raise SystemExit(f"calls that did not answer 200: {bad}")
    return figures


if __name__ == "__main__":
    main()
