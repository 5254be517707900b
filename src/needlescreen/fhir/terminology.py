"""The chart codes the FHIR adapter reads (``terminology.yaml`` beside this module), validated once.

A SNOMED CT diagnosis is read as the ICD-10-CM code it stands for, so it goes through the one code map every
intake's codes go through (``rules/codes.yaml``): on load, each ICD-10-CM target must be a code that map knows.
LOINC observations, device types, allergy substances, procedures and body sites name the intake field they set.
The file is data, validated strictly like the rule files (unknown keys refused, targets checked).
"""

from __future__ import annotations

import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from needlescreen import RuleFileError, _yaml
from needlescreen.codes import CodeMap
from needlescreen.intake import DeviceKind, FindingKind
from needlescreen.regions import RegionMap

__all__ = ["Terminology", "bundled_terminology", "load_terminology"]

_FILE = Path(__file__).with_name("terminology.yaml")
Evidence = Literal["verified", "background"]
Lab = Literal["inr", "platelets", "anc", "temperature", "bmi", "pregnancy_status", "gestational_age"]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class _Coded(_Strict):
    snomed: str = Field(pattern=r"^[1-9][0-9]{5,17}$")
    display: str = Field(min_length=3)
    evidence: Evidence
    seen: str | None = None


class _Condition(_Coded):
    icd10cm: str


class _Device(_Coded):
    kind: DeviceKind


class _Procedure(_Coded):
    finding: FindingKind
    region: str


class _BodySite(_Coded):
    region: str


class _Side(_Coded):
    side: Literal["left", "right", "both"]


class _Observation(_Strict):
    codes: dict[str, str] = Field(min_length=1)
    evidence: Evidence
    seen: str | None = None
    units: dict[str, float | Literal["fahrenheit"]] = {}
    answers: dict[str, Literal["pregnant", "not_pregnant", "unknown"]] = {}


class _MaxAge(_Strict):
    temperature: float = Field(gt=0)
    bmi: float = Field(gt=0)
    not_pregnant: float = Field(gt=0)
    pregnant: float = Field(gt=0)
    labs: float = Field(gt=0, le=3650)


class _Words(_Strict):
    needling: list[str] = Field(min_length=1)
    electrical: list[str] = Field(min_length=1)


class _File(_Strict):
    schema_: str = Field(alias="schema", pattern=r"^needlescreen\.fhir-terminology/1$")
    snomed_conditions: list[_Condition]
    observations: dict[Lab, _Observation]
    max_age_days: _MaxAge
    devices: list[_Device]
    metal_allergy: list[_Coded]
    procedures: list[_Procedure]
    surgical_categories: list[_Coded]
    body_sites: list[_BodySite]
    laterality: list[_Side]
    technique_words: _Words


@dataclass(frozen=True, slots=True)
class Terminology:
    """The loaded tables, keyed by code for the chart reader."""

    conditions: Mapping[str, str]
    labs: Mapping[str, Lab]
    units: Mapping[Lab, Mapping[str, float | str]]
    lab_display: Mapping[str, str]
    pregnancy_answers: Mapping[str, str]
    max_age_days: _MaxAge
    devices: Mapping[str, str]
    metal_allergy: frozenset[str]
    procedures: Mapping[str, tuple[str, str]]
    surgical_categories: frozenset[str]
    body_sites: Mapping[str, str]
    laterality: Mapping[str, str]
    needling_words: re.Pattern[str]
    electrical_words: re.Pattern[str]

    def lab_codes(self, lab: Lab) -> tuple[str, ...]:
        """The LOINC codes read for one lab (for prefetch templates and data requirements)."""
        return tuple(code for code, name in self.labs.items() if name == lab)


def _words(words: list[str]) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")\b", re.I)


def _fail(message: str, file: str, field: str) -> RuleFileError:
    return RuleFileError(message, file=file, field=field)


def terminology_from_data(data: object, *, codes: CodeMap, regions: RegionMap, file: str) -> Terminology:
    """Validate parsed terminology data against the code map and the region vocabulary.

    Raises:
        RuleFileError: a malformed entry, a duplicate code, an ICD-10-CM target the code map does not know, or a
            region the region vocabulary does not have; named by file and field.
    """
    try:
        spec = _File.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        raise _fail(err["msg"], file, ".".join(str(p) for p in err["loc"])) from None
    conditions: dict[str, str] = {}
    for i, c in enumerate(spec.snomed_conditions):
        if codes.lookup(c.icd10cm) is None:
            raise _fail(
                f"{c.icd10cm} is not in the code map (rules/codes.yaml)", file, f"snomed_conditions[{i}].icd10cm"
            )
        if c.snomed in conditions:
            raise _fail(f"duplicate SNOMED CT code {c.snomed}", file, f"snomed_conditions[{i}].snomed")
        conditions[c.snomed] = c.icd10cm
    labs: dict[str, Lab] = {}
    display: dict[str, str] = {}
    for lab, obs in spec.observations.items():
        for code, text in obs.codes.items():
            if code in labs:
                raise _fail(f"LOINC {code} is listed twice", file, f"observations.{lab}.codes")
            labs[code] = lab
            display[code] = text
    if spec.observations.get("pregnancy_status") is None or not spec.observations["pregnancy_status"].answers:
        raise _fail("pregnancy_status needs its answers", file, "observations.pregnancy_status.answers")
    for i, p in enumerate(spec.procedures):
        if p.region not in regions:
            raise _fail(f"unknown region {p.region!r}", file, f"procedures[{i}].region")
    for i, b in enumerate(spec.body_sites):
        if b.region not in regions:
            raise _fail(f"unknown region {b.region!r}", file, f"body_sites[{i}].region")
    return Terminology(
        conditions=conditions,
        labs=labs,
        units={lab: dict(obs.units) for lab, obs in spec.observations.items()},
        lab_display=display,
        pregnancy_answers=dict(spec.observations["pregnancy_status"].answers),
        max_age_days=spec.max_age_days,
        devices={d.snomed: d.kind for d in spec.devices},
        metal_allergy=frozenset(a.snomed for a in spec.metal_allergy),
        procedures={p.snomed: (p.finding, p.region) for p in spec.procedures},
        surgical_categories=frozenset(c.snomed for c in spec.surgical_categories),
        body_sites={b.snomed: b.region for b in spec.body_sites},
        laterality={s.snomed: s.side for s in spec.laterality},
        needling_words=_words(spec.technique_words.needling + spec.technique_words.electrical),
        electrical_words=_words(spec.technique_words.electrical),
    )


def load_terminology(path: str | Path, *, codes: CodeMap, regions: RegionMap) -> Terminology:
    """Read and validate a terminology file through the house's safe YAML loader."""
    return terminology_from_data(_yaml.load_file(path), codes=codes, regions=regions, file=str(path))


@lru_cache(maxsize=1)
def bundled_terminology() -> Terminology:
    """The terminology shipped with the package, checked against the bundled code map and regions."""
    from .questionnaire import _default_ruleset

    ruleset = _default_ruleset()
    return load_terminology(_FILE, codes=ruleset.codes, regions=ruleset.regions)


# The kinds the file may name, for a test that every device kind of the intake can be read from a chart.
DEVICE_KINDS: tuple[str, ...] = typing.get_args(DeviceKind)
