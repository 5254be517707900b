"""Medication value sets: names, brand names and ATC codes mapped to the classes the rules read.

Loaded from ``rules/medications.yaml``. A medication that matches nothing is *unrecognised*: it is reported in
the result and, because it might be a blood thinner, it keeps every medication class from reading "no".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import RuleFileError

__all__ = ["MedicationClassifier", "normalise_name"]

_ATC = r"^[A-Z][0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?$"


class _ClassSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    label: str = Field(min_length=1)
    atc: list[str] = []
    names: list[str] = []


class _OtherSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    names: list[str] = []
    atc: list[str] = []


class _MedFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    schema_: str = Field(alias="schema", pattern=r"^needlescreen\.medications/1$")
    classes: dict[str, _ClassSpec]
    antithrombotic_classes: list[str]
    recognised_other: _OtherSpec = _OtherSpec()


def normalise_name(name: str) -> str:
    """Case- and spacing-insensitive key for a drug name ("Low-dose  Aspirin" -> "low dose aspirin")."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", name.lower()).split())


@dataclass(frozen=True, slots=True)
class MedicationClassifier:
    """Maps a medication (name and optional ATC code) to the set of classes it belongs to."""

    classes: tuple[str, ...]
    labels: dict[str, str]
    antithrombotic: frozenset[str]
    _by_name: dict[str, frozenset[str]]
    _by_atc: tuple[tuple[str, str | None], ...]
    _by_name_compact: dict[str, str]

    @classmethod
    def from_data(cls, data: Any, *, file: str = "medications.yaml") -> MedicationClassifier:
        """Validate a parsed medications file."""
        try:
            parsed = _MedFile.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise RuleFileError(err["msg"], file=file, field=".".join(str(p) for p in err["loc"])) from None
        by_name: dict[str, set[str]] = {}
        by_atc: list[tuple[str, str | None]] = []
        for cname, spec in parsed.classes.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]*", cname):
                raise RuleFileError("class names are lower_snake_case", file=file, field=f"classes.{cname}")
            for code in spec.atc:
                if not re.fullmatch(_ATC, code):
                    raise RuleFileError(f"not an ATC code: {code!r}", file=file, field=f"classes.{cname}.atc")
                by_atc.append((code, cname))
            for n in spec.names:
                by_name.setdefault(normalise_name(n), set()).add(cname)
        for n in parsed.recognised_other.names:
            by_name.setdefault(normalise_name(n), set())
        for code in parsed.recognised_other.atc:
            if not re.fullmatch(_ATC, code):
                raise RuleFileError(f"not an ATC code: {code!r}", file=file, field="recognised_other.atc")
            by_atc.append((code, None))
        unknown = set(parsed.antithrombotic_classes) - set(parsed.classes)
        if unknown:
            raise RuleFileError(f"unknown classes {sorted(unknown)}", file=file, field="antithrombotic_classes")
        # Longest prefix first, so a substance code wins over its class code.
        by_atc.sort(key=lambda item: -len(item[0]))
        return cls(
            classes=tuple(parsed.classes),
            labels={k: v.label for k, v in parsed.classes.items()},
            antithrombotic=frozenset(parsed.antithrombotic_classes),
            _by_name={k: frozenset(v) for k, v in by_name.items()},
            _by_atc=tuple(by_atc),
            _by_name_compact={k.replace(" ", ""): k for k in by_name},
        )

    def classify(self, name: str, atc: str | None) -> frozenset[str] | None:
        """Classes of one medication, or ``None`` when neither its name nor its code is recognised."""
        found: set[str] = set()
        recognised = False
        key = normalise_name(name)
        # Spacing-insensitive: "Eli quis" and "acetylsalicylicacid" find "eliquis" and "acetylsalicylic acid".
        key = key if key in self._by_name else self._by_name_compact.get(key.replace(" ", ""), key)
        if key in self._by_name:
            recognised = True
            found |= self._by_name[key]
        if atc:
            code = atc.upper()
            for prefix, cname in self._by_atc:
                if code.startswith(prefix):
                    recognised = True
                    if cname:
                        found.add(cname)
                    break
        return frozenset(found) if recognised else None

    def classify_all(self, meds: Iterable[tuple[str, str | None]]) -> tuple[dict[str, int], list[str]]:
        """Count listed drugs per class and collect the names nobody recognised."""
        counts = dict.fromkeys(self.classes, 0)
        unrecognised: list[str] = []
        for name, atc in meds:
            classes = self.classify(name, atc)
            if classes is None:
                unrecognised.append(name)
                continue
            for c in classes:
                counts[c] += 1
        return counts, unrecognised
