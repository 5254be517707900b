"""``/screenings``: screen an intake (stored, or ``dry_run``), fetch and list records, re-screen one.

The body is read as bytes and validated by :func:`needlescreen.parse_intake`, so a rejected intake is named by
exactly the JSON paths an ``IntakeError`` gives in the library. A stored screening is committed before the
answer is sent.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from needlescreen import FieldProblem, Intake, IntakeError, ScreeningResult, parse_intake
from needlescreen.server.auth import caller
from needlescreen.server.logs import elapsed_ms, log_event
from needlescreen.server.models import RecordOut, RecordPage, diff_results
from needlescreen.server.problems import PROBLEM_RESPONSES, problem_response
from needlescreen.server.problems import json_response as _json
from needlescreen.server.service import Service
from needlescreen.server.service import get_service as service
from needlescreen.server.store import ScreeningRecord

__all__ = ["router"]

router = APIRouter(prefix="/screenings", tags=["screenings"])

_JSON = "application/json"
_INTAKE_BODY = {
    "requestBody": {
        "required": True,
        "description": "An intake (needlescreen.intake/1) as JSON; see GET /schema/intake.",
        "content": {_JSON: {"schema": {"$ref": "#/components/schemas/Intake"}}},
    }
}
_RecordId = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$", description="A record id (its result's decision id)")]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: PROBLEM_RESPONSES[422] | {"description": "No record with this id"}}


_DRY_RUN: dict[int | str, dict[str, Any]] = {
    200: {"description": "dry_run: the result, not stored", "model": ScreeningResult}
}


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _summary(row: ScreeningRecord) -> dict[str, Any]:
    return {
        "id": row.id,
        "created_at": _utc(row.created_at).isoformat(),
        "submitted_by": row.submitted_by,
        "verdict": row.verdict,
        "technique": row.technique,
        "ruleset_revision": row.ruleset_revision,
        "previous_id": row.previous_id,
        "record": {
            "patient_ref": row.patient_ref,
            "clinician": row.clinician,
            "encounter_date": row.encounter_date.isoformat() if row.encounter_date else None,
            "clinic": row.clinic,
        },
    }


def _full(row: ScreeningRecord) -> dict[str, Any]:
    out = _summary(row)
    # Stored JSON is embedded as it was written, byte for byte.
    out["intake"] = orjson.Fragment(row.intake_json)
    out["result"] = orjson.Fragment(row.result_json)
    out["changes"] = orjson.Fragment(row.changes_json) if row.changes_json else None
    return out


def _serialise(intake: Intake) -> str:
    try:
        return intake.model_dump_json()
    except ValueError:
        # Valid JSON may escape a lone UTF-16 surrogate, which no database column can hold.
        problem = FieldProblem("", "text contains an unpaired UTF-16 surrogate escape (\\ud800-\\udfff)")
        raise IntakeError([problem]) from None


def _row(intake: Intake, intake_json: str, result: ScreeningResult, result_json: str, who: str) -> ScreeningRecord:
    meta = intake.record
    return ScreeningRecord(
        id=result.decision_id,
        created_at=result.timestamp.astimezone(dt.UTC),
        submitted_by=who,
        patient_ref=meta.patient_ref if meta else None,
        clinician=meta.clinician if meta else None,
        clinic=meta.clinic if meta else None,
        encounter_date=meta.encounter_date if meta else None,
        verdict=result.verdict,
        technique=result.technique,
        ruleset_name=result.ruleset.name,
        ruleset_revision=result.ruleset.revision,
        ruleset_hash=result.ruleset.content_hash,
        policy_source=result.policy_source,
        engine=result.engine,
        package_version=result.package_version,
        intake_json=intake_json,
        result_json=result_json,
    )


def _logged(result: ScreeningResult, start: float, *, stored: bool, previous: str | None = None) -> None:
    log_event(
        "screening",
        decision_id=result.decision_id,
        verdict=result.verdict,
        rules=sorted({f.rule_id for f in result.findings}),
        missing=len(result.missing),
        engine=result.engine,
        revision=result.ruleset.revision,
        stored=stored,
        previous_id=previous,
        ms=elapsed_ms(start),
    )


@router.post(
    "",
    status_code=201,
    response_model=ScreeningResult,
    summary="Screen an intake and store the record",
    responses=_DRY_RUN | PROBLEM_RESPONSES,
    openapi_extra=_INTAKE_BODY,
)
async def create_screening(
    request: Request,
    svc: Annotated[Service, Depends(service)],
    who: Annotated[str, Depends(caller)],
    dry_run: Annotated[bool, Query(description="screen without storing a record")] = False,
) -> Response:
    """Screen the intake; unless ``dry_run``, store the record (committed before the 201 is sent)."""
    start = time.perf_counter()
    intake = parse_intake(await request.body())
    intake_json = _serialise(intake)
    result = svc.screen(intake)
    result_json = result.model_dump_json()
    if dry_run:
        _logged(result, start, stored=False)
        return Response(result_json, media_type=_JSON)
    await run_in_threadpool(svc.store.add, _row(intake, intake_json, result, result_json, who))
    _logged(result, start, stored=True)
    return Response(
        result_json, status_code=201, media_type=_JSON, headers={"Location": f"/screenings/{result.decision_id}"}
    )


@router.get("", response_model=RecordPage, summary="List records, newest first", responses=PROBLEM_RESPONSES)
def list_screenings(
    *,
    svc: Annotated[Service, Depends(service)],
    _who: Annotated[str, Depends(caller)],
    patient_ref: Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")] = None,
    verdict: Literal["clear", "caution", "refer"] | None = None,
    date_from: Annotated[dt.date | None, Query(description="screened on or after (UTC date)")] = None,
    date_to: Annotated[dt.date | None, Query(description="screened on or before (UTC date)")] = None,
    encounter_date: Annotated[dt.date | None, Query(description="the record's encounter date")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[int | None, Query(ge=1, le=2**62, description="next_cursor of the previous page")] = None,
) -> Response:
    """Records filtered by patient reference, verdict, screening date and encounter date, a page at a time."""
    page = svc.store.list(
        limit=min(limit, svc.settings.max_page),
        cursor=cursor,
        patient_ref=patient_ref,
        verdict=verdict,
        date_from=date_from,
        date_to=date_to,
        encounter_date=encounter_date,
    )
    return _json({"items": [_summary(r) for r in page.items], "next_cursor": page.next_cursor})


@router.get(
    "/{record_id}",
    response_model=RecordOut,
    summary="One record in full",
    responses=PROBLEM_RESPONSES | _NOT_FOUND,
)
def get_screening(
    record_id: _RecordId,
    svc: Annotated[Service, Depends(service)],
    _who: Annotated[str, Depends(caller)],
) -> Response:
    """The record: intake as screened, result as returned, who submitted it, what it re-screened."""
    row = svc.store.get(record_id)
    if row is None:
        return problem_response(404, "NS404", "no screening record with this id")
    return _json(_full(row))


@router.post(
    "/{record_id}/rescreen",
    status_code=201,
    response_model=RecordOut,
    summary="Re-screen a record under the current ruleset and policy",
    responses=PROBLEM_RESPONSES | _NOT_FOUND,
)
def rescreen(
    record_id: _RecordId,
    svc: Annotated[Service, Depends(service)],
    who: Annotated[str, Depends(caller)],
) -> Response:
    """Screen the stored intake again; a new record links to the old one and says what changed."""
    start = time.perf_counter()
    old = svc.store.get(record_id)
    if old is None:
        return problem_response(404, "NS404", "no screening record with this id")
    intake = parse_intake(old.intake_json)
    result = svc.screen(intake)
    result_json = result.model_dump_json()
    row = _row(intake, old.intake_json, result, result_json, who)
    row.previous_id = old.id
    row.changes_json = orjson.dumps(diff_results(orjson.loads(old.result_json), orjson.loads(result_json))).decode()
    svc.store.add(row)
    _logged(result, start, stored=True, previous=old.id)
    return _json(_full(row), 201, {"Location": f"/screenings/{row.id}"})
