"""``/screenings``: screen an intake (stored, or ``dry_run``), fetch and list records, re-screen one, verify them.

The body is read as its Content-Type says (JSON or YAML, :mod:`needlescreen.server.bodies`) and validated by
:func:`needlescreen.parse_intake`, so a rejected intake is named by exactly the JSON paths an ``IntakeError``
gives in the library. Reading, validating and screening run in the worker's screening threads, off the event
loop, the bodies that arrive together handed over in one batch (:mod:`needlescreen.server.batching`). A stored
screening is committed before the answer is sent.

Records belong to the clinic of the key that stored them: a clinic's key reads, lists, re-screens and verifies
only its clinic's records (another clinic's record is a 404, as if it did not exist); an admin key sees all.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BeforeValidator
from starlette.responses import Response

from needlescreen import Intake, ScreeningResult, parse_intake
from needlescreen.server.auth import Principal, principal
from needlescreen.server.bodies import JSON, YAML
from needlescreen.server.logs import elapsed_ms, log_event
from needlescreen.server.models import RecordOut, RecordPage, VerifyReport, diff_results
from needlescreen.server.problems import BODY_RESPONSES, PROBLEM_RESPONSES, problem_response
from needlescreen.server.problems import json_response as _json
from needlescreen.server.service import Service
from needlescreen.server.service import get_service as service
from needlescreen.server.store import ScreeningRecord

__all__ = ["router"]

router = APIRouter(prefix="/screenings", tags=["screenings"])

_INTAKE_BODY = {
    "requestBody": {
        "required": True,
        "description": "An intake (needlescreen.intake/1) as JSON or YAML; see GET /schema/intake.",
        "content": {kind: {"schema": {"$ref": "#/components/schemas/Intake"}} for kind in (JSON, YAML)},
    }
}
_RecordId = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$", description="A record id (its result's decision id)")]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: PROBLEM_RESPONSES[422] | {"description": "No record with this id"}}
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date(value: Any) -> Any:
    # Without this a number is read as seconds since 1970 (encounter_date=0 would mean 1970-01-01).
    if not (isinstance(value, str) and _ISO_DATE.match(value)):
        raise ValueError("expected a date written YYYY-MM-DD")
    return value


_Date = Annotated[dt.date | None, BeforeValidator(_iso_date)]


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
        "tenant": row.tenant,
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


def _row(
    intake: Intake, *, intake_json: str, result: ScreeningResult, result_json: str, who: Principal, tenant: str | None
) -> ScreeningRecord:
    meta = intake.record
    return ScreeningRecord(
        id=result.decision_id,
        created_at=result.timestamp.astimezone(dt.UTC),
        submitted_by=who.fingerprint,
        tenant=tenant,
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


def _logged(svc: Service, result: ScreeningResult, start: float, *, stored: bool, previous: str | None = None) -> None:
    fields: dict[str, Any] = {
        "decision_id": result.decision_id,
        "engine": result.engine,
        "revision": result.ruleset.revision,
        "stored": stored,
        "previous_id": previous,
        "ms": elapsed_ms(start),
    }
    if svc.settings.log_clinical:
        # Rule ids say what the patient has (PREG_T1: pregnant, first trimester; MINOR: under 18): clinical content,
        # logged only when the operator asks for it, and then always with the decision id that finds the record.
        fields |= {
            "verdict": result.verdict,
            "rules": sorted({f.rule_id for f in result.findings}),
            "missing": len(result.missing),
        }
    log_event("screening", **fields)


def _rescreen(svc: Service, intake_json: str) -> tuple[Intake, ScreeningResult, str]:
    intake = parse_intake(intake_json)
    result = svc.screen(intake)
    return intake, result, result.model_dump_json()


@router.post(
    "",
    status_code=201,
    response_model=ScreeningResult,
    summary="Screen an intake and store the record",
    responses=_DRY_RUN | PROBLEM_RESPONSES | BODY_RESPONSES,
    openapi_extra=_INTAKE_BODY,
)
async def create_screening(
    request: Request,
    svc: Annotated[Service, Depends(service)],
    who: Annotated[Principal, Depends(principal)],
    dry_run: Annotated[bool, Query(description="screen without storing a record")] = False,
) -> Response:
    """Screen the intake; unless ``dry_run``, store the record under the key's clinic (committed before the 201)."""
    start = time.perf_counter()
    body = await request.body()
    screened = await svc.queue.screen(body, request.headers.get("content-type"), store=not dry_run)
    result, result_json = screened.result, screened.result_json
    if dry_run:
        _logged(svc, result, start, stored=False)
        return Response(result_json, media_type=JSON)
    row = _row(
        screened.intake,
        intake_json=screened.intake_json,
        result=result,
        result_json=result_json,
        who=who,
        tenant=who.clinic,
    )
    await run_in_threadpool(svc.store.add, row)
    _logged(svc, result, start, stored=True)
    return Response(
        result_json, status_code=201, media_type=JSON, headers={"Location": f"/screenings/{result.decision_id}"}
    )


@router.get("", response_model=RecordPage, summary="List records, newest first", responses=PROBLEM_RESPONSES)
def list_screenings(
    *,
    svc: Annotated[Service, Depends(service)],
    who: Annotated[Principal, Depends(principal)],
    patient_ref: Annotated[str | None, Query(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")] = None,
    verdict: Literal["clear", "caution", "refer"] | None = None,
    date_from: Annotated[_Date, Query(description="screened on or after (UTC date, YYYY-MM-DD)")] = None,
    date_to: Annotated[_Date, Query(description="screened on or before (UTC date, YYYY-MM-DD)")] = None,
    encounter_date: Annotated[_Date, Query(description="the record's encounter date (YYYY-MM-DD)")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[int | None, Query(ge=1, le=2**62, description="next_cursor of the previous page")] = None,
) -> Response:
    """The caller's clinic's records (every clinic's for an admin key), filtered, newest first, a page at a time."""
    page = svc.store.list(
        scope=who.scope,
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
    "/verify",
    response_model=VerifyReport,
    summary="Check the records against their hash chain",
    responses=PROBLEM_RESPONSES,
)
def verify_screenings(
    svc: Annotated[Service, Depends(service)],
    who: Annotated[Principal, Depends(principal)],
    anchor: Annotated[
        str | None, Query(pattern=r"^[0-9a-f]{64}$", description="a head hash written down earlier, to look for")
    ] = None,
) -> Response:
    """Every record of the caller's clinic (every record for an admin key) against its seal and the seal before it.

    ``ok`` is false when a record does not match (``first_mismatch`` names the first, in stored order), when
    the anchor is no longer in the chain, or when an append-only trigger of the database is missing or disabled.
    """
    return _json(svc.store.verify(scope=who.scope, anchor=anchor).as_dict())


@router.get(
    "/{record_id}",
    response_model=RecordOut,
    summary="One record in full",
    responses=PROBLEM_RESPONSES | _NOT_FOUND,
)
def get_screening(
    record_id: _RecordId,
    svc: Annotated[Service, Depends(service)],
    who: Annotated[Principal, Depends(principal)],
) -> Response:
    """The record: intake as screened, result as returned, who submitted it, what it re-screened."""
    row = svc.store.get(record_id, scope=who.scope)
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
async def rescreen(
    record_id: _RecordId,
    svc: Annotated[Service, Depends(service)],
    who: Annotated[Principal, Depends(principal)],
) -> Response:
    """Screen the stored intake again; a new record (of the same clinic) links to the old one and says what changed."""
    start = time.perf_counter()
    old = await run_in_threadpool(svc.store.get, record_id, scope=who.scope)
    if old is None:
        return problem_response(404, "NS404", "no screening record with this id")
    intake, result, result_json = await svc.compute(_rescreen, svc, old.intake_json)
    row = _row(intake, intake_json=old.intake_json, result=result, result_json=result_json, who=who, tenant=old.tenant)
    row.previous_id = old.id
    row.changes_json = orjson.dumps(diff_results(orjson.loads(old.result_json), orjson.loads(result_json))).decode()
    await run_in_threadpool(svc.store.add, row)
    _logged(svc, result, start, stored=True, previous=old.id)
    return _json(_full(row), 201, {"Location": f"/screenings/{row.id}"})
