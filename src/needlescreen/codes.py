"""Coded conditions: ICD-10-CM codes applied as the questionnaire answers they stand for.

The map lives in ``rules/codes.yaml`` (data, not code). A code sets the same intake answers a clinician would
give on the questionnaire, so "code given" and "answer given" reach the same facts and the same verdict. Codes
only ever add information: an answer becomes "yes", a grade rises (none < unknown < mild < severe), a device or
medication is added, a regional finding becomes "yes" (where the code gives no location, "location unknown",
which every site rule treats as unknown). A code the map does not know is rejected, never ignored.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import _bundled, _yaml
from .errors import FieldProblem, IntakeError, RuleFileError
from .intake import DeviceKind, Findings, Intake, Patient
from .medications import normalise_name

__all__ = ["CodeEntry", "CodeMap", "bundled_codes", "normalise_code"]

#: Grades of the graded answers, lowest first; a code raises a grade, never lowers it.
_RANKS: Mapping[str, tuple[str, ...]] = {
    "bleeding_disorder": ("none", "unknown", "mild", "severe"),
    "diabetes": ("none", "unknown", "controlled", "uncontrolled"),
    "epilepsy": ("none", "unknown", "controlled", "uncontrolled"),
}
_ANSWER_FIELDS = frozenset(
    n for n, f in Patient.model_fields.items() if f.annotation is not None and "yes" in str(f.annotation)
)
_FINDINGS = frozenset(Findings.model_fields)
_DEVICE_KINDS: tuple[str, ...] = get_args(DeviceKind)


def normalise_code(code: str) -> str:
    """Upper case without the dot: "i89.0" -> "I890"."""
    return code.strip().upper().replace(".", "")


class _Loc(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    region: str
    side: Literal["left", "right", "both", "midline"] | None = None


class _FindingSet(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    locations: list[_Loc] = []


class _Med(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    name: str = Field(min_length=1)
    atc: str | None = None


class _Sets(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    patient: dict[str, str] = {}
    fever: bool = False
    pregnancy: Literal["pregnant"] | None = None
    weeks_from_code: bool = False
    findings: dict[str, _FindingSet] = {}
    devices: list[str] = []
    device_location: _Loc | None = None
    medications: list[_Med] = []


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    code: str = Field(pattern=r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{0,4})?$")
    title: str = Field(min_length=3)
    evidence: Literal["verified", "background"]
    laterality: dict[str, Literal["left", "right", "both"]] = {}
    sets: _Sets


class _CodesFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    schema_: str = Field(alias="schema", pattern=r"^needlescreen\.codes/1$")
    system: Literal["ICD-10-CM"]
    codes: list[_Entry]


@dataclass(frozen=True, slots=True)
class CodeEntry:
    """One code family: its prefix (without the dot), title and what it sets."""

    prefix: str
    code: str
    title: str
    evidence: str
    laterality: Mapping[str, str]
    sets: _Sets


class CodeMap:
    """The loaded code map: match a code by its longest prefix and apply it to an intake."""

    def __init__(self, entries: list[CodeEntry]) -> None:
        # Longest prefix first, so a specific code (G40.91, intractable) wins over its family (G40).
        self.entries = sorted(entries, key=lambda e: -len(e.prefix))

    @classmethod
    def from_data(cls, data: Any, *, file: str = "codes.yaml", regions: Any = None) -> CodeMap:
        """Validate a parsed codes file (targets checked against the intake model and, if given, regions)."""
        try:
            parsed = _CodesFile.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise RuleFileError(err["msg"], file=file, field=".".join(str(p) for p in err["loc"])) from None
        entries: list[CodeEntry] = []
        seen: set[str] = set()
        for i, e in enumerate(parsed.codes):
            where = f"codes[{i}] ({e.code})"
            prefix = normalise_code(e.code)
            if prefix in seen:
                raise RuleFileError("duplicate code", file=file, field=where)
            seen.add(prefix)
            for name, value in e.sets.patient.items():
                if name in _RANKS:
                    if value not in _RANKS[name]:
                        raise RuleFileError(f"invalid grade {value!r}", file=file, field=f"{where}.sets.patient.{name}")
                elif name not in _ANSWER_FIELDS or value != "yes":
                    close = difflib.get_close_matches(name, sorted(_ANSWER_FIELDS | set(_RANKS)), n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    raise RuleFileError(
                        f"not a yes/no or graded patient answer: {name}={value!r}{hint}",
                        file=file,
                        field=f"{where}.sets.patient",
                    )
            for kind, fs in e.sets.findings.items():
                if kind not in _FINDINGS:
                    raise RuleFileError(f"unknown finding {kind!r}", file=file, field=f"{where}.sets.findings")
                for loc in fs.locations:
                    if regions is not None and loc.region not in regions:
                        raise RuleFileError(f"unknown region {loc.region!r}", file=file, field=f"{where}.sets")
            for kind in e.sets.devices:
                if kind not in _DEVICE_KINDS:
                    raise RuleFileError(f"unknown device kind {kind!r}", file=file, field=f"{where}.sets.devices")
            entries.append(CodeEntry(prefix, e.code, e.title, e.evidence, dict(e.laterality), e.sets))
        return cls(entries)

    def lookup(self, code: str) -> CodeEntry | None:
        """The entry whose prefix is the longest match for ``code`` (``None`` if no family matches)."""
        key = normalise_code(code)
        for e in self.entries:
            if key.startswith(e.prefix):
                return e
        return None

    def apply(self, intake: Intake) -> Intake:
        """The intake with every coded condition applied as questionnaire answers.

        Raises:
            IntakeError: a code that no entry of the map matches (named by its JSON path).
        """
        if not intake.conditions:
            return intake
        data = intake.model_dump(mode="python", exclude={"conditions"})
        problems: list[FieldProblem] = []
        for i, cond in enumerate(intake.conditions):
            entry = self.lookup(cond.code)
            if entry is None:
                problems.append(
                    FieldProblem(
                        f"conditions[{i}].code", f"code {cond.code!r} is not in the code map (rules/codes.yaml)"
                    )
                )
                continue
            _apply_entry(data, entry, normalise_code(cond.code))
        if problems:
            raise IntakeError(problems)
        return Intake.model_validate(data)


def _apply_entry(data: dict[str, Any], entry: CodeEntry, code: str) -> None:
    sets = entry.sets
    patient = data["patient"]
    for name, value in sets.patient.items():
        if name in _RANKS:
            ranks = _RANKS[name]
            if ranks.index(value) > ranks.index(patient[name]):
                patient[name] = value
        else:
            patient[name] = "yes"
    if sets.fever:
        patient["fever"]["answer"] = "yes"
    if sets.pregnancy:
        preg = patient["pregnancy"]
        if preg["status"] != "pregnant":
            preg["status"] = "pregnant"
        m = re.fullmatch(r"Z3A([0-9]{2})", code)
        if sets.weeks_from_code and m and 8 <= int(m[1]) <= 42 and preg.get("gestational_weeks") is None:
            preg["gestational_weeks"] = float(m[1])
    side = entry.laterality.get(code[-1]) if len(code) > len(entry.prefix) else None
    for kind, fs in sets.findings.items():
        current = data["findings"][kind]
        if current["answer"] == "yes":
            continue  # the clinician's own answer (and location) is more specific than the code
        locations = []
        for loc in fs.locations:
            item: dict[str, Any] = {"region": loc.region}
            if loc.side or side:
                item["side"] = loc.side or side
            locations.append(item)
        data["findings"][kind] = {"answer": "yes", "locations": locations, "weeks_ago": current.get("weeks_ago")}
    if sets.devices:
        devices = data["devices"]
        items = list(devices["items"]) if devices["answer"] == "yes" else []
        location = None
        if sets.device_location is not None:
            location = {"region": sets.device_location.region, "side": sets.device_location.side or side}
        for kind in sets.devices:
            if not any(d["kind"] == kind for d in items):
                items.append({"kind": kind, "location": location})
        # Only the coded device is known: unless the clinician answered "yes" with a list, other devices stay
        # unknown (a code must never turn "not asked" into "no other device").
        others = devices["others"] if devices["answer"] == "yes" else "unknown"
        data["devices"] = {"answer": "yes", "items": items, "others": others}
    if sets.medications:
        meds = list(data["medications"]["items"])
        have = {normalise_name(m["name"]) for m in meds}
        for med in sets.medications:
            if normalise_name(med.name) not in have:
                meds.append({"name": med.name, "atc": med.atc})
        data["medications"]["items"] = meds


@lru_cache(maxsize=1)
def bundled_codes() -> CodeMap:
    """The code map that ships with the package (``rules/codes.yaml``)."""
    return load_codes(_bundled.rules_dir() / "codes.yaml")


def load_codes(path: str | Path) -> CodeMap:
    """Read and validate a codes file.

    Raises:
        RuleFileError: the file is unreadable or malformed.
    """
    path = Path(path)
    return CodeMap.from_data(_yaml.load_file(path), file=str(path))
