"""Shared fixtures: the bundled ruleset, one screener per available engine, and intake builders."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from needlescreen import Screener, load_ruleset
from needlescreen.engine import available_engines
from needlescreen.ruleset import Ruleset
from needlescreen.testing import baseline_intake, comparable, with_changes

# pytest-xdist's workers ignore SIGINT, and a process started from one would inherit that: the Ctrl-C tests of
# the command line would send a signal their process never sees. The default handler is put back for them.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

ENGINES = available_engines()


@pytest.fixture(scope="session")
def ruleset() -> Ruleset:
    return load_ruleset()


@pytest.fixture(scope="session")
def screeners(ruleset: Ruleset) -> dict[str, Screener]:
    """A screener for every engine that loads here (durable_rules and plain on 3.11/3.12, plain on 3.13+)."""
    return {name: Screener(ruleset, engine=name) for name in ENGINES}


@pytest.fixture(scope="session")
def screen_all(screeners: dict[str, Screener]) -> Any:
    """Screen with every engine, assert they agree, return the result."""

    def run(intake: Any) -> Any:
        results = {name: s.screen(intake) for name, s in screeners.items()}
        first, *rest = results.values()
        for other in rest:
            assert comparable(other) == comparable(first), "engines disagree"
        return first

    return run


@pytest.fixture
def baseline() -> dict[str, Any]:
    return baseline_intake()


def changed(changes: dict[str, Any]) -> dict[str, Any]:
    """The baseline intake with some answers changed."""
    return with_changes(baseline_intake(), changes)


# --- hypothesis profiles (safety properties; see README "Safety") ---------------------------------------------
# "ci" (default): few examples, derandomized so a run is reproducible, no deadline (no timing assertions).
# "thorough": many examples, random seeds; run locally with HYPOTHESIS_PROFILE=thorough.
import os  # noqa: E402 - kept with the block it serves

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
THOROUGH = os.environ.get("HYPOTHESIS_PROFILE") == "thorough"
