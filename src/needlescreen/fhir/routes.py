"""The FHIR and CDS Hooks routes, mounted on the service by :func:`install` when the fhir extra is installed.

* ``GET /fhir/Questionnaire/needlescreen``: the intake questionnaire as an R4B Questionnaire.
* ``POST /fhir/$screen``: a chart Bundle (with a needling ServiceRequest naming the sites) -> a Bundle of a
  GuidanceResponse and DetectedIssues; stored as a screening record unless ``dry_run``.
* ``GET /cds-services``, ``POST /cds-services/{id}``, ``POST /cds-services/{id}/feedback``: CDS Hooks 2.0. When
  the web form is served as well, each card links to it prefilled from the chart (:mod:`needlescreen.fhir.prefill`
  and a draft handed off by :meth:`needlescreen.web.drafts.Drafts.hand_off`).

FHIR errors are ``OperationOutcome`` resources (412 for missing prefetch, 422 naming each path at fault, 401,
404). The CDS Hooks routes accept a CDS Hooks JWT from a configured issuer (:mod:`needlescreen.fhir.auth`) or
one of the service's API keys; the FHIR routes take the service's API keys like every other route.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Sequence
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fhir.resources.R4B.operationoutcome import OperationOutcome, OperationOutcomeIssue
from pydantic import ValidationError
from starlette.responses import Response
from starlette.routing import NoMatchFound

from needlescreen import Intake, IntakeError, ScreeningResult
from needlescreen.server.auth import LOCAL, Principal, caller, principal, verify_key
from needlescreen.server.logs import elapsed_ms, log_event
from needlescreen.server.problems import PROBLEM_RESPONSES
from needlescreen.server.service import Service
from needlescreen.server.store import ScreeningRecord

from .auth import CdsAuth, TokenError
from .cdshooks import (
    SERVICES,
    Card,
    FeedbackRequest,
    HookRequest,
    Link,
    cards_for,
    discovery,
    missing_prefetch,
    no_plan_cards,
    prefetch_intake,
)
from .chart import ChartIntake, read_chart
from .guidance import result_bundle
from .prefill import prefill
from .questionnaire import bundled_questionnaire, fhir_questionnaire
from .store import FeedbackStore, UnknownCard
from .terminology import bundled_terminology

__all__ = ["FHIR_JSON", "install", "router"]

FHIR_JSON = "application/fhir+json"
router = APIRouter(tags=["fhir"])

_OBJECT: dict[str, Any] = {"schema": {"type": "object"}}


def _doc(ok: str, *statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI responses of a route: its success media type, its OperationOutcomes and the problems."""
    out: dict[int | str, dict[str, Any]] = {200: {"description": "OK", "content": {ok: _OBJECT}}}
    problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
    for status in statuses:
        # An OperationOutcome from the route; a problem from the service around it (an unknown path, a bad query).
        out[status] = {
            "description": "An OperationOutcome naming what is wrong",
            "content": {FHIR_JSON: _OBJECT, "application/problem+json": problem},
        }
    for code, doc in PROBLEM_RESPONSES.items():
        if code in out:  # a query-parameter error is a problem, a FHIR input error an OperationOutcome
            out[code]["content"] = {**out[code]["content"], **doc["content"]}
        else:
            out[code] = doc
    return out


def _outcome(
    status: int, issues: Sequence[tuple[str, str, str | None]], headers: dict[str, str] | None = None
) -> Response:
    """An OperationOutcome response: (code, diagnostics, expression) per issue."""
    oo = OperationOutcome(
        issue=[
            OperationOutcomeIssue(severity="error", code=code, diagnostics=text, expression=[path] if path else None)
            for code, text, path in issues
        ]
    )
    return Response(oo.model_dump_json(), status_code=status, media_type=FHIR_JSON, headers=headers)


def _invalid(exc: IntakeError) -> Response:
    return _outcome(422, [("invalid", p.message, p.path or None) for p in exc.problems])


def _json(data: Any, status: int = 200, media_type: str = "application/json") -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=media_type)


def _service(request: Request) -> Service:
    svc: Service = request.app.state.service
    return svc


# --- CDS Hooks authentication -------------------------------------------------------------------------------


def _audiences(request: Request, auth: CdsAuth) -> list[str]:
    base = auth.base_url or str(request.base_url).rstrip("/")
    path = request.url.path
    out = [base + path]
    if path.endswith("/feedback"):
        out.append(base + path[: -len("/feedback")])  # some clients name the service itself for its feedback
    return out


async def cds_principal(request: Request) -> Principal:
    """The CDS client: :data:`LOCAL` when nothing is configured, a key's principal (its clinic), or a JWT's
    issuer (``jwt:<issuer hash>``, no clinic: its records are stored without one, seen by admin keys).

    Raises:
        HTTPException: 401 when keys or issuers are configured and the request carries neither a key nor a
            valid CDS Hooks JWT.
    """
    svc = _service(request)
    auth: CdsAuth = request.app.state.cds_auth
    keys = svc.settings.keys
    if not keys and not auth.enabled:
        return LOCAL
    header = request.headers.get("authorization", "")
    bearer = header[7:].strip() if header[:7].lower() == "bearer " else None
    offered = request.headers.get("x-api-key") or bearer
    # The service's own key check (every key compared in full, in constant time).
    found = verify_key(offered, keys) if offered and keys else None
    if found is not None:
        return found
    reason = "a CDS Hooks JWT (Authorization: Bearer) or an API key is required"
    if bearer and auth.enabled:
        try:
            claims = await run_in_threadpool(auth.verify, bearer, _audiences(request, auth))
        except TokenError as exc:
            reason = str(exc)
        else:
            issuer = ("jwt:" + hashlib.sha256(str(claims["iss"]).encode()).hexdigest()[:12])[:64]
            return Principal(clinic=None, role="clinic", fingerprint=issuer)
    log_event("cds_auth_refused", reason=reason)
    raise HTTPException(401, reason, {"WWW-Authenticate": "Bearer"})


# --- FHIR -----------------------------------------------------------------------------------------------------


@router.get(
    "/fhir/Questionnaire/needlescreen",
    summary="The intake questionnaire as an R4B Questionnaire",
    response_class=Response,
    responses=_doc(FHIR_JSON),
)
def get_questionnaire(request: Request, _who: Annotated[str, Depends(caller)]) -> Response:
    """The SDC Questionnaire generated from the questionnaire every form uses."""
    return Response(request.app.state.fhir_questionnaire, media_type=FHIR_JSON)


async def cds_caller(who: Annotated[Principal, Depends(cds_principal)]) -> str:
    """The CDS client's fingerprint only (routes that store nothing under a clinic)."""
    return who.fingerprint


def _record(intake: Intake, result: ScreeningResult, who: Principal, patient: str | None) -> ScreeningRecord:
    return ScreeningRecord(
        id=result.decision_id,
        created_at=result.timestamp.astimezone(dt.UTC),
        submitted_by=who.fingerprint,
        tenant=who.clinic,
        patient_ref=patient[:64] if patient and patient.isprintable() else None,
        clinician=None,
        clinic=None,
        encounter_date=result.timestamp.astimezone(dt.UTC).date(),
        verdict=result.verdict,
        technique=result.technique,
        ruleset_name=result.ruleset.name,
        ruleset_revision=result.ruleset.revision,
        ruleset_hash=result.ruleset.content_hash,
        policy_source=result.policy_source,
        engine=result.engine,
        package_version=result.package_version,
        intake_json=intake.model_dump_json(exclude_defaults=True),
        result_json=result.model_dump_json(),
    )


@router.post(
    "/fhir/$screen",
    summary="Screen a chart Bundle; answers a Bundle of GuidanceResponse and DetectedIssues",
    response_class=Response,
    responses=_doc(FHIR_JSON, 400, 422),
)
async def screen_bundle(
    request: Request,
    who: Annotated[Principal, Depends(principal)],
    now: Annotated[dt.datetime | None, Query(description="what 'now' is for lab ages (default: the clock)")] = None,
    dry_run: Annotated[bool, Query(description="screen without storing a record")] = False,
) -> Response:
    """Read the Bundle (chart and a needling ServiceRequest with body sites), screen it, answer in FHIR."""
    start = time.perf_counter()
    svc = _service(request)
    body = await request.body()

    def read_and_screen() -> tuple[ChartIntake, ScreeningResult | None]:
        chart = read_chart(orjson.loads(body), now=now, ruleset=svc.screener.ruleset)
        return chart, None if chart.intake is None else svc.screen(chart.intake)

    try:
        # Reading a chart into FHIR models and screening it is CPU work: in the screening threads, off the loop.
        chart, result = await svc.compute(read_and_screen)
    except orjson.JSONDecodeError:
        return _outcome(400, [("structure", "the body is not JSON", None)])
    except IntakeError as exc:
        return _invalid(exc)
    if chart.intake is None or result is None:
        return _outcome(
            422,
            [
                (
                    "required",
                    "no needling ServiceRequest with body sites (the planned sites) in the Bundle",
                    "ServiceRequest",
                )
            ],
        )
    if not dry_run:
        await run_in_threadpool(svc.store.add, _record(chart.intake, result, who, chart.patient))
    bundle = result_bundle(result, chart, terminology=request.app.state.fhir_terminology)
    log_event(
        "fhir_screen", decision_id=result.decision_id, verdict=result.verdict, stored=not dry_run, ms=elapsed_ms(start)
    )
    return Response(bundle.model_dump_json(), media_type=FHIR_JSON)


# --- CDS Hooks ------------------------------------------------------------------------------------------------


@router.get("/cds-services", summary="CDS Hooks discovery", response_class=Response, responses=_doc("application/json"))
def cds_discovery(_who: Annotated[str, Depends(cds_caller)]) -> Response:
    """The services, their hooks and prefetch templates."""
    return _json(discovery().dump())


def _parse_hook(body: bytes) -> HookRequest | Response:
    try:
        return HookRequest.model_validate(orjson.loads(body))
    except orjson.JSONDecodeError:
        return _outcome(400, [("structure", "the body is not JSON", None)])
    except ValidationError as exc:
        return _outcome(
            400,
            [("structure", e["msg"], ".".join(str(p) for p in e["loc"])) for e in exc.errors(include_url=False)[:20]],
        )


@router.post(
    "/cds-services/{service_id}",
    summary="Call a CDS service",
    response_class=Response,
    responses=_doc("application/json", 400, 404, 412, 422),
)
async def cds_call(service_id: str, request: Request, who: Annotated[Principal, Depends(cds_principal)]) -> Response:
    """Screen from the prefetch and the needling order; answer with cards (``{"cards": []}`` when nothing applies)."""
    start = time.perf_counter()
    service = SERVICES.get(service_id)
    if service is None:
        return _outcome(404, [("not-found", f"no CDS service {service_id!r}", None)])
    hook = _parse_hook(await request.body())
    if isinstance(hook, Response):
        return hook
    if hook.hook != service.hook:
        return _outcome(
            400, [("invalid", f"service {service_id} answers the {service.hook} hook, not {hook.hook}", "hook")]
        )
    missing = missing_prefetch(hook)
    if missing:
        # This service does not fetch from the client's FHIR server (docs/fhir.md): 412, as the specification says.
        return _outcome(
            412,
            [("required", f"required prefetch {key!r} was not provided", f"prefetch.{key}") for key in missing],
        )
    svc = _service(request)

    def read_and_screen() -> tuple[ChartIntake, ScreeningResult | None]:
        chart = prefetch_intake(hook, ruleset=svc.screener.ruleset)
        return chart, None if chart.intake is None else svc.screen(chart.intake)

    try:
        # Reading the prefetch into FHIR models (most of a call's CPU) and screening: off the event loop.
        chart, result = await svc.compute(read_and_screen)
    except IntakeError as exc:
        return _invalid(exc)
    if chart.intake is None or result is None:
        cards = await _with_form_link(request, hook, chart, no_plan_cards(chart))
        return _json({"cards": [c.dump() for c in cards]})
    cards = await _with_form_link(request, hook, chart, cards_for(result, chart))
    fired = {
        c.uuid: c.source.topic.code if c.source.topic and c.source.topic.system != "urn:needlescreen:ruleset" else None
        for c in cards
    }
    store: FeedbackStore = request.app.state.cds_store

    def persist() -> None:
        svc.store.add(_record(chart.intake, result, who, chart.patient))  # type: ignore[arg-type]
        store.add_cards(result.decision_id, service_id, hook.hookInstance, cards, [fired[c.uuid] for c in cards])

    await run_in_threadpool(persist)
    log_event(
        "cds_hook",
        service=service_id,
        decision_id=result.decision_id,
        verdict=result.verdict,
        cards=len(cards),
        ms=elapsed_ms(start),
    )
    return _json({"cards": [c.dump() for c in cards]})


def _form_link(request: Request, hook: HookRequest, chart: ChartIntake) -> Link | None:
    """A link to the web form prefilled from the chart: a draft handed to whoever opens the link (once, soon).

    The URL carries only the link's random token, never patient data. None when the chart cannot be read as
    form answers (the cards still stand; the reason is logged).
    """
    from needlescreen.web.drafts import LINK_PATH, Drafts

    svc = _service(request)
    try:
        filled = prefill(chart, ruleset=svc.screener.ruleset, q=bundled_questionnaire(svc.screener.ruleset))
    except IntakeError as exc:
        log_event("cds_form_link_skipped", problems=len(exc.problems))
        return None
    read_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    answers = filled.draft(read_at=read_at, hook=hook.hook)
    try:
        token = Drafts(svc.store).hand_off(answers, label=answers.get("r.patient_ref") or "from the chart")
    except ValueError:  # larger than a form can be
        log_event("cds_form_link_skipped", reason="too large")
        return None
    auth: CdsAuth = request.app.state.cds_auth
    base = auth.base_url or str(request.base_url).rstrip("/")
    return Link(label=FORM_LINK_LABEL, url=base + LINK_PATH.format(token=token), type="absolute")


#: The label of every card's link to the prefilled form.
FORM_LINK_LABEL = "Open the screening form, prefilled from the chart"


def _form_links_served(request: Request) -> bool:
    """Whether the web form is mounted (the web extra), so a card can link to it."""
    state = request.app.state
    served: bool | None = getattr(state, "cds_form_links", None)
    if served is None:
        try:
            from needlescreen.web.drafts import LINK_PATH

            served = request.app.url_path_for("from_chart", token="t") == LINK_PATH.format(token="t")
        except (ModuleNotFoundError, NoMatchFound):  # no web extra, or no web form mounted: nothing to link to
            served = False
        state.cds_form_links = served
    return served


async def _with_form_link(request: Request, hook: HookRequest, chart: ChartIntake, cards: list[Card]) -> list[Card]:
    """The cards, each with the link to the prefilled form when there are cards and the web form is served."""
    if not cards or not _form_links_served(request):
        return cards
    link = await run_in_threadpool(_form_link, request, hook, chart)
    return cards if link is None else [c.model_copy(update={"links": [link]}) for c in cards]


@router.post(
    "/cds-services/{service_id}/feedback",
    summary="Feedback on cards: accepted or overridden",
    response_class=Response,
    responses=_doc("application/json", 400, 404, 422),
)
async def cds_feedback(service_id: str, request: Request, who: Annotated[str, Depends(cds_caller)]) -> Response:
    """Store each outcome (and its override reason) beside the screening record the card came from."""
    if service_id not in SERVICES:
        return _outcome(404, [("not-found", f"no CDS service {service_id!r}", None)])
    try:
        body = FeedbackRequest.model_validate(orjson.loads(await request.body()))
    except orjson.JSONDecodeError:
        return _outcome(400, [("structure", "the body is not JSON", None)])
    except ValidationError as exc:
        return _outcome(
            400,
            [("structure", e["msg"], ".".join(str(p) for p in e["loc"])) for e in exc.errors(include_url=False)[:20]],
        )
    store: FeedbackStore = request.app.state.cds_store
    try:
        rows = await run_in_threadpool(store.add_feedback, service_id, body.feedback, who)
    except UnknownCard as exc:
        return _outcome(422, [("not-found", str(exc), f"feedback[{exc.index}].card")])
    log_event("cds_feedback", service=service_id, items=len(rows))
    return _json({})


def install(app: FastAPI) -> None:
    """Mount the FHIR and CDS Hooks routes on the service app (its ``state.service`` must be set).

    Reads the CDS Hooks issuers from the environment and warms the questionnaire and chart tables, so the first
    hook call does not pay for loading them.

    Raises:
        RuleFileError: the configured issuers file, or a JWK Set file it names, is malformed.
    """
    svc: Service = app.state.service
    ruleset = svc.screener.ruleset
    app.state.cds_auth = CdsAuth.from_env()
    app.state.cds_store = FeedbackStore(svc.store.engine)
    app.state.fhir_terminology = bundled_terminology()
    q = fhir_questionnaire(bundled_questionnaire(ruleset), version=ruleset.revision)
    app.state.fhir_questionnaire = q.model_dump_json()
    app.include_router(router)
