"""``/schema``: the JSON Schemas of the intake and the result, for integrators and forms."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from needlescreen import ScreeningResult
from needlescreen.server.auth import caller
from needlescreen.server.bodies import intake_schema as published_intake_schema

__all__ = ["router"]

router = APIRouter(prefix="/schema", tags=["schema"], dependencies=[Depends(caller)])


@router.get("/intake", summary="JSON Schema of the intake")
def intake_schema() -> dict[str, Any]:
    """What ``POST /screenings`` accepts (as JSON or YAML)."""
    return published_intake_schema()


@router.get("/result", summary="JSON Schema of the result")
def result_schema() -> dict[str, Any]:
    """What a screening returns."""
    return ScreeningResult.model_json_schema()
