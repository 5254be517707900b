"""Errors as problem details (RFC 9457, ``application/problem+json``), never as verdicts.

An invalid intake answers 422 with the same JSON paths as :class:`needlescreen.IntakeError` (``errors`` lists
``{path, message}``, e.g. ``plan.sites[0].side``, and ``suggestions`` where a form can offer what was likely
meant: a misspelt muscle's near names, the region an everyday word stands for); a body too large answers 413
naming ``body``; an engine or internal failure answers 500 with a body that carries no verdict and no decision
id. ``code`` is the stable error code of ``docs/errors.md``. ``errors`` lists at most :data:`MAX_ERRORS`
problems, the first ones; ``error_count`` says how many there were in all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from needlescreen.errors import FieldProblem

__all__ = [
    "BODY_RESPONSES",
    "MAX_ERRORS",
    "PROBLEM_RESPONSES",
    "Problem",
    "ProblemField",
    "json_response",
    "problem",
    "problem_bytes",
    "problem_response",
]

MEDIA_TYPE = "application/problem+json"
#: The most problems one answer lists (the first ones; ``error_count`` gives the total).
MAX_ERRORS = 50
_TITLES = {
    400: "Bad request",
    401: "Authentication required",
    404: "Not found",
    405: "Method not allowed",
    408: "Request timeout",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid input",
    431: "Request header fields too large",
    500: "Internal error: no verdict was given",
    503: "Not ready",
}


class ProblemField(BaseModel):
    """One field at fault: a JSON path (as in ``IntakeError``), what is wrong with it, and what may be meant."""

    model_config = ConfigDict(frozen=True)

    path: str
    message: str
    suggestions: list[str] = Field(
        default=[], description="values likely meant, best first (absent when there is nothing to offer)"
    )


class Problem(BaseModel):
    """An RFC 9457 problem; ``errors`` names every field at fault."""

    model_config = ConfigDict(frozen=True)

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[ProblemField] = Field(default=[], max_length=MAX_ERRORS)
    error_count: int = Field(default=0, ge=0, description="how many problems there were (errors lists the first)")


def _field(error: tuple[str, str] | FieldProblem) -> dict[str, Any]:
    if isinstance(error, FieldProblem):
        out: dict[str, Any] = {"path": error.path, "message": error.message}
        if error.suggestions:
            out["suggestions"] = list(error.suggestions)
        return out
    return {"path": error[0], "message": error[1]}


def problem(
    status: int, code: str, detail: str, errors: Sequence[tuple[str, str] | FieldProblem] = ()
) -> dict[str, Any]:
    """A problem body as plain data (the first :data:`MAX_ERRORS` errors, and their count); a
    :class:`FieldProblem` keeps its suggestions."""
    return {
        "type": f"urn:needlescreen:error:{code}",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
        "errors": [_field(e) for e in errors[:MAX_ERRORS]],
        "error_count": len(errors),
    }


def problem_bytes(status: int, code: str, detail: str, errors: Sequence[tuple[str, str]] = ()) -> bytes:
    """A problem body as JSON bytes (for answers written below the app, by the HTTP protocol)."""
    return orjson.dumps(problem(status, code, detail, errors))


def problem_response(
    status: int,
    code: str,
    detail: str,
    errors: Sequence[tuple[str, str] | FieldProblem] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A problem as a response with the problem+json media type."""
    body = orjson.dumps(problem(status, code, detail, errors))
    return Response(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def json_response(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON response serialised by orjson (validated models are dumped by pydantic before this)."""
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


def _doc(description: str) -> dict[str, Any]:
    return {"description": description, "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


#: The problem responses every route documents in the OpenAPI document.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _doc("Missing or wrong API key or bearer token"),
    408: _doc("The request body did not arrive within the read timeout"),
    413: _doc("The request body is larger than the service accepts"),
    422: _doc("Invalid input; errors name the fields at fault by their JSON paths (the first 50; error_count all)"),
    500: _doc("Internal or engine error; no verdict and no decision id"),
}
#: What an endpoint that reads a body documents on top.
BODY_RESPONSES: dict[int | str, dict[str, Any]] = {
    415: _doc("The body is not application/json or application/yaml"),
}
