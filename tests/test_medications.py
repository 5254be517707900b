"""Every drug of section 2 of the clinical reference reaches its class by generic name, brand name and ATC code.

An unknown drug is reported in the result and asks for verification; it never reads as "no blood thinner".
"""

from __future__ import annotations

from typing import Any

import pytest

from needlescreen import load_ruleset
from needlescreen.medications import MedicationClassifier

from .cases import meds
from .conftest import changed

#: (generic name, a brand name or None, ATC code, class) for every substance of section 2 (WHO ATC).
SECTION_2: tuple[tuple[str, str | None, str, str], ...] = (
    ("warfarin", "Coumadin", "B01AA03", "vka"),
    ("phenprocoumon", "Marcumar", "B01AA04", "vka"),
    ("acenocoumarol", "Sintrom", "B01AA07", "vka"),
    ("heparin", None, "B01AB01", "heparin"),
    ("dalteparin", "Fragmin", "B01AB04", "heparin"),
    ("enoxaparin", "Lovenox", "B01AB05", "heparin"),
    ("clopidogrel", "Plavix", "B01AC04", "antiplatelet"),
    ("acetylsalicylic acid", "Aspirin", "B01AC06", "antiplatelet"),
    ("prasugrel", "Effient", "B01AC22", "antiplatelet"),
    ("ticagrelor", "Brilinta", "B01AC24", "antiplatelet"),
    ("dabigatran etexilate", "Pradaxa", "B01AE07", "doac"),
    ("rivaroxaban", "Xarelto", "B01AF01", "doac"),
    ("apixaban", "Eliquis", "B01AF02", "doac"),
    ("edoxaban", "Lixiana", "B01AF03", "doac"),
    ("fondaparinux", "Arixtra", "B01AX05", "heparin"),
    ("paclitaxel", "Taxol", "L01CD01", "antineoplastic"),
    ("docetaxel", "Taxotere", "L01CD02", "antineoplastic"),
    ("vincristine", "Oncovin", "L01CA02", "antineoplastic"),
    ("cisplatin", "Platinol", "L01XA01", "antineoplastic"),
    ("carboplatin", "Paraplatin", "L01XA02", "antineoplastic"),
    ("oxaliplatin", "Eloxatin", "L01XA03", "antineoplastic"),
    ("bortezomib", "Velcade", "L01XG01", "antineoplastic"),
    ("bortezomib", None, "L01XX32", "antineoplastic"),
    ("methotrexate", "Trexall", "L04AX03", "immunosuppressant"),
    ("ciclosporin", "Neoral", "L04AD01", "immunosuppressant"),
    ("tacrolimus", "Prograf", "L04AD02", "immunosuppressant"),
    ("mycophenolic acid", "Myfortic", "L04AA06", "immunosuppressant"),
    ("etanercept", "Enbrel", "L04AB01", "immunosuppressant"),
    ("infliximab", "Remicade", "L04AB02", "immunosuppressant"),
    ("adalimumab", "Humira", "L04AB04", "immunosuppressant"),
    ("dexamethasone", "Decadron", "H02AB02", "systemic_steroid"),
    ("prednisone", "Deltasone", "H02AB07", "systemic_steroid"),
    ("prednisolone", "Orapred", "H02AB06", "systemic_steroid"),
    ("ibuprofen", "Advil", "M01AE01", "nsaid"),
    ("naproxen", "Aleve", "M01AE02", "nsaid"),
    ("sertraline", "Zoloft", "N06AB06", "ssri"),
    ("fluoxetine", "Prozac", "N06AB03", "ssri"),
)


@pytest.fixture(scope="module")
def classifier() -> MedicationClassifier:
    return load_ruleset().medications


@pytest.mark.parametrize(("generic", "brand", "atc", "cls"), SECTION_2)
def test_generic_brand_and_atc_reach_the_class(
    classifier: MedicationClassifier, generic: str, brand: str | None, atc: str, cls: str
) -> None:
    assert cls in (classifier.classify(generic, None) or set()), generic
    if brand:
        assert cls in (classifier.classify(brand, None) or set()), brand
    assert cls in (classifier.classify("a name nobody knows", atc) or set()), atc


@pytest.mark.parametrize("spelling", ["ELIQUIS", "  eliquis ", "Eli quis", "eli-quis", "Apixaban"])
def test_names_are_case_and_spacing_insensitive(classifier: MedicationClassifier, spelling: str) -> None:
    assert classifier.classify(spelling, None) == {"doac"}


def test_an_atc_class_code_covers_its_substances(classifier: MedicationClassifier) -> None:
    assert classifier.classify("x", "B01AF") == {"doac"}
    assert classifier.classify("x", "b01af02") == {"doac"}


@pytest.mark.parametrize("name", ["zyxoplan", "warfarinex", "mystery pill"])
def test_an_unknown_drug_is_reported_and_asks_for_verification(name: str, screen_all: Any) -> None:
    result = screen_all(changed(meds(name)))
    assert result.unrecognised_medications == (name,)
    assert result.verdict != "clear"
    assert "MEDICATION_UNRECOGNISED" in {f.rule_id for f in result.findings}
    assert any("verify" in m.lower() for f in result.findings for m in f.modifications)


def test_an_unknown_drug_gives_one_reason_not_every_class_as_missing(screen_all: Any) -> None:
    """Issue 10: one unknown drug used to list about nine "information missing" cautions.

    Now MEDICATION_UNRECOGNISED ("confirm it is not an anticoagulant, antiplatelet, immunosuppressant,
    steroid or chemotherapy") is the only medication finding, at caution.
    """
    result = screen_all(changed(meds("zyxoplan")))
    med_findings = [f for f in result.findings if any(n.startswith("meds.") for n in (*f.facts, *f.missing))]
    assert [(f.rule_id, f.verdict, f.status) for f in med_findings] == [("MEDICATION_UNRECOGNISED", "caution", "fired")]
    assert not [m.fact for m in result.missing if m.fact.startswith("meds.")]
    assert result.verdict == "caution"
    summary = result.findings[0].summary.lower()
    for word in ("anticoagulant", "antiplatelet", "immunosuppressant", "steroid", "chemotherapy"):
        assert word in summary


@pytest.mark.parametrize(("generic", "brand", "atc", "cls"), [row for row in SECTION_2 if row[3] == "vka"])
def test_every_vka_name_gives_the_same_screening(generic: str, brand: str, atc: str, cls: str, screen_all: Any) -> None:
    del cls
    by_generic = screen_all(changed(meds(generic)))
    by_brand = screen_all(changed(meds(brand)))
    by_code = screen_all(changed({"medications": {"complete": "yes", "items": [{"name": "tablet", "atc": atc}]}}))
    ids = [{f.rule_id for f in r.findings} for r in (by_generic, by_brand, by_code)]
    assert ids[0] == ids[1] == ids[2]
    assert {r.verdict for r in (by_generic, by_brand, by_code)} == {"caution"}
