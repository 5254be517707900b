"""The URIs needlescreen writes and reads in FHIR: standard code systems and needlescreen's own.

needlescreen has no web domain of its own, so its code systems, extensions and canonical URLs are URNs
(``urn:needlescreen:...``), which FHIR allows for a ``uri``; they are stable and never resolved.
"""

from __future__ import annotations

__all__ = [
    "ANSWER_SYSTEM",
    "ATC",
    "EXT_CONTENT_HASH",
    "EXT_FACT",
    "EXT_QUESTION",
    "ICD10",
    "ICD10CM",
    "LOINC",
    "OVERRIDE_SYSTEM",
    "QUESTIONNAIRE_ID",
    "QUESTIONNAIRE_URL",
    "RULESET_SYSTEM",
    "RULE_SYSTEM",
    "RXNORM",
    "SDC_ENTRY_FORMAT",
    "SDC_ITEM_CONTROL",
    "SDC_MAX_VALUE",
    "SDC_MIN_VALUE",
    "SDC_UNIT",
    "SNOMED",
    "TECHNIQUE_SYSTEM",
    "UCUM",
    "VERDICT_SYSTEM",
]

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"

# Structured Data Capture and core extensions used on the Questionnaire.
SDC_UNIT = "http://hl7.org/fhir/StructureDefinition/questionnaire-unit"
SDC_MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
SDC_MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
SDC_ENTRY_FORMAT = "http://hl7.org/fhir/StructureDefinition/entryFormat"
SDC_ITEM_CONTROL = "http://hl7.org/fhir/StructureDefinition/questionnaire-itemControl"

QUESTIONNAIRE_ID = "needlescreen"
QUESTIONNAIRE_URL = "urn:needlescreen:questionnaire"
#: One code system per choice item: ``urn:needlescreen:answer:<item id>`` (codes are the option values).
ANSWER_SYSTEM = "urn:needlescreen:answer"
TECHNIQUE_SYSTEM = "urn:needlescreen:technique"
RULE_SYSTEM = "urn:needlescreen:rule"
RULESET_SYSTEM = "urn:needlescreen:ruleset"
VERDICT_SYSTEM = "urn:needlescreen:verdict"
OVERRIDE_SYSTEM = "urn:needlescreen:override-reason"
EXT_FACT = "urn:needlescreen:extension:missing-fact"
EXT_QUESTION = "urn:needlescreen:extension:question"
EXT_CONTENT_HASH = "urn:needlescreen:extension:ruleset-content-hash"
