"""Load test of the HTTP service on this machine: requests per second and p50/p99 latency.

Starts ``needlescreen serve`` (2 uvicorn workers by default, a fresh SQLite file unless ``--database-url``) on a
free loopback port, then drives ``POST /screenings?dry_run=true`` and stored ``POST /screenings`` with the
*typical* benchmark cohort from a small asyncio HTTP/1.1 keep-alive client (cheap on CPU, because the client
shares the machine's cores with the workers). Traffic goes only to 127.0.0.1; every phase is bounded in count and
time and the server is stopped at the end. Every answer must be 200/201, or the run reports the failures.

    python -m benchmarks.server_load            # the figures in the README
    python -m benchmarks.server_load --quick    # a few requests, as the test suite runs it
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from .cohorts import cohort

T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` in a thread of its own: the benchmarks also run inside the test session, where the
    browser tests' driver keeps an event loop running in the main thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


__all__ = ["main"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_ready(base: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/ready", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the service did not become ready")


async def _connection(
    port: int, requests: list[bytes], queue: asyncio.Queue[int], latencies: list[float], statuses: dict[int, int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            start = time.perf_counter()
            writer.write(requests[i % len(requests)])
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


def _cpu_seconds(root: int) -> float:
    """User and system CPU time of a process and its children (the uvicorn workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        if pid == root or int(fields[1]) == root:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def stop_server(proc: subprocess.Popen[Any], grace: float = 30) -> None:
    """End a service started in a session of its own: SIGTERM to its process group, SIGKILL after ``grace`` s."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


async def _phase(
    port: int, path: str, bodies: list[bytes], *, count: int, concurrency: int, server: int
) -> dict[str, Any]:
    requests = [
        (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(b)}\r\n\r\n"
        ).encode()
        + b
        for b in bodies
    ]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    server_cpu, client_cpu = _cpu_seconds(server), time.process_time()
    start = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(*(_connection(port, requests, queue, latencies, statuses) for _ in range(concurrency))),
        timeout=300,
    )
    wall = time.perf_counter() - start
    server_cpu, client_cpu = _cpu_seconds(server) - server_cpu, time.process_time() - client_cpu
    latencies.sort()
    ms = [x * 1000 for x in latencies]
    return {
        "requests": len(ms),
        "per_second": round(len(ms) / wall, 1),
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 2),
        "statuses": statuses,
        # CPU per request is what a busy shared machine distorts least: 2 dedicated cores serve 2000 / this.
        "server_cpu_ms_per_request": round(server_cpu * 1000 / max(len(ms), 1), 3),
        "client_cpu_share": round(client_cpu / wall, 2),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the load test, print the figures and return them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few requests (for the test suite)")
    parser.add_argument("--requests", type=int, default=5000, help="requests per phase")
    parser.add_argument("--concurrency", type=int, default=8, help="open connections")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--engine", default="auto", choices=["auto", "durable_rules", "plain"])
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    count = 40 if args.quick else args.requests
    bodies = [json.dumps(i).encode() for i in cohort("typical", 200)]
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/records.db"
        env = dict(os.environ, NEEDLESCREEN_DATABASE_URL=url)
        cmd = [sys.executable, "-m", "needlescreen", "serve", "--port", str(port), "--workers", str(args.workers)]
        cmd += ["--engine", args.engine]
        server = subprocess.Popen(
            cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        try:
            _wait_ready(f"http://127.0.0.1:{port}", 120)
            run_async(
                _phase(
                    port,
                    "/screenings?dry_run=true",
                    bodies,
                    count=min(count, 200),
                    concurrency=args.concurrency,
                    server=server.pid,
                )
            )  # warm-up
            figures = {
                "workers": args.workers,
                "engine": args.engine,
                "database": url.split(":", 1)[0],
                "concurrency": args.concurrency,
                "dry_run": run_async(
                    _phase(
                        port,
                        "/screenings?dry_run=true",
                        bodies,
                        count=count,
                        concurrency=args.concurrency,
                        server=server.pid,
                    )
                ),
                "stored": run_async(
                    _phase(port, "/screenings", bodies, count=count, concurrency=args.concurrency, server=server.pid)
                ),
            }
        finally:
            stop_server(server)
    print(
        f"needlescreen serve: {args.workers} workers, engine {args.engine}, {figures['database']}, "
        f"{args.concurrency} connections"
    )
    print(
        f"{'endpoint':<32} {'requests':>8} {'per second':>11} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'server CPU ms/req':>18} {'client CPU':>10}  statuses"
    )
    for name, path in (("dry_run", "POST /screenings?dry_run=true"), ("stored", "POST /screenings")):
        f = figures[name]
        print(
            f"{path:<32} {f['requests']:>8} {f['per_second']:>11} {f['p50_ms']:>8} {f['p99_ms']:>8} "
            f"{f['server_cpu_ms_per_request']:>18} {f['client_cpu_share']:>10}  {f['statuses']}"
        )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    main()
