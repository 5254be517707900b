"""Clinic policy settings: the disputed or inferred items a clinic may set for itself.

The shipped defaults (``rules/policy.yaml``) are the conservative choices. A clinic file overrides some of
them; it is validated against the allowed values and bounds, so a typo fails loudly instead of silently
keeping the default.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import RuleFileError

__all__ = ["Policy", "PolicySetting", "load_policy_override"]

PolicyValue = str | float


class PolicySetting(BaseModel):
    """One setting: its value, what it may be, and why it exists."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    value: str | float
    allowed: list[str] | None = None
    minimum: float | None = None
    maximum: float | None = None
    reason: str = Field(min_length=1)

    def check(self, value: object, *, where: str, file: str) -> PolicyValue:
        """Validate a (possibly overriding) value against this setting's allowed values or bounds."""
        if self.allowed is not None:
            if not isinstance(value, str) or value not in self.allowed:
                raise RuleFileError(
                    f"invalid value {value!r}",
                    file=file,
                    field=where,
                    expected=f"one of {list(self.allowed)}",
                )
            return value
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise RuleFileError(f"invalid value {value!r}", file=file, field=where, expected="a number")
        lo = self.minimum if self.minimum is not None else float("-inf")
        hi = self.maximum if self.maximum is not None else float("inf")
        if not lo <= value <= hi:
            raise RuleFileError(f"{value} is out of range", file=file, field=where, expected=f"{lo} to {hi}")
        return float(value)


class _PolicyFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    schema_: str = Field(alias="schema", pattern=r"^needlescreen\.policy/1$")
    settings: dict[str, PolicySetting]


class _OverrideFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    schema_: str = Field(alias="schema", pattern=r"^needlescreen\.policy-override/1$")
    clinic: str | None = None
    settings: dict[str, str | float | int]


@dataclass(frozen=True, slots=True)
class Policy:
    """Resolved policy: the value of every setting and which of them a clinic overrode."""

    settings: Mapping[str, PolicySetting]
    values: Mapping[str, PolicyValue]
    overridden: frozenset[str] = frozenset()
    source: str = "defaults"

    @classmethod
    def from_data(cls, data: Any, *, file: str = "policy.yaml") -> Policy:
        """Validate the shipped defaults."""
        try:
            parsed = _PolicyFile.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise RuleFileError(err["msg"], file=file, field=".".join(str(p) for p in err["loc"])) from None
        values = {
            name: s.check(s.value, where=f"settings.{name}.value", file=file) for name, s in parsed.settings.items()
        }
        return cls(parsed.settings, values)

    def with_overrides(self, overrides: Mapping[str, object], *, file: str = "<overrides>") -> Policy:
        """A copy with a clinic's values applied; unknown names fail with a did-you-mean."""
        import difflib

        values = dict(self.values)
        for name, value in overrides.items():
            if name not in self.settings:
                close = difflib.get_close_matches(name, list(self.settings), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise RuleFileError(f"unknown policy setting {name!r}{hint}", file=file, field=f"settings.{name}")
            values[name] = self.settings[name].check(value, where=f"settings.{name}", file=file)
        return Policy(self.settings, values, self.overridden | frozenset(overrides), file)


def load_policy_override(path: str | Path) -> tuple[dict[str, object], str]:
    """Read a clinic's override file: ``schema: needlescreen.policy-override/1`` and ``settings``."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RuleFileError(f"cannot read policy file: {exc}", file=str(path)) from None
    try:
        parsed = _OverrideFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise RuleFileError(err["msg"], file=str(path), field=".".join(str(p) for p in err["loc"])) from None
    return dict(parsed.settings), str(path)
