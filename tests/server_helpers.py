"""Helpers for the service's tests: a free loopback port, a live ``needlescreen serve``, a throw-away PostgreSQL."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

IN_CI = os.environ.get("CI") == "true"


class BrokenEngine:
    """An engine that fails every screening, as a lost durable_rules session does (the service must fail closed)."""

    name = "plain"

    def run(self, _facts: Any) -> Any:
        from needlescreen.errors import EngineError

        raise EngineError("the engine broke")

    def run_many(self, _facts: Any) -> Any:
        return self.run(_facts)


REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def clean_env() -> dict[str, str]:
    """This process's environment without any ``NEEDLESCREEN_*`` setting (a test sets the ones it means)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("NEEDLESCREEN_")}


@contextmanager
def live_server(
    database_url: str,
    *,
    workers: int = 2,
    extra: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    log: Any = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``needlescreen serve`` on a free loopback port; yields its base URL and process, stops it after.

    ``log``: a binary file that receives the server's output (its log lines), for the test to read.
    """
    port = free_port()
    environ = clean_env() | (env or {}) | {"NEEDLESCREEN_DATABASE_URL": database_url}
    own_log = log is None
    log = tempfile.TemporaryFile() if own_log else log  # noqa: SIM115 - closed in finally, after the server stopped
    cmd = [sys.executable, "-m", "needlescreen", "serve", "--port", str(port), "--workers", str(workers), *extra]
    proc = subprocess.Popen(cmd, env=environ, stdout=log, stderr=log, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: httpx.get(f"{base}/ready", timeout=2, headers=headers).status_code == 200,
            90,
            "the service to be ready",
        )
        yield base, proc
    except AssertionError as exc:
        log.seek(0)
        raise AssertionError(
            f"{exc}\n--- the server's log, last lines:\n{log.read().decode(errors='replace')[-3000:]}"
        ) from None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        if own_log:
            log.close()


def children(pid: int) -> list[int]:
    """Direct child processes of ``pid`` (uvicorn's workers), from /proc."""
    out = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.split("/")[2]))
    return out


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """A throw-away PostgreSQL cluster on a free loopback port; yields its URL and removes it after.

    initdb refuses to run as root, so as root the cluster belongs to the ``postgres`` user. Without the server
    binaries the test skips locally and fails in CI (where ``.ci/run`` installs them).
    """
    bindir = _pg_bin()
    if bindir is None:
        if IN_CI:
            pytest.fail("PostgreSQL is not installed in CI (.ci/run installs Debian's postgresql package)")
        pytest.skip("PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql)")
    user = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="needlescreen-pg-"))
    data = root / "data"
    port = free_port()

    def run(*args: str) -> None:
        cmd = list(args)
        if user is not None:
            cmd = ["runuser", "-u", user, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    if user is not None:
        info = pwd.getpwnam(user)
        os.chown(root, info.pw_uid, info.pw_gid)
    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "needlescreen", "--auth=trust", "-E", "UTF8")
        opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=on"
        run(str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-w", "-t", "60", "-l", str(root / "log"), "start")
        try:
            run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "needlescreen", "records")
            yield f"postgresql://needlescreen@127.0.0.1:{port}/records"
        finally:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def reset_database(url: str) -> str:
    """Empty a PostgreSQL database of everything the migrations make (each test starts from nothing)."""
    from sqlalchemy import MetaData, create_engine, text

    from needlescreen.server.store import normalise_url

    engine = create_engine(normalise_url(url))
    try:
        with engine.begin() as conn:
            # Every table the migrations made (later revisions add their own), not only the records.
            tables = MetaData()
            tables.reflect(conn)
            if tables.tables:
                conn.execute(text(f"DROP TABLE IF EXISTS {', '.join(sorted(tables.tables))} CASCADE"))
            conn.execute(text("DROP FUNCTION IF EXISTS needlescreen_append_only() CASCADE"))
    finally:
        engine.dispose()
    return url
