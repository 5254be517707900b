"""The service's response models: what the OpenAPI document publishes for records, pages and changes."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from needlescreen import Intake, ScreeningResult

__all__ = [
    "Change",
    "Changes",
    "RecordMeta",
    "RecordOut",
    "RecordPage",
    "RecordSummary",
    "RuleDetail",
    "RuleSummary",
    "VerifyReport",
    "diff_results",
]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Change(_Out):
    """A value before and after a re-screening."""

    before: str | float | None
    after: str | float | None


class Changes(_Out):
    """What a re-screening changed against the record it re-screened (empty lists and nulls: no change)."""

    changed: bool
    verdict: Change | None
    ruleset_revision: Change | None
    content_hash: Change | None
    engine: Change | None
    policy: dict[str, Change]
    findings_added: list[str] = Field(description="RULE_ID:status[@site or circuit] now found, not before")
    findings_removed: list[str]
    missing_added: list[str] = Field(description="facts now missing that were not")
    missing_removed: list[str]


class RecordMeta(_Out):
    """The record metadata of the intake (null when it gave none)."""

    patient_ref: str | None
    clinician: str | None
    encounter_date: dt.date | None
    clinic: str | None


class RecordSummary(_Out):
    """One stored screening in a list."""

    id: str
    created_at: dt.datetime
    submitted_by: str
    tenant: str | None = Field(description="the clinic of the key that stored it (null: no keys, or an admin key)")
    verdict: Literal["clear", "caution", "refer"]
    technique: str
    ruleset_revision: str
    previous_id: str | None
    record: RecordMeta


class RecordOut(RecordSummary):
    """One stored screening in full: the intake as screened, the result as returned, and what changed."""

    intake: Intake
    result: ScreeningResult
    changes: Changes | None


class RecordPage(_Out):
    """A page of records, newest first; pass ``next_cursor`` as ``cursor`` for the next page."""

    items: list[RecordSummary]
    next_cursor: int | None


class Mismatch(_Out):
    """The first record that does not match the chain."""

    seq: int = Field(description="its position in the order records were stored")
    id: str
    reason: str


class Head(_Out):
    """The newest record checked: write its hash down, and pass it as ``anchor`` to a later verify."""

    seq: int
    hash: str | None


class VerifyReport(_Out):
    """The records checked against their hash chain, and the database's append-only guards."""

    ok: bool
    checked: int = Field(description="records checked (the caller's clinic's, or every record for an admin key)")
    mismatches: int = Field(description="records that do not match")
    first_mismatch: Mismatch | None
    head: Head | None
    anchor_found: bool | None = Field(description="whether the anchor given is still in the chain (null: none given)")
    missing_guards: list[str] = Field(description="append-only triggers missing or disabled in the database")


class RuleSummary(_Out):
    """A rule of the loaded ruleset."""

    id: str
    title: str
    classification: str
    verdict: str
    unknown: str
    scope: str
    topic: str
    summary: str


class Scenario(_Out):
    """A Gherkin scenario that exercises a rule."""

    file: str
    line: int
    title: str


class RuleDetail(RuleSummary):
    """A rule in full: condition, facts read, policy, advice, sources and scenarios."""

    file: str
    condition: str
    reads: list[str]
    policy: dict[str, str | float]
    detail: str
    modifications: list[str]
    references: list[dict[str, str]]
    body_model: list[str]
    scenarios: list[Scenario]


def _finding_key(f: dict[str, Any]) -> str:
    where = ""
    if f.get("site"):
        where = "@" + str(f["site"]["id"])
    elif f.get("circuit"):
        where = "@" + "-".join(f["circuit"])
    return f"{f['rule_id']}:{f['status']}{where}"


def _change(before: Any, after: Any) -> dict[str, Any] | None:
    return None if before == after else {"before": before, "after": after}


def diff_results(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """What changed between two results (as JSON data) of the same intake."""
    old_f = {_finding_key(f) for f in old["findings"]}
    new_f = {_finding_key(f) for f in new["findings"]}
    old_m = {m["fact"] for m in old["missing"]}
    new_m = {m["fact"] for m in new["missing"]}
    names = sorted(set(old["policy"]) | set(new["policy"]))
    policy = {
        n: {"before": old["policy"].get(n), "after": new["policy"].get(n)}
        for n in names
        if old["policy"].get(n) != new["policy"].get(n)
    }
    out: dict[str, Any] = {
        "verdict": _change(old["verdict"], new["verdict"]),
        "ruleset_revision": _change(old["ruleset"]["revision"], new["ruleset"]["revision"]),
        "content_hash": _change(old["ruleset"]["content_hash"], new["ruleset"]["content_hash"]),
        "engine": _change(old["engine"], new["engine"]),
        "policy": policy,
        "findings_added": sorted(new_f - old_f),
        "findings_removed": sorted(old_f - new_f),
        "missing_added": sorted(new_m - old_m),
        "missing_removed": sorted(old_m - new_m),
    }
    out["changed"] = any(out.values())
    return out
