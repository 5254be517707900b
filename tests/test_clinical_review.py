"""A hostile clinical review of the whole catalogue: one change at a time from the baseline patient, and
realistic patients, with the verdict a careful physiotherapist expects.

Every expectation here is written from clinical-reference.md (sections 1a-1i, 4, 7 and 8) and anatomy alone,
never read from ``rules/``: a rule, a body model or a vocabulary that was wrong would otherwise agree with
itself. The baseline (``needlescreen.testing.baseline_intake``) is a 40-year-old woman, not pregnant, who
answers no to every question, with manual dry needling of the right calf: clear. Each row changes one thing (the
patients at the end, several) and plans the sites that matter for it: a site the change concerns, another part
of the same limb, the other limb, a neighbouring region, the trunk quadrant, a lead pair through it or beside it.

A row gives the verdict of each planned site, in order, and the overall verdict (the worst of them unless the
row says otherwise). A lead pair's reason counts at both of its sites: that needle must not be stimulated in
that pair. A row may also name words some fired reason's summary must contain (``says``: a verdict that is right
for the wrong reason misleads the clinician who reads it), words of a missing-information question it must ask
(``asks``), or words no reason may contain (``not_says``).

Every row is screened through the library on every engine that loads here (they must agree), and a sample of
them through ``needlescreen check``. The table is run again against deliberately broken rules, body model,
regions, medication classes, vocabulary and questionnaire at the bottom of this file, where it must fail.
Problems found and not fixed would be strict xfails with a minimal example (none are open: the review-2 rows
fixed the last three).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from needlescreen import Screener, load_ruleset
from needlescreen.body import BodyModel
from needlescreen.cli import EXIT_CODES, app
from needlescreen.engine import available_engines
from needlescreen.questionnaire import AnswerError, load_questionnaire
from needlescreen.result import ScreeningResult
from needlescreen.ruleset import Ruleset, default_rules_dir
from needlescreen.testing import baseline_intake, comparable

RANK = {"clear": 0, "caution": 1, "refer": 2}
_SIDE = {"L": "left", "R": "right", "B": "both", "M": "midline"}


def _merge(into: dict[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in change.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), Mapping):
            _merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)
    return into


def merged(*changes: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for change in changes:
        _merge(out, change)
    return out


def place(text: str) -> dict[str, Any]:
    """'L forearm' -> {'region': 'forearm', 'side': 'left'}; 'lumbar' -> {'region': 'lumbar'}."""
    words = text.split()
    if words[0] in _SIDE:
        return {"region": "_".join(words[1:]), "side": _SIDE[words[0]]}
    return {"region": "_".join(words)}


def site_of(i: int, spec: str) -> dict[str, Any]:
    """A planned site from a short spec: 'R calf', 'lumbar', 'n:L tibial' (perineural), 'm:right UT' (muscle)."""
    sid = f"s{i}"
    if spec.startswith("n:"):
        side, nerve = spec[2:].split(maxsplit=1)
        return {"id": sid, "nerve": nerve, "technique": "perineural", "side": _SIDE[side]}
    if spec.startswith("m:"):
        return {"id": sid, "muscle": spec[2:]}
    return {"id": sid, **place(spec)}


# --- change builders: each is one answer a physiotherapist gives ----------------------------------------------------


def P(**answers: Any) -> dict[str, Any]:
    return {"patient": answers}


def F(kind: str, *where: str, answer: str = "yes", **extra: Any) -> dict[str, Any]:
    finding: dict[str, Any] = {"answer": answer, **extra}
    if where:
        finding["locations"] = [place(w) for w in where]
    return {"findings": {kind: finding}}


def M(*names: str, complete: str = "yes") -> dict[str, Any]:
    return {"medications": {"complete": complete, "items": [{"name": n} for n in names]}}


def D(*items: tuple[str, str | None], dependent: str = "no") -> dict[str, Any]:
    listed = [{"kind": k, **({"location": place(w)} if w else {})} for k, w in items]
    return {"devices": {"answer": "yes", "items": listed, "others": "no", "pacemaker_dependent": dependent}}


def INR(value: float, *, high: float | None = None, low: float | None = None, days: float = 5.0) -> dict[str, Any]:
    lab: dict[str, Any] = {"value": value, "age_days": days}
    if high is not None:
        lab.update(target_low=low if low is not None else 2.0, target_high=high)
    return {"labs": {"inr": lab}}


def COUNTS(*, anc: float | None = None, platelets: float | None = None, days: float = 3.0) -> dict[str, Any]:
    labs: dict[str, Any] = {}
    if anc is not None:
        labs["anc"] = {"value": anc, "age_days": days}
    if platelets is not None:
        labs["platelets"] = {"value": platelets, "age_days": days}
    return {"labs": labs}


def PREG(status: str, weeks: float | None = None, **extra: Any) -> dict[str, Any]:
    preg: dict[str, Any] = {"status": status, **extra}
    if weeks is not None:
        preg["gestational_weeks"] = weeks
    return {"patient": {"pregnancy": preg}}


def C(*codes: str) -> dict[str, Any]:
    """Coded diagnoses as an EHR sends its problem list (ICD-10-CM)."""
    return {"conditions": [{"system": "ICD-10-CM", "code": c} for c in codes]}


@dataclass(frozen=True)
class Row:
    """One screening: a change, the planned sites, what each site and the whole plan should screen."""

    name: str
    change: dict[str, Any]
    sites: tuple[str, ...]
    expect: tuple[str, ...]
    circuits: tuple[tuple[int, int], ...] | None = None  # None: manual dry needling
    overall: str | None = None
    says: tuple[str, ...] = ()  # words some fired reason's summary must contain (case-insensitive)
    asks: tuple[str, ...] = ()  # words some missing-information question must contain
    not_says: tuple[str, ...] = ()  # words no reason's summary may contain
    site_says: tuple[tuple[int, str], ...] = ()  # (site index, words a reason fired at that site must contain)
    at_least: bool = False  # the expectations are minimums (the reference asks only "never clear")
    section: str = ""
    notes: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        assert len(self.sites) == len(self.expect), self.name

    @property
    def worst(self) -> str:
        return self.overall or max(self.expect, key=RANK.__getitem__)


def intake_of(baseline: Mapping[str, Any], row: Row) -> dict[str, Any]:
    intake = _merge(copy.deepcopy(dict(baseline)), row.change)
    plan: dict[str, Any] = {
        "technique": "dry_needling" if row.circuits is None else "electrical",
        "sites": [site_of(i, s) for i, s in enumerate(row.sites)],
        "advanced_training": intake["plan"].get("advanced_training", "no"),
    }
    if row.circuits:
        plan["circuits"] = [[f"s{a}", f"s{b}"] for a, b in row.circuits]
    if "plan" in row.change:
        plan.update({k: v for k, v in row.change["plan"].items() if k not in ("sites", "circuits", "technique")})
    intake["plan"] = plan
    return intake


def r(name: str, change: Mapping[str, Any], sites: str, expect: str, **kw: Any) -> Row:
    """A row: sites and expectations as comma-separated text ('R calf, L calf', 'refer, clear')."""
    return Row(
        name=name,
        change=dict(change),
        sites=tuple(s.strip() for s in sites.split(",")),
        expect=tuple(e.strip() for e in expect.split(",")),
        **kw,
    )


EDN = ((0, 1),)  # one lead pair between the first two sites
BASE: dict[str, Any] = {}

# --- 1a. Consent, person, systemic state -----------------------------------------------------------------------------
ROWS: list[Row] = [
    r("baseline", BASE, "R calf", "clear"),
    r("baseline, electrical calf to thigh", BASE, "R calf, R thigh", "clear, clear", circuits=EDN),
    r("does not consent", P(consent={"agrees": "no"}), "R calf", "refer", says=("consent",)),
    r("consent not recorded", P(consent={"agrees": "unknown"}), "R calf", "caution", asks=("agree",)),
    r("no capacity, no proxy", P(consent={"capacity": "no"}), "R calf", "refer", says=("consent",)),
    r("capacity not known", P(consent={"capacity": "unknown"}), "R calf", "caution"),
    r("no capacity but a valid proxy", P(consent={"capacity": "no", "guardian_consent": "yes"}), "R calf", "clear"),
    r("16, guardian consents", P(age=16.0, consent={"guardian_consent": "yes"}), "R calf", "caution", says=("minor",)),
    r("16, guardian consent not recorded", P(age=16.0), "R calf", "refer", says=("guardian",)),
    r("17.9, guardian consents", P(age=17.9, consent={"guardian_consent": "yes"}), "R calf", "caution"),
    r("18 years old", P(age=18.0), "R calf", "clear"),
    r("age not known", P(age=None), "R calf", "caution", asks=("old",)),
    r("needle phobia", P(needle_phobia="yes"), "R calf, L forearm", "refer, refer", says=("phobia",)),
    r("needle phobia not asked", P(needle_phobia="unknown"), "R calf", "caution"),
    r("faints with needles", P(fainting_history="yes"), "R calf", "caution", says=("vasovagal",)),
    r("fainting not asked", P(fainting_history="unknown"), "R calf", "caution"),
    r("acute unexplained problem", P(acute_illness="yes"), "R calf", "refer"),
    r("acute problem not asked", P(acute_illness="unknown"), "R calf", "caution"),
    r("fever", P(fever={"answer": "yes"}), "R calf", "refer", says=("febrile",)),
    r("measured 38.4 C", P(fever={"answer": "no", "temperature_c": 38.4}), "R calf", "refer"),
    r("measured 37.2 C", P(fever={"answer": "no", "temperature_c": 37.2}), "R calf", "clear"),
    r("fever not asked", P(fever={"answer": "unknown"}), "R calf", "caution"),
    r("frail", P(frailty="yes"), "R calf", "caution", says=("frail",)),
    r("frailty not asked", P(frailty="unknown"), "R calf", "caution"),
    r("psychological state limits cooperation", P(cooperation_problem="yes"), "R calf", "caution"),
    r("cannot keep still", P(can_keep_still="no"), "R calf", "refer", says=("keep still",)),
    r("keeping still not asked", P(can_keep_still="unknown"), "R calf", "caution"),
]

# --- 1b. Bleeding and coagulation ------------------------------------------------------------------------------------
ROWS += [
    r("haemophilia", P(bleeding_disorder="severe"), "R calf", "refer", says=("bleeding disorder",)),
    r("mild bleeding disorder", P(bleeding_disorder="mild"), "R calf", "caution"),
    r("bleeding disorder not asked", P(bleeding_disorder="unknown"), "R calf", "caution"),
    r("bruises easily", P(bleeding_history="yes"), "R calf", "caution", says=("bleed",)),
    r(
        "warfarin, INR in range",
        merged(M("warfarin 5mg"), INR(2.4, high=3.0)),
        "R calf",
        "caution",
        says=("vitamin k",),
    ),
    r(
        "Coumadin, INR above target",
        merged(M("Coumadin 3 mg daily"), INR(3.4, high=3.0)),
        "R calf",
        "refer",
        says=("inr",),
    ),
    r("warfarin, INR 4.1, no target", merged(M("warfarin"), INR(4.1)), "R calf", "refer"),
    r("warfarin, INR 3.2, no target", merged(M("warfarin"), INR(3.2)), "R calf", "caution"),
    r("warfarin, no INR", M("warfarin"), "R calf", "caution", asks=("inr",)),
    r("warfarin, INR 8 weeks old", merged(M("warfarin"), INR(2.5, high=3.0, days=56.0)), "R calf", "caution"),
    r("Marevan (warfarin brand)", merged(M("Marevan 4mg"), INR(2.5, high=3.0)), "R calf", "caution"),
    r("phenprocoumon", merged(M("phenprocoumon 3 mg"), INR(2.5, high=3.0)), "R calf", "caution"),
    r("apixaban 5 mg bd", M("apixaban 5 mg bd"), "R calf", "caution", says=("anticoagulant: bleeding precautions",)),
    r("Eliquis 5mg BID", M("Eliquis 5mg BID"), "R calf", "caution", says=("anticoagulant: bleeding precautions",)),
    r("Xarelto 20 mg od", M("Xarelto 20 mg od"), "R calf", "caution", says=("anticoagulant: bleeding precautions",)),
    r("rivaroxaban misspelt 'xeralto'", M("xeralto 20mg"), "R calf", "caution"),
    r("apixaban misspelt 'apixiban'", M("apixiban 5mg"), "R calf", "caution"),
    r(
        "Pradaxa 150 mg",
        M("Pradaxa 150mg twice daily"),
        "R calf",
        "caution",
        says=("anticoagulant: bleeding precautions",),
    ),
    r("Lixiana (edoxaban)", M("Lixiana 60mg"), "R calf", "caution", says=("anticoagulant: bleeding precautions",)),
    r(
        "enoxaparin 40 mg sc",
        M("enoxaparin 40mg sc daily"),
        "R calf",
        "caution",
        says=("anticoagulant: bleeding precautions",),
    ),
    r("Clexane", M("Clexane 40mg"), "R calf", "caution", says=("anticoagulant: bleeding precautions",)),
    r("Fragmin", M("Fragmin 5000 units"), "R calf", "caution"),
    r("fondaparinux", M("fondaparinux 2.5mg"), "R calf", "caution"),
    r("aspirin 81 mg", M("aspirin 81mg"), "R calf", "caution", says=("antiplatelet",)),
    r("baby aspirin", M("baby aspirin"), "R calf", "caution"),
    r("Plavix 75mg", M("Plavix 75mg"), "R calf", "caution", says=("antiplatelet",)),
    r("ticagrelor 90 mg bd", M("ticagrelor 90 mg bd"), "R calf", "caution"),
    r("Brilinta", M("Brilinta"), "R calf", "caution"),
    r("dual antiplatelet", M("aspirin 100mg", "clopidogrel 75mg"), "R calf", "caution", says=("combined",)),
    r("triple therapy", merged(M("warfarin", "aspirin", "clopidogrel"), INR(2.5, high=3.0)), "R calf", "refer"),
    r("apixaban with ibuprofen", M("Eliquis 5mg", "ibuprofen 400mg prn"), "R calf", "caution", says=("combined",)),
    r("apixaban with sertraline", M("apixaban", "sertraline 50 mg"), "R calf", "caution", says=("combined",)),
    r("medication list incomplete", M(complete="no"), "R calf", "caution", says=("medications",)),
    r("medication list not checked", M(complete="unknown"), "R calf", "caution"),
    r("statin and metformin only", M("atorvastatin 20mg", "metformin 500mg bd"), "R calf", "clear"),
    r("paracetamol as written", M("Panadol 1g qds prn"), "R calf", "clear"),
    r(
        "apixaban, deep iliopsoas",
        M("apixaban 5mg bd"),
        "iliopsoas, R calf",
        "caution, caution",
        says=("deep",),
    ),
    r("no bleeding risk, deep iliopsoas", BASE, "iliopsoas, R deep_gluteal", "clear, clear"),
    r("platelets 40", COUNTS(platelets=40.0), "R calf", "refer", says=("platelets",)),
    r("platelets 75", COUNTS(platelets=75.0), "R calf", "caution"),
    r("platelets 180", COUNTS(platelets=180.0), "R calf", "clear"),
]

# --- 1c. Immune, infection, oncology -------------------------------------------------------------------------------
ROWS += [
    r("ANC 0.4", COUNTS(anc=0.4), "R calf", "refer", says=("neutropenia",)),
    r("ANC 0.8", COUNTS(anc=0.8), "R calf", "caution"),
    r("ANC 2.5", COUNTS(anc=2.5), "R calf", "clear"),
    r("immunocompromised", P(immunocompromised="yes"), "R calf", "caution", says=("immunocompromised",)),
    r("immune status not asked", P(immunocompromised="unknown"), "R calf", "caution"),
    r("methotrexate weekly", M("methotrexate 15mg weekly"), "R calf", "caution", says=("immunocompromised",)),
    r("prednisolone 10 mg", M("prednisolone 10 mg daily"), "R calf", "caution", says=("immunocompromised",)),
    r("Humira fortnightly", M("Humira 40mg every other week"), "R calf", "caution"),
    r("tacrolimus", M("tacrolimus 2mg bd"), "R calf", "caution"),
    r("steroid eye drops are not systemic", M("prednisolone eye drops"), "R calf", "clear"),
    r("hydrocortisone cream is not systemic", M("hydrocortisone 1% cream"), "R calf", "clear"),
    r(
        "cellulitis of the right calf",
        F("local_infection", "R calf"),
        "R calf, R ankle, R thigh, L calf",
        "refer, refer, clear, clear",
        says=("infected",),
    ),
    r(
        "open wound on the left forearm",
        F("open_wound", "L forearm"),
        "L forearm, L elbow, L upper_arm, R forearm",
        "refer, refer, clear, clear",
    ),
    r("infection not asked", F("local_infection", answer="unknown"), "R calf", "caution"),
    r(
        "lumbar metastasis",
        F("tumour", "lumbar"),
        "lumbar, sacral, R calf",
        "refer, refer, clear",
        says=("tumour",),
    ),
    r("cancer history, no chemotherapy", P(cancer_history="yes", active_chemotherapy="no"), "R calf", "clear"),
    r(
        "cancer history, treatment not known",
        P(cancer_history="yes", active_chemotherapy="unknown"),
        "R calf",
        "caution",
    ),
    r(
        "active chemotherapy, counts fine",
        merged(P(active_chemotherapy="yes", chemo_cycle_day=3.0), COUNTS(anc=3.0, platelets=220.0, days=1.0)),
        "R calf",
        "caution",
        says=("chemotherapy",),
    ),
    r(
        "active chemotherapy, no counts",
        P(active_chemotherapy="yes", chemo_cycle_day=3.0),
        "R calf",
        "caution",
        asks=("platelet",),
    ),
    r("paclitaxel as charted", M("paclitaxel 80 mg/m2 weekly"), "R calf", "caution", at_least=True),
    r(
        "port in the right upper chest",
        D(("port_picc", "R infraclavicular")),
        "R infraclavicular, L calf",
        "caution, clear",
        says=("port",),
    ),
    r(
        "PICC in the left upper arm",
        D(("port_picc", "L upper_arm")),
        "L forearm, L upper_arm, R forearm, R calf",
        "caution, caution, clear, clear",
    ),
    r(
        "radiotherapy field left breast",
        F("radiotherapy_field", "L breast"),
        "L breast, R calf",
        "caution, clear",
        says=("irradiated",),
    ),
    r(
        "radiotherapy field left supraclavicular, electrical in it",
        F("radiotherapy_field", "L upper_trapezius"),
        "L upper_trapezius, L interscapular",
        "refer, refer",
        circuits=EDN,
    ),
]

# --- 1d. Lymphatic, vascular, cardiac ----------------------------------------------------------------------------
ROWS += [
    r(
        "lymphoedema left arm",
        F("lymphedema", "L forearm"),
        "L forearm, L shoulder_girdle, L hand, R forearm, L chest_wall, L calf",
        "refer, refer, refer, clear, caution, clear",
        says=("lymphoedema",),
        site_says=((4, "lymphoedema"),),
    ),
    r(
        "lymphoedema left leg",
        F("lymphedema", "L calf"),
        "L thigh, L gluteal, L foot, R calf, L abdomen, R forearm",
        "refer, refer, refer, clear, caution, clear",
    ),
    r(
        "lymphoedema of an arm, side not recorded",
        F("lymphedema", "upper_limb"),
        "L forearm, R forearm, R calf",
        "caution, caution, clear",
        asks=("limb",),
    ),
    r("lymphoedema not asked", F("lymphedema", answer="unknown"), "R calf", "caution"),
    r(
        "left axillary node dissection",
        F("at_risk_limb", "L axilla"),
        "L forearm, L upper_trapezius, R forearm, L calf",
        "caution, caution, clear, clear",
        says=("at risk",),
        site_says=((1, "lymphoedema"),),
    ),
    r(
        "left inguinal node dissection",
        F("at_risk_limb", "L hip"),
        "L calf, L abdomen, R calf, L forearm",
        "caution, caution, clear, clear",
    ),
    r("limb at risk not asked", F("at_risk_limb", answer="unknown"), "R calf", "caution"),
    r(
        "varicose veins right calf",
        F("varicose_veins", "R calf"),
        "R calf, L calf",
        "caution, clear",
        says=("varicose",),
    ),
    r(
        "varicose veins right calf, electrical there",
        F("varicose_veins", "R calf"),
        "R calf, R ankle",
        "refer, refer",
        circuits=EDN,
    ),
    r(
        "DVT right calf, 3 weeks",
        F("dvt", "R calf", weeks_ago=3.0),
        "R calf, R thigh, R foot, L calf, L forearm",
        "refer, refer, refer, clear, clear",
        says=("dvt",),
    ),
    r("DVT right calf, date not known", F("dvt", "R calf"), "R calf, R thigh, L calf", "refer, refer, clear"),
    r(
        "DVT right calf, 5 years ago",
        F("dvt", "R calf", weeks_ago=260.0),
        "R calf, R thigh, L calf",
        "caution, caution, clear",
    ),
    r("past DVT right leg", F("past_dvt", "R thigh"), "R calf, R gluteal, L calf", "caution, caution, clear"),
    r(
        "recent DVT left arm, current across the chest from the right arm",
        F("dvt", "L upper_arm", weeks_ago=4.0),
        "R forearm, R hand",
        "clear, clear",
        circuits=EDN,
    ),
    r("DVT not asked", F("dvt", answer="unknown"), "R calf", "caution"),
    r(
        "thrombophlebitis left calf",
        F("thrombophlebitis", "L calf"),
        "L calf, L knee, L thigh, R calf",
        "refer, refer, clear, clear",
    ),
    r(
        "poor circulation, limb not recorded",
        P(vascular_disease="yes"),
        "R calf, R thigh, L hand",
        "caution, clear, caution",
        says=("circulation",),
    ),
    r(
        "poor circulation in the left leg",
        P(vascular_disease="yes", vascular_disease_locations=[place("L calf")]),
        "R calf, L foot, L thigh",
        "clear, caution, clear",
    ),
    r("circulation not asked, thigh only", P(vascular_disease="unknown"), "R thigh", "clear"),
    r("circulation not asked, calf", P(vascular_disease="unknown"), "R calf", "caution"),
    r("prosthetic heart valve", P(heart_valve_or_endocarditis="yes"), "R calf", "caution", says=("endocarditis",)),
    r("heart valve not asked", P(heart_valve_or_endocarditis="unknown"), "R calf", "caution"),
]

# --- 1e. Metabolic, neurological, allergy ---------------------------------------------------------------------
NUMB_FEET = F("reduced_sensation", "B foot")
ROWS += [
    r("uncontrolled diabetes", P(diabetes="uncontrolled"), "R calf", "caution", says=("diabetes",)),
    r("controlled diabetes, normal feet", P(diabetes="controlled"), "R calf", "caution"),
    r("diabetes not asked", P(diabetes="unknown"), "R calf", "caution"),
    r("numb feet, manual calf and foot", NUMB_FEET, "R calf, R foot", "clear, caution", says=("sensation",)),
    r(
        "numb feet, stimulated tibial nerve",
        NUMB_FEET,
        "n:R tibial, R calf",
        "caution, clear",
        circuits=EDN,
        overall="caution",
        says=("sensation",),
    ),
    r("numbness not asked", F("reduced_sensation", answer="unknown"), "R calf", "caution"),
    r("controlled epilepsy", P(epilepsy="controlled"), "R calf", "caution", says=("seizure",)),
    r("uncontrolled epilepsy", P(epilepsy="uncontrolled"), "R calf", "refer", says=("seizure",)),
    r("epilepsy not asked", P(epilepsy="unknown"), "R calf", "caution"),
    r("nickel allergy", P(metal_allergy="yes"), "R calf", "caution", says=("nickel",)),
    r("metal allergy not asked", P(metal_allergy="unknown"), "R calf", "caution"),
]

# --- 1f. Pregnancy ----------------------------------------------------------------------------------------------
ROWS += [
    r("pregnant 8 weeks, calf", PREG("pregnant", 8.0), "R calf", "refer", says=("first trimester",)),
    r("pregnant, weeks not known", PREG("pregnant"), "R calf", "refer"),
    r("pregnant 20 weeks, calf", PREG("pregnant", 20.0), "R calf", "caution", says=("pregnancy",)),
    r("pregnant 20 weeks, low back and calf", PREG("pregnant", 20.0), "lumbar, R calf", "refer, caution"),
    r(
        "pregnant 20 weeks, abdomen, sacrum, pelvic floor",
        PREG("pregnant", 20.0),
        "abdomen, sacral, pelvic, thoracolumbar_junction",
        "refer, refer, refer, refer",
    ),
    r(
        "pregnant 20 weeks, LI4 first web space",
        PREG("pregnant", 20.0),
        "L first_web_space, L forearm",
        "refer, caution",
    ),
    r("pregnant 20 weeks, SP6 above the medial malleolus", PREG("pregnant", 20.0), "R medial_lower_leg", "refer"),
    r(
        "pregnant 20 weeks, GB21 upper trapezius",
        PREG("pregnant", 20.0),
        "R upper_trapezius, R forearm",
        "refer, caution",
    ),
    r(
        "pregnant 20 weeks, electrical on one calf",
        PREG("pregnant", 20.0),
        "R calf, R ankle",
        "caution, caution",
        circuits=EDN,
    ),
    r(
        "pregnant 20 weeks, electrical calf to calf",
        PREG("pregnant", 20.0),
        "L calf, R calf",
        "refer, refer",
        circuits=EDN,
        says=("pregnant",),
    ),
    r(
        "pregnant 20 weeks, electrical in the low back",
        PREG("pregnant", 20.0),
        "L lumbar, L thoracolumbar_junction",
        "refer, refer",
        circuits=EDN,
    ),
    r("possibly pregnant, manual calf", PREG("possibly"), "R calf", "clear"),
    r("possibly pregnant, manual low back", PREG("possibly"), "lumbar, R calf", "refer, clear"),
    r(
        "possibly pregnant, electrical on one calf",
        PREG("possibly"),
        "R calf, R ankle",
        "refer, refer",
        circuits=EDN,
        notes="PREG_T1: 'or possibly pregnant, trunk/EDN planned' is the first trimester (refer)",
    ),
    r("pregnancy not asked, low back", PREG("unknown"), "lumbar, R calf", "caution, caution", asks=("pregnan",)),
    r(
        "pregnancy not asked, electrical on one calf",
        PREG("unknown"),
        "R calf, R ankle",
        "caution, caution",
        circuits=EDN,
        asks=("pregnan",),
    ),
    r("pregnancy not asked, man, low back", merged(P(sex="male"), PREG("unknown")), "lumbar", "clear"),
    r("pregnancy not asked, 62, low back", merged(P(age=62.0), PREG("unknown")), "lumbar", "clear"),
    r(
        "trying to conceive, low back and calf",
        PREG("not_pregnant", trying_to_conceive="yes"),
        "lumbar, R calf",
        "caution, clear",
    ),
    r(
        "trying to conceive, electrical on one calf",
        PREG("not_pregnant", trying_to_conceive="yes"),
        "R calf, R ankle",
        "caution, caution",
        circuits=EDN,
        notes="section 8: trying to conceive is a possible pregnancy (trunk/EDN), caution",
    ),
]

# --- 1g. Implants, devices, surgery ---------------------------------------------------------------------------------
ROWS += [
    r(
        "pacemaker, electrical on the calf",
        D(("pacemaker", "L infraclavicular")),
        "R calf, R thigh",
        "refer, refer",
        circuits=EDN,
        says=("cardiac device",),
    ),
    r("pacemaker, manual calf", D(("pacemaker", "L infraclavicular")), "R calf", "clear"),
    r(
        "pacemaker, manual at the pocket",
        D(("pacemaker", "L infraclavicular")),
        "L infraclavicular, R calf",
        "caution, clear",
        says=("pocket",),
    ),
    r("ICD, place not recorded, left chest wall", D(("icd", None)), "L chest_wall, R calf", "caution, clear"),
    r(
        "spinal cord stimulator, electrical calf",
        D(("spinal_cord_stimulator", None)),
        "R calf, R thigh",
        "refer, refer",
        circuits=EDN,
    ),
    r(
        "cochlear implant, electrical calf",
        D(("cochlear_implant", "L scalp")),
        "R calf, R thigh",
        "refer, refer",
        circuits=EDN,
    ),
    r("drug pump, electrical calf", D(("drug_pump", "abdomen")), "R calf, R thigh", "refer, refer", circuits=EDN),
    r(
        "implants not asked, electrical calf",
        {"devices": {"answer": "unknown"}},
        "R calf, R thigh",
        "caution, caution",
        circuits=EDN,
        at_least=True,
        asks=("device",),
    ),
    r("implants not asked, manual calf", {"devices": {"answer": "unknown"}}, "R calf", "caution", at_least=True),
    r(
        "right knee replacement, manual",
        D(("joint_prosthesis", "R knee")),
        "R knee, R calf, R thigh, L knee, R foot",
        "caution, caution, caution, clear, clear",
    ),
    r(
        "right knee replacement, current across the knee",
        D(("joint_prosthesis", "R knee")),
        "R thigh, R calf",
        "caution, caution",
        circuits=EDN,
        says=("metal",),
    ),
    r(
        "right hip replacement, current in the foot",
        D(("joint_prosthesis", "R hip")),
        "R foot, R ankle",
        "clear, clear",
        circuits=EDN,
    ),
    r(
        "left breast implant",
        D(("breast_implant", "L breast")),
        "L breast, R calf",
        "caution, clear",
        says=("implant",),
    ),
    r(
        "right knee surgery 4 weeks ago",
        F("recent_surgery", "R knee", weeks_ago=4.0),
        "R knee, R thigh, R calf, L knee, R foot",
        "refer, refer, refer, clear, clear",
        says=("surgery",),
    ),
    r(
        "right knee surgery 30 weeks ago",
        F("recent_surgery", "R knee", weeks_ago=30.0),
        "R knee, L knee",
        "caution, clear",
    ),
    r("right knee surgery, date not known", F("recent_surgery", "R knee"), "R knee, L knee", "refer, clear"),
    r("recent surgery not asked", F("recent_surgery", answer="unknown"), "R calf", "caution"),
]

# --- 1h. Thorax and vulnerable regions ------------------------------------------------------------------------
ROWS += [
    r("upper trapezius", BASE, "R upper_trapezius", "caution", says=("pneumothorax",)),
    r("upper trapezius by its abbreviation", BASE, "m:right UT", "caution", says=("pneumothorax",)),
    r(
        "both upper trapezius",
        BASE,
        "L upper_trapezius, R upper_trapezius",
        "caution, caution",
        says=("bilateral",),
    ),
    r("previous pneumothorax", P(prior_pneumothorax="yes"), "L upper_trapezius, R calf", "refer, clear"),
    r("COPD", P(lung_disease="yes", bullous_lung_disease="no"), "L upper_trapezius, R calf", "caution, clear"),
    r("emphysema", P(lung_disease="yes", bullous_lung_disease="yes"), "L upper_trapezius, R calf", "refer, clear"),
    r("BMI 17", P(bmi=17.0), "L interscapular, R calf", "caution, clear", says=("pneumothorax",)),
    r("kyphoscoliosis", P(chest_wall_condition="yes"), "L chest_wall, R calf", "caution, clear"),
    r(
        "lung disease not asked, thorax",
        P(lung_disease="unknown", bullous_lung_disease="unknown"),
        "L chest_wall",
        "caution",
    ),
    r("lung disease not asked, calf", P(lung_disease="unknown", bullous_lung_disease="unknown"), "R calf", "clear"),
    r("nipple", BASE, "L nipple", "refer"),
    r("umbilicus", BASE, "umbilicus", "refer"),
    r("external genitalia", BASE, "external_genitalia", "refer"),
    r("infant scalp", P(age=1.0, consent={"guardian_consent": "yes"}), "scalp", "refer"),
    r("eye orbit, no advanced training", BASE, "L eye_orbit", "refer"),
    r("eye orbit with advanced training", {"plan": {"advanced_training": "yes"}}, "L eye_orbit", "clear"),
    r("sternocleidomastoid, no advanced training", BASE, "m:left SCM", "refer"),
    r("suboccipital, no advanced training", BASE, "suboccipital", "refer"),
    r(
        "cervical spinal instability",
        F("spinal_instability", "posterior_neck"),
        "L posterior_neck, lumbar, R calf",
        "refer, clear, clear",
        says=("instability",),
    ),
    r(
        "lumbar spinal instability",
        F("spinal_instability", "lumbar"),
        "lumbar, sacral, thoracolumbar_junction, R calf",
        "refer, refer, refer, clear",
    ),
    r("spinal instability not asked", F("spinal_instability", answer="unknown"), "lumbar", "caution"),
]

# --- 1i. Electrical-only rules ---------------------------------------------------------------------------------
TRAINED = {"plan": {"advanced_training": "yes"}}
ROWS += [
    r(
        "current over the carotid sinus",
        TRAINED,
        "m:left SCM, L upper_trapezius",
        "refer, caution",
        circuits=EDN,
        says=("carotid",),
    ),
    r("current arm to arm", BASE, "L forearm, R forearm", "refer, refer", circuits=EDN, says=("transthoracic",)),
    r("current front to back of the chest", BASE, "L chest_wall, L interscapular", "refer, refer", circuits=EDN),
    r(
        "current across the cervical cord",
        TRAINED,
        "L posterior_neck, R posterior_neck",
        "refer, refer",
        circuits=EDN,
        says=("spinal cord",),
    ),
    r("current across the low back", BASE, "L lumbar, R lumbar", "clear, clear", circuits=EDN),
    r(
        "current along one upper trapezius",
        BASE,
        "L upper_trapezius, L interscapular",
        "caution, caution",
        circuits=EDN,
    ),
    r(
        "current on the head",
        BASE,
        "L scalp, L upper_trapezius",
        "refer, caution",
        circuits=EDN,
        says=("transcranial",),
    ),
    r(
        "current through a wound",
        F("open_wound", "R calf"),
        "R calf, R thigh",
        "refer, clear",
        circuits=EDN,
    ),
    r(
        "current near a tumour",
        F("tumour", "R thigh"),
        "R knee, R calf",
        "refer, refer",
        circuits=EDN,
        says=("tumour",),
    ),
    r(
        "current through a calf tumour",
        F("tumour", "L calf"),
        "L thigh, L foot",
        "refer, refer",
        circuits=EDN,
        says=("tumour",),
    ),
    r(
        "current beside a calf tumour, other leg",
        F("tumour", "L calf"),
        "R thigh, R foot",
        "clear, clear",
        circuits=EDN,
    ),
    r(
        "electrical during chemotherapy",
        merged(P(active_chemotherapy="yes", chemo_cycle_day=3.0), COUNTS(anc=3.0, platelets=220.0, days=1.0)),
        "R calf, R thigh",
        "caution, caution",
        circuits=EDN,
    ),
    r("current calf to calf, not pregnant", BASE, "L calf, R calf", "clear, clear", circuits=EDN),
    r("current arm to leg", BASE, "L forearm, L calf", "refer, refer", circuits=EDN),
    r(
        "electrical without lead pairs",
        BASE,
        "R calf, R thigh",
        "caution, caution",
        circuits=(),
        at_least=True,
        asks=("lead pair",),
    ),
]

# --- 8. Additions of the third round ------------------------------------------------------------------------------
ROWS += [
    r(
        "spinal cord stimulator generator left buttock, manual",
        D(("spinal_cord_stimulator", "L gluteal")),
        "L gluteal, lumbar, R gluteal, R calf",
        "caution, caution, clear, clear",
        says=("needle elsewhere",),
    ),
    r(
        "intrathecal pump, manual abdomen",
        D(("drug_pump", "abdomen")),
        "abdomen, R calf",
        "caution, clear",
    ),
    r(
        "insulin pump set left abdomen, manual",
        F("worn_device", "L abdomen"),
        "L abdomen, R calf",
        "caution, clear",
    ),
    r(
        "insulin pump set left abdomen, current in the leg",
        F("worn_device", "L abdomen"),
        "R calf, R thigh",
        "clear, clear",
        circuits=EDN,
        not_says=("active implant",),
    ),
    r(
        "eczema on the right knee",
        F("skin_disease", "R knee"),
        "R knee, R calf, L knee",
        "refer, refer, clear",
    ),
    r(
        "chemotherapy day 10, counts from day 3",
        merged(P(active_chemotherapy="yes", chemo_cycle_day=10.0), COUNTS(anc=3.0, platelets=220.0, days=7.0)),
        "R calf",
        "caution",
        says=("nadir",),
    ),
    r(
        "warfarin, no INR, bleeding history not asked",
        merged(M("warfarin"), P(bleeding_history="unknown")),
        "R calf",
        "caution",
        asks=("bruise",),
    ),
    r(
        "pacemaker-dependent, electrical",
        D(("pacemaker", "L infraclavicular"), dependent="yes"),
        "R calf, R thigh",
        "refer, refer",
        circuits=EDN,
    ),
    r(
        "pacemaker, dependence not known, manual calf",
        D(("pacemaker", "L infraclavicular"), dependent="unknown"),
        "R calf",
        "clear",
    ),
]

# --- review 2: the known problems of the first review, fixed, and what a clinician found next ----------------------
ROWS += [
    # Lymphoedema recorded at the node basin (reference section 7): the limb, and the basin itself; the chest wall
    # and upper back around the axilla are the limb's trunk quadrant, a caution (LYMPHEDEMA_ADJACENT), not the limb.
    r(
        "lymphoedema recorded at the left axilla: the chest wall is adjacent, not the limb",
        F("lymphedema", "L axilla"),
        "L forearm, L chest_wall, R forearm",
        "refer, caution, clear",
        says=("lymphoedema",),
        site_says=((1, "adjacent to lymphoedema"),),
    ),
    r("lymphoedema recorded at the left axilla: the armpit itself", F("lymphedema", "L axilla"), "L axilla", "refer"),
    r(
        "nodes removed from the left axilla: the upper back is the trunk quadrant",
        F("at_risk_limb", "L axilla"),
        "L interscapular, L hand, R hand",
        "caution, caution, clear",
        site_says=((0, "truncal lymphoedema"),),
    ),
    # Devices reach where they sit and run and the regions right next to that (reference section 7 "Devices").
    r(
        "port in the right upper chest: an abdominal site is not near it",
        D(("port_picc", "R infraclavicular")),
        "abdomen, R calf",
        "clear, clear",
    ),
    r(
        "port in the right upper chest: the right shoulder is next to the pocket",
        D(("port_picc", "R infraclavicular")),
        "R shoulder_girdle, L shoulder_girdle",
        "caution, clear",
        says=("port",),
    ),
    r(
        "intrathecal pump in the abdomen: the hip and the pelvic floor are not near it",
        D(("drug_pump", "abdomen")),
        "R hip, pelvic, lumbar, abdomen",
        "clear, clear, caution, caution",
    ),
    r(
        "intrathecal pump in the abdomen: the chest wall is not near it",
        D(("drug_pump", "abdomen")),
        "L chest_wall",
        "caution",
        says=("pneumothorax",),
        not_says=("stimulator, pump",),
    ),
    r(
        "spinal cord stimulator generator in the left buttock: the thigh is not near it",
        D(("spinal_cord_stimulator", "L gluteal")),
        "L thigh, L hip, L gluteal",
        "clear, clear, caution",
    ),
    # Both sides of the thorax (SA-BN 5.1): a thoracic site written without a side may be on the other side.
    r(
        "left upper trapezius and a thoracic paraspinal site without a side: bilateral thorax is undecided",
        BASE,
        "L upper_trapezius, thoracic_paraspinal",
        "caution, caution",
        asks=("which side",),
    ),
    r(
        "two thoracic paraspinal sites without a side: bilateral thorax is undecided",
        BASE,
        "thoracic_paraspinal, interscapular",
        "caution, caution",
        asks=("which side",),
    ),
    r(
        "left upper trapezius and a midline thoracic site: one side",
        BASE,
        "L upper_trapezius, M thoracic_paraspinal",
        "caution, caution",
        not_says=("bilateral",),
    ),
    # A device worn on the skin in the current path (reference section 8: current near the set is a caution).
    r(
        "insulin pump set on the left thigh, current from the left calf to the low back",
        F("worn_device", "L thigh"),
        "L calf, lumbar",
        "caution, caution",
        circuits=EDN,
        says=("insulin pump",),
    ),
    r(
        "glucose sensor on the back of the right upper arm, current along the left leg",
        F("worn_device", "R upper_arm"),
        "L thigh, L foot",
        "clear, clear",
        circuits=EDN,
    ),
    # A problem list as the EHR sends it: a diagnosis needlescreen cannot read is verified, never refused and never
    # clear; the ones the reference covers are read as what they are.
    r(
        "reflux (K21.9) on the problem list",
        C("K21.9"),
        "R calf",
        "caution",
        says=("verify",),
    ),
    # C50 is a current breast cancer (a past one is Z85.3); its 6th character is the side: a tumour there.
    r(
        "left breast cancer (C50.912) on the problem list",
        merged(C("C50.912"), P(cancer_history="unknown", active_chemotherapy="no"), F("tumour", answer="unknown")),
        "L breast, R calf",
        "refer, clear",
        says=("tumour",),
        not_says=("verify this diagnosis",),
    ),
    # Without the 6th character the side is not coded: either breast may hold it (a finding placed without a side
    # concerns both), and the code contradicts the clinician's "no tumour".
    r(
        "breast cancer without a side (C50.91) on the problem list: either breast",
        merged(C("C50.91"), P(cancer_history="unknown", active_chemotherapy="no"), F("tumour", answer="no")),
        "L breast, R calf",
        "refer, caution",
        says=("contradict",),
    ),
    r(
        "irradiation history (Z92.3) on the problem list",
        merged(C("Z92.3"), F("radiotherapy_field", answer="unknown")),
        "R calf",
        "caution",
        asks=("radiotherapy",),
    ),
    r(
        "chemotherapy encounter (Z51.11) on the problem list",
        merged(C("Z51.11"), P(active_chemotherapy="unknown", cancer_history="unknown")),
        "R calf",
        "caution",
        says=("chemotherapy",),
    ),
    r(
        "pneumothorax (J93.9) on the problem list",
        merged(C("J93.9"), P(prior_pneumothorax="unknown")),
        "L upper_trapezius, R calf",
        "refer, clear",
        says=("pneumothorax",),
    ),
    r(
        "a whole problem list: hypertension, reflux, a knee replacement",
        merged(C("I10", "K21.9", "Z96.651"), {"devices": {"answer": "unknown"}}),
        "R knee, L knee",
        "caution, caution",
        says=("verify",),
    ),
]

# --- medications as people write them (one drug each, the class it must be read as) --------------------------
WRITTEN: list[tuple[str, str, str]] = [
    ("warfarin sodium 3mg mane", "caution", "vitamin k"),
    ("Jantoven 5 mg", "caution", "vitamin k"),
    ("eliquis 2.5mg bd", "caution", "anticoagulant: bleeding"),
    ("APIXABAN 5MG", "caution", "anticoagulant: bleeding"),
    ("Xarelto 15mg BID x21 days", "caution", "anticoagulant: bleeding"),
    ("rivaroxiban 20mg", "caution", "anticoagulant: bleeding"),
    ("dabigatran 110 mg bid", "caution", "anticoagulant: bleeding"),
    ("Savaysa 60mg", "caution", "anticoagulant: bleeding"),
    ("Lovenox 40 mg subcut", "caution", "anticoagulant: bleeding"),
    ("heparin 5000 units sc tds", "caution", "anticoagulant: bleeding"),
    ("dalteparin", "caution", "anticoagulant: bleeding"),
    ("ASA 81 mg", "caution", "antiplatelet"),
    ("Aspirin EC 75mg", "caution", "antiplatelet"),
    ("clopidogrel 75 mg od", "caution", "antiplatelet"),
    ("clopidogel", "caution", "antiplatelet"),
    ("prasugrel 10mg", "caution", "antiplatelet"),
    ("Effient", "caution", "antiplatelet"),
    ("naproxen 500mg bd", "clear", ""),
    ("Nurofen 200mg", "clear", ""),
    ("celecoxib 200 mg", "clear", ""),
    ("Zoloft 50mg", "clear", ""),
    ("duloxetine 60mg", "clear", ""),
    ("methotrexate 20 mg once weekly", "caution", "immunocompromised"),
    ("prednisone 5mg", "caution", "immunocompromised"),
    ("Medrol dose pack", "caution", "immunocompromised"),
    ("dexamethasone 4mg bd", "caution", "immunocompromised"),
    ("azathioprine 100mg", "caution", "immunocompromised"),
    ("Enbrel 50mg weekly", "caution", "immunocompromised"),
    ("tofacitinib 5mg bd", "caution", "immunocompromised"),
    ("capecitabine 1000 mg/m2 bid", "caution", "chemotherapy"),
    ("carboplatin AUC5", "caution", "chemotherapy"),
    ("oxaliplatin 85 mg/m2", "caution", "chemotherapy"),
    ("tamoxifen 20mg", "clear", ""),
    ("letrozole 2.5mg", "clear", ""),
    ("amlodipine 5mg", "clear", ""),
    ("levothyroxine 100mcg", "clear", ""),
    ("insulin glargine 20 units nocte", "clear", ""),
    ("omeprazole 20mg", "clear", ""),
    ("salbutamol inhaler prn", "clear", ""),
    ("fluticasone nasal spray", "clear", ""),
    ("gabapentin 300mg tds", "clear", ""),
    ("pregabalin 75 mg bd", "clear", ""),
]
ROWS += [
    r(f"medication as written: {name!r}", M(name), "R calf", verdict, says=(says,) if says else (), section="meds")
    for name, verdict, says in WRITTEN
]
# An antithrombotic with an interacting drug (MUN22 Table 2): the written NSAID or SSRI must be read as such.
ROWS += [
    r(f"apixaban with {name!r}", M("apixaban 5mg bd", name), "R calf", "caution", says=("combined",), section="meds")
    for name in ("naproxen 500mg bd", "Nurofen 200mg", "Zoloft 50mg", "fluoxetine 20mg", "Voltaren 50mg tds")
]

# --- realistic patients --------------------------------------------------------------------------------------------

#: GRA25-like: chronic CIPN of both feet after paclitaxel, chemotherapy finished, PEDN of the tibial and common
#: fibular nerves on both legs, each pair on one leg.
CIPN = merged(
    P(age=61.0, cancer_history="yes", active_chemotherapy="no"),
    F("reduced_sensation", "B foot"),
    M("duloxetine 60mg", "letrozole 2.5mg"),
)
CIPN_SITES = "n:L tibial, n:L common_fibular, n:R tibial, n:R common_fibular"
ON_CHEMO = merged(
    CIPN,
    P(active_chemotherapy="yes", chemo_cycle_day=4.0),
    COUNTS(anc=2.4, platelets=190.0, days=1.0),
    M("duloxetine 60mg", "oxaliplatin 85 mg/m2 q2w"),
)
BREAST = merged(
    P(age=54.0, cancer_history="yes", active_chemotherapy="no"),
    F("at_risk_limb", "L axilla"),
    M("tamoxifen 20mg"),
)
APIXABAN_DVT = merged(M("apixaban 5mg bd"), F("dvt", "L calf", weeks_ago=6.0))
PREGNANT_20 = merged(PREG("pregnant", 20.0), P(age=31.0))
PACER = D(("pacemaker", "L infraclavicular"))

PATIENTS: list[Row] = [
    r(
        "CIPN, PEDN tibial and common fibular, pairs on each leg",
        CIPN,
        CIPN_SITES,
        "caution, caution, caution, caution",
        circuits=((0, 1), (2, 3)),
        says=("sensation",),
    ),
    r(
        "CIPN, PEDN, a pair from one leg to the other",
        CIPN,
        CIPN_SITES,
        "caution, caution, caution, caution",
        circuits=((0, 2), (1, 3)),
    ),
    r(
        "CIPN on oxaliplatin, PEDN, counts fine",
        ON_CHEMO,
        CIPN_SITES,
        "caution, caution, caution, caution",
        circuits=((0, 1), (2, 3)),
        says=("chemotherapy",),
    ),
    r(
        "CIPN on oxaliplatin, counts not done",
        {k: v for k, v in ON_CHEMO.items() if k != "labs"},
        CIPN_SITES,
        "caution, caution, caution, caution",
        circuits=((0, 1), (2, 3)),
        asks=("neutrophil",),
    ),
    r(
        "CIPN, platelets 45 during chemotherapy",
        merged(ON_CHEMO, COUNTS(anc=2.4, platelets=45.0, days=1.0)),
        CIPN_SITES,
        "refer, refer, refer, refer",
        circuits=((0, 1), (2, 3)),
    ),
    r(
        "CIPN, hands too, median nerve and forearm",
        merged(CIPN, F("reduced_sensation", "B foot", "B hand")),
        "n:L median, L forearm",
        "caution, clear",
        circuits=EDN,
        overall="caution",
    ),
    r("CIPN, manual needling of the calves only", CIPN, "L calf, R calf", "clear, clear"),
    r(
        "breast cancer, left axillary dissection: UT and forearms",
        BREAST,
        "L upper_trapezius, L forearm, R forearm",
        "caution, caution, clear",
    ),
    r(
        "breast cancer, left arm lymphoedema: UT and forearms",
        merged(BREAST, F("lymphedema", "L upper_limb")),
        "L upper_trapezius, L forearm, R forearm",
        "caution, refer, clear",
    ),
    r(
        "breast cancer, chart code I97.2 (post-mastectomy lymphoedema, side not coded)",
        merged(BREAST, {"conditions": [{"system": "ICD-10-CM", "code": "I97.2"}]}),
        "L upper_arm, R upper_arm, R calf",
        "caution, caution, caution",
        at_least=True,
    ),
    r(
        "apixaban and a DVT in the left calf 6 weeks ago",
        APIXABAN_DVT,
        "L calf, L thigh, R calf, R thigh",
        "refer, refer, caution, caution",
        says=("dvt", "anticoagulant: bleeding precautions"),
    ),
    r(
        "apixaban and a recent DVT, current on the right leg",
        APIXABAN_DVT,
        "R calf, R thigh",
        "caution, caution",
        circuits=EDN,
    ),
    r("apixaban and a recent DVT, current leg to leg", APIXABAN_DVT, "R calf, L calf", "refer, refer", circuits=EDN),
    r(
        "pregnant 20 weeks, lumbar and calf, electrical",
        PREGNANT_20,
        "L lumbar, R lumbar, L calf, L ankle",
        "refer, refer, caution, caution",
        circuits=((0, 1), (2, 3)),
    ),
    r(
        "pregnant 20 weeks, calf only, electrical on one leg",
        PREGNANT_20,
        "L calf, L ankle",
        "caution, caution",
        circuits=EDN,
    ),
    r(
        "pacemaker, manual left infraclavicular and UT",
        PACER,
        "L infraclavicular, L upper_trapezius, R calf",
        "caution, caution, clear",
        says=("pocket",),
    ),
    r("pacemaker, manual right chest away from the pocket", PACER, "R chest_wall", "caution", not_says=("pocket",)),
    r("pacemaker, electrical on the right calf", PACER, "R calf, R ankle", "refer, refer", circuits=EDN),
    r(
        "older man on warfarin and aspirin, calf and thigh",
        merged(P(age=74.0, sex="male"), M("warfarin 4mg", "aspirin 75mg"), INR(2.6, high=3.0)),
        "R calf, R thigh",
        "caution, caution",
        says=("combined",),
    ),
    r(
        "after a stent on warfarin, aspirin and clopidogrel",
        merged(M("warfarin", "aspirin 75mg", "Plavix 75mg"), INR(2.4, high=3.0)),
        "R calf",
        "refer",
    ),
    r(
        "rheumatoid arthritis on methotrexate and Humira, knee replacement",
        merged(
            M("methotrexate 20mg weekly", "Humira 40mg fortnightly", "folic acid 5mg"),
            D(("joint_prosthesis", "R knee")),
        ),
        "R knee, L calf",
        "caution, caution",
    ),
    r(
        "type 2 diabetes, PAD left leg, numb feet",
        merged(
            P(diabetes="controlled", vascular_disease="yes", vascular_disease_locations=[place("L lower_limb")]),
            NUMB_FEET,
        ),
        "L foot, R thigh",
        "caution, caution",
    ),
    r("pregnant 8 weeks with neck pain", merged(PREG("pregnant", 8.0), P(age=29.0)), "L upper_trapezius", "refer"),
]

# --- every catalogue row, and where the table tries it ----------------------------------------------------------------

#: Each row of the reference's catalogue (sections 1a-1i) and each topic of section 8, with rows of the table that
#: try it. A catalogue row with no row here fails the coverage test.
COVERAGE: dict[str, tuple[str, ...]] = {
    "CONSENT_REFUSED": ("does not consent", "consent not recorded"),
    "CONSENT_CAPACITY": ("no capacity, no proxy", "capacity not known", "no capacity but a valid proxy"),
    "MINOR": ("16, guardian consents", "16, guardian consent not recorded", "18 years old", "age not known"),
    "NEEDLE_PHOBIA": ("needle phobia", "needle phobia not asked"),
    "VASOVAGAL": ("faints with needles", "fainting not asked"),
    "ACUTE_MEDICAL": ("acute unexplained problem", "acute problem not asked"),
    "SYSTEMIC_INFECTION": ("fever", "measured 38.4 C", "measured 37.2 C", "fever not asked"),
    "FRAILTY": ("frail", "frailty not asked"),
    "PSYCH_UNCOOPERATIVE": ("psychological state limits cooperation", "cannot keep still", "keeping still not asked"),
    "BLEED_DISORDER_SEVERE": ("haemophilia", "mild bleeding disorder", "bleeding disorder not asked"),
    "ANTICOAG_VKA": ("warfarin, INR in range", "Marevan (warfarin brand)", "phenprocoumon"),
    "ANTICOAG_VKA_HIGH": ("Coumadin, INR above target", "warfarin, INR 4.1, no target", "warfarin, INR 3.2, no target"),
    "ANTICOAG_LAB_MISSING": ("warfarin, no INR", "warfarin, INR 8 weeks old"),
    "ANTICOAG_OTHER": ("apixaban 5 mg bd", "Eliquis 5mg BID", "enoxaparin 40 mg sc", "fondaparinux"),
    "ANTIPLATELET": ("aspirin 81 mg", "Plavix 75mg", "ticagrelor 90 mg bd"),
    "MULTI_ANTITHROMBOTIC": (
        "dual antiplatelet",
        "triple therapy",
        "apixaban with ibuprofen",
        "apixaban with sertraline",
    ),
    "ANTICOAG_STATUS_UNKNOWN": ("medication list incomplete", "medication list not checked"),
    "DEEP_NONCOMPRESSIBLE_SITE": ("apixaban, deep iliopsoas", "no bleeding risk, deep iliopsoas"),
    "THROMBOCYTOPENIA": ("platelets 40", "platelets 75", "platelets 180", "active chemotherapy, no counts"),
    "NEUTROPENIA": ("ANC 0.4", "ANC 0.8", "ANC 2.5"),
    "IMMUNOSUPPRESSION": ("immunocompromised", "methotrexate weekly", "prednisolone 10 mg", "Humira fortnightly"),
    "LOCAL_SKIN_SITE": ("cellulitis of the right calf", "open wound on the left forearm", "infection not asked"),
    "MALIGNANCY_AT_SITE": ("lumbar metastasis",),
    "CANCER_HISTORY": ("cancer history, no chemotherapy", "cancer history, treatment not known"),
    "ACTIVE_CHEMO": ("active chemotherapy, counts fine", "active chemotherapy, no counts", "paclitaxel as charted"),
    "VASCULAR_ACCESS": ("port in the right upper chest", "PICC in the left upper arm"),
    "RADIOTHERAPY_SKIN": (
        "radiotherapy field left breast",
        "radiotherapy field left supraclavicular, electrical in it",
    ),
    "LYMPHEDEMA_LIMB": ("lymphoedema left arm", "lymphoedema left leg", "lymphoedema of an arm, side not recorded"),
    "LYMPHEDEMA_ADJACENT": ("lymphoedema left arm", "lymphoedema left leg"),
    "LYMPHEDEMA_AT_RISK": ("left axillary node dissection", "left inguinal node dissection", "limb at risk not asked"),
    "VARICOSE_SITE": ("varicose veins right calf", "varicose veins right calf, electrical there"),
    "DVT_ACUTE": ("DVT right calf, 3 weeks", "DVT right calf, date not known", "DVT not asked"),
    "VASCULAR_DISEASE": ("poor circulation, limb not recorded", "poor circulation in the left leg"),
    "HEART_VALVE": ("prosthetic heart valve", "heart valve not asked"),
    "DIABETES": ("uncontrolled diabetes", "controlled diabetes, normal feet", "diabetes not asked"),
    "IMPAIRED_SENSATION": ("numb feet, manual calf and foot", "numb feet, stimulated tibial nerve"),
    "EPILEPSY_CONTROLLED": ("controlled epilepsy", "epilepsy not asked"),
    "EPILEPSY_UNCONTROLLED": ("uncontrolled epilepsy",),
    "METAL_ALLERGY": ("nickel allergy", "metal allergy not asked"),
    "PREG_T1": ("pregnant 8 weeks, calf", "pregnant, weeks not known", "possibly pregnant, electrical on one calf"),
    "PREG_REGIONS": ("pregnant 20 weeks, low back and calf", "pregnant 20 weeks, GB21 upper trapezius"),
    "PREG_T2T3": ("pregnant 20 weeks, calf", "pregnancy not asked, 62, low back"),
    "PREG_ELECTRICAL": ("pregnant 20 weeks, electrical on one calf", "pregnant 20 weeks, electrical calf to calf"),
    "CARDIAC_DEVICE_ES": ("pacemaker, electrical on the calf", "implants not asked, electrical calf"),
    "CARDIAC_DEVICE_MANUAL": ("pacemaker, manual calf", "pacemaker, manual at the pocket"),
    "ACTIVE_IMPLANT_ES": ("spinal cord stimulator, electrical calf", "cochlear implant, electrical calf"),
    "METAL_IMPLANT_ES": (
        "right knee replacement, current across the knee",
        "right hip replacement, current in the foot",
    ),
    "BREAST_IMPLANT": ("left breast implant",),
    "PROSTHESIS_RECENT_SURGERY": ("right knee surgery 4 weeks ago", "right knee surgery 30 weeks ago"),
    "THORAX": ("upper trapezius", "upper trapezius by its abbreviation"),
    "PTX_RISK_FACTORS": ("previous pneumothorax", "COPD", "emphysema", "BMI 17", "kyphoscoliosis"),
    "BILATERAL_THORAX": ("both upper trapezius",),
    "PROHIBITED_SITES": (
        "nipple",
        "umbilicus",
        "external genitalia",
        "infant scalp",
        "eye orbit, no advanced training",
    ),
    "SPINAL_INSTABILITY": ("cervical spinal instability", "lumbar spinal instability"),
    "ES_CAROTID": ("current over the carotid sinus",),
    "ES_TRANSTHORACIC": ("current arm to arm", "current front to back of the chest", "current arm to leg"),
    "ES_ACROSS_SPINE": ("current across the cervical cord", "current across the low back"),
    "ES_HEAD": ("current on the head",),
    "ES_BROKEN_SKIN_OR_INFLAMED": ("current through a wound", "varicose veins right calf, electrical there"),
    "ES_MALIGNANCY": ("current near a tumour", "current through a calf tumour"),
    "ES_CIPN_ACTIVE_CHEMO": ("electrical during chemotherapy", "CIPN on oxaliplatin, PEDN, counts fine"),
    # section 8
    "8: manual needle over any implanted device": (
        "spinal cord stimulator generator left buttock, manual",
        "intrathecal pump, manual abdomen",
    ),
    "8: body-worn devices": (
        "insulin pump set left abdomen, manual",
        "insulin pump set left abdomen, current in the leg",
    ),
    "8: DVT acute/recent vs past": ("DVT right calf, 5 years ago", "past DVT right leg"),
    "8: superficial thrombophlebitis": ("thrombophlebitis left calf",),
    "8: truncal lymphoedema risk": ("left axillary node dissection", "left inguinal node dissection"),
    "8: skin disease at the site": ("eczema on the right knee",),
    "8: peripheral arterial disease per limb": ("poor circulation in the left leg",),
    "8: bullous lung disease, previous pneumothorax": ("emphysema", "previous pneumothorax"),
    "8: chemotherapy nadir": ("chemotherapy day 10, counts from day 3",),
    "8: bleeding history": ("bruises easily", "warfarin, no INR, bleeding history not asked"),
    "8: pacemaker dependence": ("pacemaker-dependent, electrical", "pacemaker, dependence not known, manual calf"),
    "8: trying to conceive, IVF": (
        "trying to conceive, low back and calf",
        "trying to conceive, electrical on one calf",
    ),
    "8: controlled diabetes": ("controlled diabetes, normal feet",),
}
#: The catalogue's row ids, as the reference lists them (sections 1a-1i); ES_DEVICE points to the device rows.
CATALOGUE = [
    "CONSENT_REFUSED",
    "CONSENT_CAPACITY",
    "MINOR",
    "NEEDLE_PHOBIA",
    "VASOVAGAL",
    "ACUTE_MEDICAL",
    "SYSTEMIC_INFECTION",
    "FRAILTY",
    "PSYCH_UNCOOPERATIVE",
    "BLEED_DISORDER_SEVERE",
    "ANTICOAG_VKA",
    "ANTICOAG_VKA_HIGH",
    "ANTICOAG_LAB_MISSING",
    "ANTICOAG_OTHER",
    "ANTIPLATELET",
    "MULTI_ANTITHROMBOTIC",
    "ANTICOAG_STATUS_UNKNOWN",
    "DEEP_NONCOMPRESSIBLE_SITE",
    "THROMBOCYTOPENIA",
    "NEUTROPENIA",
    "IMMUNOSUPPRESSION",
    "LOCAL_SKIN_SITE",
    "MALIGNANCY_AT_SITE",
    "CANCER_HISTORY",
    "ACTIVE_CHEMO",
    "VASCULAR_ACCESS",
    "RADIOTHERAPY_SKIN",
    "LYMPHEDEMA_LIMB",
    "LYMPHEDEMA_ADJACENT",
    "LYMPHEDEMA_AT_RISK",
    "VARICOSE_SITE",
    "DVT_ACUTE",
    "VASCULAR_DISEASE",
    "HEART_VALVE",
    "DIABETES",
    "IMPAIRED_SENSATION",
    "EPILEPSY_CONTROLLED",
    "EPILEPSY_UNCONTROLLED",
    "METAL_ALLERGY",
    "PREG_T1",
    "PREG_REGIONS",
    "PREG_T2T3",
    "PREG_ELECTRICAL",
    "CARDIAC_DEVICE_ES",
    "CARDIAC_DEVICE_MANUAL",
    "ACTIVE_IMPLANT_ES",
    "METAL_IMPLANT_ES",
    "BREAST_IMPLANT",
    "PROSTHESIS_RECENT_SURGERY",
    "THORAX",
    "PTX_RISK_FACTORS",
    "BILATERAL_THORAX",
    "PROHIBITED_SITES",
    "SPINAL_INSTABILITY",
    "ES_CAROTID",
    "ES_TRANSTHORACIC",
    "ES_ACROSS_SPINE",
    "ES_HEAD",
    "ES_BROKEN_SKIN_OR_INFLAMED",
    "ES_MALIGNANCY",
    "ES_CIPN_ACTIVE_CHEMO",
]

# --- locations as clinicians write them (where a finding or a device is) --------------------------------------------

#: (as written, region, side): a whole limb for a limb word, the usual device pocket for "upper chest", anatomy.
LOCATIONS: list[tuple[str, str, str | None]] = [
    ("L UE", "upper_limb", "left"),
    ("right upper extremity", "upper_limb", "right"),
    ("R LE", "lower_limb", "right"),
    ("left lower extremity", "lower_limb", "left"),
    ("whole left arm", "upper_limb", "left"),
    ("left upper chest", "infraclavicular", "left"),
    ("below the right collarbone", "infraclavicular", "right"),
    ("left flank", "abdomen", "left"),
    ("lower abdomen", "abdomen", None),
    ("cervical spine", "posterior_neck", None),
    ("lumbar spine", "lumbar", None),
    ("left armpit", "axilla", "left"),
    ("right groin", "hip", "right"),
    ("both feet", "foot", "both"),
]

# --- screening and checking -------------------------------------------------------------------------------------------

Screen = Callable[[dict[str, Any]], ScreeningResult]


def _all_engines(ruleset: Ruleset) -> Screen:
    screeners = [Screener(ruleset, engine=name) for name in available_engines()]

    def screen(intake: dict[str, Any]) -> ScreeningResult:
        results = [s.screen(intake) for s in screeners]
        for other in results[1:]:
            assert comparable(other) == comparable(results[0]), "engines disagree"
        return results[0]

    return screen


def problems(row: Row, result: ScreeningResult) -> list[str]:
    """How ``result`` differs from what the row expects (empty: as expected)."""
    got = tuple(sv.verdict for sv in result.sites)
    out: list[str] = []
    if row.at_least:
        low = any(RANK[g] < RANK[e] for g, e in zip(got, row.expect, strict=True))
        if low or RANK[result.verdict] < RANK[row.worst]:
            out.append(f"verdicts {got} overall {result.verdict}, expected at least {row.expect} {row.worst}")
    elif got != row.expect or result.verdict != row.worst:
        out.append(f"verdicts {got} overall {result.verdict}, expected {row.expect} {row.worst}")
    fired = " | ".join(f.summary for f in result.findings if f.status == "fired").lower()
    every = " | ".join(f.summary for f in result.findings).lower()
    questions = " | ".join(m.question for m in result.missing).lower()
    out += [f"no fired reason says {w!r}" for w in row.says if w.lower() not in fired]
    out += [f"a reason says {w!r}" for w in row.not_says if w.lower() in every]
    out += [f"no question asks {w!r}" for w in row.asks if w.lower() not in questions]
    for index, words in row.site_says:
        sid = f"s{index}"
        at = " | ".join(f.summary for f in result.findings if f.status == "fired" and f.site and f.site.id == sid)
        if words.lower() not in at.lower():
            out.append(f"no reason at site {sid} says {words!r}")
    return out


def check_rows(screen: Screen, rows: list[Row]) -> dict[str, list[str]]:
    """Every row screened; the rows that do not screen as expected, with how."""
    found: dict[str, list[str]] = {}
    for row in rows:
        result = screen(intake_of(baseline_intake(), row))
        wrong = problems(row, result)
        if wrong:
            found[row.name] = wrong
    return found


@pytest.fixture(scope="module")
def screen(ruleset: Ruleset) -> Screen:
    return _all_engines(ruleset)


# --- tests ------------------------------------------------------------------------------------------------------------


def test_the_table_tries_every_catalogue_row_with_enough_changes() -> None:
    names = [row.name for row in ROWS + PATIENTS]
    assert len(set(names)) == len(names), "row names are unique"
    assert len(ROWS) >= 150
    assert set(CATALOGUE) <= set(COVERAGE), sorted(set(CATALOGUE) - set(COVERAGE))
    for topic, rows in COVERAGE.items():
        assert rows and set(rows) <= set(names), (topic, set(rows) - set(names))
    unknown = [row for row in ROWS if "not asked" in row.name or "not known" in row.name or "not recorded" in row.name]
    assert len(unknown) >= 30, "each risk also answered unknown"


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_one_change_from_the_baseline(row: Row, screen: Screen) -> None:
    assert problems(row, screen(intake_of(baseline_intake(), row))) == []


@pytest.mark.parametrize("row", PATIENTS, ids=[row.name for row in PATIENTS])
def test_a_realistic_patient(row: Row, screen: Screen) -> None:
    assert problems(row, screen(intake_of(baseline_intake(), row))) == []


#: Through the command line: every other realistic patient and every 25th single change (each call loads the
#: rules, about half a second).
CLI_ROWS = PATIENTS[::2] + ROWS[::25]


@pytest.mark.parametrize("row", CLI_ROWS, ids=[row.name for row in CLI_ROWS])
def test_the_command_line_gives_the_same_verdicts(row: Row) -> None:
    text = json.dumps(intake_of(baseline_intake(), row))
    done = CliRunner().invoke(app, ["check", "-", "--format", "json", "--engine", "plain"], input=text)
    result = ScreeningResult.model_validate_json(done.output)
    assert done.exit_code == EXIT_CODES[result.verdict]
    assert problems(row, result) == []
    summary = CliRunner().invoke(app, ["check", "-", "--engine", "plain"], input=text)
    assert summary.exit_code == done.exit_code
    assert summary.output.startswith(result.verdict.upper())
    full = CliRunner().invoke(app, ["check", "-", "--engine", "plain", "--full"], input=text)
    assert full.exit_code == done.exit_code
    assert all(f.rule_id in full.output for f in result.findings if f.status == "fired")


@pytest.mark.parametrize(("written", "region", "side"), LOCATIONS, ids=[w for w, *_ in LOCATIONS])
def test_a_location_as_written(written: str, region: str, side: str | None, ruleset: Ruleset) -> None:
    placed = ruleset.vocabulary.locate(written)
    assert (placed.region, placed.side) == (region, side)


def check_the_questionnaire(ruleset: Ruleset) -> None:
    """What a physiotherapist answers at the table: a patient who cannot consent is asked for a legal proxy; an
    insulin pump typed as an implant is not offered as an implanted drug pump."""
    qfile = Path(ruleset.directory) / "questionnaire.yaml"
    q = load_questionnaire(qfile, regions=ruleset.regions, vocabulary=ruleset.vocabulary)
    proxy = q.item("guardian_consent")
    assert q.enabled(proxy, {"age": 45.0, "today": "yes", "capacity": "no"}), "a legal proxy is asked for"
    assert not q.enabled(proxy, {"age": 45.0, "today": "yes", "capacity": "yes"})
    devices = q.item("device_items")
    for typed in ("insulin pump", "insulin pump left abdomen", "glucose sensor"):
        with pytest.raises(AnswerError) as caught:
            q.parse(devices, typed, {})
        message = str(caught.value)
        assert "drug_pump" not in message and "worn" in message, (typed, message)
        assert "drug_pump" not in caught.value.suggestions, typed
    placed = q.parse(devices, "port picc right upper chest", {})
    assert placed == [{"kind": "port_picc", "location": {"region": "infraclavicular", "side": "right"}}]


def test_the_questionnaire_asks_what_a_physiotherapist_would(ruleset: Ruleset) -> None:
    check_the_questionnaire(ruleset)


def check_misspelt_drugs(ruleset: Ruleset) -> None:
    """A misspelt drug is offered the drug it begins as, not a look-alike (the classes it is read as unchanged)."""
    offered = {
        "letrazole 2.5mg": "letrozole",
        "ritux": "rituximab",
        "anastrazole": "anastrozole",
        "tamoxifin": "tamoxifen",
        "warfrin": "warfarin",
        "xeralto": "rivaroxaban",
        "clopidogel": "clopidogrel",
    }
    screen = Screener(ruleset, engine="plain").screen
    for typed, drug in offered.items():
        result = screen(_merge(baseline_intake(), M(typed)))
        (detail,) = result.unrecognised_medication_details
        assert detail.did_you_mean == drug, (typed, detail)


def test_a_misspelt_drug_is_offered_the_drug_it_begins_as(ruleset: Ruleset) -> None:
    check_misspelt_drugs(ruleset)


# --- breakage: the table fails on deliberately broken data ----------------------------------------------------------


def _copy_rules(tmp_path: Path) -> Path:
    root = tmp_path / "rules"
    shutil.copytree(default_rules_dir(), root)
    return root


def _edit(path: Path, change: Callable[[Any], None]) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _rule(data: Any, rule_id: str) -> dict[str, Any]:
    return next(r for r in data["rules"] if r["id"] == rule_id)


def _consent_presumed(data: Any) -> None:
    # The lenient reading this review removed: an unrecorded proxy consent left the rule undecided (caution).
    _rule(data, "CONSENT_CAPACITY")["when"]["all"][1] = {"fact": "patient.guardian_consent", "ne": "yes"}


def _no_tumour_path(data: Any) -> None:
    data["rules"] = [r for r in data["rules"] if r["id"] != "TUMOUR_IN_CURRENT_PATH"]


def _possibly_pregnant_trunk_only(data: Any) -> None:
    _rule(data, "PREG_POSSIBLE")["when"]["all"][1] = {
        "fact": "site.region",
        "within": ["trunk", "pregnancy_restricted"],
    }


def _gb21_not_restricted(data: Any) -> None:
    data["regions"]["upper_trapezius"]["parents"].remove("pregnancy_restricted")


def _apixaban_unclassed(data: Any) -> None:
    data["classes"]["doac"]["names"].remove("apixaban")
    data["classes"]["doac"]["brands"].pop("eliquis")
    data["classes"]["doac"]["atc"] = ["B01AE"]


def _lymphoedema_only_where_recorded(data: Any) -> None:
    data["findings"]["lymphedema"]["extent"] = "region"


DATA_BREAKAGES: list[tuple[str, Callable[[Any], None], str]] = [
    ("rules/consent.yaml", _consent_presumed, "no capacity, no proxy"),
    ("rules/electrical.yaml", _no_tumour_path, "current through a calf tumour"),
    ("rules/pregnancy.yaml", _possibly_pregnant_trunk_only, "possibly pregnant, electrical on one calf"),
    ("regions.yaml", _gb21_not_restricted, "pregnant 20 weeks, GB21 upper trapezius"),
    ("medications.yaml", _apixaban_unclassed, "apixaban 5 mg bd"),
    ("body.yaml", _lymphoedema_only_where_recorded, "lymphoedema left arm"),
]


@pytest.mark.parametrize(
    ("file", "breakage", "row"), DATA_BREAKAGES, ids=[f"{f}:{b.__name__}" for f, b, _ in DATA_BREAKAGES]
)
def test_breakage_the_table_fails_on_broken_data(
    file: str, breakage: Callable[[Any], None], row: str, tmp_path: Path
) -> None:
    root = _copy_rules(tmp_path)
    _edit(root / file, breakage)
    broken = load_ruleset(root)
    found = check_rows(Screener(broken, engine="plain").screen, ROWS + PATIENTS)
    assert row in found, sorted(found)


def test_breakage_the_table_fails_on_a_body_model_without_territories(ruleset: Ruleset) -> None:
    class NoQuadrant(BodyModel):
        def quadrant_concerns(self, *_args: Any) -> Any:
            return "no"

    data = yaml.safe_load((Path(ruleset.directory) / "body.yaml").read_text(encoding="utf-8"))
    blind = dataclasses.replace(ruleset, body=NoQuadrant.from_data(data, regions=ruleset.regions))
    found = check_rows(Screener(blind, engine="plain").screen, ROWS + PATIENTS)
    assert {"lymphoedema left arm", "left axillary node dissection"} <= set(found), sorted(found)


def test_breakage_the_location_words_fail_on_a_vocabulary_without_them(tmp_path: Path) -> None:
    root = _copy_rules(tmp_path)
    _edit(root / "vocabulary.yaml", lambda d: d["words"]["arm"].pop("aliases"))
    broken = load_ruleset(root)
    with pytest.raises(Exception, match="ue"):
        test_a_location_as_written("L UE", "upper_limb", "left", broken)


def test_breakage_the_questionnaire_check_fails_without_the_proxy_question(tmp_path: Path) -> None:
    root = _copy_rules(tmp_path)

    def proxy_for_minors_only(data: Any) -> None:
        item = next(i for i in data["items"] if i["id"] == "guardian_consent")
        item["enable_when"] = [c for c in item["enable_when"] if c["question"] != "capacity"]

    _edit(root / "questionnaire.yaml", proxy_for_minors_only)
    with pytest.raises(AssertionError, match="proxy"):
        check_the_questionnaire(load_ruleset(root))
