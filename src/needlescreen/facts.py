"""Normalisation: an intake becomes flat facts the rules can read, one fact set per scope.

The catalogue :data:`FACTS` is the vocabulary rule conditions may use: each fact's name, type, the scope it
lives in and the plain-language question that resolves it when it is unknown. An unknown fact is simply
absent from the fact set; both engines read absence as "unknown", never as "no".

Scopes: patient-level facts (``patient.*``, ``meds.*``, ``labs.*``, ``devices.*``, ``plan.*``) are present in
every fact set; ``site.*`` facts exist once per planned site and ``circuit.*`` once per electrical lead pair.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from operator import attrgetter
from typing import Literal, NamedTuple

from . import _bundled, _yaml
from ._suggest import close
from .body import BodyModel, Place, Tri, bundled_body, combine
from .codes import UNRECOGNISED_FACT, CodeMap, bundled_codes
from .errors import FieldProblem, IntakeError
from .intake import Devices, Finding, Findings, Intake, Location, Site
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
    "dvt": "Is there a deep-vein thrombosis (DVT) now or recently, in which limb, and how many weeks ago was it?",
    "varicose_veins": "Are there varicose veins, and where?",
    "reduced_sensation": "Is sensation reduced, and where?",
    "radiotherapy_field": "Is there a current or recent radiotherapy field, and where?",
    "spinal_instability": "Is there spinal instability, and at which level?",
    "skin_disease": "Is there a skin condition (eczema, psoriasis, scar or keloid, burn), and where?",
    "thrombophlebitis": "Is there an inflamed superficial vein (thrombophlebitis), and where?",
    "past_dvt": "Has the patient had a DVT in the past (resolved), and in which limb?",
    "worn_device": "Is a device worn on the skin (insulin pump set, glucose sensor), and where?",
}
_DEVICE_GROUPS: dict[str, tuple[str, ...]] = {
    "cardiac": ("pacemaker", "icd"),
    "active_implant": ("spinal_cord_stimulator", "neurostimulator", "drug_pump", "cochlear_implant"),
    "vascular_access": ("port_picc",),
    "breast_implant": ("breast_implant",),
    "metal_implant": ("joint_prosthesis", "metal_fixation"),
}
_SITE_FINDINGS = tuple((kind, f"site.{kind}") for kind in _FINDING_QUESTIONS)
#: Every finding of the intake model, in its order (the order problems with their locations are reported in).
_RECORDED_FINDINGS = tuple(Findings.model_fields)
#: Device kinds by the fact group the rules read (``devices.cardiac``, ``site.cardiac_area`` ...).
DEVICE_GROUPS: Mapping[str, tuple[str, ...]] = _DEVICE_GROUPS
_SITE_DEVICES = tuple((group, f"site.{group}_area") for group in _DEVICE_GROUPS)
_GROUP_OF = {kind: group for group, kinds in _DEVICE_GROUPS.items() for kind in kinds}
_DEVICE_FACTS = tuple((group, f"devices.{group}") for group in _DEVICE_GROUPS)
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
    _a(
        "patient.guardian_consent",
        "Has a parent, guardian or legal proxy consented (for a minor, or a patient who cannot consent)?",
    ),
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
    _a(
        "patient.bleeding_history",
        "Does the patient bruise or bleed easily, or bleed for long after a blood test or dental work?",
    ),
    _a("patient.immunocompromised", "Is the patient immunocompromised?"),
    _a("patient.active_chemotherapy", "Is the patient receiving chemotherapy now?"),
    _n("patient.chemo_cycle_day", "Which day of the current chemotherapy cycle is it (day 1 = the day of the dose)?"),
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
    _a("patient.bullous_lung_disease", "Does the patient have emphysema or bullous lung disease (bullae)?"),
    _a("patient.prior_pneumothorax", "Has the patient had a pneumothorax before?"),
    _n("patient.bmi", "What is the patient's BMI?"),
    _a("patient.frailty", "Is the patient frail or debilitated?"),
    _a("patient.can_keep_still", "Can the patient keep still during needling?"),
    _a(
        "patient.cooperation_problem",
        "Does a psychological state or uncontrolled movement make it hard for the patient to cooperate?",
    ),
    _a("patient.vascular_disease", "Does the patient have peripheral arterial disease or poor circulation?"),
    _a("patient.reduced_sensation", "Does the patient have numbness or reduced sensation anywhere (neuropathy)?"),
    _a("patient.trying_to_conceive", "Is the patient trying to conceive or having fertility treatment (IVF)?"),
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
    # The coded diagnoses the code map does not know (each "ICD-10-CM K21.9"); absent when there is none.
    FactSpec(
        UNRECOGNISED_FACT,
        "list",
        "Which coded diagnoses need verifying? (a code on the problem list is not one needlescreen reads)",
    ),
    _n("labs.inr", "What is the latest INR?"),
    _n("labs.inr_target_high", "What is the upper bound of the patient's INR target range?"),
    _n(
        "labs.inr_above_target_by",
        "Is the latest INR above the patient's target range (the INR and the upper end of the target range)?",
    ),
    _n("labs.inr_age_days", "How many days ago was the INR taken?"),
    _n("labs.platelets", "What is the latest platelet count (x10^9/L)?"),
    _n("labs.platelets_age_days", "How many days ago was the platelet count taken?"),
    _n("labs.anc", "What is the latest absolute neutrophil count (x10^9/L)?"),
    _n("labs.anc_age_days", "How many days ago was the neutrophil count taken?"),
    _n(
        "labs.platelets_cycle_day",
        "On which day of the chemotherapy cycle was the platelet count taken (the cycle day and the count's date)?",
    ),
    _n(
        "labs.anc_cycle_day",
        "On which day of the chemotherapy cycle was the neutrophil count taken (the cycle day and the count's date)?",
    ),
    *(_a(f"devices.{g}", q) for g, q in _DEVICE_QUESTIONS.items()),
    _a("devices.pacemaker_dependent", "Does the patient depend on the pacemaker (no adequate own rhythm without it)?"),
    _e(
        "plan.technique",
        "Is the plan dry needling or electrical dry needling?",
        ("dry_needling", "electrical"),
    ),
    _n(
        "plan.thorax_sides",
        "On which side (left or right) is each thoracic site planned? "
        "Both sides of the thorax in one session are avoided.",
    ),
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
    _n("site.dvt_weeks_ago", "How many weeks ago was the DVT in this limb diagnosed?"),
    _a(
        "site.at_risk_adjacent",
        "Is the planned trunk site in the quadrant that drains to a limb at risk of lymphoedema (which side)?",
    ),
    _a(
        "site.vascular_disease",
        "Does the patient have peripheral arterial disease or poor circulation, and in which limb?",
    ),
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
    _n("circuit.dvt_weeks_ago", "How many weeks ago was the DVT in the current path diagnosed?"),
    _a("circuit.thrombophlebitis", "Does the current path run along an inflamed superficial vein (where)?"),
    _a("circuit.tumour", "Does the current path run through a tumour or metastasis (where)?"),
    _a(
        "circuit.worn_device",
        "Does the current path run past a device worn on the skin (insulin pump set, glucose sensor), and where is it?",
    ),
    _a("circuit.metal_implant_area", "Is there metal (joint replacement, fixation) in the current path, and where?"),
)

#: The fact vocabulary, by name.
FACTS: Mapping[str, FactSpec] = {f.name: f for f in _CATALOGUE}

#: Facts normalisation always sets, so conditions on them are never unknown.
ALWAYS_KNOWN: frozenset[str] = frozenset(
    {"meds.unrecognised", "meds.antithrombotic_listed", "plan.technique", "site.region"}
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


#: Patient facts read straight from one intake answer (the rest are worked out in ``_patient_facts``): a yes/no
#: answer is known only as yes or no, an enumerated one unless "unknown", a number when given.
_PATIENT_ANSWERS = tuple(
    (name, attrgetter(path))
    for name, path in (
        ("patient.consent", "consent.agrees"),
        ("patient.capacity", "consent.capacity"),
        ("patient.guardian_consent", "consent.guardian_consent"),
        ("patient.needle_phobia", "needle_phobia"),
        ("patient.fainting_history", "fainting_history"),
        ("patient.acute_illness", "acute_illness"),
        ("patient.systemic_infection", "fever.answer"),
        ("patient.bleeding_history", "bleeding_history"),
        ("patient.immunocompromised", "immunocompromised"),
        ("patient.active_chemotherapy", "active_chemotherapy"),
        ("patient.metal_allergy", "metal_allergy"),
        ("patient.heart_valve", "heart_valve_or_endocarditis"),
        ("patient.prior_pneumothorax", "prior_pneumothorax"),
        ("patient.frailty", "frailty"),
        ("patient.can_keep_still", "can_keep_still"),
        ("patient.cooperation_problem", "cooperation_problem"),
        ("patient.vascular_disease", "vascular_disease"),
        ("patient.cancer_history", "cancer_history"),
        ("patient.chest_wall_condition", "chest_wall_condition"),
    )
)
_PATIENT_ENUMS = tuple(
    (f"patient.{name}", attrgetter(name)) for name in ("sex", "bleeding_disorder", "diabetes", "epilepsy")
)
_PATIENT_NUMBERS = tuple(
    (name, attrgetter(path))
    for name, path in (
        ("patient.age", "age"),
        ("patient.gestational_weeks", "pregnancy.gestational_weeks"),
        ("patient.temperature_c", "fever.temperature_c"),
        ("patient.chemo_cycle_day", "chemo_cycle_day"),
        ("patient.bmi", "bmi"),
    )
)


def _patient_facts(intake: Intake, meds: MedicationClassifier) -> tuple[FactSet, tuple[str, ...]]:
    p = intake.patient
    f: FactSet = {}
    for name, get in _PATIENT_ANSWERS:
        answer = get(p)
        if answer in {"yes", "no"}:
            f[name] = answer
    for name, get in _PATIENT_ENUMS:
        value = get(p)
        if value != "unknown":
            f[name] = value
    for name, get in _PATIENT_NUMBERS:
        number = get(p)
        if number is not None:
            f[name] = _num(number)
    status = p.pregnancy.status
    if status == "unknown" and p.sex == "male":
        status = "not_pregnant"  # the pregnancy questions are not asked of male patients
    _set(f, "patient.pregnancy", None if status == "unknown" else status)
    # Emphysema and bullae are lung disease: "no lung disease" rules them out, and either one is lung disease.
    lung, bullous = _answer(p.lung_disease), _answer(p.bullous_lung_disease)
    _set(f, "patient.lung_disease", "yes" if bullous == "yes" else lung)
    _set(f, "patient.bullous_lung_disease", "no" if bullous is None and lung == "no" else bullous)
    _set(f, "patient.reduced_sensation", _answer(intake.findings.reduced_sensation.answer))
    if p.sex != "male":  # a male patient's trying to conceive concerns someone else's pregnancy
        _set(f, "patient.trying_to_conceive", _answer(p.pregnancy.trying_to_conceive))

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
        _set(f, "meds." + cls, "yes" if counts[cls] else ("no" if complete and cls not in uncertain else None))
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
    cycle_day = p.chemo_cycle_day
    for name in ("platelets", "anc"):
        lab = getattr(labs, name)
        if lab is not None:
            f[f"labs.{name}"] = _num(lab.value)
            _set(f, f"labs.{name}_age_days", None if lab.age_days is None else _num(lab.age_days))
            if cycle_day is not None and lab.age_days is not None:
                # The cycle day the count was taken on (0 or less: before this cycle's dose).
                f[f"labs.{name}_cycle_day"] = _difference(cycle_day, lab.age_days)

    devices = intake.devices
    listed_groups = {_GROUP_OF.get(d.kind) for d in devices.items}
    none_other = devices.answer == "no" or (devices.answer == "yes" and bool(devices.items) and devices.others == "no")
    for group, name in _DEVICE_FACTS:
        if group in listed_groups:
            f[name] = "yes"
        elif none_other:
            f[name] = "no"
    _set(f, "devices.pacemaker_dependent", _answer(devices.pacemaker_dependent))

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
    if p.lung_disease == "no" and p.bullous_lung_disease == "yes":
        notes.append("patient.lung_disease: no / patient.bullous_lung_disease: yes")
    weeks = p.pregnancy.gestational_weeks
    if weeks is not None and (p.pregnancy.status == "not_pregnant" or f.get("patient.pregnancy") == "not_pregnant"):
        said = "patient.pregnancy.status: not_pregnant" if p.pregnancy.status == "not_pregnant" else "patient.sex: male"
        notes.append(f"{said} / patient.pregnancy.gestational_weeks: {weeks:g}")
        f.pop("patient.pregnancy", None)
    if notes:
        f["patient.inconsistent_answers"] = frozenset(notes)


def _thorax_sides(sites: Iterable[Site], regions: RegionMap) -> float | None:
    """On how many sides of the thorax needles are planned (a midline needle is on neither; one alone counts one).

    A thoracic site without a side may be on either: next to a site on one side, or to another site without a
    side, both sides are possible and the count is unknown (``None``), so BILATERAL_THORAX asks the side.
    """
    thoracic = [s.side for s in sites if "thorax" in regions[_rid(s)].within]
    sided = {side for side in thoracic if side in ("left", "right")}
    open_sides = thoracic.count(None)
    if len(sided) == 2:
        return 2.0
    if len(sided) + open_sides >= 2 and open_sides:
        return None
    return 1.0 if thoracic else 0.0


def _rid(site: Site) -> str:
    # normalise() places every site (a muscle becomes its region) before anything reads the region.
    if site.region is None:  # pragma: no cover - guarded by _place_sites
        raise AssertionError(f"site {site.id!r} was not placed")
    return site.region


#: Where a finding or device is, worked out once per screening: the same answer at every site (``"no"``: not
#: there; ``None``: cannot tell; ``"yes"``: everywhere), or the places each site is tested against.
Where = Tri | tuple[Place, ...]


def _finding_where(kind: str, finding: Finding, body: BodyModel) -> Where:
    """Where a finding reaches (a site, or a point of a current path), by its kind's extent: absent is no
    everywhere, unknown or present without a recorded place is unknown everywhere."""
    if finding.answer == "no":
        return "no"
    if finding.answer == "unknown" or not finding.locations:
        return None
    return tuple(body.finding_place(kind, loc.region, loc.side) for loc in finding.locations)


def _vascular_where(intake: Intake, body: BodyModel) -> Where:
    """Where peripheral arterial disease reaches. Without a recorded limb: every place (as before)."""
    p = intake.patient
    if p.vascular_disease != "yes":
        return "no" if p.vascular_disease == "no" else None
    if not p.vascular_disease_locations:
        return "yes"
    return tuple(body.finding_place("vascular_disease", loc.region, loc.side) for loc in p.vascular_disease_locations)


def _at(where: Where, points: Iterable[tuple[str, str | None]], body: BodyModel) -> Tri:
    """Does what is ``where`` concern any of these (region, side) points (one site, or a current path)?"""
    if not isinstance(where, tuple):
        return where
    concerns = body.concerns
    return combine(concerns(place, region, side) for region, side in points for place in where)


def _adjacent_at(finding: Finding, site: Site, body: BodyModel) -> Tri:
    """Is this site in the trunk quadrant a limb finding drains to? (the limb's watershed, or the trunk area's own)"""
    if finding.answer == "no":
        return "no"
    if finding.answer == "unknown" or not finding.locations:
        return None
    return combine(body.quadrant_concerns(loc.region, loc.side, _rid(site), site.side) for loc in finding.locations)


class _GroupPlaces(NamedTuple):
    """Where the devices of one group are (``places``), and where one not listed may be (``possible``)."""

    places: tuple[Place, ...]
    complete: bool
    listed: bool
    possible: tuple[Place, ...]

    @property
    def where(self) -> Where:
        # An incomplete list leaves another device of this group possible at its usual places.
        tested = (*self.places, *self.possible) if self.listed else self.possible
        return tested or "no"


def _device_groups(devices: Devices, body: BodyModel) -> dict[str, _GroupPlaces]:
    """Per device group: every place a listed device of the group is, whether the list of such devices is
    complete, and where an unlisted one could be (each kind's usual places, never certain: unknown there)."""
    complete = devices.answer == "no" or (devices.answer == "yes" and devices.others == "no")
    places: dict[str, list[Place]] = {}
    for d in devices.items:
        group = _GROUP_OF.get(d.kind)
        if group is not None:
            loc = d.location
            found = body.device_places(d.kind, loc.region if loc else None, loc.side if loc else None)
            places.setdefault(group, []).extend(found)
    return {
        group: _GroupPlaces(
            tuple(places.get(group, ())),
            complete,
            group in places,
            () if complete else tuple(p for k in kinds for p in body.device_places(k, None, None)),
        )
        for group, kinds in _DEVICE_GROUPS.items()
    }


def _nerve_numb(site: Site, numb: Where, body: BodyModel) -> Tri:
    """Does the nerve stimulated at this site supply skin with reduced sensation (``numb``)? (no nerve: no)"""
    if site.nerve is None:
        return "no"
    return _at(numb, ((territory, site.side) for territory in body.nerve_territory(site.nerve)), body)


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
            problems.append(FieldProblem(f"{path}.{exc.field}", str(exc), exc.suggestions))
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


def _recorded_places(intake: Intake) -> list[tuple[str, Location]]:
    """Every location recorded for a finding, a device or arterial disease, with its path in the intake."""
    findings = intake.findings
    places: list[tuple[str, Location]] = []
    for kind in _RECORDED_FINDINGS:
        locations = getattr(findings, kind).locations
        if locations:
            places += [(f"findings.{kind}.locations[{j}]", loc) for j, loc in enumerate(locations)]
    if intake.devices.items:
        places += [
            (f"devices.items[{k}].location", d.location) for k, d in enumerate(intake.devices.items) if d.location
        ]
    vascular = intake.patient.vascular_disease_locations
    if vascular:
        places += [(f"patient.vascular_disease_locations[{j}]", loc) for j, loc in enumerate(vascular)]
    return places


def _check_places(
    intake: Intake, recorded: list[tuple[str, Location]], vocabulary: Vocabulary, problems: list[FieldProblem]
) -> None:
    regions = vocabulary.regions

    def check(loc_region: str, side: str | None, path: str, *, is_site: bool) -> None:
        if loc_region not in regions:
            close = vocabulary.region_suggestions(loc_region, site=is_site)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            problems.append(FieldProblem(f"{path}.region", f"unknown body region {loc_region!r}{hint}", tuple(close)))
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
    for path, loc in recorded:
        check(loc.region, loc.side, path, is_site=False)
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
            problems.append(
                FieldProblem(f"plan.sites[{i}].nerve", f"unknown nerve {s.nerve!r}{hint} (known: {known})", tuple(near))
            )
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


def _limb_midline(recorded: list[tuple[str, Location]], regions: RegionMap) -> list[FieldProblem]:
    """A finding or device on a limb recorded as 'midline' cannot be placed: refuse it rather than guess."""
    problems = []
    for path, loc in recorded:
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
            region or side, or a condition code is not in the code map and no rule stands in for it.
    """
    body = body if body is not None else bundled_body(regions)
    vocabulary = vocabulary if vocabulary is not None else _bundled_vocabulary(regions)
    intake, problems = _place_sites(intake, vocabulary)
    intake = _place_nerves(intake, body, problems)
    recorded = _recorded_places(intake)
    problems += _limb_midline(recorded, regions)
    _check_places(intake, recorded, vocabulary, problems)
    intake, coded, unmapped = (codes if codes is not None else bundled_codes()).apply_reading(intake)
    patient, unrecognised = _patient_facts(intake, meds)
    _reconcile(patient, intake, coded)
    if unmapped:
        patient[UNRECOGNISED_FACT] = frozenset(unmapped)
    plan = intake.plan
    findings = intake.findings
    in_circuit = {end for pair in plan.circuits for end in pair}
    _set(patient, "plan.thorax_sides", _thorax_sides(plan.sites, regions))
    devices = _device_groups(intake.devices, body)

    # Where each finding and device reaches is worked out once per screening; what is the same at every site
    # (absent, unknown, no device of a group) is set once, and each site tests only what was recorded somewhere.
    common: FactSet = dict(patient)
    tested: list[tuple[str, tuple[Place, ...]]] = []
    wheres = {kind: _finding_where(kind, getattr(findings, kind), body) for kind in _FINDING_QUESTIONS}
    site_wheres = [
        *((name, wheres[kind]) for kind, name in _SITE_FINDINGS),
        ("site.vascular_disease", _vascular_where(intake, body)),
        *((name, devices[group].where) for group, name in _SITE_DEVICES),
    ]
    for name, where in site_wheres:
        if isinstance(where, tuple):
            tested.append((name, where))
        elif where is not None:
            common[name] = where
    if plan.technique == "dry_needling":
        common["site.stimulated"] = "no"
    stimulated = plan.technique == "electrical" and bool(plan.circuits)
    numb = wheres["reduced_sensation"]
    surgery_weeks = findings.recent_surgery.weeks_ago
    dvt_weeks = findings.dvt.weeks_ago

    site_sets: list[tuple[Site, FactSet]] = []
    for site in plan.sites:
        rid = _rid(site)
        side = site.side
        f: FactSet = dict(common)
        f["site.region"] = regions[rid].within
        if side in ("left", "right", "midline"):
            f["site.side"] = side
        if site.depth_mm is not None:
            f["site.depth_mm"] = _num(site.depth_mm)
        if stimulated:
            f["site.stimulated"] = "yes" if site.id in in_circuit else "no"
        point = ((rid, side),)
        for name, where in tested:
            _set(f, name, _at(where, point, body))
        _set(f, "site.lymphedema_adjacent", _adjacent_at(findings.lymphedema, site, body))
        _set(f, "site.at_risk_adjacent", _adjacent_at(findings.at_risk_limb, site, body))
        _set(f, "site.nerve_territory_reduced_sensation", _nerve_numb(site, numb, body))
        if surgery_weeks is not None and f.get("site.recent_surgery") == "yes":
            f["site.surgery_weeks_ago"] = _num(surgery_weeks)
        if dvt_weeks is not None and f.get("site.dvt") == "yes":
            f["site.dvt_weeks_ago"] = _num(dvt_weeks)
        site_sets.append((site, f))

    circuit_sets: list[tuple[str, FactSet]] = []
    sites = {s.id: s for s in plan.sites}
    metal = devices["metal_implant"]
    for a, b in plan.circuits:
        c: FactSet = dict(patient)
        sa, sb = sites[a], sites[b]
        c["circuit.a_region"] = regions[_rid(sa)].within
        c["circuit.b_region"] = regions[_rid(sb)].within
        c["circuit.opposite_sides"] = "yes" if {sa.side, sb.side} == {"left", "right"} else "no"
        path = body.path((_rid(sa), sa.side), (_rid(sb), sb.side))
        c["circuit.path"] = body.path_regions(path)
        _set(c, "circuit.dvt", _at(wheres["dvt"], path.points, body))
        if dvt_weeks is not None and c.get("circuit.dvt") == "yes":
            c["circuit.dvt_weeks_ago"] = _num(dvt_weeks)
        _set(c, "circuit.thrombophlebitis", _at(wheres["thrombophlebitis"], path.points, body))
        _set(c, "circuit.tumour", _at(wheres["tumour"], path.points, body))
        _set(c, "circuit.worn_device", _at(wheres["worn_device"], path.points, body))
        _set(c, "circuit.metal_implant_area", _at(metal.where, path.points, body))
        circuit_sets.append((f"{a}~{b}", c))
    if plan.technique == "electrical" and not plan.circuits:
        # Sites but no lead pairs: where the current flows is unknown, so every circuit rule is undecided.
        # What no path can meet is still known: no DVT anywhere, no metal anywhere.
        unpaired: FactSet = dict(patient)
        _set(unpaired, "circuit.dvt", "no" if findings.dvt.answer == "no" else None)
        _set(unpaired, "circuit.thrombophlebitis", "no" if findings.thrombophlebitis.answer == "no" else None)
        _set(unpaired, "circuit.tumour", "no" if findings.tumour.answer == "no" else None)
        _set(unpaired, "circuit.worn_device", "no" if findings.worn_device.answer == "no" else None)
        none_listed = not metal.listed and metal.complete
        _set(unpaired, "circuit.metal_implant_area", "no" if none_listed else None)
        circuit_sets.append((UNPAIRED, unpaired))
    return Facts(patient, tuple(site_sets), tuple(circuit_sets), unrecognised)
