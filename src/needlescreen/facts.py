"""Normalisation: an intake becomes flat facts the rules can read, one fact set per scope.

The catalogue :data:`FACTS` is the vocabulary rule conditions may use: each fact's name, type, the scope it
lives in and the plain-language question that resolves it when it is unknown. An unknown fact is simply
absent from the fact set; both engines read absence as "unknown", never as "no".

Scopes: patient-level facts (``patient.*``, ``meds.*``, ``labs.*``, ``devices.*``, ``plan.*``) are present in
every fact set; ``site.*`` facts exist once per planned site and ``circuit.*`` once per electrical lead pair.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Literal

from . import _bundled, _yaml
from ._suggest import close
from .body import BodyModel, Place, Tri, bundled_body, combine
from .codes import CodeMap, bundled_codes
from .errors import FieldProblem, IntakeError
from .intake import Devices, Finding, Intake, Site
from .medications import MedicationClassifier
from .regions import RegionMap
from .vocabulary import Vocabulary, VocabularyError

__all__ = [
    "ALWAYS_KNOWN",
    "DEVICE_GROUPS",
    "FACTS",
    "UNPAIRED",
    "FactSet",
    "FactSpec",
    "FactValue",
    "Facts",
    "normalise",
]

FactType = Literal["answer", "enum", "number", "region", "list"]
Scope = Literal["patient", "site", "circuit"]
FactValue = str | float | frozenset[str]


@dataclass(frozen=True, slots=True)
class FactSpec:
    """One fact of the vocabulary."""

    name: str
    type: FactType
    question: str
    values: tuple[str, ...] = ()

    @property
    def scope(self) -> Scope:
        """The scope whose fact sets hold this fact."""
        head = self.name.split(".", 1)[0]
        return "site" if head == "site" else "circuit" if head == "circuit" else "patient"


def _a(name: str, question: str) -> FactSpec:
    return FactSpec(name, "answer", question, ("yes", "no"))


def _n(name: str, question: str) -> FactSpec:
    return FactSpec(name, "number", question)


def _e(name: str, question: str, values: tuple[str, ...]) -> FactSpec:
    return FactSpec(name, "enum", question, values)


_FINDING_QUESTIONS = {
    "lymphedema": "Is there lymphoedema, and in which limb or area?",
    "at_risk_limb": "Have lymph nodes of a limb's basin been removed or irradiated (limb at risk), and which side?",
    "local_infection": "Is there infection or cellulitis, and where?",
    "open_wound": "Is there an open wound or skin lesion, and where?",
    "tumour": "Is there a tumour or metastasis, and where?",
    "recent_surgery": "Has there been recent surgery, where, and how many weeks ago?",
    "dvt": "Is there an acute deep-vein thrombosis, and in which limb?",
    "varicose_veins": "Are there varicose veins, and where?",
    "reduced_sensation": "Is sensation reduced, and where?",
    "radiotherapy_field": "Is there a current or recent radiotherapy field, and where?",
    "spinal_instability": "Is there spinal instability, and at which level?",
}
_DEVICE_GROUPS: dict[str, tuple[str, ...]] = {
    "cardiac": ("pacemaker", "icd"),
    "active_implant": ("spinal_cord_stimulator", "neurostimulator", "drug_pump", "cochlear_implant"),
    "vascular_access": ("port_picc",),
    "breast_implant": ("breast_implant",),
    "metal_implant": ("joint_prosthesis", "metal_fixation"),
}
#: Device kinds by the fact group the rules read (``devices.cardiac``, ``site.cardiac_area`` ...).
DEVICE_GROUPS: Mapping[str, tuple[str, ...]] = _DEVICE_GROUPS
_DEVICE_QUESTIONS = {
    "cardiac": "Does the patient have a pacemaker or implanted defibrillator (ICD)?",
    "active_implant": (
        "Does the patient have a spinal cord stimulator, other neurostimulator, drug pump or cochlear implant?"
    ),
    "vascular_access": "Does the patient have an implanted port or PICC line?",
    "breast_implant": "Does the patient have breast or pectoral implants?",
    "metal_implant": "Does the patient have a joint replacement or metal fixation?",
}
_MED_QUESTIONS = {
    "vka": "Is the patient taking a vitamin K antagonist (e.g. warfarin)?",
    "doac": "Is the patient taking a direct oral anticoagulant (apixaban, rivaroxaban, edoxaban, dabigatran)?",
    "heparin": "Is the patient on heparin, a low-molecular-weight heparin or fondaparinux?",
    "antiplatelet": "Is the patient taking an antiplatelet (aspirin, clopidogrel, prasugrel, ticagrelor)?",
    "nsaid": "Is the patient taking an NSAID?",
    "ssri": "Is the patient taking an SSRI or SNRI antidepressant (e.g. sertraline, duloxetine, venlafaxine)?",
    "antineoplastic": "Is the patient taking chemotherapy (antineoplastic) drugs?",
    "immunosuppressant": "Is the patient taking immunosuppressants?",
    "systemic_steroid": "Is the patient taking systemic steroids?",
}

_CATALOGUE: tuple[FactSpec, ...] = (
    _n("patient.age", "How old is the patient?"),
    _e("patient.sex", "What is the patient's sex?", ("female", "male", "other")),
    _e(
        "patient.pregnancy",
        "Is the patient pregnant, possibly pregnant, or not pregnant?",
        ("pregnant", "not_pregnant", "possibly"),
    ),
    _n("patient.gestational_weeks", "How many weeks pregnant is the patient?"),
    _a("patient.consent", "Does the patient agree to needling?"),
    _a("patient.capacity", "Can the patient give informed consent (capacity)?"),
    _a("patient.guardian_consent", "Has a parent or guardian consented (for a minor)?"),
    _a("patient.needle_phobia", "Does the patient have a needle phobia?"),
    _a("patient.fainting_history", "Has the patient fainted with needles or procedures?"),
    _a("patient.acute_illness", "Is there an acute, unstable or unexplained medical problem?"),
    _a("patient.systemic_infection", "Does the patient have a fever or systemic infection?"),
    _n("patient.temperature_c", "What is the patient's temperature (C)?"),
    _e(
        "patient.bleeding_disorder",
        "Does the patient have a bleeding disorder (none, mild, severe)?",
        ("none", "mild", "severe"),
    ),
    _a("patient.immunocompromised", "Is the patient immunocompromised?"),
    _a("patient.active_chemotherapy", "Is the patient receiving chemotherapy now?"),
    _e(
        "patient.diabetes",
        "Does the patient have diabetes (none, controlled, uncontrolled)?",
        ("none", "controlled", "uncontrolled"),
    ),
    _e(
        "patient.epilepsy",
        "Does the patient have epilepsy (none, controlled, uncontrolled)?",
        ("none", "controlled", "uncontrolled"),
    ),
    _a("patient.metal_allergy", "Is the patient allergic to nickel, chromium or stainless steel?"),
    _a(
        "patient.heart_valve",
        "Does the patient have a prosthetic or damaged heart valve, or a history of endocarditis?",
    ),
    _a(
        "patient.lung_disease",
        "Does the patient have lung disease that raises pneumothorax risk (COPD, emphysema, bullae)?",
    ),
    _a("patient.prior_pneumothorax", "Has the patient had a pneumothorax before?"),
    _n("patient.bmi", "What is the patient's BMI?"),
    _a("patient.frailty", "Is the patient frail or debilitated?"),
    _a("patient.can_keep_still", "Can the patient keep still during needling?"),
    _a(
        "patient.cooperation_problem",
        "Does a psychological state or uncontrolled movement make it hard for the patient to cooperate?",
    ),
    _a("patient.vascular_disease", "Does the patient have peripheral arterial disease or poor circulation?"),
    _a("patient.cancer_history", "Has the patient had cancer?"),
    _a(
        "patient.chest_wall_condition",
        "Has the patient had thoracic surgery, or do they have kyphoscoliosis?",
    ),
    _a("meds.list_complete", "Is the medication list complete?"),
    *(_a(f"meds.{c}", q) for c, q in _MED_QUESTIONS.items()),
    _n("meds.antithrombotic_count", "How many anticoagulant or antiplatelet drugs does the patient take?"),
    _n(
        "meds.antithrombotic_listed",
        "How many anticoagulant or antiplatelet drugs are on the list (at least; the list may be incomplete)?",
    ),
    _a("meds.unrecognised", "Which medications need verifying? (a listed medication was not recognised)"),
    # A set of texts, each naming two answers that contradict each other; absent when there is none. Rules test
    # only its presence (`known`), and a finding shows its entries.
    FactSpec("patient.inconsistent_answers", "list", "Which answers contradict each other? Resolve them first."),
    _n("labs.inr", "What is the latest INR?"),
    _n("labs.inr_target_high", "What is the upper bound of the patient's INR target range?"),
    _n("labs.inr_above_target_by", "By how much does the INR exceed its target range?"),
    _n("labs.inr_age_days", "How many days ago was the INR taken?"),
    _n("labs.platelets", "What is the latest platelet count (x10^9/L)?"),
    _n("labs.platelets_age_days", "How many days ago was the platelet count taken?"),
    _n("labs.anc", "What is the latest absolute neutrophil count (x10^9/L)?"),
    _n("labs.anc_age_days", "How many days ago was the neutrophil count taken?"),
    *(_a(f"devices.{g}", q) for g, q in _DEVICE_QUESTIONS.items()),
    _e(
        "plan.technique",
        "Is the plan dry needling or electrical dry needling?",
        ("dry_needling", "electrical"),
    ),
    _n("plan.thorax_sides", "On how many sides of the thorax are needles planned?"),
    _a(
        "plan.advanced_training",
        "Has the clinician documented advanced training for needling vulnerable sites (eye, anterior neck, spine)?",
    ),
    FactSpec("site.region", "region", "Where is the planned site?"),
    _e("site.side", "On which side is the planned site?", ("left", "right", "midline")),
    _n("site.depth_mm", "How deep is the planned needle (mm)?"),
    _a("site.stimulated", "Is this site part of an electrical circuit?"),
    _a(
        "site.nerve_territory_reduced_sensation",
        "Does the nerve stimulated at this site supply skin with reduced sensation (where is sensation reduced)?",
    ),
    *(_a(f"site.{k}", q) for k, q in _FINDING_QUESTIONS.items()),
    _n("site.surgery_weeks_ago", "How many weeks ago was the surgery at this site?"),
    _a(
        "site.lymphedema_adjacent",
        "Is the planned trunk site in the quadrant next to a limb with lymphoedema (which limb, which side)?",
    ),
    *(
        _a(f"site.{g}_area", f"Is the planned site over or near the device? ({q})")
        for g, q in _DEVICE_QUESTIONS.items()
    ),
    FactSpec("circuit.a_region", "region", "Where is the first needle of the circuit?"),
    FactSpec("circuit.b_region", "region", "Where is the second needle of the circuit?"),
    _a("circuit.opposite_sides", "Does the circuit connect the left and right sides?"),
    FactSpec(
        "circuit.path",
        "region",
        "Which needles are paired in each electrical circuit (the lead pairs)? The current path depends on it.",
    ),
    _a("circuit.dvt", "Does the current path run through a limb with a DVT (which limb)?"),
    _a("circuit.metal_implant_area", "Is there metal (joint replacement, fixation) in the current path, and where?"),
)

#: The fact vocabulary, by name.
FACTS: Mapping[str, FactSpec] = {f.name: f for f in _CATALOGUE}

#: Facts normalisation always sets, so conditions on them are never unknown.
ALWAYS_KNOWN: frozenset[str] = frozenset(
    {"meds.unrecognised", "meds.antithrombotic_listed", "plan.technique", "plan.thorax_sides", "site.region"}
)

#: The id of the one circuit an electrical plan without lead pairs is screened as: every circuit fact is
#: unknown there, so every circuit rule gives its unknown verdict and the result asks for the pairs.
UNPAIRED = "*"

FactSet = dict[str, FactValue]


@dataclass(frozen=True, slots=True)
class Facts:
    """Normalised facts of one screening: the patient set, one set per site and one per circuit."""

    patient: FactSet
    sites: tuple[tuple[Site, FactSet], ...]
    circuits: tuple[tuple[str, FactSet], ...]
    unrecognised_medications: tuple[str, ...] = field(default=())


def _num(x: float) -> float:
    # Exactly as entered: 17.99999 years is a minor and an INR of 3.50001 is above 3.5. (The durable_rules
    # adapter spells every number without an exponent, which that engine refuses.)
    return float(x)


def _difference(a: float, b: float) -> float:
    """``a - b`` as the decimal numbers the clinician typed: 3.6 - 3.1 is 0.5, not 0.5000000000000004."""
    return float(Decimal(repr(float(a))) - Decimal(repr(float(b))))


def _answer(value: str) -> str | None:
    return value if value in ("yes", "no") else None


def _set(facts: FactSet, name: str, value: FactValue | None) -> None:
    if value is not None:
        facts[name] = value


def _patient_facts(intake: Intake, meds: MedicationClassifier) -> tuple[FactSet, tuple[str, ...]]:
    p = intake.patient
    f: FactSet = {}
    _set(f, "patient.age", None if p.age is None else _num(p.age))
    _set(f, "patient.sex", None if p.sex == "unknown" else p.sex)
    status = p.pregnancy.status
    if status == "unknown" and p.sex == "male":
        status = "not_pregnant"  # the pregnancy questions are not asked of male patients
    _set(f, "patient.pregnancy", None if status == "unknown" else status)
    weeks = p.pregnancy.gestational_weeks
    _set(f, "patient.gestational_weeks", None if weeks is None else _num(weeks))
    _set(f, "patient.consent", _answer(p.consent.agrees))
    _set(f, "patient.capacity", _answer(p.consent.capacity))
    _set(f, "patient.guardian_consent", _answer(p.consent.guardian_consent))
    _set(f, "patient.needle_phobia", _answer(p.needle_phobia))
    _set(f, "patient.fainting_history", _answer(p.fainting_history))
    _set(f, "patient.acute_illness", _answer(p.acute_illness))
    _set(f, "patient.systemic_infection", _answer(p.fever.answer))
    temp = p.fever.temperature_c
    _set(f, "patient.temperature_c", None if temp is None else _num(temp))
    _set(f, "patient.bleeding_disorder", None if p.bleeding_disorder == "unknown" else p.bleeding_disorder)
    _set(f, "patient.immunocompromised", _answer(p.immunocompromised))
    _set(f, "patient.active_chemotherapy", _answer(p.active_chemotherapy))
    _set(f, "patient.diabetes", None if p.diabetes == "unknown" else p.diabetes)
    _set(f, "patient.epilepsy", None if p.epilepsy == "unknown" else p.epilepsy)
    _set(f, "patient.metal_allergy", _answer(p.metal_allergy))
    _set(f, "patient.heart_valve", _answer(p.heart_valve_or_endocarditis))
    _set(f, "patient.lung_disease", _answer(p.lung_disease))
    _set(f, "patient.prior_pneumothorax", _answer(p.prior_pneumothorax))
    _set(f, "patient.bmi", None if p.bmi is None else _num(p.bmi))
    _set(f, "patient.frailty", _answer(p.frailty))
    _set(f, "patient.can_keep_still", _answer(p.can_keep_still))
    _set(f, "patient.cooperation_problem", _answer(p.cooperation_problem))
    _set(f, "patient.vascular_disease", _answer(p.vascular_disease))
    _set(f, "patient.cancer_history", _answer(p.cancer_history))
    _set(f, "patient.chest_wall_condition", _answer(p.chest_wall_condition))

    # Medications: a class is "yes" when a listed drug belongs to it, "no" when the list is complete and no
    # listed drug belongs to it, unknown otherwise or when an entry names only a class ("blood thinner").
    # An unrecognised entry does not make the classes unknown: it sets meds.unrecognised, whose one caution
    # (MEDICATION_UNRECOGNISED; see MedicationClassifier.guarded_by) stands in for it.
    counts, uncertain, unrecognised = meds.classify_all((m.name, m.atc) for m in intake.medications.items)
    if unrecognised and not meds.guarded:
        uncertain = frozenset(meds.classes)  # no rule stands in for the unknown drug: nothing is ruled out
    complete = intake.medications.complete == "yes"
    _set(f, "meds.list_complete", _answer(intake.medications.complete))
    for cls in meds.classes:
        _set(f, f"meds.{cls}", "yes" if counts[cls] else ("no" if complete and cls not in uncertain else None))
    # The count is exact only for a complete list with no undecided antithrombotic class (an unrecognised drug
    # is covered by MEDICATION_UNRECOGNISED, as for the classes). What is listed is always a lower bound: with
    # an incomplete list, two listed blood thinners decide "two or more" but not "fewer than three".
    listed = sum(counts[c] for c in meds.antithrombotic)
    f["meds.antithrombotic_listed"] = float(listed)
    if complete and not uncertain & meds.antithrombotic:
        f["meds.antithrombotic_count"] = float(listed)
    f["meds.unrecognised"] = "yes" if unrecognised else "no"

    labs = intake.labs
    if labs.inr is not None:
        f["labs.inr"] = _num(labs.inr.value)
        _set(f, "labs.inr_age_days", None if labs.inr.age_days is None else _num(labs.inr.age_days))
        if labs.inr.target_high is not None:
            f["labs.inr_target_high"] = _num(labs.inr.target_high)
            f["labs.inr_above_target_by"] = _difference(labs.inr.value, labs.inr.target_high)
    for name in ("platelets", "anc"):
        lab = getattr(labs, name)
        if lab is not None:
            f[f"labs.{name}"] = _num(lab.value)
            _set(f, f"labs.{name}_age_days", None if lab.age_days is None else _num(lab.age_days))

    devices = intake.devices
    for group, kinds in _DEVICE_GROUPS.items():
        if any(d.kind in kinds for d in devices.items):
            f[f"devices.{group}"] = "yes"
        elif devices.answer == "no" or (devices.answer == "yes" and devices.items and devices.others == "no"):
            f[f"devices.{group}"] = "no"

    f["plan.technique"] = intake.plan.technique
    _set(f, "plan.advanced_training", _answer(intake.plan.advanced_training))
    return f, tuple(unrecognised)


def _reconcile(f: FactSet, intake: Intake, coded: tuple[str, ...]) -> None:
    """Apply the answers the medication list does not carry, and name every pair of answers that contradict.

    The blood-thinner-that-needs-INR-checks answer (``medications.vka``) is a vitamin K antagonist even when the
    list does not name one; weeks of gestation contradict "not pregnant" (pregnancy is then unknown: neither
    answer can be relied on); ``coded`` are the answers coded diagnoses contradicted. Each contradiction is
    one entry of ``patient.inconsistent_answers``.
    """
    notes = list(coded)
    meds = intake.medications
    listed_vka = f.get("meds.vka") == "yes"
    if meds.vka == "yes" and not listed_vka:
        if meds.complete == "yes":
            listed = ", ".join(sorted({m.name for m in meds.items})) or "none"
            notes.append(
                f"medications: {listed} (list complete) / medications.vka: yes (a blood thinner that needs INR checks)"
            )
        f["meds.vka"] = "yes"
        for name in ("meds.antithrombotic_count", "meds.antithrombotic_listed"):
            if name in f:
                f[name] = float(f[name]) + 1.0  # type: ignore[arg-type]
    elif meds.vka == "no":
        if listed_vka:
            notes.append("medications: a vitamin K antagonist is listed / medications.vka: no")
        else:
            f.setdefault("meds.vka", "no")
    p = intake.patient
    weeks = p.pregnancy.gestational_weeks
    if weeks is not None and (p.pregnancy.status == "not_pregnant" or f.get("patient.pregnancy") == "not_pregnant"):
        said = "patient.pregnancy.status: not_pregnant" if p.pregnancy.status == "not_pregnant" else "patient.sex: male"
        notes.append(f"{said} / patient.pregnancy.gestational_weeks: {weeks:g}")
        f.pop("patient.pregnancy", None)
    if notes:
        f["patient.inconsistent_answers"] = frozenset(notes)


def _rid(site: Site) -> str:
    # normalise() places every site (a muscle becomes its region) before anything reads the region.
    if site.region is None:  # pragma: no cover - guarded by _place_sites
        raise AssertionError(f"site {site.id!r} was not placed")
    return site.region


def _finding_at(kind: str, finding: Finding, region: str, side: str | None, body: BodyModel) -> Tri:
    """Does a finding reach a place (a site, or a point of a current path), by its kind's extent?"""
    if finding.answer == "no":
        return "no"
    if finding.answer == "unknown" or not finding.locations:
        return None
    return combine(
        body.concerns(body.finding_place(kind, loc.region, loc.side), region, side) for loc in finding.locations
    )


def _adjacent_at(finding: Finding, site: Site, regions: RegionMap) -> Tri:
    """Is this site in the trunk quadrant a lymphoedema drains to? (the limb's watershed, or the trunk area's own)"""
    if finding.answer == "no":
        return "no"
    if finding.answer == "unknown" or not finding.locations:
        return None
    within = regions[_rid(site)].within
    values: list[Tri] = []
    for loc in finding.locations:
        loc_within = regions[loc.region].within
        territory = next((t for limb, t in regions.territories.items() if limb in loc_within), None)
        if territory is None:
            territory = next((t for t in regions.territories.values() if t in loc_within), None)
        if territory is None or territory not in within:
            values.append("no")
        elif loc.side == "both" or site.side == "midline":
            values.append("yes")
        elif loc.side is None or site.side is None:
            values.append(None)
        else:
            values.append("yes" if loc.side == site.side else "no")
    return combine(values)


def _device_places(devices: Devices, kinds: tuple[str, ...], body: BodyModel) -> tuple[list[Place], bool]:
    """Every place a device of these kinds is or may be, and whether the list of such devices is complete."""
    places: list[Place] = []
    for d in devices.items:
        if d.kind in kinds:
            loc = d.location
            places.extend(body.device_places(d.kind, loc.region if loc else None, loc.side if loc else None))
    complete = devices.answer == "no" or (devices.answer == "yes" and devices.others == "no")
    return places, complete


def _device_at(
    places: list[Place], complete: bool, listed: bool, region: str, side: str | None, *, body: BodyModel
) -> Tri:
    if not listed:
        return "no" if complete else None
    values = [body.concerns(p, region, side) for p in places]
    if not complete:
        values.append(None)  # another device of this group may sit here
    return combine(values)


def _nerve_numb(site: Site, finding: Finding, body: BodyModel) -> Tri:
    """Does the nerve stimulated at this site supply skin with reduced sensation? (no nerve named: no)"""
    if site.nerve is None or finding.answer == "no":
        return "no"
    if finding.answer == "unknown" or not finding.locations:
        return None
    return combine(
        _finding_at("reduced_sensation", finding, territory, site.side, body)
        for territory in body.nerve_territory(site.nerve)
    )


def _place_sites(intake: Intake, vocabulary: Vocabulary) -> tuple[Intake, list[FieldProblem]]:
    """Give every site its region from its muscle or body word, checked against the region and side it gives.

    A muscle is never ignored: a region that disagrees with it is an error naming both fields (an
    upper-trapezius site given region calf must not screen as a calf site), and a side word in the name
    ("L gastroc") sets a missing side but never overrides a different one.
    """
    problems: list[FieldProblem] = []
    placed: list[Site] = []
    for i, s in enumerate(intake.plan.sites):
        if s.muscle is None or (s.region is not None and s.region not in vocabulary.regions):
            placed.append(s)  # an unknown region is reported by _check_places, never replaced by the muscle's
            continue
        path = f"plan.sites[{i}]"
        try:
            where = vocabulary.place(s.muscle, region=s.region, side=s.side)
        except VocabularyError as exc:
            problems.append(FieldProblem(f"{path}.{exc.field}", str(exc)))
            if exc.field == "region":
                problems.append(FieldProblem(f"{path}.muscle", f"disagrees with {path}.region {s.region!r}"))
            placed.append(s)
            continue
        placed.append(s.model_copy(update={"region": where.region, "side": where.side}))
    if placed == list(intake.plan.sites):
        return intake, problems
    plan = intake.plan.model_copy(update={"sites": tuple(placed)})
    return intake.model_copy(update={"plan": plan}), problems


@lru_cache(maxsize=4)
def _bundled_vocabulary(regions: RegionMap) -> Vocabulary:
    path = _bundled.rules_dir() / "vocabulary.yaml"
    return Vocabulary.from_data(_yaml.load_file(path), regions, file=str(path))


def _check_places(intake: Intake, regions: RegionMap, problems: list[FieldProblem]) -> None:

    def check(loc_region: str, side: str | None, path: str, *, is_site: bool) -> None:
        if loc_region not in regions:
            close = [r for r in regions.ids() if loc_region.split("_", maxsplit=1)[0] in r][:5]
            hint = f"; close: {', '.join(close)}" if close else ""
            problems.append(FieldProblem(f"{path}.region", f"unknown body region {loc_region!r}{hint}"))
            return
        region = regions[loc_region]
        if is_site:
            if region.group:
                problems.append(
                    FieldProblem(f"{path}.region", f"{loc_region!r} is a grouping, not a site; name a specific region")
                )
            if region.sided and side not in ("left", "right"):
                problems.append(FieldProblem(f"{path}.side", f"region {loc_region!r} needs side 'left' or 'right'"))
            if not region.sided and side == "both":
                problems.append(FieldProblem(f"{path}.side", "a site is one place; 'both' is not a side for a site"))

    unplaced = {p.path.rsplit(".", 1)[0] for p in problems}  # a site whose name failed has its problem already
    for i, s in enumerate(intake.plan.sites):
        if s.region is not None and f"plan.sites[{i}]" not in unplaced:
            check(s.region, s.side, f"plan.sites[{i}]", is_site=True)
    for kind in type(intake.findings).model_fields:
        finding: Finding = getattr(intake.findings, kind)
        for j, loc in enumerate(finding.locations):
            check(loc.region, loc.side, f"findings.{kind}.locations[{j}]", is_site=False)
    for k, d in enumerate(intake.devices.items):
        if d.location is not None:
            check(d.location.region, d.location.side, f"devices.items[{k}].location", is_site=False)
    if problems:
        raise IntakeError(problems)


def _place_nerves(intake: Intake, body: BodyModel, problems: list[FieldProblem]) -> Intake:
    """Check every named nerve and place a nerve-only site at the nerve's usual needling point."""
    placed: list[Site] = []
    for i, site in enumerate(intake.plan.sites):
        s = site
        if s.nerve is None:
            placed.append(s)
            continue
        nerve = body.nerves.get(s.nerve)
        if nerve is None:
            near = close(s.nerve, sorted(body.nerves), cutoff=60.0)
            hint = f"; did you mean {', '.join(repr(c) for c in near)}?" if near else ""
            known = ", ".join(sorted(body.nerves))
            problems.append(FieldProblem(f"plan.sites[{i}].nerve", f"unknown nerve {s.nerve!r}{hint} (known: {known})"))
            placed.append(s)
            continue
        if s.region is None and s.muscle is None:
            s = s.model_copy(update={"region": nerve.default})
        elif (
            s.region is not None
            and s.region in body.regions
            and not any(body.regions.within(s.region, p) or body.regions.within(p, s.region) for p in nerve.points)
        ):
            points = ", ".join(nerve.points)
            problems.append(
                FieldProblem(
                    f"plan.sites[{i}].region",
                    f"region {s.region!r} disagrees with nerve {s.nerve!r}, which is needled at: {points}",
                )
            )
        placed.append(s)
    if placed == list(intake.plan.sites):
        return intake
    return intake.model_copy(update={"plan": intake.plan.model_copy(update={"sites": tuple(placed)})})


def _limb_midline(intake: Intake, regions: RegionMap) -> list[FieldProblem]:
    """A finding or device on a limb recorded as 'midline' cannot be placed: refuse it rather than guess."""
    problems = []
    places = [
        (f"findings.{kind}.locations[{j}]", loc)
        for kind in type(intake.findings).model_fields
        for j, loc in enumerate(getattr(intake.findings, kind).locations)
    ]
    places += [(f"devices.items[{k}].location", d.location) for k, d in enumerate(intake.devices.items) if d.location]
    for path, loc in places:
        if loc.side == "midline" and loc.region in regions and regions[loc.region].sided:
            problems.append(
                FieldProblem(
                    f"{path}.side",
                    f"region {loc.region!r} is on a limb; side 'midline' cannot place it: give left, right or both",
                )
            )
    return problems


def normalise(
    intake: Intake,
    regions: RegionMap,
    meds: MedicationClassifier,
    codes: CodeMap | None = None,
    body: BodyModel | None = None,
    *,
    vocabulary: Vocabulary | None = None,
) -> Facts:
    """Turn a validated intake into fact sets.

    Coded conditions (ICD-10-CM) are first applied as the questionnaire answers they stand for
    (``rules/codes.yaml``; the bundled map unless ``codes`` is given), and sites named by muscle, body word or
    nerve are placed (``rules/vocabulary.yaml`` and ``rules/body.yaml``; the bundled ones unless given). What a
    finding, device, nerve or current concerns comes from the body model (``rules/body.yaml``).

    Raises:
        IntakeError: a site, finding or device names a region the vocabulary does not have, a limb site has
            no side, a limb finding is 'midline', a muscle or nerve is unknown or disagrees with the site's
            region or side, or a condition code is not in the code map.
    """
    body = body if body is not None else bundled_body(regions)
    intake, problems = _place_sites(intake, vocabulary if vocabulary is not None else _bundled_vocabulary(regions))
    intake = _place_nerves(intake, body, problems)
    problems += _limb_midline(intake, regions)
    _check_places(intake, regions, problems)
    intake, coded = (codes if codes is not None else bundled_codes()).apply_noting(intake)
    patient, unrecognised = _patient_facts(intake, meds)
    _reconcile(patient, intake, coded)
    plan = intake.plan
    findings = intake.findings
    in_circuit = {end for pair in plan.circuits for end in pair}
    thorax_sides = {s.side or "midline" for s in plan.sites if "thorax" in regions[_rid(s)].within}
    patient["plan.thorax_sides"] = float(len(thorax_sides - {"midline"}) or (1 if thorax_sides else 0))
    devices = {g: _device_places(intake.devices, kinds, body) for g, kinds in _DEVICE_GROUPS.items()}
    listed = {g: any(d.kind in kinds for d in intake.devices.items) for g, kinds in _DEVICE_GROUPS.items()}

    site_sets: list[tuple[Site, FactSet]] = []
    for site in plan.sites:
        rid = _rid(site)
        f: FactSet = dict(patient)
        f["site.region"] = regions[rid].within
        _set(f, "site.side", site.side if site.side in ("left", "right", "midline") else None)
        _set(f, "site.depth_mm", None if site.depth_mm is None else _num(site.depth_mm))
        if plan.technique == "dry_needling":
            f["site.stimulated"] = "no"
        elif plan.circuits:
            f["site.stimulated"] = "yes" if site.id in in_circuit else "no"
        for kind in _FINDING_QUESTIONS:
            _set(f, f"site.{kind}", _finding_at(kind, getattr(findings, kind), rid, site.side, body))
        _set(f, "site.lymphedema_adjacent", _adjacent_at(findings.lymphedema, site, regions))
        _set(f, "site.nerve_territory_reduced_sensation", _nerve_numb(site, findings.reduced_sensation, body))
        if f.get("site.recent_surgery") == "yes" and findings.recent_surgery.weeks_ago is not None:
            f["site.surgery_weeks_ago"] = _num(findings.recent_surgery.weeks_ago)
        for group, (places, complete) in devices.items():
            _set(f, f"site.{group}_area", _device_at(places, complete, listed[group], rid, site.side, body=body))
        site_sets.append((site, f))

    circuit_sets: list[tuple[str, FactSet]] = []
    sites = {s.id: s for s in plan.sites}
    metal, metal_complete = devices["metal_implant"]
    for a, b in plan.circuits:
        c: FactSet = dict(patient)
        sa, sb = sites[a], sites[b]
        c["circuit.a_region"] = regions[_rid(sa)].within
        c["circuit.b_region"] = regions[_rid(sb)].within
        c["circuit.opposite_sides"] = "yes" if {sa.side, sb.side} == {"left", "right"} else "no"
        path = body.path((_rid(sa), sa.side), (_rid(sb), sb.side))
        c["circuit.path"] = body.path_regions(path)
        _set(c, "circuit.dvt", combine(_finding_at("dvt", findings.dvt, r, s, body) for r, s in path.points))
        _set(
            c,
            "circuit.metal_implant_area",
            combine(
                _device_at(metal, metal_complete, listed["metal_implant"], r, s, body=body) for r, s in path.points
            ),
        )
        circuit_sets.append((f"{a}~{b}", c))
    if plan.technique == "electrical" and not plan.circuits:
        # Sites but no lead pairs: where the current flows is unknown, so every circuit rule is undecided.
        # What no path can meet is still known: no DVT anywhere, no metal anywhere.
        unpaired: FactSet = dict(patient)
        _set(unpaired, "circuit.dvt", "no" if findings.dvt.answer == "no" else None)
        none_listed = not listed["metal_implant"] and metal_complete
        _set(unpaired, "circuit.metal_implant_area", "no" if none_listed else None)
        circuit_sets.append((UNPAIRED, unpaired))
    return Facts(patient, tuple(site_sets), tuple(circuit_sets), unrecognised)
