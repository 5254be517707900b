"""``/impact``: what a proposed clinic policy would change for the stored records (an admin key only).

The body is the proposed policy file itself (``needlescreen.policy-override/1`` as YAML or JSON, read with safe
YAML as every user-supplied file is). The current version of every stored record is screened under the
service's own rules and policy and under the proposed policy (:func:`needlescreen.impact.impact`, in this worker,
in a thread of its own), and the report is the command line's ``impact --format json``. It reads every clinic's
records, so a clinic's key is refused (403). A malformed policy is a 422 naming what is wrong; nothing is stored.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from needlescreen.errors import RuleFileError
from needlescreen.server.auth import Principal, principal
from needlescreen.server.bodies import JSON, YAML
from needlescreen.server.logs import log_event
from needlescreen.server.problems import PROBLEM_RESPONSES, problem_response
from needlescreen.server.problems import json_response as _json
from needlescreen.server.service import Service
from needlescreen.server.service import get_service as service

__all__ = ["router"]

router = APIRouter(tags=["impact"])

_POLICY_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The proposed clinic policy file (schema needlescreen.policy-override/1), as YAML or JSON.",
        "content": {kind: {"schema": {"type": "object"}} for kind in (YAML, JSON)},
    }
}


def _report(svc: Service, policy_text: bytes) -> dict[str, Any]:
    from needlescreen.impact import ImpactConfig, _sides, impact

    settings = svc.settings
    rows = svc.store.current_intakes()
    with tempfile.TemporaryDirectory(prefix="needlescreen-impact-") as tmp:
        proposed = Path(tmp) / "proposed-policy.yaml"
        proposed.write_bytes(policy_text)
        config = ImpactConfig(
            rules=settings.rules_dir, policy=settings.policy_file, to_policy=str(proposed), engine=settings.engine
        )
        try:
            report = impact(rows, config, workers=1)
        finally:
            _sides.cache_clear()  # this proposal's screeners are not kept in a long-running service
    data: dict[str, Any] = report.to_json()
    data["proposed"]["policy_source"] = "the request's policy, sha256 " + hashlib.sha256(policy_text).hexdigest()
    return data


@router.post(
    "/impact",
    summary="What a proposed clinic policy would change for the stored records (admin key)",
    responses={**PROBLEM_RESPONSES, 403: PROBLEM_RESPONSES[422] | {"description": "Not an admin key"}},
    openapi_extra=_POLICY_BODY,
)
async def impact_report(
    request: Request,
    svc: Annotated[Service, Depends(service)],
    who: Annotated[Principal, Depends(principal)],
) -> Response:
    """Screen every stored record's current version under the current and the proposed policy; report the moves."""
    if who.role != "admin":
        return problem_response(403, "NS403", "an impact report reads every clinic's records: it needs an admin key")
    body = await request.body()
    if not body.strip():
        return problem_response(422, "NS202", "the body is empty: send the proposed policy file", [("body", "empty")])
    try:
        data = await run_in_threadpool(_report, svc, body)
    except RuleFileError as exc:
        return problem_response(422, exc.code, "the proposed policy is invalid", [("body", str(exc))])
    log_event("impact", by=who.fingerprint, screened=data["screened"], moved=len(data["moved_records"]))
    return _json(data)
