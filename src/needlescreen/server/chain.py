"""The hash chain over the screening records: each record seals its content and the seal of the record before it.

A record's seal (``record_hash``) is the SHA-256 of a canonical JSON document (UTF-8, keys sorted, no whitespace:
what ``json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` writes) holding every stored
value of the record (the intake as screened, the result as returned, the record metadata, who stored it and for
which clinic, what it re-screened and what changed) and the seal of the record before it (``prev_hash``; the first
record follows :data:`GENESIS`). Records are sealed in the order they are stored (``seq``), one writer at a time.

So a record changed after it was stored no longer matches its seal, and a record removed, inserted or re-sealed
breaks the link of the record after it. :func:`verify` walks the records in order and reports the first that does
not match. What the chain cannot show alone: the removal of the newest records (compare the head with one written
down earlier, see ``anchor``) or a chain rebuilt from some record on by someone who recomputes every later seal.

The canonical form is version 1 and must never change: a stored seal is checked against it for as long as the
record is kept (``tests/test_server_chain.py`` holds a fixed example).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["GENESIS", "SEALED_FIELDS", "ChainReport", "Mismatch", "seal", "verify"]

#: The ``prev_hash`` of the first record.
GENESIS = "0" * 64
#: The stored values a seal covers, in the canonical document's order (keys are sorted there anyway).
SEALED_FIELDS = (
    "id",
    "created_at",
    "submitted_by",
    "tenant",
    "patient_ref",
    "clinician",
    "clinic",
    "encounter_date",
    "verdict",
    "technique",
    "ruleset_name",
    "ruleset_revision",
    "ruleset_hash",
    "policy_source",
    "engine",
    "package_version",
    "previous_id",
    "intake_json",
    "result_json",
    "changes_json",
)


def _canonical(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        # SQLite hands back naive datetimes; every stored time is UTC.
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def seal(values: Mapping[Any, Any], prev_hash: str) -> str:
    """The seal of one record's stored values following the record sealed ``prev_hash``."""
    document = {name: _canonical(values[name]) for name in SEALED_FIELDS}
    document["v"] = 1
    document["prev_hash"] = prev_hash
    # orjson writes exactly the canonical form for these values (text, null and one integer), three times faster.
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A record that does not match: its position, its id and why."""

    seq: int
    id: str
    reason: str


@dataclass(slots=True)
class ChainReport:
    """What :func:`verify` found: records checked, the first that does not match, the newest checked, the anchor."""

    checked: int = 0
    mismatches: int = 0
    first: Mismatch | None = None
    head_seq: int | None = None
    head_hash: str | None = None
    anchor_found: bool | None = None
    missing_guards: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every record checked matches, the anchor (if given) is in the chain and every guard is in place."""
        return self.mismatches == 0 and self.anchor_found is not False and not self.missing_guards

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON data (the endpoint's body and ``records verify --format json``)."""
        first = self.first
        return {
            "ok": self.ok,
            "checked": self.checked,
            "mismatches": self.mismatches,
            "first_mismatch": None if first is None else {"seq": first.seq, "id": first.id, "reason": first.reason},
            "head": None if self.head_seq is None else {"seq": self.head_seq, "hash": self.head_hash},
            "anchor_found": self.anchor_found,
            "missing_guards": list(self.missing_guards),
        }


def verify(rows: Iterable[Mapping[Any, Any]], *, scope: str | None = None, anchor: str | None = None) -> ChainReport:
    """Check records given in ``seq`` order (mappings with ``seq``, ``prev_hash``, ``record_hash``, the sealed values).

    Args:
        rows: every record, in order (a row outside ``scope`` still carries its seal, which links the next record).
        scope: check only the records of this clinic (``tenant``); None checks every record.
        anchor: a head seal written down earlier; the report says whether the records checked still hold it.
    """
    report = ChainReport(anchor_found=None if anchor is None else False)
    previous = GENESIS
    for row in rows:
        stored = row["record_hash"]
        if scope is None or row["tenant"] == scope:
            report.checked += 1
            report.head_seq, report.head_hash = int(row["seq"]), stored
            if anchor is not None and stored == anchor:
                report.anchor_found = True
            reason = None
            if not stored or not row["prev_hash"]:
                reason = "the record carries no seal"
            elif row["prev_hash"] != previous:
                reason = "the link to the record before it is broken (a record was removed, inserted or re-sealed)"
            elif seal(row, row["prev_hash"]) != stored:
                reason = "the record's content does not match its seal (it was changed after it was stored)"
            if reason is not None:
                report.mismatches += 1
                if report.first is None:
                    report.first = Mismatch(int(row["seq"]), str(row["id"]), reason)
        previous = stored or ""
    return report
