"""``/health`` (the process answers) and ``/ready`` (ruleset loaded, engine answering, database reachable)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from needlescreen.server.problems import json_response as _json
from needlescreen.server.service import Service
from needlescreen.server.service import get_service as service

__all__ = ["router"]

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """Liveness."""

    model_config = ConfigDict(frozen=True)
    status: str


class Ready(BaseModel):
    """Readiness and each check's outcome (``ok`` or why not)."""

    model_config = ConfigDict(frozen=True)
    status: str
    checks: dict[str, str]
    ruleset: str
    engine: str


@router.get("/health", response_model=Health, summary="Liveness")
def health() -> Response:
    """The process is up."""
    return _json({"status": "ok"})


@router.get(
    "/ready", response_model=Ready, summary="Readiness", responses={503: {"model": Ready, "description": "Not ready"}}
)
async def ready(svc: Annotated[Service, Depends(service)]) -> Response:
    """Ready only when the ruleset is loaded, the engine still answers and the database is reachable."""
    checks = await run_in_threadpool(svc.ready)
    ok = all(v == "ok" for v in checks.values())
    ruleset = svc.screener.ruleset
    body = {
        "status": "ready" if ok else "not ready",
        "checks": checks,
        "ruleset": f"{ruleset.name} {ruleset.revision}",
        "engine": svc.screener.engine.name,
    }
    return _json(body, 200 if ok else 503)
