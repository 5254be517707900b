"""``/schema``: the JSON Schemas of the intake and the result, for integrators and forms."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from needlescreen import Intake, ScreeningResult
from needlescreen.server.auth import caller

__all__ = ["router"]

router = APIRouter(prefix="/schema", tags=["schema"], dependencies=[Depends(caller)])


@router.get("/intake", summary="JSON Schema of the intake")
def intake_schema() -> dict[str, Any]:
    """What ``POST /screenings`` accepts."""
    return Intake.model_json_schema()


@router.get("/result", summary="JSON Schema of the result")
def result_schema() -> dict[str, Any]:
    """What a screening returns."""
    return ScreeningResult.model_json_schema()
