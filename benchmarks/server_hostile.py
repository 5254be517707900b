"""``/health`` latency while four hostile clients send the worst bodies and heads the service is known to get.

Starts ``needlescreen serve`` (2 workers, a fresh SQLite file) on a free loopback port, measures ``GET /health``
(a new connection each time, as a load balancer's check does) and a typical dry-run screening in three phases:
alone; while two clients send the *worst* benchmark cohort's valid intakes back to back (the heaviest honest
screenings, tens of milliseconds each); and while four client processes each send one kind of hostile request
as fast as the service answers:

* ``list``: a 256 KiB JSON body holding a 131,000-item list (``medications.items``);
* ``yaml``: deeply nested YAML: 200 KB of ``- - - ...`` (refused by its size), and within the 64 KiB YAML limit
  ``- - - ...``, ``[[[...`` and a block mapping 355 levels deep;
* ``slow``: 40 connections that each announce a 256 KiB body and send it a byte every half second;
* ``headers``: requests whose header runs to 1 MB, sent in 64 KiB pieces.

Traffic goes only to 127.0.0.1; each phase is bounded in time and the server is stopped at the end. The figures
are printed (no timing is asserted anywhere); ``--quick`` runs a few seconds for the test suite.

    python -m benchmarks.server_hostile            # the figures in the README
    python -m benchmarks.server_hostile --quick
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .cohorts import cohort
from .server_load import _free_port, _wait_ready, run_async, stop_server

__all__ = ["main"]

KINDS = ("list", "yaml", "slow", "headers")
PHASES = {"alone": (), "busy screening": ("worst", "worst"), "under attack": KINDS}


def _request(method: str, path: str, body: bytes, content_type: str, extra: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
    return head.encode() + extra + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def _bodies(kind: str) -> list[bytes]:
    if kind == "worst":
        return [
            _request("POST", "/screenings?dry_run=true", json.dumps(i).encode(), "application/json")
            for i in cohort("worst", 50)
        ]
    if kind == "list":
        plan = {"technique": "dry_needling", "sites": [{"id": "a", "region": "calf", "side": "left"}]}
        body = json.dumps({"plan": plan, "medications": {"items": [1] * 131_000}}, separators=(",", ":")).encode()
        return [_request("POST", "/screenings?dry_run=true", body, "application/json")]
    within = 64 * 1024
    deep = ["- " * 100_000, "- " * (within // 2), "[" * within, "".join(" " * i + "a:\n" for i in range(355))]
    return [_request("POST", "/screenings?dry_run=true", d.encode(), "application/yaml") for d in deep]


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return int(head[9:12])


async def _hammer(port: int, kind: str, until: float, counts: dict[str, int]) -> None:
    """Send one kind of hostile request until the deadline, counting the answers by status."""
    requests = _bodies(kind) if kind in ("list", "yaml", "worst") else []
    i = 0
    while time.monotonic() < until:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        try:
            while time.monotonic() < until:
                if kind == "headers":
                    writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ")
                    for _ in range(16):  # 1 MB in 64 KiB pieces; the service answers (and closes) long before
                        writer.write(b"x" * 65536)
                        await writer.drain()
                elif kind == "slow":
                    writer.write(b"POST /screenings HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n")
                    writer.write(b"Content-Length: 262144\r\n\r\n")
                    while time.monotonic() < until and not reader.at_eof():
                        writer.write(b" ")
                        await writer.drain()
                        with contextlib.suppress(TimeoutError):
                            status = await asyncio.wait_for(_read_response(reader), 0.5)
                            counts[str(status)] = counts.get(str(status), 0) + 1
                            break
                    break
                else:
                    writer.write(requests[i % len(requests)])
                    i += 1
                    await writer.drain()
                status = await asyncio.wait_for(_read_response(reader), 60)
                counts[str(status)] = counts.get(str(status), 0) + 1
                if kind == "headers":
                    break
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            counts["closed"] = counts.get("closed", 0) + 1
        finally:
            writer.close()


def _client(port: int, kind: str, seconds: float, out: Any) -> None:
    """One hostile client process (``slow`` keeps 40 connections, the others one)."""
    until = time.monotonic() + seconds
    counts: dict[str, int] = {}

    async def run() -> None:
        conns = 40 if kind == "slow" else 1
        await asyncio.gather(*(_hammer(port, kind, until, counts) for _ in range(conns)))

    run_async(run())
    out.put((kind, counts))


def _probe(port: int, seconds: float, interval: float, request: bytes) -> list[float]:
    """Latencies (ms) of one request every ``interval`` seconds, each on a new connection."""
    out: list[float] = []
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        start = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(request)
            data = b""
            while b"\r\n\r\n" not in data:
                data += sock.recv(65536)
            head, _, rest = data.partition(b"\r\n\r\n")
            length = next(int(h[15:]) for h in head.split(b"\r\n") if h[:15].lower() == b"content-length:")
            while len(rest) < length:
                rest += sock.recv(65536)
        if not head.startswith((b"HTTP/1.1 200", b"HTTP/1.1 201")):
            raise RuntimeError(f"the probe got {head[:12]!r}")
        out.append((time.perf_counter() - start) * 1000)
        time.sleep(max(0.0, interval - (time.perf_counter() - start)))
    return out


def _summary(ms: list[float]) -> dict[str, float]:
    ms = sorted(ms)
    return {
        "requests": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2),
        "max_ms": round(ms[-1], 2),
    }


def _phase(port: int, seconds: float, kinds: tuple[str, ...]) -> dict[str, Any]:
    health = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    dry = _request("POST", "/screenings?dry_run=true", json.dumps(cohort("typical", 1)[0]).encode(), "application/json")
    dry = dry.replace(b"Host: 127.0.0.1\r\n", b"Host: 127.0.0.1\r\nConnection: close\r\n")
    ctx = multiprocessing.get_context("spawn")
    results: Any = ctx.Queue()
    clients = [ctx.Process(target=_client, args=(port, k, seconds + 1, results)) for k in kinds]
    for c in clients:
        c.start()
    if clients:
        time.sleep(1.0)  # let the clients get going
    screened: list[float] = []
    screen = threading.Thread(target=lambda: screened.extend(_probe(port, seconds, 0.1, dry)))
    screen.start()
    healths = _probe(port, seconds, 0.02, health)
    screen.join()
    counts: dict[str, dict[str, int]] = {}
    for c in clients:
        kind, got = results.get(timeout=120)
        for status, n in got.items():
            counts.setdefault(kind, {})[status] = counts.get(kind, {}).get(status, 0) + n
        c.join(30)
    return {"health": _summary(healths), "dry_run": _summary(screened), "hostile": counts}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run both phases, print the figures and return them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds per phase (for the test suite)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each phase")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--read-timeout", type=float, default=20.0, help="the service's read timeout (its default)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    seconds = 3.0 if args.quick else args.seconds
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEEDLESCREEN_")}
        env["NEEDLESCREEN_DATABASE_URL"] = f"sqlite:///{tmp}/records.db"
        cmd = [sys.executable, "-m", "needlescreen", "serve", "--port", str(port), "--workers", str(args.workers)]
        cmd += ["--read-timeout", str(args.read_timeout)]
        server = subprocess.Popen(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        try:
            _wait_ready(f"http://127.0.0.1:{port}", 120)
            figures = {
                "workers": args.workers,
                "seconds": seconds,
                "read_timeout": args.read_timeout,
                **{name: _phase(port, seconds, kinds) for name, kinds in PHASES.items()},
            }
        finally:
            stop_server(server)
    print(
        f"needlescreen serve: {args.workers} workers, read timeout {args.read_timeout:g} s, {seconds:g} s per phase; "
        f"hostile clients: {', '.join(KINDS)}"
    )
    print(f"{'phase':<16} {'probe':<26} {'requests':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for phase in PHASES:
        for name, label in (("health", "GET /health"), ("dry_run", "POST /screenings?dry_run")):
            f = figures[phase][name]
            print(f"{phase:<16} {label:<26} {f['requests']:>8} {f['p50_ms']:>8} {f['p99_ms']:>8} {f['max_ms']:>8}")
    for phase in ("busy screening", "under attack"):
        for kind, counts in figures[phase]["hostile"].items():
            print(f"{phase}: {kind:<8} answers {dict(sorted(counts.items()))}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    main()
