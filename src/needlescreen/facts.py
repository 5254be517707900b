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
from typing import Literal

from .codes import CodeMap, bundled_codes
from .errors import FieldProblem, IntakeError
from .intake import Devices, Finding, Intake, Location, Site
from .medications import MedicationClassifier
from .regions import MuscleError, RegionMap

__all__ = ["ALWAYS_KNOWN", "FACTS", "FactSet", "FactSpec", "FactValue", "Facts", "normalise"]

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
    "ssri": "Is the patient taking an SSRI?",
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
    _a("circuit.crosses_thorax", "Does the current path cross the chest?"),
)

#: The fact vocabulary, by name.
FACTS: Mapping[str, FactSpec] = {f.name: f for f in _CATALOGUE}

#: Facts normalisation always sets, so conditions on them are never unknown.
ALWAYS_KNOWN: frozenset[str] = frozenset(
    {
        "meds.unrecognised",
        "plan.technique",
        "plan.thorax_sides",
        "site.region",
        "circuit.a_region",
        "circuit.b_region",
        "circuit.opposite_sides",
        "circuit.crosses_thorax",
    }
)

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

    # Medications: a class is "yes" when a listed drug belongs to it, "no" only when the list is complete
    # and every drug on it was recognised; otherwise unknown.
    counts, unrecognised = meds.classify_all((m.name, m.atc) for m in intake.medications.items)
    complete = intake.medications.complete == "yes" and not unrecognised
    _set(f, "meds.list_complete", _answer(intake.medications.complete))
    for cls in meds.classes:
        _set(f, f"meds.{cls}", "yes" if counts[cls] else ("no" if complete else None))
    # The count is exact only for a complete, fully recognised list. Otherwise it is a lower bound, which
    # still decides "two or more" when two are listed; below that it is unknown.
    listed = sum(counts[c] for c in meds.antithrombotic)
    if complete or listed >= 2:
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
        if "meds.antithrombotic_count" in f:
            f["meds.antithrombotic_count"] = float(f["meds.antithrombotic_count"]) + 1.0  # type: ignore[arg-type]
        elif any(f.get(f"meds.{c}") == "yes" for c in ("doac", "heparin", "antiplatelet")):
            f["meds.antithrombotic_count"] = 2.0  # a lower bound: one listed, and this one
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


def _covers(loc: Location, site: Site, regions: RegionMap) -> str | None:
    """Does a finding or device location concern this site? "yes", "no" or None (cannot tell)."""
    site_region = regions[_rid(site)]
    loc_region = regions[loc.region]
    overlaps = loc.region in site_region.within or _rid(site) in loc_region.within
    if not overlaps:
        return "no"
    if loc.side == "both" or site.side in (None, "midline"):
        return "yes"
    if loc.side is None:
        return None if loc_region.sided or site_region.sided else "yes"
    if loc.side == "midline":
        return "no" if site_region.sided else "yes"
    return "yes" if loc.side == site.side else "no"


def _combine(values: list[str | None]) -> str | None:
    if "yes" in values:
        return "yes"
    if None in values:
        return None
    return "no"


def _finding_at(finding: Finding, site: Site, regions: RegionMap) -> str | None:
    if finding.answer == "no":
        return "no"
    if finding.answer == "unknown" or not finding.locations:
        return None
    return _combine([_covers(loc, site, regions) for loc in finding.locations])


def _adjacent_at(finding: Finding, site: Site, regions: RegionMap) -> str | None:
    """Is this site in the trunk quadrant next to a limb with the finding? (the lymphatic watershed)."""
    if finding.answer == "no":
        return "no"
    if finding.answer == "unknown" or not finding.locations:
        return None
    within = regions[_rid(site)].within
    values: list[str | None] = []
    for loc in finding.locations:
        loc_within = regions[loc.region].within
        territory = next((t for limb, t in regions.territories.items() if limb in loc_within), None)
        if territory is None or territory not in within:
            values.append("no")
        elif loc.side == "both" or site.side == "midline":
            values.append("yes")
        elif loc.side is None or site.side is None:
            values.append(None)
        else:
            values.append("yes" if loc.side == site.side else "no")
    return _combine(values)


def _crosses_thorax(a: Site, b: Site, regions: RegionMap) -> bool:
    """Does the current path between two needles cross the chest (and so the heart)? [I]

    Left to right with both ends on the arms or chest, or diagonally from an arm or the chest to the other
    side of the body; or from the front of the chest to the back.
    """
    aw, bw = regions[_rid(a)].within, regions[_rid(b)].within
    upper = {"upper_limb", "thorax"}
    if {a.side, b.side} == {"left", "right"} and (aw & upper or bw & upper):
        return True
    return ("anterior_thorax" in aw and "posterior_thorax" in bw) or (
        "posterior_thorax" in aw and "anterior_thorax" in bw
    )


def _device_at(devices: Devices, kinds: tuple[str, ...], site: Site, regions: RegionMap) -> str | None:
    relevant = [d for d in devices.items if d.kind in kinds]
    if not relevant:
        complete = devices.answer == "yes" and devices.items and devices.others == "no"
        return "no" if devices.answer == "no" or complete else None
    values: list[str | None] = []
    for d in relevant:
        if d.location is not None:
            values.append(_covers(d.location, site, regions))
        elif d.kind in regions.device_defaults:
            # Only the usual region is assumed, not the side: a site there on either side is undecided.
            usual = _covers(Location(region=regions.device_defaults[d.kind]), site, regions)
            values.append("no" if usual == "no" else None if site.side in ("left", "right") else usual)
        else:
            values.append(None)
    if devices.others != "no":
        values.append(None)  # another device of this group may sit here
    return _combine(values)


def _place_sites(intake: Intake, regions: RegionMap) -> tuple[Intake, list[FieldProblem]]:
    """Give every site its region: a site named by muscle only is placed from the muscle vocabulary."""
    problems: list[FieldProblem] = []
    placed: list[Site] = []
    for i, s in enumerate(intake.plan.sites):
        if s.region is None and s.muscle is not None:
            try:
                placed.append(s.model_copy(update={"region": regions.place_muscle(s.muscle)}))
            except MuscleError as exc:
                problems.append(FieldProblem(f"plan.sites[{i}].muscle", str(exc)))
                placed.append(s)
        else:
            placed.append(s)
    if placed == list(intake.plan.sites):
        return intake, problems
    plan = intake.plan.model_copy(update={"sites": tuple(placed)})
    return intake.model_copy(update={"plan": plan}), problems


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

    for i, s in enumerate(intake.plan.sites):
        if s.region is not None:
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


def normalise(intake: Intake, regions: RegionMap, meds: MedicationClassifier, codes: CodeMap | None = None) -> Facts:
    """Turn a validated intake into fact sets.

    Coded conditions (ICD-10-CM) are first applied as the questionnaire answers they stand for
    (``rules/codes.yaml``; the bundled map unless ``codes`` is given), and sites named by muscle are placed.

    Raises:
        IntakeError: a site, finding or device names a region the vocabulary does not have, a limb site has
            no side, a muscle is unknown, or a condition code is not in the code map.
    """
    intake, problems = _place_sites(intake, regions)
    _check_places(intake, regions, problems)
    intake, coded = (codes if codes is not None else bundled_codes()).apply_noting(intake)
    patient, unrecognised = _patient_facts(intake, meds)
    _reconcile(patient, intake, coded)
    plan = intake.plan
    in_circuit = {end for pair in plan.circuits for end in pair}
    thorax_sides = {s.side or "midline" for s in plan.sites if "thorax" in regions[_rid(s)].within}
    patient["plan.thorax_sides"] = float(len(thorax_sides - {"midline"}) or (1 if thorax_sides else 0))

    site_sets: list[tuple[Site, FactSet]] = []
    by_id: dict[str, FactSet] = {}
    for site in plan.sites:
        f: FactSet = dict(patient)
        f["site.region"] = regions[_rid(site)].within
        _set(f, "site.side", site.side if site.side in ("left", "right", "midline") else None)
        _set(f, "site.depth_mm", None if site.depth_mm is None else _num(site.depth_mm))
        if plan.technique == "dry_needling":
            f["site.stimulated"] = "no"
        elif plan.circuits:
            f["site.stimulated"] = "yes" if site.id in in_circuit else "no"
        for kind in _FINDING_QUESTIONS:
            _set(f, f"site.{kind}", _finding_at(getattr(intake.findings, kind), site, regions))
        _set(f, "site.lymphedema_adjacent", _adjacent_at(intake.findings.lymphedema, site, regions))
        if f.get("site.recent_surgery") == "yes" and intake.findings.recent_surgery.weeks_ago is not None:
            f["site.surgery_weeks_ago"] = _num(intake.findings.recent_surgery.weeks_ago)
        for group, kinds in _DEVICE_GROUPS.items():
            _set(
                f,
                f"site.{group}_area",
                _device_at(intake.devices, kinds, site, regions),
            )
        site_sets.append((site, f))
        by_id[site.id] = f

    circuit_sets: list[tuple[str, FactSet]] = []
    sites = {s.id: s for s in plan.sites}
    for a, b in plan.circuits:
        c: FactSet = dict(patient)
        sa, sb = sites[a], sites[b]
        c["circuit.a_region"] = regions[_rid(sa)].within
        c["circuit.b_region"] = regions[_rid(sb)].within
        opposite = {sa.side, sb.side} == {"left", "right"}
        c["circuit.opposite_sides"] = "yes" if opposite else "no"
        c["circuit.crosses_thorax"] = "yes" if _crosses_thorax(sa, sb, regions) else "no"
        circuit_sets.append((f"{a}~{b}", c))
    return Facts(patient, tuple(site_sets), tuple(circuit_sets), unrecognised)
