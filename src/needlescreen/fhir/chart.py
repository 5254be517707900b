"""Chart data in: FHIR resources (a Bundle, a CDS Hooks prefetch) and the planned procedure -> an intake.

What the chart says becomes the intake answer a clinician would give; what it cannot say stays unknown, so the
result names the questions still to ask. The chart never says "no": an empty problem list is not "no
lymphoedema", and a medication list from the chart is never taken as complete.

* ``Patient``: age (completed years at ``now``) and sex.
* ``Condition`` (ICD-10-CM, ICD-10 or SNOMED CT): the code, SNOMED CT read as its ICD-10-CM code, goes into the
  intake's ``conditions`` and so through the same code map as any intake's codes; a body site the terminology
  places also places the finding the code stands for. Resolved, inactive, refuted and entered-in-error
  conditions are not read.
* ``MedicationStatement`` / ``MedicationRequest``: the drug as named (text, display or a referenced Medication),
  with its ATC code when given; a drug known only by a bare RxNorm code is listed for verification.
* ``Observation`` (LOINC): INR, platelets and neutrophils with their age in days at ``now``; body temperature
  (taken within a day), BMI (within a year), pregnancy status and gestational age (advanced to ``now``).
* ``Device`` (implants by type), ``AllergyIntolerance`` (nickel, chromium, metal), ``Procedure`` (node
  dissection: limb at risk; surgery within a year: recent surgery, with its weeks and body site).
* The plan: given sites, or a needling ``ServiceRequest`` whose body sites are read as the questionnaire reads
  typed sites ("left calf (gastrocnemius)", "right tibial nerve").

Every answer keeps the chart resources that gave it (:class:`Source`), so a finding can point at them.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from needlescreen import FieldProblem, Intake, IntakeError, Ruleset, parse_intake
from needlescreen.codes import normalise_code
from needlescreen.facts import DEVICE_GROUPS
from needlescreen.questionnaire import AnswerError

from .questionnaire import bundled_questionnaire
from .systems import ATC, ICD10, ICD10CM, LOINC, RXNORM, SNOMED, TECHNIQUE_SYSTEM
from .terminology import Terminology, bundled_terminology

__all__ = ["READ_TYPES", "ChartIntake", "Source", "read_chart", "resources_of"]

#: A well-formed ICD-10 code, as the intake's coded conditions accept it.
_ICD10 = re.compile(r"^[A-Za-z][0-9][0-9A-Za-z](\.?[0-9A-Za-z]{1,4})?$")

#: The resource types the chart reader reads; any other resource is passed over.
READ_TYPES = frozenset(
    {
        "Patient",
        "Condition",
        "MedicationStatement",
        "MedicationRequest",
        "Medication",
        "Observation",
        "Device",
        "AllergyIntolerance",
        "Procedure",
        "ServiceRequest",
        "Appointment",
    }
)
_DAY = 86400.0
#: Bundles in lists in labelled values: deeper than this is not chart data.
_MAX_NESTING = 12
_GROUP_OF_KIND = {kind: group for group, kinds in DEVICE_GROUPS.items() for kind in kinds}
# Facts a coded patient answer is read as, where the fact's name is not the intake field's.
_PATIENT_FACTS = {"heart_valve_or_endocarditis": "patient.heart_valve"}
_FINDING_FACTS = {
    "lymphedema": ("site.lymphedema", "site.lymphedema_adjacent"),
    "reduced_sensation": ("site.reduced_sensation", "site.nerve_territory_reduced_sensation"),
    "recent_surgery": ("site.recent_surgery", "site.surgery_weeks_ago"),
    "dvt": ("site.dvt", "circuit.dvt"),
}
_PLAN_FACTS = frozenset(
    {"plan.technique", "plan.thorax_sides", "site.region", "site.side", "site.depth_mm", "site.stimulated"}
)


@dataclass(frozen=True, slots=True)
class Source:
    """One chart resource and what it gave: intake paths and the facts they become."""

    reference: str
    resource_type: str
    paths: tuple[str, ...]
    facts: frozenset[str]


@dataclass(frozen=True, slots=True)
class ChartIntake:
    """What a chart gives: the intake (``None`` without a plan), its data, and where each answer came from.

    ``data`` is the partial intake (a mapping, no plan when none was found): what a form can be prefilled with.
    ``notes`` says what was passed over and why (resolved conditions, unread codes, old observations).
    """

    data: Mapping[str, Any]
    intake: Intake | None
    sources: tuple[Source, ...]
    notes: tuple[str, ...]
    patient: str | None

    def implicated(self, facts: Iterable[str]) -> list[str]:
        """References of the chart resources that gave any of ``facts`` (in reading order, no repeats)."""
        wanted = set(facts)
        out: list[str] = []
        for s in self.sources:
            if s.facts & wanted and s.reference not in out:
                out.append(s.reference)
        return out


@dataclass
class _Reader:
    terminology: Terminology
    ruleset: Ruleset
    now: dt.datetime
    patient: dict[str, Any] = field(default_factory=dict)
    medications: list[dict[str, Any]] = field(default_factory=list)
    labs: dict[str, tuple[dt.datetime | None, dict[str, Any], str]] = field(default_factory=dict)
    pregnancy: tuple[dt.datetime, str, str] | None = None
    weeks: tuple[dt.datetime, float, str] | None = None
    temperature: tuple[dt.datetime, float, str] | None = None
    bmi: tuple[dt.datetime, float, str] | None = None
    devices: list[dict[str, Any]] = field(default_factory=list)
    findings: dict[str, dict[str, Any]] = field(default_factory=dict)
    conditions: list[dict[str, str]] = field(default_factory=list)
    metal_allergy: bool = False
    sources: list[Source] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[FieldProblem] = field(default_factory=list)
    patient_ids: set[str] = field(default_factory=set)
    medication_resources: dict[str, Any] = field(default_factory=dict)

    def source(self, ref: str, rtype: str, paths: Sequence[str], facts: Iterable[str]) -> None:
        self.sources.append(Source(ref, rtype, tuple(paths), frozenset(facts)))


def _codings(concept: CodeableConcept | None) -> list[tuple[str, str, str]]:
    if concept is None:
        return []
    return [(str(c.system or ""), str(c.code or ""), str(c.display or "")) for c in concept.coding or ()]


def _status(concept: CodeableConcept | None) -> set[str]:
    return {code for _s, code, _d in _codings(concept)}


def _aware(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(12), tzinfo=dt.UTC)
    return None


def _when(res: Any, *names: str) -> dt.datetime | None:
    for name in names:
        value = getattr(res, name, None)
        if value is None:
            continue
        if hasattr(value, "end") or hasattr(value, "start"):
            got = _aware(getattr(value, "end", None)) or _aware(getattr(value, "start", None))
        else:
            got = _aware(value)
        if got is not None:
            return got
    return None


def resources_of(data: Any) -> list[tuple[str, dict[str, Any]]]:
    """Flatten a Bundle, a list of resources or bundles, or one resource into (path, resource JSON) pairs."""
    out: list[tuple[str, dict[str, Any]]] = []

    def visit(node: Any, path: str) -> None:
        if node is None:
            return
        if path.count("[") + path.count(".") > _MAX_NESTING:
            raise IntakeError([FieldProblem(path, "nested too deeply for a Bundle of resources")])
        if isinstance(node, Resource):
            node = node.model_dump(mode="json")
        if isinstance(node, list | tuple):
            for i, item in enumerate(node):
                visit(item, f"{path}[{i}]")
            return
        if not isinstance(node, Mapping):
            raise IntakeError([FieldProblem(path or "(chart)", "expected a FHIR resource or Bundle")])
        if "resourceType" not in node:
            # Labelled values (a CDS Hooks prefetch): each key names where its resources come from.
            for key, value in node.items():
                visit(value, f"{path}.{key}" if path else str(key))
            return
        if node.get("resourceType") == "Bundle":
            for i, entry in enumerate(node.get("entry") or ()):
                if not isinstance(entry, Mapping) or entry.get("resource") is None:
                    continue
                resource = entry["resource"]
                if isinstance(resource, Mapping) and isinstance(entry.get("fullUrl"), str):
                    # References inside a transaction Bundle (Synthea's) name resources by their fullUrl.
                    resource = {**resource, "_fullUrl": entry["fullUrl"]}
                visit(resource, f"{path}.entry[{i}].resource" if path else f"entry[{i}].resource")
            return
        out.append((path or "(resource)", dict(node)))

    visit(data, "")
    return out


def _parse(path: str, raw: Mapping[str, Any]) -> Any:
    body = {k: v for k, v in raw.items() if k != "_fullUrl"}
    rtype = str(body.get("resourceType", ""))
    try:
        model = get_fhir_model_class(rtype)
        return model.model_validate(body)
    except (KeyError, ValueError, ValidationError) as exc:
        if isinstance(exc, ValidationError):
            problems = [
                FieldProblem(f"{path}.{'.'.join(str(p) for p in e['loc'])}", e["msg"])
                for e in exc.errors(include_url=False)[:10]
            ]
            raise IntakeError(problems, source="FHIR") from None
        raise IntakeError([FieldProblem(f"{path}.resourceType", f"not an R4B resource type: {rtype!r}")]) from None


def _ref(path: str, raw: Mapping[str, Any]) -> str:
    if raw.get("id"):
        return f"{raw['resourceType']}/{raw['id']}"
    if isinstance(raw.get("_fullUrl"), str):
        return str(raw["_fullUrl"])
    return f"{raw.get('resourceType')} at {path}"


def read_chart(
    chart: Any,
    *,
    plan: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
    ruleset: Ruleset | None = None,
    terminology: Terminology | None = None,
    orders: Any = None,
) -> ChartIntake:
    """Read chart resources (and the planned procedure) into an intake.

    Args:
        chart: a Bundle, a resource, or a list of them (a CDS Hooks prefetch's values), as JSON or models.
        plan: the planned session as an intake ``plan`` (technique, sites, circuits); when not given it is read
            from a needling ``ServiceRequest`` in ``orders`` or in the chart.
        now: the moment "today" means (ages of labs, the patient's age); the current time by default.
        ruleset: the ruleset whose code map, medications and regions apply (the bundled one by default).
        terminology: the chart code tables (the bundled ones by default).
        orders: the orders being placed (CDS Hooks ``draftOrders``, selected entries), searched for the plan.

    Raises:
        IntakeError: a resource is not valid R4B, belongs to another patient, is dated after ``now``, gives a
            lab in a unit that cannot be converted, or the resulting intake is invalid; each problem names the
            resource's path (``entry[3].resource.valueQuantity.code``).
    """
    if ruleset is None:
        from .questionnaire import _default_ruleset

        ruleset = _default_ruleset()
    now = _aware(now) or dt.datetime.now(dt.UTC)
    reader = _Reader(terminology or bundled_terminology(), ruleset, now)
    resources = [(p, r) for p, r in resources_of(chart) if r.get("resourceType") in READ_TYPES]
    parsed: list[tuple[str, Mapping[str, Any], Any]] = [(p, raw, _parse(p, raw)) for p, raw in resources]
    for _p, raw, res in parsed:
        if raw.get("resourceType") == "Medication":
            reader.medication_resources[f"Medication/{res.id}"] = res
            if isinstance(raw.get("_fullUrl"), str):
                reader.medication_resources[str(raw["_fullUrl"])] = res
    # Patients first: every other resource is checked against the chart's patient.
    for p, raw, res in sorted(parsed, key=lambda t: t[1].get("resourceType") != "Patient"):
        _read(reader, p, raw, res)
    if reader.problems:
        raise IntakeError(reader.problems, source="FHIR")
    plan_data = dict(plan) if plan is not None else _plan_from_orders(reader, orders, parsed)
    data = _assemble(reader, plan_data)
    intake = None
    if plan_data is not None:
        try:
            intake = parse_intake(data, source="FHIR chart")
        except IntakeError as exc:
            raise IntakeError([_traced(reader, p) for p in exc.problems], source="FHIR chart") from None
    return ChartIntake(data, intake, tuple(reader.sources), tuple(reader.notes), _one_patient(reader))


def _traced(reader: _Reader, problem: FieldProblem) -> FieldProblem:
    from_ = [s.reference for s in reader.sources if any(problem.path.startswith(p) for p in s.paths)]
    suffix = f" (from {', '.join(from_[:3])})" if from_ else ""
    return FieldProblem(problem.path, problem.message + suffix)


def _one_patient(reader: _Reader) -> str | None:
    return next(iter(sorted(reader.patient_ids)), None)


def _subject(reader: _Reader, path: str, res: Any) -> bool:
    """Check the resource is about the chart's patient (False: it names another one, a problem was recorded)."""
    ref = getattr(res, "subject", None) or getattr(res, "patient", None)
    target = getattr(ref, "reference", None) if ref is not None else None
    if not target:
        return True
    target = str(target)
    tail = target.removeprefix("urn:uuid:").rsplit("/", 1)[-1]
    if reader.patient_ids and tail not in reader.patient_ids and target not in reader.patient_ids:
        reader.problems.append(
            FieldProblem(f"{path}.subject", f"refers to {target}, not to the chart's patient; one chart is one patient")
        )
        return False
    return True


def _age_days(reader: _Reader, path: str, when: dt.datetime | None, field_: str) -> float | None:
    if when is None:
        return None
    days = (reader.now - when).total_seconds() / _DAY
    if days < -1:
        reader.problems.append(
            FieldProblem(f"{path}.{field_}", f"{when.isoformat()} is after now ({reader.now.isoformat()})")
        )
        return None
    return max(days, 0.0)


def _read(reader: _Reader, path: str, raw: Mapping[str, Any], res: Any) -> None:
    rtype = raw["resourceType"]
    ref = _ref(path, raw)
    if rtype == "Patient":
        _patient(reader, path, raw, res, ref)
        return
    if rtype in ("Medication", "ServiceRequest", "Appointment") or not _subject(reader, path, res):
        return
    handler = {
        "Condition": _condition,
        "MedicationStatement": _medication,
        "MedicationRequest": _medication,
        "Observation": _observation,
        "Device": _device,
        "AllergyIntolerance": _allergy,
        "Procedure": _procedure,
    }[rtype]
    handler(reader, path, res, ref)


def _patient(reader: _Reader, path: str, raw: Mapping[str, Any], res: Any, ref: str) -> None:
    ids = {str(res.id)} if res.id else set()
    if isinstance(raw.get("_fullUrl"), str):
        ids.add(str(raw["_fullUrl"]))
    if reader.patient_ids and not (ids & reader.patient_ids):
        reader.problems.append(FieldProblem(path, "a second Patient: one chart is one patient"))
        return
    reader.patient_ids |= ids
    paths, facts = [], []
    if res.birthDate is not None:
        born = res.birthDate
        today = reader.now.date()
        years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        if years < 0:
            reader.problems.append(FieldProblem(f"{path}.birthDate", "the patient is born after now"))
            return
        reader.patient["age"] = float(years)
        paths.append("patient.age")
        facts.append("patient.age")
    if res.gender in ("female", "male", "other"):
        reader.patient["sex"] = res.gender
        paths.append("patient.sex")
        facts.append("patient.sex")
    if paths:
        reader.source(ref, "Patient", paths, facts)


def _code_facts(reader: _Reader, code: str) -> tuple[list[str], set[str]]:
    entry = reader.ruleset.codes.lookup(code)
    if entry is None:
        return [], set()
    sets = entry.sets
    paths, facts = ["conditions"], set()
    for name in sets.patient:
        facts.add(_PATIENT_FACTS.get(name, f"patient.{name}"))
        paths.append(f"patient.{name}")
    if sets.fever:
        facts |= {"patient.systemic_infection", "patient.temperature_c"}
    if sets.pregnancy:
        facts |= {"patient.pregnancy", "patient.gestational_weeks"}
    for kind in sets.findings:
        facts |= set(_FINDING_FACTS.get(kind, (f"site.{kind}",)))
        paths.append(f"findings.{kind}")
    for kind in sets.devices:
        group = _GROUP_OF_KIND[kind]
        facts |= {f"devices.{group}", f"site.{group}_area", "circuit.metal_implant_area"}
        paths.append("devices")
    for med in sets.medications:
        facts |= _medication_facts(reader, med.name, med.atc)
        paths.append("medications.items")
    return paths, facts


def _medication_facts(reader: _Reader, name: str, atc: str | None) -> set[str]:
    m = reader.ruleset.medications.match(name, atc)
    facts = {f"meds.{c}" for c in m.classes | m.uncertain}
    if (m.classes | m.uncertain) & reader.ruleset.medications.antithrombotic:
        facts |= {"meds.antithrombotic_count", "meds.antithrombotic_listed"}
    if not m.recognised:
        facts.add("meds.unrecognised")
    return facts


def _place(reader: _Reader, concepts: Sequence[CodeableConcept] | None) -> tuple[str | None, str | None]:
    region = side = None
    for concept in concepts or ():
        for system, code, _d in _codings(concept):
            if system == SNOMED and code in reader.terminology.body_sites and region is None:
                region = reader.terminology.body_sites[code]
            if system == SNOMED and code in reader.terminology.laterality and side is None:
                side = reader.terminology.laterality[code]
    return region, side


def _condition(reader: _Reader, _path: str, res: Any, ref: str) -> None:
    clinical = _status(res.clinicalStatus)
    verification = _status(res.verificationStatus)
    if clinical & {"inactive", "resolved", "remission"} or verification & {"refuted", "entered-in-error"}:
        reader.notes.append(f"{ref}: not read ({', '.join(sorted(clinical | verification))})")
        return
    codes: list[tuple[str, str]] = []
    unmapped: list[tuple[str, str]] = []
    for system, code, _d in _codings(res.code):
        if system in (ICD10CM, ICD10) and code:
            named = ("ICD-10-CM" if system == ICD10CM else "ICD-10", code)
            if reader.ruleset.codes.lookup(code) is not None:
                codes.append(named)
            elif _ICD10.fullmatch(code.strip()):
                unmapped.append(named)
        elif system == SNOMED and code in reader.terminology.conditions:
            codes.append(("ICD-10-CM", reader.terminology.conditions[code]))
    if not codes and unmapped and reader.ruleset.codes.guarded:
        # An active diagnosis the code map does not read is not "nothing": it goes to the intake, where it is
        # screened as CONDITION_UNRECOGNISED (verify it), as an intake's own unmapped code is.
        codes = unmapped[:1]
    if not codes:
        reader.notes.append(f"{ref}: no code needlescreen reads")
        return
    system, code = codes[0]
    key = normalise_code(code)
    if not any(normalise_code(c["code"]) == key for c in reader.conditions):
        reader.conditions.append({"system": system, "code": code})
    paths, facts = _code_facts(reader, code)
    entry = reader.ruleset.codes.lookup(code)
    region, side = _place(reader, res.bodySite)
    if entry is not None and entry.sets.findings and region is not None:
        for kind in entry.sets.findings:
            _add_finding(reader, kind, region, side)
    reader.source(ref, "Condition", paths, facts)


def _add_finding(reader: _Reader, kind: str, region: str | None, side: str | None, weeks: float | None = None) -> None:
    current = reader.findings.setdefault(kind, {"answer": "yes", "locations": []})
    if region is not None:
        loc: dict[str, Any] = {"region": region}
        if side:
            loc["side"] = side
        if loc not in current["locations"]:
            current["locations"].append(loc)
    else:
        current["unplaced"] = True
    if weeks is not None:
        current["weeks_ago"] = weeks if current.get("weeks_ago") is None else min(current["weeks_ago"], weeks)


_MED_READ = {
    "MedicationStatement": frozenset({"active", "intended", "on-hold", "unknown"}),
    "MedicationRequest": frozenset({"active", "on-hold", "draft", "unknown"}),
}


def _medication(reader: _Reader, _path: str, res: Any, ref: str) -> None:
    rtype = res.get_resource_type()
    if res.status not in _MED_READ[rtype]:
        reader.notes.append(f"{ref}: not read (status {res.status})")
        return
    concept = res.medicationCodeableConcept
    if concept is None and res.medicationReference is not None:
        target_ref = str(res.medicationReference.reference or "")
        target = reader.medication_resources.get(target_ref)
        if target is None and target_ref.startswith("#"):
            target = next(
                (c for c in res.contained or () if c.get_resource_type() == "Medication" and c.id == target_ref[1:]),
                None,
            )
        concept = target.code if target is not None else None
        if concept is None and res.medicationReference.display:
            concept = CodeableConcept(text=res.medicationReference.display)
    name, atc = _drug_name(concept)
    if name is None:
        # A drug the chart does not name is still a drug: listed, so the result asks to verify it.
        name = f"medication not named in the chart ({ref})"
    item: dict[str, Any] = {"name": name[:200]}
    if atc:
        item["atc"] = atc
    reader.medications.append(item)
    reader.source(ref, rtype, ["medications.items"], _medication_facts(reader, item["name"], atc))


def _drug_name(concept: CodeableConcept | None) -> tuple[str | None, str | None]:
    if concept is None:
        return None, None
    codings = _codings(concept)
    atc = next((c for s, c, _d in codings if s == ATC and c), None)
    name = concept.text or next((d for _s, _c, d in codings if d), None)
    if name is None:
        rx = next((c for s, c, _d in codings if s == RXNORM and c), None)
        name = f"RxNorm {rx}" if rx else (f"ATC {atc}" if atc else None)
    return (str(name).strip() or None), atc


def _quantity(reader: _Reader, path: str, res: Any, lab: str) -> float | None:
    q = res.valueQuantity
    if q is None or q.value is None:
        reader.notes.append(f"{path}: {lab} without a numeric value, not read")
        return None
    units = reader.terminology.units.get(lab, {})  # type: ignore[call-overload]
    unit = q.code if q.code is not None else q.unit
    key = "" if unit is None else str(unit)
    if key not in units:
        reader.problems.append(
            FieldProblem(
                f"{path}.valueQuantity.code",
                f"{lab} in {key or 'no unit'!r} cannot be read; units read: {', '.join(repr(u) for u in units)}",
            )
        )
        return None
    factor = units[key]
    value = float(q.value)
    if factor == "fahrenheit":
        return round((value - 32) * 5 / 9, 1)
    result = value * float(factor)
    return float(f"{result:.6g}") if math.isfinite(result) else None


def _observation(reader: _Reader, path: str, res: Any, ref: str) -> None:
    if res.status not in ("final", "amended", "corrected"):
        reader.notes.append(f"{ref}: not read (status {res.status})")
        return
    labs = [
        reader.terminology.labs[code]
        for system, code, _d in _codings(res.code)
        if system == LOINC and code in reader.terminology.labs
    ]
    if not labs:
        return
    lab = labs[0]
    when = _when(res, "effectiveDateTime", "effectiveInstant", "effectivePeriod", "issued")
    age = _age_days(reader, path, when, "effective[x]")
    limits = reader.terminology.max_age_days
    if lab in ("inr", "platelets", "anc"):
        value = _quantity(reader, path, res, lab)
        if value is None:
            return
        if age is not None and age > limits.labs:
            reader.notes.append(f"{ref}: {lab} older than {limits.labs:g} days, not read")
            return
        held = reader.labs.get(lab)
        if held is None or (when is not None and (held[0] is None or when > held[0])):
            entry: dict[str, Any] = {"value": value}
            if age is not None:
                entry["age_days"] = round(age, 2)
            reader.labs[lab] = (when, entry, ref)
        return
    if when is None or age is None:
        reader.notes.append(f"{ref}: {lab} without a date, not read")
        return
    if lab == "pregnancy_status":
        answers = reader.terminology.pregnancy_answers
        concept = res.valueCodeableConcept
        status = next((answers[c] for _s, c, _d in _codings(concept) if c in answers), None)
        limit = limits.not_pregnant if status == "not_pregnant" else limits.pregnant
        if status in (None, "unknown") or age > limit:
            reader.notes.append(f"{ref}: pregnancy status not read ({status or 'no answer read'}, {age:.0f} days old)")
            return
        if reader.pregnancy is None or when > reader.pregnancy[0]:
            reader.pregnancy = (when, str(status), ref)
        return
    value = _quantity(reader, path, res, lab)
    if value is None:
        return
    if lab == "gestational_age":
        weeks = round(value + age / 7, 1)
        if weeks > 42:
            reader.notes.append(f"{ref}: gestational age {weeks:g} weeks at now: the pregnancy is over, not read")
        elif reader.weeks is None or when > reader.weeks[0]:
            reader.weeks = (when, weeks, ref)
        return
    limit = limits.temperature if lab == "temperature" else limits.bmi
    if age > limit:
        reader.notes.append(f"{ref}: {lab} {age:.0f} days old, not read (speaks for {limit:g} days)")
        return
    held_value = reader.temperature if lab == "temperature" else reader.bmi
    if held_value is None or when > held_value[0]:
        if lab == "temperature":
            reader.temperature = (when, value, ref)
        else:
            reader.bmi = (when, value, ref)


def _device(reader: _Reader, _path: str, res: Any, ref: str) -> None:
    if res.status in ("inactive", "entered-in-error"):
        reader.notes.append(f"{ref}: not read (status {res.status})")
        return
    kinds = [
        reader.terminology.devices[c]
        for s, c, _d in _codings(res.type)
        if s == SNOMED and c in reader.terminology.devices
    ]
    if not kinds:
        return  # not an implant needlescreen knows (a glucose meter, a wheelchair ...); devices stay unknown
    kind = kinds[0]
    if not any(d["kind"] == kind for d in reader.devices):
        reader.devices.append({"kind": kind})
    group = _GROUP_OF_KIND[kind]
    reader.source(ref, "Device", ["devices"], {f"devices.{group}", f"site.{group}_area", "circuit.metal_implant_area"})


def _allergy(reader: _Reader, _path: str, res: Any, ref: str) -> None:
    if _status(res.clinicalStatus) & {"inactive", "resolved"} or _status(res.verificationStatus) & {
        "refuted",
        "entered-in-error",
    }:
        reader.notes.append(f"{ref}: not read (inactive or refuted)")
        return
    concepts = [res.code, *[r.substance for r in res.reaction or ()]]
    codes = {c for concept in concepts for s, c, _d in _codings(concept) if s == SNOMED}
    if codes & reader.terminology.metal_allergy:
        reader.metal_allergy = True
        reader.source(ref, "AllergyIntolerance", ["patient.metal_allergy"], {"patient.metal_allergy"})


def _procedure(reader: _Reader, path: str, res: Any, ref: str) -> None:
    if res.status not in ("completed", "in-progress"):
        return
    when = _when(res, "performedDateTime", "performedPeriod")
    age = _age_days(reader, path, when, "performed[x]")
    region, side = _place(reader, res.bodySite)
    paths: list[str] = []
    facts: set[str] = set()
    for system, code, _d in _codings(res.code):
        if system == SNOMED and code in reader.terminology.procedures:
            finding, basin = reader.terminology.procedures[code]
            _add_finding(reader, finding, basin, side)
            paths.append(f"findings.{finding}")
            facts |= set(_FINDING_FACTS.get(finding, (f"site.{finding}",)))
            break
    surgical = any(s == SNOMED and c in reader.terminology.surgical_categories for s, c, _d in _codings(res.category))
    if surgical or paths:
        if age is None:
            _add_finding(reader, "recent_surgery", region, side)
        elif age <= 365:
            _add_finding(reader, "recent_surgery", region, side, weeks=round(age / 7, 1))
        else:
            reader.notes.append(f"{ref}: surgery {age / 7:.0f} weeks ago, not read as recent")
        if age is None or age <= 365:
            paths.append("findings.recent_surgery")
            facts |= set(_FINDING_FACTS["recent_surgery"])
    if paths:
        reader.source(ref, "Procedure", paths, facts)


# --- the plan -----------------------------------------------------------------------------------------------


def _technique(reader: _Reader, concepts: Iterable[CodeableConcept | None]) -> str | None:
    """``electrical`` or ``dry_needling`` when the concepts name a needling procedure, else None."""
    words = reader.terminology
    found: str | None = None
    for concept in concepts:
        if concept is None:
            continue
        for system, code, display in _codings(concept):
            if system == TECHNIQUE_SYSTEM and code in ("dry_needling", "electrical"):
                found = "electrical" if code == "electrical" or found == "electrical" else code
            elif display and words.needling_words.search(display):
                found = (
                    "electrical" if words.electrical_words.search(display) or found == "electrical" else "dry_needling"
                )
        text = concept.text or ""
        if text and words.needling_words.search(text):
            found = "electrical" if words.electrical_words.search(text) or found == "electrical" else "dry_needling"
    return found


def _plan_from_orders(
    reader: _Reader, orders: Any, parsed: list[tuple[str, Mapping[str, Any], Any]]
) -> dict[str, Any] | None:
    candidates: list[tuple[str, Any, str]] = []
    if orders is not None:
        for p, raw in resources_of(orders):
            # Only orders that could be needling orders are parsed: an unrelated order (another FHIR version, a
            # diet) is none of this service's business and must not fail the call.
            if raw.get("resourceType") in ("ServiceRequest", "Appointment") and _mentions_needling(reader, raw):
                candidates.append((p, _parse(p, raw), _ref(p, raw)))
    else:
        candidates = [
            (p, res, _ref(p, raw)) for p, raw, res in parsed if raw["resourceType"] in ("ServiceRequest", "Appointment")
        ]
    requests = {ref: res for _p, res, ref in candidates if res.get_resource_type() == "ServiceRequest"}
    for p_, raw_, res_ in parsed:
        if raw_["resourceType"] == "ServiceRequest":
            requests.setdefault(_ref(p_, raw_), res_)
    technique: str | None = None
    texts: list[str] = []
    used: list[str] = []
    for _path, res, ref in candidates:
        rtype = res.get_resource_type()
        if rtype == "Appointment":
            found = _technique(reader, [res.appointmentType, *(res.serviceType or ()), *(res.reasonCode or ())])
            linked = [requests.get(str(b.reference)) for b in res.basedOn or ()]
            for request in linked:
                if request is not None:
                    found = _technique(reader, [request.code]) or found
                    texts += _site_texts(request)
            if found:
                technique = "electrical" if "electrical" in (found, technique) else found
                used.append(ref)
            continue
        if res.status not in ("draft", "active", "on-hold"):
            continue
        found = _technique(reader, [res.code])
        if not found:
            continue
        technique = "electrical" if "electrical" in (found, technique) else found
        texts += _site_texts(res)
        used.append(ref)
    if technique is None:
        return None
    if not texts:
        reader.notes.append(f"{', '.join(used)}: a needling order without body sites; the plan cannot be screened")
        return None
    q = bundled_questionnaire(reader.ruleset)
    item = next(i for i in q.items if i.type == "sites")
    try:
        sites = q.parse(item, ", ".join(texts), {})
    except AnswerError as exc:
        raise IntakeError([FieldProblem(f"{used[0]}.bodySite", str(exc))], source="FHIR order") from None
    for ref in used:
        reader.source(ref, "ServiceRequest", ["plan"], _PLAN_FACTS)
    return {"technique": technique, "sites": sites}


def _mentions_needling(reader: _Reader, raw: Mapping[str, Any]) -> bool:
    import json

    text = json.dumps(raw, ensure_ascii=False)
    return TECHNIQUE_SYSTEM in text or reader.terminology.needling_words.search(text) is not None or "basedOn" in raw


def _site_texts(request: Any) -> list[str]:
    out = []
    for concept in request.bodySite or ():
        text = concept.text or next((c.display for c in concept.coding or () if c.display), None)
        if text:
            out.append(str(text).replace(",", " "))
    return out


# --- the intake ---------------------------------------------------------------------------------------------


def _assemble(reader: _Reader, plan: Mapping[str, Any] | None) -> dict[str, Any]:
    data: dict[str, Any] = {"schema_version": "needlescreen.intake/1"}
    patient = dict(reader.patient)
    if reader.pregnancy is not None:
        patient["pregnancy"] = {"status": reader.pregnancy[1]}
        reader.source(reader.pregnancy[2], "Observation", ["patient.pregnancy.status"], {"patient.pregnancy"})
    if reader.weeks is not None:
        patient.setdefault("pregnancy", {})["gestational_weeks"] = reader.weeks[1]
        reader.source(
            reader.weeks[2], "Observation", ["patient.pregnancy.gestational_weeks"], {"patient.gestational_weeks"}
        )
    if reader.temperature is not None:
        patient["fever"] = {"temperature_c": reader.temperature[1]}
        reader.source(
            reader.temperature[2],
            "Observation",
            ["patient.fever.temperature_c"],
            {"patient.temperature_c", "patient.systemic_infection"},
        )
    if reader.bmi is not None:
        patient["bmi"] = reader.bmi[1]
        reader.source(reader.bmi[2], "Observation", ["patient.bmi"], {"patient.bmi"})
    if reader.metal_allergy:
        patient["metal_allergy"] = "yes"
    if patient:
        data["patient"] = patient
    if reader.medications:
        data["medications"] = {"items": reader.medications}
    labs = {}
    for lab, (_, entry, ref) in reader.labs.items():
        labs[lab] = entry
        facts = {f"labs.{lab}", f"labs.{lab}_age_days"} | ({"labs.inr_above_target_by"} if lab == "inr" else set())
        reader.source(ref, "Observation", [f"labs.{lab}"], facts)
    if labs:
        data["labs"] = labs
    if reader.devices:
        data["devices"] = {"answer": "yes", "items": reader.devices, "others": "unknown"}
    findings = {}
    for kind, f in reader.findings.items():
        # A finding also known without a place stays "place not given" (every site undecided), never narrowed.
        if f.get("unplaced"):
            findings[kind] = {
                "answer": "yes",
                **({"weeks_ago": f["weeks_ago"]} if f.get("weeks_ago") is not None else {}),
            }
        else:
            findings[kind] = {k: v for k, v in f.items() if k != "unplaced"}
    if findings:
        data["findings"] = findings
    if reader.conditions:
        data["conditions"] = reader.conditions
    if plan is not None:
        data["plan"] = plan
    return data
