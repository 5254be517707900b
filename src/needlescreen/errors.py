"""The needlescreen exception hierarchy.

Every error the library raises on purpose derives from :class:`NeedlescreenError`, so an integrator can catch
one type. Input mistakes subclass :class:`ValueError`; engine faults subclass :class:`RuntimeError`::

    NeedlescreenError
    ├── IntakeError(ValueError)        an intake failed validation; names each JSON path
    ├── RuleFileError(ValueError)      a rule, region, source or policy file is malformed; names file, rule, field
    │   └── PolicyError                a policy file or setting is invalid; names file, setting, what was expected
    └── EngineError(RuntimeError)      the rule engine failed; never turned into a verdict
        └── EngineUnavailableError     the requested engine is unknown or cannot be loaded on this Python

Each error carries a stable ``code`` (``NS1xx`` input, ``NS2xx`` rule files, ``NS3xx`` engine) that is
documented in ``docs/errors.md`` with an example and a fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = [
    "EngineError",
    "EngineUnavailableError",
    "FieldProblem",
    "IntakeError",
    "NeedlescreenError",
    "PolicyError",
    "RuleFileError",
]


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One thing wrong with an input: where (a JSON path such as ``plan.sites[0].side``) and what.

    ``suggestions`` are values that would likely be meant, best first, for a form to offer (a misspelt muscle's
    near names, the region ids an everyday word stands for, the field a misspelt key names); the message says
    them in words as well. Empty when there is nothing to offer.
    """

    path: str
    message: str
    suggestions: tuple[str, ...] = field(default=())

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class NeedlescreenError(Exception):
    """Base of every error needlescreen raises on purpose."""

    code = "NS000"


class IntakeError(NeedlescreenError, ValueError):
    """An intake was rejected. ``problems`` lists every field at fault, so a form can mark them all."""

    code = "NS101"

    def __init__(self, problems: Sequence[FieldProblem], *, source: str | None = None) -> None:
        self.problems = tuple(problems)
        self.source = source
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid intake{where} ({len(self.problems)} problem(s)):\n{lines}")


class RuleFileError(NeedlescreenError, ValueError):
    """A rule file (or the regions, sources or policy file) is malformed or would mislead the engine."""

    code = "NS201"

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        rule_id: str | None = None,
        field: str | None = None,
        expected: str | None = None,
    ) -> None:
        self.file = file
        self.rule_id = rule_id
        self.field = field
        self.expected = expected
        self.detail = message
        parts = [p for p in (file, f"rule {rule_id}" if rule_id else None, field) if p]
        where = ": ".join(parts)
        text = f"{where}: {message}" if where else message
        if expected:
            text += f" (expected {expected})"
        super().__init__(text)


class PolicyError(RuleFileError):
    """A policy file (the shipped defaults or a clinic's overrides) or a policy value given in code is invalid.

    A subclass of :class:`RuleFileError` because a policy setting changes verdicts as much as a rule does: code
    that refuses a bad ruleset refuses a bad policy too. ``field`` names the setting (``settings.<name>``).
    """

    code = "NS202"


class EngineError(NeedlescreenError, RuntimeError):
    """The rule engine failed while screening. Raised, never converted into a verdict."""

    code = "NS301"


class EngineUnavailableError(EngineError):
    """The requested engine cannot be loaded here (e.g. durable_rules on Python 3.13) or has no such name.

    The message lists the engines available here.
    """

    code = "NS302"
