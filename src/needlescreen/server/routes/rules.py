"""``/rules``: the loaded ruleset's catalogue, and one rule with its sources and scenarios."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from starlette.responses import Response

from needlescreen.catalogue import rule_document, rule_summary
from needlescreen.server.auth import caller
from needlescreen.server.models import RuleDetail, RuleSummary
from needlescreen.server.problems import PROBLEM_RESPONSES, problem_response
from needlescreen.server.problems import json_response as _json
from needlescreen.server.service import Service
from needlescreen.server.service import get_service as service

__all__ = ["router"]

router = APIRouter(prefix="/rules", tags=["rules"], dependencies=[Depends(caller)])


_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: PROBLEM_RESPONSES[422] | {"description": "No rule with this id"}}


@router.get("", response_model=list[RuleSummary], summary="The rule catalogue", responses=PROBLEM_RESPONSES)
def list_rules(svc: Annotated[Service, Depends(service)]) -> Response:
    """Every rule of the ruleset this worker screens with."""
    return _json([rule_summary(r) for r in svc.screener.ruleset.rules])


@router.get(
    "/{rule_id}",
    response_model=RuleDetail,
    summary="One rule in full",
    responses=PROBLEM_RESPONSES | _NOT_FOUND,
)
def get_rule(
    rule_id: Annotated[str, Path(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")],
    svc: Annotated[Service, Depends(service)],
) -> Response:
    """A rule with its condition, sources and the Gherkin scenarios that exercise it."""
    ruleset = svc.screener.ruleset
    try:
        rule = ruleset.rule(rule_id.upper())
    except KeyError:
        return problem_response(404, "NS404", f"no rule {rule_id!r} in ruleset {ruleset.revision}")
    return _json(rule_document(rule, ruleset))
