"""Clinic policy settings: the disputed or inferred items a clinic may set for itself.

The shipped defaults (``rules/policy.yaml``) are the conservative choices. A clinic file overrides some of
them; it is read by the same safe loader as the rule files (a duplicate key could otherwise lower a safety
threshold without a word) and validated against the allowed values and bounds, so a typo fails loudly instead
of silently keeping the default. Every mistake is a :class:`~needlescreen.errors.PolicyError` naming the file,
the setting and what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import _yaml
from ._suggest import close
from .errors import PolicyError

__all__ = ["MAX_POLICY_FILE_BYTES", "Policy", "PolicySetting", "load_policy", "load_policy_override"]

PolicyValue = str | float
#: A clinic's override file is a few lines; anything this large is not one.
MAX_POLICY_FILE_BYTES = 64 * 1024


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
                raise PolicyError(
                    f"invalid value {value!r}",
                    file=file,
                    field=where,
                    expected=f"one of {list(self.allowed)}",
                )
            return value
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise PolicyError(f"invalid value {value!r}", file=file, field=where, expected="a finite number")
        lo = self.minimum if self.minimum is not None else float("-inf")
        hi = self.maximum if self.maximum is not None else float("inf")
        if not lo <= value <= hi:
            raise PolicyError(f"{value} is out of range", file=file, field=where, expected=f"{lo} to {hi}")
        return float(value)


class _PolicyFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    schema_: str = Field(alias="schema", pattern=r"^needlescreen\.policy/1$")
    settings: dict[str, PolicySetting]


class _OverrideFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    schema_: str = Field(alias="schema", pattern=r"^needlescreen\.policy-override/1$")
    clinic: str | None = None
    # Values are checked by each setting (PolicySetting.check), which can say what that setting expects.
    settings: dict[str, object]


def _schema_error(exc: ValidationError, *, file: str, schema: str, keys: str) -> PolicyError:
    # A misspelt key also makes the real one "missing": name the misspelling, which is what to fix.
    errors = sorted(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
    err = errors[0]
    field = ".".join(str(p) for p in err["loc"]) or None
    expected = None
    if err["type"] == "extra_forbidden":
        expected = f"only {keys}"
    elif field == "schema":
        expected = schema
    elif field is None:
        expected = f"a mapping with 'schema: {schema}' and 'settings'"
    return PolicyError(err["msg"], file=file, field=field, expected=expected)


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
            raise _schema_error(exc, file=file, schema="needlescreen.policy/1", keys="schema and settings") from None
        values = {
            name: s.check(s.value, where=f"settings.{name}.value", file=file) for name, s in parsed.settings.items()
        }
        return cls(parsed.settings, values)

    def with_overrides(self, overrides: Mapping[str, object], *, file: str = "<overrides>") -> Policy:
        """A copy with a clinic's values applied; unknown names fail with a did-you-mean."""
        values = dict(self.values)
        for name, value in overrides.items():
            if name not in self.settings:
                near = close(name, list(self.settings), cutoff=60.0, limit=1)
                hint = f"; did you mean {near[0]!r}?" if near else ""
                raise PolicyError(
                    f"unknown policy setting {name!r}{hint}",
                    file=file,
                    field=f"settings.{name}",
                    expected="one of the settings in policy.yaml",
                )
            values[name] = self.settings[name].check(value, where=f"settings.{name}", file=file)
        return Policy(self.settings, values, self.overridden | frozenset(overrides), file)


def load_policy(path: str | Path) -> Policy:
    """Read and validate a ruleset's policy defaults (``policy.yaml``: ``schema: needlescreen.policy/1``).

    Raises:
        PolicyError: the file is unreadable, not safe YAML, or a setting or its value is invalid.
    """
    return Policy.from_data(_yaml.load_file(path, error=PolicyError), file=str(path))


def load_policy_override(path: str | Path) -> tuple[dict[str, object], str]:
    """Read a clinic's override file: ``schema: needlescreen.policy-override/1``, ``clinic`` and ``settings``.

    Raises:
        PolicyError: the file is unreadable, too large, not UTF-8, not safe YAML (duplicate keys, object
            tags, deep nesting) or not an override file. Values are checked by :meth:`Policy.with_overrides`.
    """
    name = str(path)
    data = _yaml.load_file(path, error=PolicyError, max_bytes=MAX_POLICY_FILE_BYTES)
    try:
        parsed = _OverrideFile.model_validate(data)
    except ValidationError as exc:
        raise _schema_error(
            exc, file=name, schema="needlescreen.policy-override/1", keys="schema, clinic and settings"
        ) from None
    return dict(parsed.settings), name
