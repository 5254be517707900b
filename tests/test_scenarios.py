"""Runs every Gherkin scenario under ``features/``. The step vocabulary lives in ``tests/steps.py``.

Scenarios are the living clinical specification: each ``When the patient is screened`` screens with every
engine that loads here and fails if they disagree.
"""

from __future__ import annotations

from pytest_bdd import scenarios

from .steps import *  # noqa: F403 - pytest-bdd finds step definitions by module namespace

scenarios("")
