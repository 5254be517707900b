"""A batch stopped by Ctrl-C, SIGTERM, SIGHUP or SIGKILL: quick, quiet, nothing left running, outputs that resume.

The command under test is the real ``needlescreen batch`` in its own session (as a terminal's foreground job
is), started through a launcher whose only difference shows in the spawned workers: they sleep a few
milliseconds per row (the launcher is the workers' ``__mp_main__``), so that the run is surely still screening
when the signal arrives, however fast the machine. A terminal's Ctrl-C reaches every process of the group
(``killpg``); a service manager's SIGTERM reaches the main process only (``kill``).

Linux only: leftover processes are found by session id in ``/proc``.
"""

from __future__ import annotations

import array
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from needlescreen import Screener
from needlescreen.compact import compact
from needlescreen.engine import available_engines

from .test_batch import _write_day

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")

ROWS = 1200
#: Seconds a worker sleeps per row: 2 workers need ROWS * DELAY / 2 = 6 s, long after the first rows are out.
DELAY = 0.01
#: "Stops within about two seconds": the bound checked here leaves room for a loaded CI machine.
STOP_WITHIN_S = 5.0

_LAUNCHER = """
import multiprocessing, os, sys, time
if __name__ in ("__main__", "__mp_main__"):  # a forked worker inherits the patch; a spawned one imports it again
    from needlescreen import batch
    _real = batch._prepare_row

    def _slow(*args):
        if multiprocessing.parent_process() is not None:  # only the workers are slow
            time.sleep({delay})
        return _real(*args)

    batch._prepare_row = _slow
if __name__ == "__main__" and os.environ.get("SLOW_STOP_S"):  # a stop that takes long enough to press again
    from needlescreen import batch
    _suspend = batch.Output.suspend

    def _slow_suspend(self):
        open("stopping", "w").close()  # tells the test the stop is under way
        time.sleep(float(os.environ["SLOW_STOP_S"]))
        _suspend(self)

    batch.Output.suspend = _slow_suspend
if __name__ == "__main__":
    from needlescreen.cli import main
    sys.argv[0] = "needlescreen"
    main()
"""


_STARTED: list[int] = []


@pytest.fixture(autouse=True)
def _end_what_we_started() -> Iterator[None]:
    """Whatever a test asserts, no process it started outlives it (a failing run must not leave workers)."""
    yield
    while _STARTED:
        sid = _STARTED.pop()
        for line in _session(sid):
            with contextlib.suppress(OSError):
                os.kill(int(line.split()[0]), signal.SIGKILL)


def _launcher(tmp_path: Path) -> Path:
    path = tmp_path / "launch_batch.py"
    path.write_text(_LAUNCHER.format(delay=DELAY), encoding="utf-8")
    return path


def _start(tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, str(_launcher(tmp_path)), "batch", *args]
    with (tmp_path / "stdout.txt").open("wb") as out, (tmp_path / "stderr.txt").open("wb") as err:
        proc = subprocess.Popen(
            command,
            cwd=tmp_path,
            start_new_session=True,  # its own session and process group, as a terminal's foreground job
            stdout=out,
            stderr=err,
        )
    _STARTED.append(proc.pid)
    return proc


def _session(sid: int) -> list[str]:
    """Live processes of a session (zombies are dead: an init that does not reap them is the container's)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(f"{entry.name} {stat[:80]}")
    return found


def _no_process_left(sid: int, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while (left := _session(sid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for line in left:
        os.kill(int(line.split()[0]), signal.SIGKILL)
    assert not left, f"processes left behind: {left}"


def _wait_for_output(proc: subprocess.Popen[bytes], partial: Path, timeout: float = 120) -> None:
    # The final name too, unless it was there before: a batch that writes there directly must be caught doing
    # so, not waited for forever.
    watched = [partial] if partial.with_suffix("").exists() else [partial, partial.with_suffix("")]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the batch ended before it could be interrupted"
        if any(p.exists() and p.stat().st_size > 0 for p in watched):
            return
        time.sleep(0.05)
    proc.kill()
    pytest.fail("no row was written in time")


def _lines(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    assert not text or text.endswith("\n"), f"{path.name} ends in a cut line"
    return [json.loads(x) for x in text.splitlines()]


def _row_lines(day: Path) -> list[int]:
    return [n for n, raw in enumerate(day.read_text(encoding="utf-8").splitlines(), start=1) if raw.strip()]


def _assert_prefix(day: Path, results: Path, errors: Path) -> int:
    """Every line written is complete, each file is in input order, and together they are a prefix of the rows."""
    res, err = _lines(results), _lines(errors)
    for rows in (res, err):
        assert [r["line"] for r in rows] == sorted(r["line"] for r in rows)
    done = sorted(r["line"] for r in res + err)
    assert done == _row_lines(day)[: len(done)], "the rows written are not a prefix of the input"
    return len(done)


def _interrupt(
    tmp_path: Path, send: Any, *extra: str, engine: str = "plain"
) -> tuple[subprocess.Popen[bytes], float, Path]:
    day = tmp_path / "day.jsonl"
    if not day.exists():
        _write_day(day, ROWS, 100)
    proc = _start(tmp_path, str(day), "--workers", "2", "--engine", engine, *extra)
    _wait_for_output(proc, tmp_path / "day.results.jsonl.partial")
    sent = time.monotonic()
    send(proc.pid)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        pytest.fail("the batch hung after the signal")
    return proc, time.monotonic() - sent, day


def _stderr(tmp_path: Path) -> str:
    return (tmp_path / "stderr.txt").read_text(encoding="utf-8")


def _expected(day: Path) -> dict[int, tuple[Any, ...]]:
    """Each valid row's compact result screened here, one by one (decision id and timestamp aside)."""
    screener = Screener(engine="plain")
    out = {}
    for n, raw in enumerate(day.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            c = compact(screener.screen(raw)).model_dump(mode="json")
        except ValueError:
            continue
        out[n] = _decision(c)
    return out


def _decision(c: dict[str, Any]) -> tuple[Any, ...]:
    return (c["verdict"], c["sites"], c["fired"], c["unknown"], c["missing"], c["ruleset"])


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["plain", "durable_rules"])  # forked workers, spawned workers
def test_ctrl_c_stops_quickly_quietly_consistently_and_resume_finishes(tmp_path: Path, engine: str) -> None:
    if engine not in available_engines():
        pytest.skip("durable_rules not loadable")
    proc, took, day = _interrupt(tmp_path, lambda pid: os.killpg(pid, signal.SIGINT), engine=engine)
    err = _stderr(tmp_path)
    assert proc.returncode == 128 + signal.SIGINT, err
    assert took < STOP_WITHIN_S, f"took {took:.1f} s to stop"
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stopped by SIGINT:") and "--resume" in lines[0], err
    _no_process_left(proc.pid)
    results, errors = tmp_path / "day.results.jsonl", tmp_path / "day.errors.jsonl"
    assert not results.exists() and not errors.exists(), "an unfinished run wrote the final outputs"
    written = _assert_prefix(day, Path(f"{results}.partial"), Path(f"{errors}.partial"))
    assert 0 < written < ROWS
    assert f"{written:,} rows written" in lines[0]

    again = _start(tmp_path, str(day), "--workers", "2", "--engine", engine, "--resume", "--format", "json")
    assert again.wait(timeout=300) == 2, _stderr(tmp_path)  # 2: the 1% malformed rows were rejected
    summary = json.loads((tmp_path / "stdout.txt").read_text(encoding="utf-8"))
    assert summary["rows"] == ROWS == summary["results"] + summary["errors"]
    assert not Path(f"{results}.partial").exists() and not (tmp_path / "day.results.jsonl.resume.json").exists()
    assert _assert_prefix(day, results, errors) == ROWS
    got = {r["line"]: _decision(r["result"]) for r in _lines(results)}
    assert got == _expected(day), "the resumed results differ from screening each row"
    assert len({r["result"]["decision_id"] for r in _lines(results)}) == len(got)


@pytest.mark.slow
def test_a_second_ctrl_c_prints_no_traceback_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A double press: the second Ctrl-C arrives while the stop is writing the partial files, and changes nothing."""
    monkeypatch.setenv("SLOW_STOP_S", "0.5")  # the launcher's stop marks its start, then takes half a second

    def twice(pid: int) -> None:
        os.killpg(pid, signal.SIGINT)
        deadline = time.monotonic() + 5
        while not (tmp_path / "stopping").exists():
            assert time.monotonic() < deadline, "the stop never began"
            time.sleep(0.01)
        os.killpg(pid, signal.SIGINT)  # within a second of the first: a double press, not a demand to stop at once

    proc, took, day = _interrupt(tmp_path, twice)
    err = _stderr(tmp_path)
    assert proc.returncode == 128 + signal.SIGINT, err
    assert took < STOP_WITHIN_S
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    _no_process_left(proc.pid)
    _assert_prefix(day, tmp_path / "day.results.jsonl.partial", tmp_path / "day.errors.jsonl.partial")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_sigterm_to_the_main_process_alone_leaves_no_worker(tmp_path: Path, name: str) -> None:
    sig = getattr(signal, name)
    proc, took, day = _interrupt(tmp_path, lambda pid: os.kill(pid, sig))
    err = _stderr(tmp_path)
    assert proc.returncode == 128 + sig, err
    assert took < STOP_WITHIN_S
    assert err.startswith(f"stopped by {name}:") and "Traceback" not in err, err
    _no_process_left(proc.pid)
    _assert_prefix(day, tmp_path / "day.results.jsonl.partial", tmp_path / "day.errors.jsonl.partial")


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["plain", "durable_rules"])  # forked workers, spawned workers
def test_a_killed_batch_leaves_no_worker_and_resumes(tmp_path: Path, engine: str) -> None:
    """SIGKILL cannot be handled: the workers notice their pipe close and leave; --resume mends the files."""
    if engine not in available_engines():
        pytest.skip("durable_rules not loadable")
    proc, _took, day = _interrupt(tmp_path, lambda pid: os.kill(pid, signal.SIGKILL), engine=engine)
    assert proc.returncode == -signal.SIGKILL
    _no_process_left(proc.pid, within=10)
    partial = tmp_path / "day.results.jsonl.partial"
    with partial.open("ab") as f:
        f.write(b'{"line": 99999, "result": {"verd')  # as if the kill had cut a line in two
    again = _start(tmp_path, str(day), "--workers", "2", "--engine", engine, "--resume", "--format", "json")
    assert again.wait(timeout=300) == 2, _stderr(tmp_path)
    assert _assert_prefix(day, tmp_path / "day.results.jsonl", tmp_path / "day.errors.jsonl") == ROWS


@pytest.mark.slow
def test_an_interrupted_forced_rerun_keeps_the_earlier_outputs(tmp_path: Path) -> None:
    earlier = {tmp_path / "day.results.jsonl": b"earlier results\n", tmp_path / "day.errors.jsonl": b"earlier\n"}
    for path, content in earlier.items():
        path.write_bytes(content)
    proc, _took, _day = _interrupt(tmp_path, lambda pid: os.killpg(pid, signal.SIGINT), "--force")
    assert proc.returncode == 128 + signal.SIGINT, _stderr(tmp_path)
    for path, content in earlier.items():
        assert path.read_bytes() == content, f"{path.name} was touched by a run that did not finish"
    _no_process_left(proc.pid)


_POISON = """
import multiprocessing, os, sys


def _poison():
    from needlescreen import batch
    real = batch._prepare_row

    def deadly(row, *rest):
        if row.line == {line} and multiprocessing.parent_process() is not None:
            os._exit(9)  # as a crash in the engine would: no exception, no cleanup, every time
        return real(row, *rest)

    batch._prepare_row = deadly


if __name__ in ("__main__", "__mp_main__"):  # a forked worker inherits the patch; a spawned one imports it again
    _poison()
if __name__ == "__main__":
    from needlescreen.cli import main
    sys.argv[0] = "needlescreen"
    main()
"""


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["plain", "durable_rules"])  # forked workers, spawned workers
def test_a_row_that_kills_its_worker_every_time_is_reported_and_the_rest_screened(tmp_path: Path, engine: str) -> None:
    if engine not in available_engines():
        pytest.skip("durable_rules not loadable")
    day = tmp_path / "day.jsonl"
    _write_day(day, 60, 1000)
    launcher = tmp_path / "poison.py"
    launcher.write_text(_POISON.format(line=7), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(launcher), "batch", str(day), "--workers", "2", "--engine", engine, "--format", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 3, proc.stderr  # an internal error: not the input's fault, never a verdict
    assert "Traceback" not in proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["rows"] == 60 and summary["internal"] == 1 and summary["results"] == 59
    errors = _lines(tmp_path / "day.errors.jsonl")
    assert [(e["line"], e["kind"]) for e in errors] == [(7, "internal")]
    assert "died" in errors[0]["errors"][0]["message"]
    assert _assert_prefix(day, tmp_path / "day.results.jsonl", tmp_path / "day.errors.jsonl") == 60


@pytest.mark.slow
def test_ctrl_c_on_a_local_dask_cluster_stops_it_quietly_and_leaves_nothing(tmp_path: Path) -> None:
    proc, took, day = _interrupt(tmp_path, lambda pid: os.killpg(pid, signal.SIGINT), "--dask", "local")
    err = _stderr(tmp_path)
    assert proc.returncode == 128 + signal.SIGINT, err
    assert took < STOP_WITHIN_S, f"took {took:.1f} s to stop"
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("stopped by SIGINT:"), err
    _no_process_left(proc.pid)
    written = _assert_prefix(day, tmp_path / "day.results.jsonl.partial", tmp_path / "day.errors.jsonl.partial")
    assert 0 < written < ROWS


def _unread(fd: int) -> int:
    import fcntl  # POSIX only, as this whole module
    import termios

    buffer = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, buffer)
    return buffer[0]


@pytest.mark.slow
def test_a_second_signal_ends_a_stuck_stop_at_once(tmp_path: Path) -> None:
    """Results to a pipe nobody reads: the first Ctrl-C cannot finish writing; a second one, later, ends it."""
    day = tmp_path / "day.jsonl"
    _write_day(day, ROWS, 100)
    errors = tmp_path / "errors.jsonl"
    command = [sys.executable, str(_launcher(tmp_path)), "batch", str(day), "-o", "-", "--errors", str(errors)]
    with (tmp_path / "stderr.txt").open("wb") as err:
        proc = subprocess.Popen(
            [*command, "--workers", "2", "--engine", "plain"],
            cwd=tmp_path,
            start_new_session=True,
            stdout=subprocess.PIPE,  # never read: it fills, and the batch blocks writing to it
            stderr=err,
        )
    _STARTED.append(proc.pid)
    try:
        assert proc.stdout is not None
        pipe = proc.stdout.fileno()
        import fcntl

        capacity = fcntl.fcntl(pipe, 1032)  # F_GETPIPE_SZ (Linux)
        deadline = time.monotonic() + 120
        while _unread(pipe) < capacity - 16384:  # full but for less than the batch's next write
            assert proc.poll() is None, _stderr(tmp_path)
            assert time.monotonic() < deadline, "the pipe never filled"
            time.sleep(0.05)
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(1.5)
        assert proc.poll() is None, "the first Ctrl-C was not stuck: the test proves nothing"
        sent = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
        took = time.monotonic() - sent
    finally:
        assert proc.stdout is not None
        proc.stdout.close()
    assert proc.returncode == 128 + signal.SIGINT
    assert took < STOP_WITHIN_S
    err_text = _stderr(tmp_path)
    assert err_text.strip() == "stopped at once by a second SIGINT; any partial outputs are kept", err_text
    _no_process_left(proc.pid)
