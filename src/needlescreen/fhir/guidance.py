"""Result out: a screening as FHIR Clinical Reasoning resources, in one ``collection`` Bundle.

* a ``GuidanceResponse``: ``success`` when nothing is missing, else ``data-required`` with one
  ``dataRequirement`` per missing item (the resource that would supply it, the fact and the question); the
  ruleset as its module (name and revision, content hash in an extension), the decision id as
  ``requestIdentifier``, the verdict in ``note`` and, in full, in the ``Parameters`` of ``outputParameters``;
* a ``DetectedIssue`` per finding: refer -> ``high``, caution -> ``moderate``; ``final`` for a rule that fired,
  ``preliminary`` for one left undecided by missing information; ``detail`` the reason, ``mitigation`` each
  modification, ``implicated`` the chart resources that gave the facts it read (when a chart was read).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from fhir.resources.R4B.annotation import Annotation
from fhir.resources.R4B.bundle import Bundle, BundleEntry
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.datarequirement import DataRequirement, DataRequirementCodeFilter
from fhir.resources.R4B.detectedissue import DetectedIssue, DetectedIssueEvidence, DetectedIssueMitigation
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.guidanceresponse import GuidanceResponse
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.parameters import Parameters, ParametersParameter
from fhir.resources.R4B.reference import Reference

from needlescreen import FindingResult, MissingItem, ScreeningResult

from .chart import ChartIntake
from .systems import (
    EXT_CONTENT_HASH,
    EXT_FACT,
    EXT_QUESTION,
    LOINC,
    QUESTIONNAIRE_URL,
    RULE_SYSTEM,
    RULESET_SYSTEM,
    VERDICT_SYSTEM,
)
from .terminology import Terminology, bundled_terminology

__all__ = ["VERDICT_TEXT", "data_requirement", "finding_text", "result_bundle"]

VERDICT_TEXT = {
    "clear": "CLEAR - no contraindication found in the information given",
    "caution": "CAUTION - needle only with the modifications listed",
    "refer": "REFER - do not needle (at the sites named) without clearance",
}
# Which resource would supply a missing fact (the rest: the questionnaire).
_LAB_OF_FACT = {
    "labs.inr": "inr",
    "labs.inr_age_days": "inr",
    "labs.inr_above_target_by": "inr",
    "labs.platelets": "platelets",
    "labs.platelets_age_days": "platelets",
    "labs.anc": "anc",
    "labs.anc_age_days": "anc",
    "patient.temperature_c": "temperature",
    "patient.bmi": "bmi",
    "patient.pregnancy": "pregnancy_status",
    "patient.gestational_weeks": "gestational_age",
}
_TYPE_OF_PREFIX = (
    ("meds.", "MedicationStatement"),
    ("devices.", "Device"),
    ("patient.age", "Patient"),
    ("patient.sex", "Patient"),
    ("patient.metal_allergy", "AllergyIntolerance"),
    ("site.surgery_weeks_ago", "Procedure"),
    ("plan.", "ServiceRequest"),
    ("circuit.", "ServiceRequest"),
)


def _ns(name: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"urn:needlescreen:{name}")


def data_requirement(item: MissingItem, terminology: Terminology | None = None) -> DataRequirement:
    """What would resolve one missing item: a LOINC Observation, another chart resource, or a question."""
    terminology = terminology or bundled_terminology()
    extension = [Extension(url=EXT_FACT, valueString=item.fact), Extension(url=EXT_QUESTION, valueString=item.question)]
    lab = _LAB_OF_FACT.get(item.fact)
    if lab is not None:
        codes = [Coding(system=LOINC, code=c, display=terminology.lab_display[c]) for c in terminology.lab_codes(lab)]  # type: ignore[arg-type]
        return DataRequirement(
            type="Observation", extension=extension, codeFilter=[DataRequirementCodeFilter(path="code", code=codes)]
        )
    rtype = next((t for prefix, t in _TYPE_OF_PREFIX if item.fact.startswith(prefix)), "QuestionnaireResponse")
    kwargs: dict[str, Any] = {}
    if rtype == "QuestionnaireResponse":
        kwargs["profile"] = [QUESTIONNAIRE_URL]
    return DataRequirement(type=rtype, extension=extension, **kwargs)


def _where(f: FindingResult) -> str:
    if f.site is not None:
        side = f"{f.site.side} " if f.site.side else ""
        return f" Site {f.site.id}: {side}{f.site.region_label}."
    if f.circuit is not None:
        return f" Lead pair {f.circuit[0]}-{f.circuit[1]}."
    return ""


def finding_text(f: FindingResult) -> str:
    """The reason in plain words: summary, where, detail and, for an undecided rule, what is missing."""
    text = f"{f.summary}{_where(f)} {f.detail}".strip()
    if f.status == "unknown" and f.missing:
        text += f" Not decided: {', '.join(f.missing)} unknown."
    return text


def _issue(
    f: FindingResult, result: ScreeningResult, patient: Reference | None, implicated: Sequence[str]
) -> DetectedIssue:
    where = f.site.id if f.site else ("-".join(f.circuit) if f.circuit else "patient")
    kwargs: dict[str, Any] = {}
    if patient is not None:
        kwargs["patient"] = patient
    if implicated:
        kwargs["implicated"] = [Reference(reference=r) for r in implicated]
    if f.modifications:
        kwargs["mitigation"] = [DetectedIssueMitigation(action=CodeableConcept(text=m)) for m in f.modifications]
    if f.status == "unknown" and f.missing:
        kwargs["evidence"] = [DetectedIssueEvidence(code=[CodeableConcept(text=f"unknown: {m}") for m in f.missing])]
    return DetectedIssue(
        id=str(uuid.uuid5(_ns("finding"), f"{result.decision_id}:{f.rule_id}:{where}:{f.status}")),
        status="final" if f.status == "fired" else "preliminary",
        code=CodeableConcept(coding=[Coding(system=RULE_SYSTEM, code=f.rule_id, display=f.title)], text=f.title),
        severity="high" if f.verdict == "refer" else "moderate",
        identifiedDateTime=result.timestamp,
        detail=finding_text(f),
        reference=f"{RULE_SYSTEM}:{f.rule_id}",
        **kwargs,
    )


def _parameters(result: ScreeningResult) -> Parameters:
    def p(name: str, **value: Any) -> ParametersParameter:
        return ParametersParameter(name=name, **value)

    parts = [
        p("verdict", valueCode=result.verdict),
        p("technique", valueCode=result.technique),
        p("decisionId", valueString=result.decision_id),
        p("ruleset", valueString=f"{result.ruleset.name} {result.ruleset.revision}"),
        p("contentHash", valueString=result.ruleset.content_hash),
        p("engine", valueString=result.engine),
        p("packageVersion", valueString=result.package_version),
        p("policySource", valueString=result.policy_source),
    ]
    for sv in result.sites:
        parts.append(
            p(
                "site",
                part=[
                    p("id", valueString=sv.site.id),
                    p("region", valueString=sv.site.region_label),
                    p("verdict", valueCode=sv.verdict),
                    *[p("rule", valueString=r) for r in sv.rules],
                ],
            )
        )
    for name in result.unrecognised_medications:
        parts.append(p("unrecognisedMedication", valueString=name))
    return Parameters(id=str(uuid.uuid5(_ns("parameters"), result.decision_id)), parameter=parts)


def result_bundle(
    result: ScreeningResult,
    chart: ChartIntake | None = None,
    *,
    terminology: Terminology | None = None,
) -> Bundle:
    """The screening as a ``collection`` Bundle: GuidanceResponse, output Parameters, a DetectedIssue per finding."""
    patient = Reference(reference=f"Patient/{chart.patient}") if chart and chart.patient else None
    if patient is not None and chart is not None and str(chart.patient).startswith("urn:"):
        patient = Reference(reference=str(chart.patient))
    issues = [_issue(f, result, patient, chart.implicated(f.facts) if chart else ()) for f in result.findings]
    params = _parameters(result)
    kwargs: dict[str, Any] = {}
    if patient is not None:
        kwargs["subject"] = patient
    if result.missing:
        kwargs["dataRequirement"] = [data_requirement(m, terminology) for m in result.missing]
    guidance = GuidanceResponse(
        id=str(uuid.uuid5(_ns("guidance"), result.decision_id)),
        requestIdentifier=Identifier(system="urn:needlescreen:decision", value=result.decision_id),
        identifier=[Identifier(system="urn:needlescreen:decision", value=result.decision_id)],
        moduleCodeableConcept=CodeableConcept(
            coding=[
                Coding(
                    system=RULESET_SYSTEM,
                    code=result.ruleset.name,
                    version=result.ruleset.revision,
                    display=f"needlescreen ruleset {result.ruleset.name} {result.ruleset.revision}",
                )
            ]
        ),
        extension=[Extension(url=EXT_CONTENT_HASH, valueString=result.ruleset.content_hash)],
        status="data-required" if result.missing else "success",
        occurrenceDateTime=result.timestamp,
        note=[Annotation(text=VERDICT_TEXT[result.verdict])],
        reasonCode=[
            CodeableConcept(
                coding=[Coding(system=VERDICT_SYSTEM, code=result.verdict)], text=VERDICT_TEXT[result.verdict]
            )
        ],
        outputParameters=Reference(reference=f"urn:uuid:{params.id}"),
        **kwargs,
    )
    entries = [guidance, params, *issues]
    return Bundle(
        id=str(uuid.uuid5(_ns("bundle"), result.decision_id)),
        type="collection",
        timestamp=result.timestamp,
        entry=[BundleEntry(fullUrl=f"urn:uuid:{r.id}", resource=r) for r in entries],
    )
