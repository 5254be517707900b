"""The intake: what intake software sends for one patient and one planned needling session.

Every yes/no question is tri-state (``"yes"``, ``"no"``, ``"unknown"``) and an absent answer is unknown,
because an unanswered question must never read as "no". Models are frozen, reject unknown fields and
refuse loose types (``true`` is not an age, ``"5"`` is not a number), so what reaches the rules is exactly
what the clinician entered.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictStr, StringConstraints, model_validator

__all__ = [
    "Answer",
    "BleedingDisorder",
    "CodedCondition",
    "Consent",
    "Device",
    "DeviceKind",
    "Devices",
    "Fever",
    "Finding",
    "FindingKind",
    "Findings",
    "InrLab",
    "Intake",
    "Lab",
    "Labs",
    "Location",
    "Medication",
    "Medications",
    "Patient",
    "Plan",
    "Pregnancy",
    "Record",
    "Side",
    "Site",
    "SiteTechnique",
    "Technique",
]

Answer = Literal["yes", "no", "unknown"]
Severity = Literal["none", "mild", "severe", "unknown"]
BleedingDisorder = Severity
Control = Literal["none", "controlled", "uncontrolled", "unknown"]
Side = Literal["left", "right", "both", "midline"]
Technique = Literal["dry_needling", "electrical"]
#: How the needle at one site is placed: into a muscle, or beside a peripheral nerve (perineural, e.g. PEDN).
SiteTechnique = Literal["intramuscular", "perineural"]
DeviceKind = Literal[
    "pacemaker",
    "icd",
    "spinal_cord_stimulator",
    "neurostimulator",
    "drug_pump",
    "cochlear_implant",
    "port_picc",
    "breast_implant",
    "joint_prosthesis",
    "metal_fixation",
]
FindingKind = Literal[
    "lymphedema",
    "at_risk_limb",
    "local_infection",
    "open_wound",
    "tumour",
    "recent_surgery",
    "dvt",
    "varicose_veins",
    "reduced_sensation",
    "radiotherapy_field",
    "spinal_instability",
    "skin_disease",
    "thrombophlebitis",
    "past_dvt",
    "worn_device",
]

#: Limits that keep one screening bounded; past them the intake is rejected naming the limit.
MAX_SITES = 40
MAX_MEDICATIONS = 100
MAX_LOCATIONS = 20
MAX_DEVICES = 20
MAX_CONDITIONS = 100

Name = Annotated[StrictStr, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Identifier = Annotated[StrictStr, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
SiteId = Annotated[StrictStr, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")]


class _Model(BaseModel):
    # Lax mode only so JSON arrays become tuples; every number and string field is Strict*, so `true` is
    # never an age and "5" never a count.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Location(_Model):
    """Where something is: a region of the vocabulary in ``rules/regions.yaml`` and a side.

    A side is required to place a finding on one limb; a missing side on a sided region means the side is
    unknown (so it concerns sites on either side), while ``both`` means both sides.
    """

    region: Identifier
    side: Side | None = None


class Pregnancy(_Model):
    """Pregnancy status; ``gestational_weeks`` is asked only when pregnant.

    Weeks given with "not pregnant" are accepted, not rejected: two answers that contradict each other are a
    reason in the result ("inconsistent answers", caution or worse), which a clinician can act on, where a
    validation error would only stop the screening. With weeks and an unknown status, the status stays unknown.
    """

    status: Literal["pregnant", "not_pregnant", "possibly", "unknown"] = "unknown"
    gestational_weeks: Annotated[StrictFloat, Field(ge=0, le=45)] | None = None
    #: Trying to conceive or having fertility treatment (IVF): a pregnancy is possible even when "not pregnant".
    trying_to_conceive: Answer = "unknown"


class Consent(_Model):
    """Informed consent: the patient agrees, has capacity, and (for a minor) a guardian consents."""

    agrees: Answer = "unknown"
    capacity: Answer = "unknown"
    guardian_consent: Answer = "unknown"


class Fever(_Model):
    """Fever or systemic infection, with the measured temperature when there is one."""

    answer: Answer = "unknown"
    temperature_c: Annotated[StrictFloat, Field(ge=30, le=45)] | None = None


class Patient(_Model):
    """The person: demographics, consent and whole-body conditions."""

    age: Annotated[StrictFloat, Field(ge=0, le=130)] | None = None
    sex: Literal["female", "male", "other", "unknown"] = "unknown"
    pregnancy: Pregnancy = Pregnancy()
    consent: Consent = Consent()
    needle_phobia: Answer = "unknown"
    fainting_history: Answer = "unknown"
    acute_illness: Answer = "unknown"
    fever: Fever = Fever()
    bleeding_disorder: Severity = "unknown"
    #: "Does the patient bruise or bleed easily, or bleed long after a blood test or dental work?"
    bleeding_history: Answer = "unknown"
    immunocompromised: Answer = "unknown"
    active_chemotherapy: Answer = "unknown"
    #: The day of the current chemotherapy cycle (day 1 = the day of the dose), which places the expected nadir.
    chemo_cycle_day: Annotated[StrictFloat, Field(ge=1, le=366)] | None = None
    diabetes: Control = "unknown"
    epilepsy: Control = "unknown"
    metal_allergy: Answer = "unknown"
    heart_valve_or_endocarditis: Answer = "unknown"
    lung_disease: Answer = "unknown"
    #: Emphysema or bullae (bullous lung disease), the part of lung disease that refers thoracic needling.
    bullous_lung_disease: Answer = "unknown"
    prior_pneumothorax: Answer = "unknown"
    pneumothorax_side: Literal["left", "right", "both"] | None = None
    pneumothorax_weeks_ago: Annotated[StrictFloat, Field(ge=0, le=5200)] | None = None
    bmi: Annotated[StrictFloat, Field(ge=8, le=100)] | None = None
    frailty: Answer = "unknown"
    can_keep_still: Answer = "unknown"
    cooperation_problem: Answer = "unknown"
    vascular_disease: Answer = "unknown"
    #: The limbs with peripheral arterial disease; none given: every distal limb site (the whole-patient reading).
    vascular_disease_locations: Annotated[tuple[Location, ...], Field(max_length=MAX_LOCATIONS)] = ()
    cancer_history: Answer = "unknown"
    chest_wall_condition: Answer = "unknown"

    @model_validator(mode="after")
    def _locations_need_yes(self) -> Patient:
        if self.vascular_disease_locations and self.vascular_disease != "yes":
            raise ValueError("vascular_disease_locations are given but vascular_disease is not 'yes'")
        return self


class Medication(_Model):
    """One current medication: a name as the patient or chart gives it, and an ATC code when known."""

    name: Name
    atc: (
        Annotated[StrictStr, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z][0-9]{2}[A-Za-z0-9]{0,4}$")]
        | None
    ) = None


class Medications(_Model):
    """The medication list and whether it is complete (an incomplete list cannot rule a drug out).

    ``vka`` answers "does the patient take warfarin or another blood thinner that needs INR checks?" (a vitamin K
    antagonist) on its own: "yes" counts even when the list does not name the drug, and "yes" against a complete
    list without one is reported as inconsistent answers.
    """

    complete: Answer = "unknown"
    items: Annotated[tuple[Medication, ...], Field(max_length=MAX_MEDICATIONS)] = ()
    vka: Answer = "unknown"


class Lab(_Model):
    """A laboratory value and how many days ago it was taken."""

    value: Annotated[StrictFloat, Field(ge=0, le=5000)]
    age_days: Annotated[StrictFloat, Field(ge=0, le=3650)] | None = None


class InrLab(Lab):
    """INR with the patient's documented target range."""

    value: Annotated[StrictFloat, Field(ge=0.5, le=20)]
    target_low: Annotated[StrictFloat, Field(ge=0.5, le=10)] | None = None
    target_high: Annotated[StrictFloat, Field(ge=0.5, le=10)] | None = None

    @model_validator(mode="after")
    def _ordered_target(self) -> InrLab:
        if self.target_low is not None and self.target_high is not None and self.target_low > self.target_high:
            raise ValueError("target_low must not exceed target_high")
        return self


class Labs(_Model):
    """Recent laboratory results: INR, platelets (x10^9/L) and absolute neutrophil count (x10^9/L)."""

    inr: InrLab | None = None
    platelets: Lab | None = None
    anc: Lab | None = None


class Device(_Model):
    """An implanted device and, when known, where it sits."""

    kind: DeviceKind
    location: Location | None = None


class Devices(_Model):
    """Implanted devices: whether the patient has any, and which.

    A device worn on the skin (an insulin pump, a glucose sensor) is not an implant: it is the finding
    ``worn_device``, with where its infusion set or sensor sits.

    ``answer: yes`` with items is a complete list unless ``others`` says otherwise: a device known only from a
    code (or a partial list) sets ``others: unknown``, so the device groups not listed stay unknown, not "no".
    """

    answer: Answer = "unknown"
    items: Annotated[tuple[Device, ...], Field(max_length=MAX_DEVICES)] = ()
    others: Answer = "no"
    #: Whether the patient depends on a pacemaker (no adequate own rhythm without it); read with a cardiac device.
    pacemaker_dependent: Answer = "unknown"

    @model_validator(mode="after")
    def _items_need_yes(self) -> Devices:
        if self.items and self.answer != "yes":
            raise ValueError("devices are listed but answer is not 'yes'")
        return self


class Finding(_Model):
    """A regional finding: whether it is present and where.

    ``yes`` without locations means "present, place not recorded": every site is then undecided for the rules
    that read this finding (their ``unknown:`` verdict, never clear) until the place is given.
    """

    answer: Answer = "unknown"
    locations: Annotated[tuple[Location, ...], Field(max_length=MAX_LOCATIONS)] = ()
    weeks_ago: Annotated[StrictFloat, Field(ge=0, le=5200)] | None = None

    @model_validator(mode="after")
    def _locations_need_yes(self) -> Finding:
        if self.locations and self.answer != "yes":
            raise ValueError("locations are given but answer is not 'yes'")
        return self


class Findings(_Model):
    """Regional findings by kind; a kind not given is unknown.

    ``dvt`` is a DVT now or recent (its ``weeks_ago``, when given, is compared with the clinic policy
    ``dvt_recent_weeks``; unknown is recent); ``past_dvt`` one resolved long ago.
    """

    lymphedema: Finding = Finding()
    at_risk_limb: Finding = Finding()
    local_infection: Finding = Finding()
    open_wound: Finding = Finding()
    tumour: Finding = Finding()
    recent_surgery: Finding = Finding()
    dvt: Finding = Finding()
    varicose_veins: Finding = Finding()
    reduced_sensation: Finding = Finding()
    radiotherapy_field: Finding = Finding()
    spinal_instability: Finding = Finding()
    #: Eczema or psoriasis plaque, scar or keloid, burn: skin disease that is not a wound.
    skin_disease: Finding = Finding()
    #: Superficial thrombophlebitis: an inflamed, thrombosed superficial vein.
    thrombophlebitis: Finding = Finding()
    #: A DVT in the past, resolved and off treatment (a post-thrombotic limb); ``dvt`` is an acute or recent one.
    past_dvt: Finding = Finding()
    #: A device worn on the skin (insulin pump infusion set, glucose sensor): where it sits.
    worn_device: Finding = Finding()


class Site(_Model):
    """One planned needling site: region (or a muscle or nerve that places it) and side, optionally the depth.

    A muscle name alone is enough ("upper trapezius", "UT", "L gastroc", "multifidus L4"): normalisation places
    it in the region hierarchy by ``rules/vocabulary.yaml``, so thorax, limb and trunk rules apply to it. Given
    with a region, the two must agree (an error otherwise); a side word in the name sets a missing side. A
    perineural site names its peripheral nerve (``rules/body.yaml`` nerves, e.g. ``tibial``); without a region
    it is placed at the nerve's usual needling point, and the skin the nerve supplies counts for the
    reduced-sensation rules.
    """

    id: SiteId
    region: Identifier | None = None
    side: Side | None = None
    muscle: Name | None = None
    nerve: Identifier | None = None
    technique: SiteTechnique | None = None
    depth_mm: Annotated[StrictFloat, Field(gt=0, le=150)] | None = None

    @model_validator(mode="after")
    def _placed(self) -> Site:
        if self.region is None and self.muscle is None and self.nerve is None:
            raise ValueError("a site needs a region, a muscle or a nerve")
        if self.technique == "perineural" and self.nerve is None:
            raise ValueError("a perineural site names its nerve (field 'nerve', e.g. 'tibial')")
        return self


class Plan(_Model):
    """The planned session: technique, sites and, for electrical needling, the lead pairs (circuits)."""

    technique: Technique
    sites: Annotated[tuple[Site, ...], Field(min_length=1, max_length=MAX_SITES)]
    circuits: Annotated[tuple[tuple[SiteId, SiteId], ...], Field(max_length=MAX_SITES)] = ()
    advanced_training: Answer = "unknown"

    @model_validator(mode="after")
    def _consistent(self) -> Plan:
        ids = [s.id for s in self.sites]
        if len(set(ids)) != len(ids):
            raise ValueError("site ids must be unique")
        if self.circuits and self.technique != "electrical":
            raise ValueError("circuits are only allowed when technique is 'electrical'")
        known = set(ids)
        for a, b in self.circuits:
            for end in (a, b):
                if end not in known:
                    raise ValueError(f"circuit names site {end!r}, which is not a planned site")
            if a == b:
                raise ValueError(f"circuit pairs site {a!r} with itself")
        return self


class CodedCondition(_Model):
    """A diagnosis or status given as a code (ICD-10-CM); ``rules/codes.yaml`` maps it to intake answers."""

    system: Literal["ICD-10-CM", "ICD-10"] = "ICD-10-CM"
    code: Annotated[
        StrictStr, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z][0-9][0-9A-Za-z](\.?[0-9A-Za-z]{1,4})?$")
    ]


# Record text is stored in database columns as well as in the intake's JSON: no control characters.
RecordText = Annotated[
    StrictStr, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
]
RecordText64 = Annotated[
    StrictStr, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
]


class Record(_Model):
    """Who and what a screening record is about (a service stores it); never read by any rule.

    Kept apart from ``patient`` so that no fact, and so no verdict, can depend on it. ``patient_ref`` is the
    clinic's own reference (a chart number, not a name); logs never carry any of these fields.
    """

    patient_ref: RecordText64 | None = None
    clinician: RecordText | None = None
    encounter_date: date | None = None
    clinic: RecordText | None = None


class Intake(_Model):
    """Everything needlescreen needs to screen one patient for one planned session."""

    schema_version: Literal["needlescreen.intake/1"] = "needlescreen.intake/1"
    patient: Patient = Patient()
    medications: Medications = Medications()
    labs: Labs = Labs()
    devices: Devices = Devices()
    findings: Findings = Findings()
    conditions: Annotated[tuple[CodedCondition, ...], Field(max_length=MAX_CONDITIONS)] = ()
    plan: Plan
    record: Record | None = None
