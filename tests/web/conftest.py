"""Browser tests: Playwright driving the system's Chromium (Debian's ``chromium``) against a live service.

Playwright's own browser download is not used (CI cannot reach it): the browser is ``/usr/bin/chromium``
(``.ci/run`` installs it with apt in CI), launched headless with the flags a closed network needs. Screenshots of
every page go to ``test-artifacts/web/`` at the top of the checkout (git-ignored).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("jinja2", reason="the web extra is not installed")
pytest.importorskip("playwright", reason="the web-test extra is not installed")

from tests.server_helpers import IN_CI, REPO, live_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts" / "web"
KEY = "browser-test-key-0123456789"
#: As root in a closed network: no sandbox, no GPU, and none of Chromium's own calls home.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def pytest_collection_modifyitems(items: list[Any]) -> None:
    # The browser tests run last: the Playwright driver keeps an event loop running in the main thread until the
    # session ends, which breaks asyncio.run in any test after them (make test runs them on their own).
    items[:] = [i for i in items if "tests/web/" not in str(i.fspath)] + [
        i for i in items if "tests/web/" in str(i.fspath)
    ]
    if Path(CHROMIUM).is_file():
        return
    if IN_CI:
        raise pytest.UsageError(f"the browser tests need {CHROMIUM}: .ci/run installs Debian's chromium in CI")
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is not installed (apt-get install chromium)")
    for item in items:
        if "tests/web/" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": FLAGS, "headless": True}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    # A tablet in landscape: the form must read well at the treatment table.
    return {**browser_context_args, "viewport": {"width": 1180, "height": 820}, "locale": "en-GB"}


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``needlescreen serve`` with a clinic key and 2 workers (a session must work on either)."""
    db = tmp_path_factory.mktemp("web") / "records.db"
    with live_server(f"sqlite:///{db}", workers=2, extra=("--auth", f"north:{KEY}")) as (base, _proc):
        yield base


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(autouse=True)
def _no_proxy() -> Iterator[None]:
    saved = {
        k: os.environ.pop(k) for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy") if k in os.environ
    }
    yield
    os.environ.update(saved)


@pytest.fixture(scope="session")
def base_url(service: str) -> str:
    """The live service (replaces pytest-base-url's fixture, which pytest 9 warns about)."""
    return service
