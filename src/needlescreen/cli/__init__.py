"""The ``needlescreen`` command line (typer and rich): the clinician's adapter around :func:`screen`.

Commands: ``check`` (one intake file), ``ask`` (the questionnaire in the terminal), ``explain`` (every rule and
the facts it read), ``rules list|show|check|body|vocabulary`` (the catalogue, the body model and the site
names), ``batch`` (a day's list on every core), ``impact`` (whose verdicts a proposed ruleset or policy would
move), ``schema`` (JSON Schemas for integrators), ``serve`` (the HTTP service, an optional extra), ``records
verify|migrate`` (the service's stored records), ``record`` (the printable screening record) and ``docs build``
(the catalogue as static pages), both with the web extra, and ``fhir`` (FHIR Questionnaire and chart Bundles,
the fhir extra).

One module per command group (typer's larger apps are the model): ``screen`` (check, explain), ``ask``,
``rules``, ``batch``, ``impact``, ``schema``, ``serve``, ``records``, ``record``, ``docs`` and ``fhir``, over
``_app`` (the app, shared options, error handling) and ``render`` (how a result is printed: the summary, and
everything with ``--full``).

Exit codes a script can use: 0 clear, 10 caution, 20 refer, 2 invalid input or rule files, 3 engine error;
``records verify``: 0 every record matches, 4 a record does not match.
A person's mistake (a bad file, a wrong answer) prints ``error: <where>: <field>: <what>`` and never a
traceback; an error inside needlescreen still raises.
"""

from __future__ import annotations

import sys

from needlescreen.errors import EngineError, NeedlescreenError

from . import ask, batch, docs, fhir, impact, record, records, rules, schema, screen, serve  # noqa: F401 - each module registers its commands
from ._app import EXIT_CODES, app, tolerate_closed_stdout
from .render import render, render_summary

__all__ = ["EXIT_CODES", "app", "main", "render", "render_summary"]


def main() -> None:
    """Entry point of the ``needlescreen`` script."""
    tolerate_closed_stdout()
    try:
        app()
    except NeedlescreenError as exc:  # pragma: no cover - every command maps these; a last line of defence
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(EXIT_CODES["engine"] if isinstance(exc, EngineError) else EXIT_CODES["invalid"])
