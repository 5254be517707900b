"""The ``needlescreen`` command line (typer and rich): the clinician's adapter around :func:`screen`.

Commands: ``check`` (one intake file), ``ask`` (the questionnaire in the terminal), ``explain`` (every rule and
the facts it read), ``rules list|show|check|body|vocabulary`` (the catalogue, the body model and the site
names), ``batch`` (a day's list on every core), ``schema`` (JSON Schemas for integrators), ``serve`` (the
HTTP service, an optional extra) and ``records verify|migrate`` (the service's stored records).

One module per command group (typer's larger apps are the model): ``screen`` (check, explain), ``ask``,
``rules``, ``batch``, ``schema``, ``serve`` and ``records``, over ``_app`` (the app, shared options, error
handling) and ``render`` (how a result is printed).

Exit codes a script can use: 0 clear, 10 caution, 20 refer, 2 invalid input or rule files, 3 engine error;
``records verify``: 0 every record matches, 4 a record does not match.
A person's mistake (a bad file, a wrong answer) prints ``error: <where>: <field>: <what>`` and never a
traceback; an error inside needlescreen still raises.
"""

from __future__ import annotations

import sys

from needlescreen.errors import EngineError, NeedlescreenError

from . import ask, batch, records, rules, schema, screen, serve  # noqa: F401 - each module registers its commands
from ._app import EXIT_CODES, app
from .render import render

__all__ = ["EXIT_CODES", "app", "main", "render"]


def main() -> None:
    """Entry point of the ``needlescreen`` script."""
    try:
        app()
    except NeedlescreenError as exc:  # pragma: no cover - every command maps these; a last line of defence
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(EXIT_CODES["engine"] if isinstance(exc, EngineError) else EXIT_CODES["invalid"])
