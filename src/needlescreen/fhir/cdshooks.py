"""CDS Hooks 2.0: the services an EHR calls before a needling visit, and the cards they answer with.

Two services: ``appointment-book`` (a needling visit is booked) and ``order-select`` (a needling order is being
written). Each asks the EHR to prefetch the chart data needlescreen reads (:data:`PREFETCH`); ``patient``,
``conditions`` and ``medications`` are required, and a request without them is answered 412 (this service never
calls back into the EHR's FHIR server, see ``docs/fhir.md``). The planned sites come from the needling order
(``ServiceRequest.bodySite``), read as the questionnaire reads typed sites.

Cards (:func:`cards_for`): one per rule that fired (``critical`` for refer, ``warning`` for caution, the sites it
concerns in the detail), and one card for everything the chart could not say ("screening incomplete", with
the questions to ask). A refer card suggests a medical-clearance ``ServiceRequest``. No decision support to give
is ``{"cards": []}``. Optional fields are omitted, never null (every model here is dumped without ``None``).

:func:`prefetch_intake` is the pure function behind it all: hook request in, the partial intake the chart
supports out (with the resource behind each answer), which a link to the prefilled form can use.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from fhir.resources.R4B.annotation import Annotation
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.servicerequest import ServiceRequest
from pydantic import BaseModel, ConfigDict, Field

from needlescreen import FieldProblem, FindingResult, IntakeError, Ruleset, ScreeningResult

from .chart import ChartIntake, read_chart, resources_of
from .guidance import VERDICT_TEXT
from .systems import LOINC, OVERRIDE_SYSTEM, RULE_SYSTEM, RULESET_SYSTEM
from .terminology import bundled_terminology

__all__ = [
    "OVERRIDE_REASONS",
    "PREFETCH",
    "REQUIRED_PREFETCH",
    "SERVICES",
    "Card",
    "CdsResponse",
    "Discovery",
    "FeedbackRequest",
    "HookRequest",
    "PrefetchMissing",
    "ServiceDefinition",
    "cards_for",
    "discovery",
    "missing_prefetch",
    "prefetch_intake",
]

#: The longest card summary: the specification asks for fewer than 140 characters.
SUMMARY_LIMIT = 139


class _Model(BaseModel):
    # CDS Hooks names fields in camelCase; extra fields from a client are kept out of our models but accepted.
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    def dump(self) -> dict[str, Any]:
        """JSON data with every unset optional field left out (the specification: omitted, never null)."""
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)


class CdsCoding(_Model):
    """A CDS Hooks Coding (``display`` is required for override reasons)."""

    system: str | None = None
    code: str
    display: str | None = None


class CardSource(_Model):
    """Where the guidance comes from: the ruleset revision and the rule, with its sources."""

    label: str
    url: str | None = None
    icon: str | None = None
    topic: CdsCoding | None = None


class Action(_Model):
    """A suggested change (``create`` a resource)."""

    type: Literal["create", "update", "delete"]
    description: str
    resource: dict[str, Any] | None = None
    resourceId: str | None = None


class Suggestion(_Model):
    """A suggestion the clinician can accept."""

    label: str
    uuid: str | None = None
    isRecommended: bool | None = None
    actions: list[Action] | None = None


class Link(_Model):
    """A link to an app (the prefilled form is wired by the service, not here)."""

    label: str
    url: str
    type: Literal["absolute", "smart"]
    appContext: str | None = None


class Card(_Model):
    """One card (CDS Hooks 2.0 card attributes)."""

    uuid: str | None = None
    summary: str = Field(max_length=SUMMARY_LIMIT)
    detail: str | None = None
    indicator: Literal["info", "warning", "critical"]
    source: CardSource
    suggestions: list[Suggestion] | None = None
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[CdsCoding] | None = None
    links: list[Link] | None = None


class CdsResponse(_Model):
    """A service's answer: the cards (an empty list when there is nothing to say)."""

    cards: list[Card]


class ServiceDefinition(_Model):
    """One service in the discovery document."""

    hook: str
    title: str | None = None
    description: str
    id: str
    prefetch: dict[str, str] | None = None
    usageRequirements: str | None = None


class Discovery(_Model):
    """``GET /cds-services``."""

    services: list[ServiceDefinition]


class FhirAuthorization(_Model):
    """A bearer token the client grants for its FHIR server (accepted, never used: see the module docstring)."""

    access_token: str
    token_type: str
    expires_in: int
    scope: str
    subject: str
    patient: str | None = None


class HookRequest(_Model):
    """A hook call (the fields of CDS Hooks 2.0 "Calling a CDS Service")."""

    hook: str = Field(min_length=1)
    hookInstance: str = Field(min_length=1, max_length=200)
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None


class OverrideReason(_Model):
    """Why a card was overridden: a reason from the card and/or the clinician's comment."""

    reason: CdsCoding | None = None
    userComment: str | None = Field(default=None, max_length=2000)


class AcceptedSuggestion(_Model):
    """A suggestion that was accepted."""

    id: str = Field(min_length=1, max_length=200)


class Feedback(_Model):
    """What the clinician did with one card."""

    card: str = Field(min_length=1, max_length=200)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = None
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: dt.datetime


class FeedbackRequest(_Model):
    """``POST {baseUrl}/cds-services/{id}/feedback``."""

    feedback: list[Feedback] = Field(min_length=1, max_length=100)


# --- services and prefetch ----------------------------------------------------------------------------


def _observation_template() -> str:
    terminology = bundled_terminology()
    codes = ",".join(f"{LOINC}|{code}" for code in terminology.labs)
    return "Observation?patient={{context.patientId}}&code=" + codes + "&_sort=-date"


def _prefetch() -> dict[str, str]:
    return {
        "patient": "Patient/{{context.patientId}}",
        "conditions": "Condition?patient={{context.patientId}}",
        "medications": "MedicationRequest?patient={{context.patientId}}&status=active,on-hold",
        "medicationStatements": "MedicationStatement?patient={{context.patientId}}&status=active,intended,on-hold",
        "observations": _observation_template(),
        "devices": "Device?patient={{context.patientId}}",
        "allergies": "AllergyIntolerance?patient={{context.patientId}}",
        "procedures": "Procedure?patient={{context.patientId}}",
    }


#: Every service's prefetch templates (a dict, built once).
PREFETCH: dict[str, str] = _prefetch()
#: Without these a screening says too little: a request lacking them is answered 412.
REQUIRED_PREFETCH: tuple[str, ...] = ("patient", "conditions", "medications")

SERVICES: dict[str, ServiceDefinition] = {
    "needlescreen-appointment-book": ServiceDefinition(
        hook="appointment-book",
        id="needlescreen-appointment-book",
        title="needlescreen: screening before a dry needling visit",
        description=(
            "Screens the patient for contraindications to dry needling and electrical dry needling when a needling "
            "visit is booked (an appointment based on a needling ServiceRequest with body sites)."
        ),
        prefetch={**PREFETCH, "serviceRequests": "ServiceRequest?patient={{context.patientId}}&status=active,draft"},
        usageRequirements=(
            "The needling order's bodySite names the planned sites; prefetch patient, conditions and medications."
        ),
    ),
    "needlescreen-order-select": ServiceDefinition(
        hook="order-select",
        id="needlescreen-order-select",
        title="needlescreen: screening a dry needling order",
        description=(
            "Screens the patient for contraindications when a dry needling or electrical dry needling order is "
            "selected; the order's bodySite names the planned sites."
        ),
        prefetch=dict(PREFETCH),
        usageRequirements="Prefetch patient, conditions and medications.",
    ),
}


def discovery() -> Discovery:
    """The discovery document of ``GET /cds-services``."""
    return Discovery(services=list(SERVICES.values()))


class PrefetchMissing(Exception):
    """Required prefetch data was not sent (or the client reported an error for it): answer 412."""

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = tuple(keys)
        super().__init__(f"required prefetch missing: {', '.join(self.keys)}")


def missing_prefetch(request: HookRequest) -> list[str]:
    """The required prefetch keys the request did not satisfy (absent, or an OperationOutcome in their place).

    A key sent as ``null`` is satisfied: the client has no data for it (the chart then says nothing there).
    """
    prefetch = request.prefetch or {}
    out = []
    for key in REQUIRED_PREFETCH:
        if key not in prefetch:
            out.append(key)
            continue
        value = prefetch[key]
        if isinstance(value, Mapping) and value.get("resourceType") == "OperationOutcome":
            out.append(key)
    return out


def _context_error(path: str, message: str) -> IntakeError:
    return IntakeError([FieldProblem(path, message)], source="CDS Hooks request")


def _orders(request: HookRequest) -> Any:
    ctx = request.context
    if request.hook == "order-select":
        draft = ctx.get("draftOrders")
        selections = ctx.get("selections")
        if not isinstance(draft, Mapping) or not isinstance(selections, list):
            raise _context_error("context", "order-select needs context.selections and context.draftOrders")
        chosen = {str(s) for s in selections}
        out = []
        for _path, res in resources_of(draft):
            if f"{res.get('resourceType')}/{res.get('id')}" in chosen:
                out.append(res)
        return out
    appointments = ctx.get("appointments")
    if appointments is None:
        raise _context_error("context.appointments", "appointment-book needs context.appointments")
    requests = (request.prefetch or {}).get("serviceRequests")
    return [appointments, requests] if requests is not None else [appointments]


def prefetch_intake(
    request: HookRequest | Mapping[str, Any],
    *,
    now: dt.datetime | None = None,
    ruleset: Ruleset | None = None,
) -> ChartIntake:
    """The partial intake a hook request's prefetch and context support, with the resource behind each answer.

    Pure: reads only the request (prefetch values that are not OperationOutcomes, and the needling order among
    the selected draft orders or the booked appointments), never the network. ``intake`` is ``None`` when no
    needling order with body sites was found; ``data`` is then what a form can be prefilled with.

    Raises:
        IntakeError: the request or a prefetched resource is malformed (named by its path).
    """
    req = request if isinstance(request, HookRequest) else HookRequest.model_validate(dict(request))
    prefetch = req.prefetch or {}
    chart = {
        f"prefetch.{key}": value
        for key, value in prefetch.items()
        if key != "serviceRequests"
        and value is not None
        and not (isinstance(value, Mapping) and value.get("resourceType") == "OperationOutcome")
    }
    orders = _orders(req)
    return read_chart(chart, orders=orders, now=now, ruleset=ruleset)


# --- cards --------------------------------------------------------------------------------------------------

OVERRIDE_REASONS: tuple[CdsCoding, ...] = (
    CdsCoding(system=OVERRIDE_SYSTEM, code="clearance-documented", display="Clearance is already documented"),
    CdsCoding(system=OVERRIDE_SYSTEM, code="chart-out-of-date", display="The chart information is out of date"),
    CdsCoding(system=OVERRIDE_SYSTEM, code="plan-changed", display="The plan was changed to avoid the concern"),
    CdsCoding(
        system=OVERRIDE_SYSTEM, code="clinical-judgement", display="Clinical judgement: benefit outweighs the risk"
    ),
)


def _short(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= SUMMARY_LIMIT:
        return text
    cut = text[: SUMMARY_LIMIT - 1].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "…"


def _where(findings: Sequence[FindingResult]) -> list[str]:
    out = []
    for f in findings:
        if f.site is not None:
            side = f"{f.site.side} " if f.site.side else ""
            muscle = f" ({f.site.muscle})" if f.site.muscle else ""
            nerve = f" ({f.site.nerve} nerve)" if f.site.nerve else ""
            out.append(f"site {f.site.id}: {side}{f.site.region_label}{muscle}{nerve}")
        elif f.circuit is not None:
            out.append(f"lead pair {f.circuit[0]}-{f.circuit[1]}")
    return list(dict.fromkeys(out))


def _detail(findings: Sequence[FindingResult], chart: ChartIntake | None) -> str:
    first = findings[0]
    lines = [f"**{first.verdict.upper()}**: {first.summary}", ""]
    where = _where(findings)
    if where:
        lines += ["Concerns " + "; ".join(where) + ".", ""]
    lines += [first.detail, ""]
    if first.modifications:
        lines += ["**What to do instead**", *[f"- {m}" for m in first.modifications], ""]
    if first.references:
        lines += ["**Sources**: " + "; ".join(r.citation for r in first.references), ""]
    if chart is not None:
        implicated = chart.implicated({fact for f in findings for fact in f.facts})
        if implicated:
            lines += ["From the chart: " + ", ".join(implicated)]
    return "\n".join(lines).strip()


def _source(result: ScreeningResult, finding: FindingResult | None) -> CardSource:
    revision = f"needlescreen ruleset {result.ruleset.revision}"
    if finding is None:
        return CardSource(label=revision, topic=CdsCoding(system=RULESET_SYSTEM, code=result.ruleset.name))
    refs = ", ".join(r.key for r in finding.references)
    label = f"{revision} · {finding.rule_id}" + (f" ({refs})" if refs else "")
    return CardSource(label=label, topic=CdsCoding(system=RULE_SYSTEM, code=finding.rule_id, display=finding.title))


def _clearance(finding: FindingResult, patient: str | None) -> Suggestion:
    kwargs: dict[str, Any] = {}
    if patient:
        kwargs["subject"] = {"reference": patient if patient.startswith("urn:") else f"Patient/{patient}"}
    else:
        kwargs["subject"] = {"display": "the patient of this request"}
    request = ServiceRequest(
        status="draft",
        intent="proposal",
        code=CodeableConcept(text="Medical clearance before dry needling"),
        reasonCode=[CodeableConcept(text=finding.summary)],
        note=[Annotation(text=" ".join(finding.modifications) or finding.summary)],
        **kwargs,
    )
    return Suggestion(
        label="Request medical clearance before needling",
        uuid=str(uuid.uuid4()),
        isRecommended=True,
        actions=[
            Action(
                type="create",
                description=f"Draft a request for clearance: {finding.title}",
                resource=request.model_dump(mode="json"),
            )
        ],
    )


def cards_for(result: ScreeningResult, chart: ChartIntake | None = None) -> list[Card]:
    """The cards of one screening: one per rule that fired, one for what is missing; none when clear."""
    patient = chart.patient if chart else None
    fired: dict[str, list[FindingResult]] = {}
    for f in result.findings:
        if f.status == "fired":
            fired.setdefault(f.rule_id, []).append(f)
    order = sorted(fired.values(), key=lambda fs: (fs[0].verdict != "refer", fs[0].rule_id))
    cards = []
    for findings in order:
        first = findings[0]
        refer = first.verdict == "refer"
        kwargs: dict[str, Any] = {}
        if refer:
            kwargs["suggestions"] = [_clearance(first, patient)]
            kwargs["selectionBehavior"] = "at-most-one"
        cards.append(
            Card(
                uuid=str(uuid.uuid4()),
                summary=_short(first.summary),
                detail=_detail(findings, chart),
                indicator="critical" if refer else "warning",
                source=_source(result, first),
                overrideReasons=list(OVERRIDE_REASONS),
                **kwargs,
            )
        )
    undecided = [f for f in result.findings if f.status == "unknown"]
    if result.missing or undecided:
        worst: Literal["critical", "warning"] = (
            "critical" if any(f.verdict == "refer" for f in undecided) else "warning"
        )
        n = len(result.missing)
        questions = [f"- {m.question} ({', '.join(m.rules)})" for m in result.missing]
        detail = "\n".join(
            [
                f"**{VERDICT_TEXT[result.verdict]}**",
                "",
                "The chart does not say what these rules need; unknown is never read as no. Ask:",
                "",
                *questions,
            ]
        )
        cards.append(
            Card(
                uuid=str(uuid.uuid4()),
                summary=_short(f"Screening incomplete: {n} question{'s' if n != 1 else ''} to answer before needling"),
                detail=detail,
                indicator=worst,
                source=_source(result, None),
                overrideReasons=list(OVERRIDE_REASONS),
            )
        )
    return cards


@dataclass(frozen=True, slots=True)
class HookOutcome:
    """One answered hook: the chart read, the screening (None when there was nothing to screen) and the cards."""

    chart: ChartIntake
    result: ScreeningResult | None
    cards: list[Card]


def no_plan_cards(chart: ChartIntake) -> list[Card]:
    """A needling order without planned sites: say so (never silence), or nothing when no needling is planned."""
    if not any("needling order without body sites" in n for n in chart.notes):
        return []
    return [
        Card(
            uuid=str(uuid.uuid4()),
            summary="Dry needling planned, but the order names no sites: screening not done",
            detail=(
                "needlescreen screens the planned needling sites. Add the planned sites to the order's body site "
                "(e.g. 'left calf (gastrocnemius)', 'right tibial nerve') or screen with the intake form."
            ),
            indicator="warning",
            source=CardSource(label="needlescreen"),
        )
    ]
