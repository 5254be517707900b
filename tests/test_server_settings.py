"""Every setting of the service is honoured whichever way it is given: a flag, a NEEDLESCREEN_* variable, a file.

``needlescreen serve`` resolves the settings once and hands them to its workers through the environment; an app
that uvicorn starts itself resolves them from the environment and the settings file. Both paths are checked for
every setting of ``needlescreen.server.settings.SETTINGS``, and the documented table must list exactly those.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the server extra is not installed")

import httpx
from typer.testing import CliRunner

from needlescreen.cli import app as cli_app
from needlescreen.server import Settings
from needlescreen.server.keys import ApiKey
from needlescreen.server.settings import SETTINGS

from .server_helpers import REPO, clean_env, free_port, live_server, wait_until

KEY = "settings-test-key-0123456789"
OTHER = "settings-other-key-0123456789"


def _cases(tmp: Path) -> dict[str, tuple[list[str], str, str, Any]]:
    """Per setting: the flag arguments, the variable's text, the file's TOML value, and the value it must become."""
    keys = tmp / "keys"
    keys.write_text(f"# a key file\nsouth:{OTHER}\n")
    policy = tmp / "clinic.yaml"
    return {
        "database_url": (["--database-url", "sqlite:///x.db"], "sqlite:///x.db", '"sqlite:///x.db"', "sqlite:///x.db"),
        "host": (["--host", "127.0.0.2"], "127.0.0.2", '"127.0.0.2"', "127.0.0.2"),
        "port": (["--port", "9123"], "9123", "9123", 9123),
        "workers": (["--workers", "3"], "3", "3", 3),
        "api_keys": (["--auth", f"north:{KEY}"], f"north:{KEY}", f'["north:{KEY}"]', (ApiKey("north", KEY),)),
        "api_keys_file": (["--auth-file", str(keys)], str(keys), f'"{keys}"', str(keys)),
        "rules_dir": (
            ["--rules", str(REPO / "rules")],
            str(REPO / "rules"),
            f'"{REPO / "rules"}"',
            str(REPO / "rules"),
        ),
        "policy_file": (["--policy", str(policy)], str(policy), f'"{policy}"', str(policy)),
        "engine": (["--engine", "plain"], "plain", '"plain"', "plain"),
        "max_body": (["--max-body", "8192"], "8192", "8192", 8192),
        "max_header": (["--max-header", "4096"], "4096", "4096", 4096),
        "read_timeout": (["--read-timeout", "2.5"], "2.5", "2.5", 2.5),
        "cors_origins": (
            ["--cors-origin", "https://a.example", "--cors-origin", "https://b.example"],
            "https://a.example,https://b.example",
            '["https://a.example", "https://b.example"]',
            ("https://a.example", "https://b.example"),
        ),
        "max_page": (["--max-page", "10"], "10", "10", 10),
        "sqlite_sync": (["--sqlite-sync", "NORMAL"], "normal", '"NORMAL"', "NORMAL"),
        "open_docs": (["--open-docs"], "1", "true", True),
        "log_clinical": (["--log-clinical"], "yes", "true", True),
    }


def test_every_setting_has_a_case(tmp_path: Path) -> None:
    assert set(_cases(tmp_path)) == set(SETTINGS)


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    """``needlescreen serve`` resolves its settings and would serve: the settings it would serve with."""
    import needlescreen.server.run

    for name in list(os.environ):
        if name.startswith("NEEDLESCREEN_"):
            monkeypatch.delenv(name)
    seen: list[Settings] = []
    monkeypatch.setattr(needlescreen.server.run, "serve", seen.append)
    return seen


@pytest.mark.parametrize("way", ["flag", "variable", "file"])
@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_each_setting_reaches_the_workers_from_each_source(
    tmp_path: Path, captured: list[Settings], name: str, way: str
) -> None:
    flag, variable, file_value, expected = _cases(tmp_path)[name]
    spec = SETTINGS[name]
    args, env = ["serve"], {}
    if way == "flag":
        args += flag
    elif way == "variable":
        env[spec.env] = variable
    else:
        config = tmp_path / "needlescreen.toml"
        config.write_text(f"{name} = {file_value}\n")
        env["NEEDLESCREEN_CONFIG"] = str(config)
    result = CliRunner().invoke(cli_app, args, env=env)
    assert result.exit_code == 0, result.output
    (settings,) = captured
    assert getattr(settings, name) == expected
    if name == "api_keys_file":
        assert settings.keys == (ApiKey("south", OTHER),)
    # What each worker reads back from the environment serve hands it (the settings file is not read again).
    worker = Settings.from_env(settings.to_env())
    assert worker == settings and worker.keys == settings.keys


def test_a_flag_wins_over_a_variable_which_wins_over_the_file(tmp_path: Path, captured: list[Settings]) -> None:
    config = tmp_path / "needlescreen.toml"
    config.write_text("max_body = 4096\nmax_page = 5\nport = 9001\n")
    env = {"NEEDLESCREEN_CONFIG": str(config), "NEEDLESCREEN_MAX_BODY": "8192", "NEEDLESCREEN_MAX_PAGE": "7"}
    result = CliRunner().invoke(cli_app, ["serve", "--max-body", "16384"], env=env)
    assert result.exit_code == 0, result.output
    (settings,) = captured
    assert (settings.max_body, settings.max_page, settings.port) == (16384, 7, 9001)
    assert "NEEDLESCREEN_CONFIG" not in settings.to_env(), "workers get values, not the file again"


@pytest.mark.parametrize(
    ("args", "env", "config", "message"),
    [
        ([], {"NEEDLESCREEN_MAX_BODY": "lots"}, None, "NEEDLESCREEN_MAX_BODY: expected a whole number, got 'lots'"),
        ([], {"NEEDLESCREEN_OPEN_DOCS": "maybe"}, None, "NEEDLESCREEN_OPEN_DOCS: expected true or false"),
        ([], {"NEEDLESCREEN_SQLITE_SYNC": "OFF"}, None, "expected one of FULL, NORMAL"),
        ([], {}, "max_bdy = 1\n", "unknown setting 'max_bdy' (did you mean 'max_body'?)"),
        ([], {}, "max_body = [\n", "not a valid TOML settings file"),
        (["--workers", "0"], {}, None, "workers must be between 1 and 64"),
        (["--read-timeout", "0"], {}, None, "read_timeout must be between"),
        ([], {"NEEDLESCREEN_API_KEYS": KEY}, None, "NEEDLESCREEN_API_KEYS: entry 1: a key is written CLINIC:KEY"),
        (["--auth", "north:short"], {}, None, "--auth: entry 1: every API key must be at least 16 characters"),
        (["--auth", f"no clinic:{KEY}"], {}, None, "the clinic must be 1 to 64 letters"),
        (["--auth", f"north:{KEY}", "--auth", f"south:{KEY}"], {}, None, "the same API key is given twice"),
        (["--auth-file", "/nonexistent/keys"], {}, None, "cannot read the api keys file /nonexistent/keys"),
        (["--host", "0.0.0.0"], {}, None, "refusing to serve on 0.0.0.0 without authentication"),
    ],
)
def test_a_setting_that_cannot_be_used_is_one_line(  # noqa: PLR0917 - pytest passes the row's fields by name
    tmp_path: Path, captured: list[Settings], args: list[str], env: dict[str, str], config: str | None, message: str
) -> None:
    if config is not None:
        (tmp_path / "s.toml").write_text(config)
        env = env | {"NEEDLESCREEN_CONFIG": str(tmp_path / "s.toml")}
    result = CliRunner().invoke(cli_app, ["serve", *args], env=env)
    assert result.exit_code == 2
    assert message in result.output
    assert KEY not in result.output, "a key is never printed"
    assert "Traceback" not in result.output and not captured


def test_the_documented_table_lists_every_setting() -> None:
    doc = (REPO / "docs" / "deployment.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \| `(--[\w-]+)`[^|]*\| `(NEEDLESCREEN_\w+)`", doc, flags=re.MULTILINE)
    assert {(name, flag, env) for name, flag, env in rows} == {
        (s.name, f"--{s.flag}", s.env) for s in SETTINGS.values()
    }
    defaults = Settings()
    for name, *_ in rows:
        default = getattr(defaults, name)
        if isinstance(default, int | float | str) and not isinstance(default, bool):
            row = next(line for line in doc.splitlines() if line.startswith(f"| `{name}` |"))
            assert f"`{default:g}`" in row if isinstance(default, float) else f"`{default}`" in row, row


# --- the real processes -----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_keys_given_only_in_the_environment_guard_serve(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'records.db'}"
    with live_server(url, workers=2, env={"NEEDLESCREEN_API_KEYS": f"north:{KEY}"}) as (base, _proc):
        assert httpx.get(f"{base}/screenings").status_code == 401
        assert httpx.get(f"{base}/openapi.json").status_code == 401
        assert httpx.get(f"{base}/screenings", headers={"X-API-Key": KEY}).status_code == 200


def _uvicorn(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    log = tmp_path / "uvicorn.log"
    environ = clean_env() | {"NEEDLESCREEN_DATABASE_URL": f"sqlite:///{tmp_path / 'records.db'}"} | env
    cmd = [sys.executable, "-m", "uvicorn", "needlescreen.server.app:app_from_env", "--factory", "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen([*cmd, *args], env=environ, stdout=out, stderr=out, start_new_session=True)
    return proc, f"http://127.0.0.1:{port}", log


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@pytest.mark.slow
def test_uvicorn_started_directly_refuses_to_listen_beyond_loopback_without_keys(tmp_path: Path) -> None:
    proc, _base, log = _uvicorn(tmp_path, {}, "--host", "0.0.0.0")
    try:
        code = proc.wait(90)
    finally:
        _stop(proc)
    assert code == 3, log.read_text()
    assert "refusing to serve on 0.0.0.0 without authentication" in log.read_text()


@pytest.mark.slow
def test_uvicorn_started_directly_reads_the_same_settings(tmp_path: Path) -> None:
    config = tmp_path / "needlescreen.toml"
    config.write_text(f'api_keys = ["north:{KEY}"]\nmax_header = 2048\n')
    args = ("--host", "0.0.0.0", "--http", "needlescreen.server.protocol:Protocol")
    proc, base, log = _uvicorn(tmp_path, {"NEEDLESCREEN_CONFIG": str(config)}, *args)
    try:
        wait_until(lambda: httpx.get(f"{base}/ready", timeout=2).status_code == 200, 90, log.read_text)
        assert httpx.get(f"{base}/screenings").status_code == 401
        assert httpx.get(f"{base}/screenings", headers={"X-API-Key": KEY}).status_code == 200
        big = httpx.get(f"{base}/health", headers={"X-Padding": "x" * 4000})
        assert big.status_code == 431 and big.headers["content-type"] == "application/problem+json"
    finally:
        _stop(proc)


def test_the_documented_settings_file_and_key_file_are_read_as_shown(tmp_path: Path) -> None:
    doc = (REPO / "docs" / "deployment.md").read_text(encoding="utf-8")
    (toml,) = re.findall(r"```toml\n(.*?)```", doc, flags=re.DOTALL)
    (keys,) = re.findall(r"```text\n(# /etc/needlescreen/keys.*?)```", doc, flags=re.DOTALL)
    (tmp_path / "keys").write_text(keys)
    config = tmp_path / "needlescreen.toml"
    config.write_text(toml.replace("/etc/needlescreen/keys", str(tmp_path / "keys")))
    settings = Settings.resolve({}, {"NEEDLESCREEN_CONFIG": str(config)})
    settings.check()
    assert settings.host == "0.0.0.0" and settings.read_timeout == 10
    assert [(k.clinic, k.role) for k in settings.keys] == [("north", "clinic"), ("south", "clinic"), (None, "admin")]
