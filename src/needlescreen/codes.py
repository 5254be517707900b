"""Coded conditions: ICD-10-CM codes applied as the questionnaire answers they stand for.

The map lives in ``rules/codes.yaml`` (data, not code). A code sets the same intake answers a clinician would
give on the questionnaire, so "code given" and "answer given" reach the same facts and the same verdict. Codes
only ever add information: an answer becomes "yes", a grade rises (none < unknown < mild < severe), a device or
medication is added, a regional finding becomes "yes" (where the code gives no location, "location unknown",
which every site rule treats as unknown). A code is never dropped because an answer of the same kind exists:
its locations and devices are merged with the clinician's. When the clinician answered "no" (or "none", or
"not pregnant", or an empty complete medication list) the code still wins, and the pair is reported as an
inconsistency (:meth:`CodeMap.apply_noting`), which a rule turns into a reason. A code that would push a list past
its limit is rejected naming the code, never ignored.

A well-formed code the map does not know is not an invalid intake: an EHR sends the whole problem list. It is read
like an unrecognised medication (:meth:`CodeMap.apply_reading`): it answers nothing, so every answer stays as the
clinician gave it (unknown where not asked, and the rules ask it), and it is named in the fact
``patient.unrecognised_conditions``, whose one caution (CONDITION_UNRECOGNISED) says to verify it. That holds only
while the ruleset has a rule that cautions on that fact (:meth:`CodeMap.guarded_by`); in a ruleset without one
(a clinic's own rules) such a code is rejected, naming it, as the only safe reading. A malformed code never
reaches the map: the intake model rejects it.

The side of a coded finding comes only from a family whose code structure carries it: the entry's
``laterality`` names the character position (1-based, without the dot) and what each character there means,
e.g. I82.4- where the 5th character is the vein and the 6th the side. A code too short to reach that position
carries no side.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, NamedTuple, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import _bundled, _yaml
from ._suggest import close
from .conditions import Truth, evaluate
from .errors import FieldProblem, IntakeError, RuleFileError
from .intake import MAX_DEVICES, MAX_LOCATIONS, MAX_MEDICATIONS, DeviceKind, Findings, Intake, Patient
from .medications import normalise_name

__all__ = ["UNRECOGNISED_FACT", "CodeEntry", "CodeMap", "CodeReading", "bundled_codes", "normalise_code"]

#: The patient fact naming every well-formed code the map does not know (absent when there is none).
UNRECOGNISED_FACT = "patient.unrecognised_conditions"

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


class _Laterality(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    position: int = Field(ge=4, le=7)
    values: dict[str, Literal["left", "right", "both"]] = Field(min_length=1)


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    code: str = Field(pattern=r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{0,4})?$")
    title: str = Field(min_length=3)
    evidence: Literal["verified", "background"]
    structure: str | None = Field(default=None, min_length=10)
    laterality: _Laterality | None = None
    sets: _Sets


class _CodesFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    schema_: str = Field(alias="schema", pattern=r"^needlescreen\.codes/1$")
    system: Literal["ICD-10-CM"]
    codes: list[_Entry]


@dataclass(frozen=True, slots=True)
class CodeEntry:
    """One code family: its prefix (without the dot), title, what it sets and where its side is coded."""

    prefix: str
    code: str
    title: str
    evidence: str
    sets: _Sets
    side_position: int | None = None
    sides: Mapping[str, str] | None = None
    structure: str | None = None

    def side(self, code: str) -> str | None:
        """The side a full code carries (normalised, no dot), or ``None`` when its structure has none."""
        if self.side_position is None or self.sides is None or len(code) < self.side_position:
            return None
        return self.sides.get(code[self.side_position - 1])


class CodeReading(NamedTuple):
    """An intake with its coded conditions applied: the answers coded diagnoses contradicted (each naming both
    sides) and the codes the map does not know (each as ``ICD-10-CM K21.9``), in the order given."""

    intake: Intake
    contradictions: tuple[str, ...]
    unrecognised: tuple[str, ...]


class CodeMap:
    """The loaded code map: match a code by its longest prefix and apply it to an intake."""

    def __init__(self, entries: list[CodeEntry], *, guarded: bool = False) -> None:
        # Longest prefix first, so a specific code (G40.91, intractable) wins over its family (G40).
        self.entries = sorted(entries, key=lambda e: -len(e.prefix))
        #: A rule of the ruleset stands in for a code the map does not know (see :meth:`guarded_by`).
        self.guarded = guarded

    def guarded_by(self, rules: Iterable[Any]) -> CodeMap:
        """This map, told whether ``rules`` stand in for a code it does not know.

        An unmapped code may be accepted only while a patient rule gives at least caution on
        ``patient.unrecognised_conditions`` alone; a ruleset without one rejects it, as before.
        """
        guard = any(
            r.scope == "patient"
            and r.verdict in ("caution", "refer")
            and evaluate(r.condition, {UNRECOGNISED_FACT: frozenset({"ICD-10-CM R69"})}) is Truth.TRUE
            for r in rules
        )
        return CodeMap(self.entries, guarded=guard)

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
                    near = close(name, sorted(_ANSWER_FIELDS | set(_RANKS)), cutoff=60.0, limit=1)
                    hint = f"; did you mean {near[0]!r}?" if near else ""
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
            _check_structure(e, prefix, file=file, where=where)
            lat = e.laterality
            entries.append(
                CodeEntry(
                    prefix,
                    e.code,
                    e.title,
                    e.evidence,
                    e.sets,
                    lat.position if lat else None,
                    dict(lat.values) if lat else None,
                    e.structure,
                )
            )
        return cls(entries)

    def lookup(self, code: str) -> CodeEntry | None:
        """The entry whose prefix is the longest match for ``code`` (``None`` if no family matches)."""
        key = normalise_code(code)
        for e in self.entries:
            if key.startswith(e.prefix):
                return e
        return None

    def apply(self, intake: Intake) -> Intake:
        """The intake with every coded condition applied as questionnaire answers (see :meth:`apply_noting`)."""
        return self.apply_noting(intake)[0]

    def apply_noting(self, intake: Intake) -> tuple[Intake, tuple[str, ...]]:
        """The intake with every coded condition applied, and each answer a code contradicts.

        Each contradiction names both sides, e.g. ``findings.dvt: no / ICD-10-CM I82.41 (...)``. Every code must
        be in the map here (this reading has nowhere to name one it does not know): see :meth:`apply_reading`.

        Raises:
            IntakeError: a code that no entry of the map matches, or one that would push a list (devices,
                a finding's locations, medications) past its limit; named by its JSON path.
        """
        return self._apply(intake, accept_unmapped=False)[:2]

    def apply_reading(self, intake: Intake) -> CodeReading:
        """The intake with every coded condition applied, each answer a code contradicts, and each code the map
        does not know (accepted only in a guarded map: one whose ruleset has a rule standing in for it).

        Raises:
            IntakeError: a code the map does not know in an unguarded map, or one that would push a list past its
                limit; named by its JSON path.
        """
        return self._apply(intake, accept_unmapped=self.guarded)

    def _apply(self, intake: Intake, *, accept_unmapped: bool) -> CodeReading:
        if not intake.conditions:
            return CodeReading(intake, (), ())
        data = intake.model_dump(mode="python", exclude={"conditions"})
        problems: list[FieldProblem] = []
        notes: list[str] = []
        unmapped: list[str] = []
        for i, cond in enumerate(intake.conditions):
            path = f"conditions[{i}].code"
            entry = self.lookup(cond.code)
            if entry is None:
                if accept_unmapped:
                    unmapped.append(f"{cond.system} {cond.code.strip().upper()}")
                    continue
                problems.append(
                    FieldProblem(
                        path,
                        f"code {cond.code!r} is not in the code map (rules/codes.yaml), and no rule of this ruleset "
                        "stands in for a code it does not map",
                    )
                )
                continue
            applied = _Applied(data, entry, cond.code, notes)
            problems.extend(FieldProblem(path, message) for message in applied.run())
        if problems:
            raise IntakeError(problems)
        if len(unmapped) == len(intake.conditions):
            return CodeReading(intake.model_copy(update={"conditions": ()}), (), tuple(dict.fromkeys(unmapped)))
        try:
            applied_intake = Intake.model_validate(data)
        except ValidationError as exc:  # a code map entry the loader could not foresee; fail closed and say so
            raise IntakeError(
                [
                    FieldProblem("conditions", f"the coded conditions give an invalid intake at {_loc(e)}: {e['msg']}")
                    for e in exc.errors()
                ]
            ) from None
        return CodeReading(applied_intake, tuple(dict.fromkeys(notes)), tuple(dict.fromkeys(unmapped)))


def _check_structure(e: _Entry, prefix: str, *, file: str, where: str) -> None:
    """A code that places something documents its structure, and its side comes from a position past the family."""
    places = bool(e.sets.findings) or e.sets.device_location is not None
    if (places or e.laterality is not None) and e.structure is None:
        raise RuleFileError(
            "a code that places a finding or device must document its structure (which character, if any, is the side)",
            file=file,
            field=f"{where}.structure",
        )
    lat = e.laterality
    if lat is None:
        return
    if lat.position <= len(prefix):
        raise RuleFileError(
            f"the side is character {lat.position}, inside the family prefix {e.code!r}",
            file=file,
            field=f"{where}.laterality.position",
            expected=f"a position after character {len(prefix)}",
        )
    if any(len(k) != 1 for k in lat.values):
        raise RuleFileError("each side is one character of the code", file=file, field=f"{where}.laterality.values")
    if not places:
        raise RuleFileError("laterality without a location to place", file=file, field=f"{where}.laterality")


class _Applied:
    """One code applied to the intake data (a mutable dump), collecting contradictions and limit problems."""

    def __init__(self, data: dict[str, Any], entry: CodeEntry, given: str, notes: list[str]) -> None:
        self.data, self.entry, self.notes = data, entry, notes
        self.code = normalise_code(given)
        self.problems: list[str] = []
        self.label = f"ICD-10-CM {given.strip().upper()} ({entry.title})"

    def conflict(self, answer: str) -> None:
        self.notes.append(f"{answer} / {self.label}")

    def run(self) -> list[str]:
        self.patient()
        self.findings()
        self.devices()
        self.medications()
        return self.problems

    def patient(self) -> None:
        sets, patient = self.entry.sets, self.data["patient"]
        for name, value in sets.patient.items():
            if name in _RANKS:
                ranks = _RANKS[name]
                if patient[name] == "none":
                    self.conflict(f"patient.{name}: none")
                if ranks.index(value) > ranks.index(patient[name]):
                    patient[name] = value
            else:
                if patient[name] == "no":
                    self.conflict(f"patient.{name}: no")
                patient[name] = "yes"
        if sets.fever:
            if patient["fever"]["answer"] == "no":
                self.conflict("patient.fever.answer: no")
            patient["fever"]["answer"] = "yes"
        if sets.pregnancy:
            preg = patient["pregnancy"]
            if preg["status"] == "not_pregnant":
                self.conflict("patient.pregnancy.status: not_pregnant")
            preg["status"] = "pregnant"
            m = re.fullmatch(r"Z3A([0-9]{2})", self.code)
            if sets.weeks_from_code and m and 8 <= int(m[1]) <= 42:
                coded = float(m[1])
                weeks = preg.get("gestational_weeks")
                if weeks is not None and abs(weeks - coded) >= 1:
                    self.conflict(f"patient.pregnancy.gestational_weeks: {weeks:g}")
                # Of two different gestations the earlier is the riskier (first trimester).
                preg["gestational_weeks"] = coded if weeks is None else min(weeks, coded)

    def findings(self) -> None:
        side = self.entry.side(self.code)
        for kind, fs in self.entry.sets.findings.items():
            current = self.data["findings"][kind]
            coded = []
            for loc in fs.locations:
                item: dict[str, Any] = {"region": loc.region}
                if loc.side or side:
                    item["side"] = loc.side or side
                coded.append(item)
            if current["answer"] == "no":
                self.conflict(f"findings.{kind}: no")
            if current["answer"] == "yes" and current["locations"]:
                # The clinician's places stay; the code's are added (without a place, it adds none).
                locations = list(current["locations"])
                locations += [c for c in coded if not any(_same_place(c, have) for have in locations)]
            else:
                locations = coded  # "present, place not given" is read as the coded finding, placed by the code
            if len(locations) > MAX_LOCATIONS:
                self.problems.append(
                    f"code {self.label} adds a location to findings.{kind}, which is at its limit of "
                    f"{MAX_LOCATIONS} locations"
                )
                continue
            self.data["findings"][kind] = {
                "answer": "yes",
                "locations": locations,
                "weeks_ago": current.get("weeks_ago"),
            }

    def devices(self) -> None:
        sets = self.entry.sets
        if not sets.devices:
            return
        devices = self.data["devices"]
        if devices["answer"] == "no":
            self.conflict("devices.answer: no")
        items = list(devices["items"]) if devices["answer"] == "yes" else []
        location = None
        if sets.device_location is not None:
            side = sets.device_location.side or self.entry.side(self.code)
            location = {"region": sets.device_location.region, "side": side}
        for kind in sets.devices:
            item = {"kind": kind, "location": location}
            if not any(d["kind"] == kind and _same_place(d["location"], location) for d in items):
                items.append(item)
        if len(items) > MAX_DEVICES:
            self.problems.append(f"code {self.label} adds a device to a list at its limit of {MAX_DEVICES}")
            return
        # Only the coded device is known: unless the clinician answered "yes" with a list, other devices stay
        # unknown (a code must never turn "not asked" into "no other device"), and so does pacemaker dependence
        # (a "no" that followed from "no implants" says nothing about a coded pacemaker).
        answered = devices["answer"] == "yes"
        self.data["devices"] = {
            "answer": "yes",
            "items": items,
            "others": devices["others"] if answered else "unknown",
            "pacemaker_dependent": devices["pacemaker_dependent"] if answered else "unknown",
        }

    def medications(self) -> None:
        sets = self.entry.sets
        if not sets.medications:
            return
        medications = self.data["medications"]
        meds = list(medications["items"])
        if medications["complete"] == "yes" and not meds:
            self.conflict("medications: none (list complete)")
        have = {normalise_name(m["name"]) for m in meds}
        for med in sets.medications:
            if normalise_name(med.name) not in have:
                meds.append({"name": med.name, "atc": med.atc})
        if len(meds) > MAX_MEDICATIONS:
            self.problems.append(f"code {self.label} adds a medication to a list at its limit of {MAX_MEDICATIONS}")
            return
        medications["items"] = meds


def _loc(error: Any) -> str:
    return ".".join(str(p) for p in error["loc"])


def _same_place(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    if a is None or b is None:
        return a is b
    return bool(a.get("region") == b.get("region") and a.get("side") == b.get("side"))


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
