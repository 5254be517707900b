"""The screening result: the JSON contract intake software and clinicians read.

The overall verdict is the worst of every finding (refer > caution > clear); every finding is kept, each
traceable to its rule, classification, site, triggering facts and sources. The ruleset revision and content
hash, the policy values, the engine and a decision id make every result reproducible and auditable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "FindingResult",
    "MissingItem",
    "Reference",
    "RulesetStamp",
    "ScreeningResult",
    "SiteRef",
    "SiteVerdict",
    "UnrecognisedMedication",
    "Verdict",
    "worst",
]

Verdict = Literal["clear", "caution", "refer"]
_RANK = {"clear": 0, "caution": 1, "refer": 2}


def worst(*verdicts: Verdict) -> Verdict:
    """The most restrictive verdict (clear when given none)."""
    best: Verdict = "clear"
    for v in verdicts:
        if _RANK[v] > _RANK[best]:
            best = v
    return best


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Reference(_Out):
    """A source behind a finding."""

    key: str
    citation: str
    evidence: Literal["read", "secondary", "background", "inference"]


class SiteRef(_Out):
    """A planned site as the intake named it."""

    id: str
    region: str
    region_label: str
    side: str | None = None
    muscle: str | None = None
    nerve: str | None = Field(default=None, description="the nerve a perineural needle is placed beside")


class FindingResult(_Out):
    """One reason behind the verdict: a rule that fired, or could not be decided for lack of information."""

    rule_id: str
    title: str
    classification: Literal["absolute", "relative"]
    verdict: Literal["caution", "refer"]
    status: Literal["fired", "unknown"] = Field(
        description="fired: the rule's condition holds; unknown: information it needs is missing"
    )
    topic: str
    scope: Literal["patient", "site", "electrical", "electrical_site", "circuit"]
    summary: str
    detail: str
    modifications: tuple[str, ...]
    site: SiteRef | None = None
    circuit: tuple[str, str] | None = None
    facts: dict[str, str | float | list[str]] = Field(description="the facts the rule read that were known")
    missing: tuple[str, ...] = Field(description="facts the rule read that were unknown")
    references: tuple[Reference, ...]


class MissingItem(_Out):
    """Something unknown that kept the screening from clear, with the question that resolves it."""

    fact: str
    question: str
    rules: tuple[str, ...]


class UnrecognisedMedication(_Out):
    """A medication entry that was not recognised, with what a form can offer the person who typed it."""

    entry: str = Field(description="the entry as written")
    did_you_mean: str | None = Field(
        default=None, description="the drug (generic name) a misspelling is likely to mean: offered, never accepted"
    )
    read_as: tuple[str, ...] = Field(
        default=(),
        description="medication classes the entry is read as until it is verified (a misspelling of a risk-class "
        "drug counts as that class, e.g. 'xeralto' as doac)",
    )
    undecided: tuple[str, ...] = Field(
        default=(), description="classes the entry may belong to but does not decide (e.g. 'blood thinner')"
    )


class SiteVerdict(_Out):
    """The verdict for one planned site: its own findings and every whole-patient finding."""

    site: SiteRef
    verdict: Verdict
    rules: tuple[str, ...]


class RulesetStamp(_Out):
    """Which rules decided: name, revision and a content hash of every rule-bearing file."""

    name: str
    revision: str
    content_hash: str


class ScreeningResult(_Out):
    """The outcome of one screening."""

    schema_version: Literal["needlescreen.result/1"] = "needlescreen.result/1"
    verdict: Verdict
    technique: Literal["dry_needling", "electrical"]
    sites: tuple[SiteVerdict, ...]
    findings: tuple[FindingResult, ...]
    missing: tuple[MissingItem, ...]
    unrecognised_medications: tuple[str, ...]
    unrecognised_medication_details: tuple[UnrecognisedMedication, ...] = Field(
        default=(),
        description="each unrecognised medication entry (in the order of unrecognised_medications) with its "
        "did-you-mean and the classes it is read as",
    )
    ruleset: RulesetStamp
    policy: dict[str, str | float]
    policy_source: str
    engine: Literal["durable_rules", "plain"]
    package_version: str
    decision_id: str
    timestamp: datetime
