"""``schema``: the JSON Schemas of the intake and the result, for integrators."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Literal

import typer

from needlescreen.result import ScreeningResult

from ._app import (
    app,
)


@app.command()
def schema(
    which: Annotated[Literal["intake", "result"], typer.Argument(help="intake or result")] = "intake",
) -> None:
    """Print the JSON Schema of the intake or the result, for integrators."""
    from needlescreen.intake import Intake

    model = Intake if which == "intake" else ScreeningResult
    sys.stdout.write(json.dumps(model.model_json_schema(), indent=2) + "\n")
