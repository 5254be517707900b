"""The service as deployed: ``needlescreen serve`` with 2 workers on loopback.

* A worker killed during writes loses no acknowledged record (each 201 is sent after its commit), and the records
  the two workers wrote at once form one unbroken hash chain.
* Schemathesis sends property-based requests to every operation of the live OpenAPI document: no 500, and every
  response matches its documented status, content type and schema.
* The load benchmark runs in its quick form, so it cannot rot (no timing is asserted).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed")

import httpx
import schemathesis
from benchmarks.cohorts import cohort
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks

from needlescreen.server.store import Store
from needlescreen.testing import baseline_intake

from .server_helpers import children, live_server, wait_until

pytestmark = pytest.mark.slow
KEY = "live-test-key-0123456789"
AUTH = {"X-API-Key": KEY}
JSON = {"Content-Type": "application/json"}


def _workers(pid: int) -> list[int]:
    out = []
    for child in children(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"resource_tracker" not in cmdline:
            out.append(child)
    return out


def test_a_killed_worker_loses_no_acknowledged_record(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'records.db'}"
    acknowledged: list[str] = []
    failed = Counter[str]()
    lock = threading.Lock()
    body = json.dumps(baseline_intake() | {"record": {"patient_ref": "K-1"}})
    with live_server(url, workers=2) as (base, proc):
        stop = time.monotonic() + 60

        def writer() -> None:
            with httpx.Client(base_url=base, timeout=10) as client:
                for _ in range(150):
                    if time.monotonic() > stop:
                        return
                    try:
                        r = client.post("/screenings", content=body, headers=JSON)
                    except httpx.HTTPError as exc:
                        with lock:
                            failed[type(exc).__name__] += 1
                        continue
                    with lock:
                        if r.status_code == 201:
                            acknowledged.append(r.json()["decision_id"])
                        else:
                            failed[str(r.status_code)] += 1

        threads = [threading.Thread(target=writer) for _ in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(acknowledged) < 60 and time.monotonic() < deadline:
            time.sleep(0.01)
        # uvicorn may be replacing a worker it found slow to answer its health ping on a loaded machine.
        wait_until(lambda: len(_workers(proc.pid)) == 2, 30, "two uvicorn workers")
        workers = _workers(proc.pid)
        os.kill(workers[0], signal.SIGKILL)
        killed_at = len(acknowledged)
        for t in threads:
            t.join(90)
        assert not any(t.is_alive() for t in threads)
    assert killed_at >= 60 and len(acknowledged) > killed_at, (
        f"writes went on after the kill: {killed_at} acknowledged before, {len(acknowledged)} in all, {dict(failed)}"
    )
    store = Store(url)
    try:
        lost = [rid for rid in acknowledged if store.get(rid) is None]
        report = store.verify()
    finally:
        store.close()
    assert not lost, f"{len(lost)} of {len(acknowledged)} acknowledged records are missing"
    assert len(set(acknowledged)) == len(acknowledged)
    # Two workers sealed records at once, one was killed mid-write: the chain is still whole.
    assert report.ok and report.checked >= len(acknowledged), report.as_dict()


# --- Schemathesis ---------------------------------------------------------------------------------------------

STATS: Counter[str] = Counter()


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    url = f"sqlite:///{tmp_path_factory.mktemp('schemathesis') / 'records.db'}"
    with live_server(url, workers=2, extra=("--auth", f"north:{KEY}")) as (base, _proc):
        # Records to fetch and re-screen: Schemathesis invents ids, and a real one exercises the 200 answers too.
        with httpx.Client(base_url=base, headers=AUTH) as client:
            made = client.post("/screenings", content=json.dumps(baseline_intake()), headers=JSON)
            assert made.status_code == 201
        yield schemathesis.openapi.from_url(f"{base}/openapi.json", headers=AUTH)
    if STATS:
        print("\nSchemathesis:", dict(sorted(STATS.items())))


CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]
#: Examples per operation and mode; raise it for a thorough run (the suite keeps it small for 2 cores).
EXAMPLES = int(os.environ.get("NEEDLESCREEN_SCHEMATHESIS_EXAMPLES", "25"))


def _fuzz(operation: Any, mode: GenerationMode, name: str) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def call(case: Any) -> None:
        response = case.call_and_validate(headers=AUTH, checks=CHECKS, timeout=30)
        STATS[f"{name} {response.status_code}"] += 1

    try:
        call()
    except Unsatisfiable:
        # An operation without parameters or body (GET /health) has no invalid request to generate.
        if mode is not GenerationMode.NEGATIVE:
            raise


def test_every_operation_answers_within_its_schema(live_api: Any) -> None:
    operations = {(op.method.upper(), op.path): op for op in (r.ok() for r in live_api.get_all_operations())}
    assert len(operations) >= 12
    for (method, path), operation in operations.items():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz(operation, mode, f"{method} {path} {mode.value}")
    # Random data rarely makes a valid intake or names an existing record or rule, so the answers a client
    # relies on most are also checked against their schemas from real requests.
    made: list[str] = []
    for intake in cohort("typical", 15) + cohort("worst", 5):
        for query in ({"dry_run": "true"}, {}):
            case = operations[("POST", "/screenings")].Case(body=intake, query=query, media_type="application/json")
            response = case.call_and_validate(headers=AUTH, checks=CHECKS, timeout=30)
            assert response.status_code in (200, 201)
            STATS[f"POST /screenings example {response.status_code}"] += 1
            if response.status_code == 201:
                made.append(response.json()["decision_id"])
    for rid in made[:5]:
        for key in (("GET", "/screenings/{record_id}"), ("POST", "/screenings/{record_id}/rescreen")):
            response = (
                operations[key]
                .Case(path_parameters={"record_id": rid})
                .call_and_validate(headers=AUTH, checks=CHECKS, timeout=30)
            )
            assert response.status_code in (200, 201)
            STATS[f"{key[0]} {key[1]} example {response.status_code}"] += 1
    for rule_id in ("LYMPHEDEMA_LIMB", "anticoag_other"):
        case = operations[("GET", "/rules/{rule_id}")].Case(path_parameters={"rule_id": rule_id})
        assert case.call_and_validate(headers=AUTH, checks=CHECKS, timeout=30).status_code == 200
    assert not any(key.endswith(" 500") for key in STATS)


# --- load benchmark ------------------------------------------------------------------------------------------


def test_quick_load_benchmark_reports_its_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.server_load import main

    figures = main(["--quick", "--json", str(tmp_path / "load.json")])
    out = capsys.readouterr().out
    assert "POST /screenings?dry_run=true" in out and "p99 ms" in out
    assert figures["dry_run"]["statuses"] == {200: figures["dry_run"]["requests"]}
    assert figures["stored"]["statuses"] == {201: figures["stored"]["requests"]}
    assert json.loads((tmp_path / "load.json").read_text())["workers"] == 2


def test_quick_hostile_benchmark_reports_its_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.server_hostile import main

    figures = main(["--quick", "--json", str(tmp_path / "hostile.json")])
    out = capsys.readouterr().out
    assert "GET /health" in out and "under attack" in out and "p99 ms" in out
    attack = figures["under attack"]
    assert attack["health"]["requests"] > 0 and attack["dry_run"]["requests"] > 0
    # Every hostile kind was answered by a problem (or closed), never by a 2xx or a 500.
    assert set(attack["hostile"]["list"]) == {"422"} and set(attack["hostile"]["yaml"]) == {"422"}
    assert set(attack["hostile"]["headers"]) <= {"431", "closed"} and attack["hostile"]["headers"]
    assert json.loads((tmp_path / "hostile.json").read_text())["workers"] == 2


# --- the README's commands -----------------------------------------------------------------------------------


def _readme_commands() -> tuple[str, str, str]:
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = text[text.index("<!-- section:service -->") : text.index("<!-- /section:service -->")]
    lines = [line.split("#", 1)[0].strip() for line in section.splitlines()]
    serve = next(line for line in lines if line.startswith("needlescreen serve"))
    curl = next(line for line in lines if line.startswith("curl "))
    pg = next(line for line in lines if line.startswith("NEEDLESCREEN_DATABASE_URL=postgresql://"))
    return serve, curl, pg


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_readme_commands_start_the_service_and_screen_the_example(tmp_path: Path, database: str) -> None:
    import shutil
    import subprocess

    from .server_helpers import REPO, free_port, postgres_cluster, wait_until

    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    serve, curl, pg = _readme_commands()
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEEDLESCREEN_")}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    with contextlib.ExitStack() as stack:
        command = serve
        if database == "postgresql":
            url = stack.enter_context(postgres_cluster())
            assert " needlescreen serve" in pg
            env["NEEDLESCREEN_DATABASE_URL"] = url
            command = pg.split(" ", 1)[1]
        proc = subprocess.Popen(
            f"{command} --port {port}",
            shell=True,
            cwd=tmp_path,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until(lambda: httpx.get(f"{base}/ready", timeout=2).status_code == 200, 90, "the README's service")
            out = subprocess.run(
                curl.replace("127.0.0.1:8000", f"127.0.0.1:{port}"),
                shell=True,
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            ).stdout
            result = json.loads(out)
            assert result["verdict"] == "refer" and result["ruleset"]["revision"]
            assert httpx.get(f"{base}/screenings/{result['decision_id']}").json()["result"] == result
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(30)
    assert (tmp_path / "needlescreen.db").exists() == (database == "sqlite")
