"""A batch on a Dask cluster: the same outcomes as the local batch, in input order, even when a worker is killed.

A local cluster of 2 worker processes (as ``--dask local`` starts) serves every test here; one test kills a
worker that holds partitions mid-run and checks that rows in = results + errors and that every outcome equals
the local batch's (decision id and timestamp aside).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from distributed import Client, LocalCluster

from needlescreen import batch, load_ruleset
from needlescreen._dask import _growing, _Shared, connect, screen_rows_dask
from needlescreen.batch import BatchConfig, Outcome, Row, ScreenSpec, read_rows, screen_rows

from .test_batch import _write_day
from .test_cli import command

pytestmark = pytest.mark.slow
ROWS = 400


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
    )
    with Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list[Row]:
    day = tmp_path_factory.mktemp("dask") / "day.jsonl"
    _write_day(day, ROWS, 50)
    with day.open("rb") as f:
        return list(read_rows(f, "jsonl"))


def _comparable(outcome: Outcome) -> tuple[int, str, dict[str, Any]]:
    body = json.loads(outcome.json_line)
    if "result" in body:
        for key in ("decision_id", "timestamp"):
            body["result"].pop(key)
    return outcome.line, outcome.kind, body


@pytest.fixture(params=["rescheduled", "killed-worker"])
def allowed_failures(request: pytest.FixtureRequest, client: Client) -> Iterator[str]:
    """Dask's own retry (the scheduler gives a dead worker's partitions to another), or none at all, so that
    each partition the dead worker held fails with ``KilledWorker`` and batch screens its rows again alone."""

    def set_allowed(dask_scheduler: Any, n: int) -> int:
        old: int = dask_scheduler.allowed_failures
        dask_scheduler.allowed_failures = n
        return old

    if request.param == "rescheduled":
        yield request.param
        return
    old = client.run_on_scheduler(set_allowed, n=0)
    try:
        yield request.param
    finally:
        client.run_on_scheduler(set_allowed, n=old)


def _slow_rows(delay: float) -> None:
    """On a worker: every row takes ``delay`` seconds longer (0: as before), so a kill lands mid-partition."""
    from needlescreen import batch as on_worker

    real = getattr(on_worker, "_unslowed_prepare_row", on_worker._prepare_row)
    on_worker._unslowed_prepare_row = real  # type: ignore[attr-defined]

    def slow(*args: Any) -> Any:
        time.sleep(delay)
        return real(*args)

    on_worker._prepare_row = slow if delay else real


def test_a_killed_worker_loses_no_row_and_changes_no_result(
    client: Client, rows: list[Row], allowed_failures: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = BatchConfig(engine="plain").spec()
    local = [_comparable(o) for o in screen_rows(iter(rows), spec, workers=1)]
    submitted: list[int] = []  # rows per task sent: 1 is the row-by-row screening of a partition that failed
    real_submit = _Shared.submit
    monkeypatch.setattr(_Shared, "submit", lambda self, part: submitted.append(len(part)) or real_submit(self, part))
    pids: dict[str, int] = client.run(os.getpid)
    client.run(_slow_rows, 0.005)  # 50 ms a partition: the victim is surely in the middle of one when killed
    killed: int | None = None
    held: list[str] = []
    got = []
    try:
        for outcome in screen_rows_dask(iter(rows), spec, client, partition_size=10):
            got.append(_comparable(outcome))
            if killed is None:
                # The first partition is back; others are queued or running on both workers: kill one holding some.
                processing = client.processing()
                victim = next((w for w, keys in processing.items() if keys), None)
                if victim is not None:
                    held = list(processing[victim])
                    killed = pids[victim]
                    os.kill(killed, signal.SIGKILL)
    finally:
        client.run(_slow_rows, 0)  # the surviving worker; the nanny's new one starts unpatched
    assert killed is not None and held, "no worker held a partition: the test killed nothing"
    _gone(killed)
    if allowed_failures == "killed-worker":
        assert 1 in submitted, "no partition failed with KilledWorker: the row-by-row screening never ran"
    else:
        assert 1 not in submitted, "Dask's own retry was expected to serve the dead worker's partitions"
    assert len(got) == ROWS == len(local), "rows in != results + errors"
    assert [g[0] for g in got] == [r.line for r in rows], "not in input order"
    assert got == local, "the outcomes on Dask differ from the local batch"
    assert {g[1] for g in got} >= {"invalid", "caution", "refer"}


def _gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return
        if state == "Z":
            return
        time.sleep(0.1)
    pytest.fail(f"worker {pid} was not killed")


def test_each_worker_builds_its_screener_once(client: Client, rows: list[Row]) -> None:
    # A policy no other test uses: a screener no worker has built yet.
    ruleset = load_ruleset(policy_overrides={"fever_threshold_c": 38.4})
    spec = ScreenSpec(ruleset, "plain", full=True)
    before: dict[str, int] = client.run(batch.screener_builds)
    outcomes = list(screen_rows_dask(iter(rows), spec, client, partition_size=10))
    assert len(outcomes) == ROWS
    after: dict[str, int] = client.run(batch.screener_builds)
    built = {w: after[w] - before.get(w, 0) for w in after}
    assert 4 * len(built) < ROWS // 10, "too few partitions to tell once per worker from once per partition"
    assert all(n <= 1 for n in built.values()) and sum(built.values()) >= 1, built


def test_the_command_line_on_a_local_cluster_writes_what_the_local_batch_writes(tmp_path: Path) -> None:
    day = tmp_path / "day.jsonl"
    _write_day(day, 120, 40)
    base = [*command(), "batch", str(day), "--engine", "plain", "--workers", "2", "--format", "json"]
    on_dask = subprocess.run([*base, "--dask", "local"], capture_output=True, text=True, check=False)
    assert on_dask.returncode == 2, on_dask.stderr  # the malformed rows
    assert "Traceback" not in on_dask.stderr, on_dask.stderr
    summary = json.loads(on_dask.stdout)
    assert summary["rows"] == 120 == summary["results"] + summary["errors"] and summary["invalid"] == 3
    dask_out = [(tmp_path / f"day.{w}.jsonl").read_text(encoding="utf-8") for w in ("results", "errors")]
    local = subprocess.run(
        [*base, "-o", str(tmp_path / "l.jsonl"), "--errors", str(tmp_path / "le.jsonl")], check=False
    )
    assert local.returncode == 2
    local_out = [(tmp_path / name).read_text(encoding="utf-8") for name in ("l.jsonl", "le.jsonl")]
    for mine, theirs in zip(dask_out, local_out, strict=True):
        assert [_strip(x) for x in mine.splitlines()] == [_strip(x) for x in theirs.splitlines()]


def _strip(line: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(line)
    for key in ("decision_id", "timestamp"):
        body.get("result", {}).pop(key, None)
    return body


def test_without_the_dask_extra_the_command_says_how_to_install_it(tmp_path: Path) -> None:
    day = tmp_path / "day.jsonl"
    _write_day(day, 3, 100)
    code = (
        "import sys\n"
        "sys.modules['distributed'] = None  # as if the extra were not installed\n"
        "from needlescreen.cli import main\n"
        f"sys.argv = ['needlescreen', 'batch', {str(day)!r}, '--dask', 'local']\n"
        "main()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: --dask needs the dask extra: pip install 'needlescreen[dask]'"]
    assert not list(tmp_path.glob("day.*.jsonl*")), "nothing is written"


def test_every_worker_killed_at_once_loses_no_row(client: Client, rows: list[Row]) -> None:
    """Every copy of the ruleset the workers held dies with them: the batch sends it again, and the partitions."""
    spec = BatchConfig(engine="plain").spec()
    local = [_comparable(o) for o in screen_rows(iter(rows), spec, workers=1)]
    got = []
    killed: list[int] = []
    for outcome in screen_rows_dask(iter(rows), spec, client, partition_size=10):
        got.append(_comparable(outcome))
        if not killed:
            killed = list(client.run(os.getpid).values())
            for pid in killed:
                os.kill(pid, signal.SIGKILL)
    assert len(killed) == 2
    for pid in killed:
        _gone(pid)
    assert got == local, "rows lost or changed when every worker died"


def _profiler_enabled() -> bool:
    import dask.config

    enabled: bool = dask.config.get("distributed.worker.profile.enabled")
    return enabled


def test_a_local_cluster_s_workers_run_without_the_statistical_profiler() -> None:
    """``--dask local`` sets its workers up for a batch (see ``LOCAL_WORKER_CONFIG``); Dask's default is on."""
    import dask.config

    assert dask.config.get("distributed.worker.profile.enabled") is True
    with connect("local", workers=1) as c:
        assert set(c.run(_profiler_enabled).values()) == {False}


@pytest.mark.parametrize(
    ("total", "sizes"),
    [
        (0, []),
        (3, [2, 1]),
        (6, [2, 2, 2]),
        (7, [2, 2, 2, 1]),
        (26, [2, 2, 2, 5, 5, 5, 5]),
        (27, [2, 2, 2, 5, 5, 5, 5, 1]),
    ],
)
def test_partitions_start_small_then_grow_and_keep_every_row_in_order(total: int, sizes: list[int]) -> None:
    rows = [Row(n, "{}", (), None) for n in range(1, total + 1)]
    parts = list(_growing(iter(rows), 2, 3, 5))
    assert [r for p in parts for r in p] == rows
    assert [len(p) for p in parts] == sizes
