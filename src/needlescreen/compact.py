"""The compact result: what a list of screenings needs per row, in about a tenth of the full result's bytes.

A full :class:`~needlescreen.result.ScreeningResult` repeats each rule's title, summary, detail, advice and
sources for every patient it fires for (3 to 25 KB a row). A day's list, a re-screened population or an
impact report needs the decision, not the prose: the verdict, each site's verdict, which rules fired and
which could not be decided, what is unknown, and the stamp that makes the decision reproducible. The prose
is one ``needlescreen rules show RULE_ID`` away, and the same intake screened again under the same ruleset
revision and hash gives the full result.

Nothing that keeps a screening from clear is dropped: every undecided rule is listed under ``unknown`` and
every missing fact under ``missing`` (unknown is not no), and a site's verdict is never better than the
rules that concern it. ``compact`` is a pure function over the full result, so the batch, the service and an
impact report give the same compact form for the same result.

The JSON shape (``needlescreen.compact/1``; its JSON Schema is ``docs/compact-result.schema.json``)::

    {"schema_version": "needlescreen.compact/1",
     "verdict": "refer", "technique": "electrical",
     "sites": [{"id": "s1", "verdict": "refer", "rules": ["ES_TRANSTHORACIC"]}, ...],
     "fired": {"ES_TRANSTHORACIC": "refer", "ANTICOAG_VKA": "caution"},
     "unknown": {"ACTIVE_CHEMO": "caution"},
     "missing": ["labs.inr", "meds.antineoplastic"],
     "unrecognised_medications": [],
     "ruleset": {"name": "needlescreen-core", "revision": "...", "content_hash": "..."},
     "policy_source": "defaults", "engine": "durable_rules",
     "decision_id": "...", "timestamp": "2026-11-02T09:14:03.120000Z"}
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .result import RulesetStamp, ScreeningResult, Verdict

__all__ = ["COMPACT_SCHEMA_VERSION", "CompactResult", "CompactSite", "compact"]

COMPACT_SCHEMA_VERSION: Literal["needlescreen.compact/1"] = "needlescreen.compact/1"
#: Findings that concern the whole patient (and so every site) rather than one site or lead pair.
_WHOLE_PATIENT = frozenset({"patient", "electrical"})


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CompactSite(_Out):
    """One planned site: its verdict and the rules that concern this site alone."""

    id: str
    verdict: Verdict = Field(description="the worst of this site's own rules and every whole-patient rule")
    rules: tuple[str, ...] = Field(
        description="rules about this site or a lead pair it is in (whole-patient rules concern every site and "
        "are listed only under fired/unknown)"
    )


class CompactResult(_Out):
    """A screening's decision without its prose: verdicts, rule ids, unknowns and the ruleset stamp."""

    schema_version: Literal["needlescreen.compact/1"] = COMPACT_SCHEMA_VERSION
    verdict: Verdict
    technique: Literal["dry_needling", "electrical"]
    sites: tuple[CompactSite, ...]
    fired: dict[str, Literal["caution", "refer"]] = Field(
        description="rules whose condition holds, with the verdict each gives, worst first"
    )
    unknown: dict[str, Literal["caution", "refer"]] = Field(
        description="rules that could not be decided for lack of information, with the verdict that gives"
    )
    missing: tuple[str, ...] = Field(
        description="the unknown facts those rules need (the full result's missing[].fact)"
    )
    unrecognised_medications: tuple[str, ...]
    ruleset: RulesetStamp
    policy_source: str
    engine: Literal["durable_rules", "plain"]
    decision_id: str
    timestamp: datetime


def compact(result: ScreeningResult) -> CompactResult:
    """The compact form of a full result (pure: the same result always gives the same compact form)."""
    fired: dict[str, Literal["caution", "refer"]] = {}
    unknown: dict[str, Literal["caution", "refer"]] = {}
    whole_patient: set[str] = set()
    # Findings come worst first, so each map keeps that order; a rule firing at two sites is one entry.
    for f in result.findings:
        (fired if f.status == "fired" else unknown).setdefault(f.rule_id, f.verdict)
        if f.scope in _WHOLE_PATIENT:
            whole_patient.add(f.rule_id)
    return CompactResult(
        verdict=result.verdict,
        technique=result.technique,
        sites=tuple(
            CompactSite(id=s.site.id, verdict=s.verdict, rules=tuple(r for r in s.rules if r not in whole_patient))
            for s in result.sites
        ),
        fired=fired,
        unknown=unknown,
        missing=tuple(m.fact for m in result.missing),
        unrecognised_medications=result.unrecognised_medications,
        ruleset=result.ruleset,
        policy_source=result.policy_source,
        engine=result.engine,
        decision_id=result.decision_id,
        timestamp=result.timestamp,
    )
