"""Drafts: a screening in progress kept on the server, so it can be resumed on another device or after a break.

A draft is the form's raw answers (what was typed and chosen, as the form posts them), who saved it and when.
Unlike screening records, drafts are working copies: saving again replaces the answers, and a draft can be
deleted. A principal sees only its own drafts. The table is created by the migration
``web_drafts`` in ``needlescreen/server/migrations/versions``.

A draft can also be handed to whoever opens a link (:meth:`Drafts.hand_off`, :meth:`Drafts.claim`): the CDS Hooks
service prefills one from the chart for the clinician, who is not known when the EHR calls. Until it is opened,
the draft belongs to no principal: its owner is ``handoff:`` and the SHA-256 of the link's token, a random
256-bit value that is never stored. The first principal to open the link within :data:`HANDOFF_SECONDS` becomes
its owner; the link then opens nothing more.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, delete, insert, select, update

from needlescreen.server.store import Store

__all__ = ["CHART_NOTE", "DRAFTS", "HANDOFF_SECONDS", "LINK_PATH", "Draft", "Drafts"]

_METADATA = MetaData()
#: The drafts table (its schema is the migration's; this is how the web reads and writes it).
DRAFTS = Table(
    "web_drafts",
    _METADATA,
    Column("id", String(36), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("label", String(200)),
    Column("answers_json", Text, nullable=False),
)
MAX_DRAFT_BYTES = 64 * 1024
#: How long a handed-off draft's link opens it: for the visit being booked or ordered (the chart may change), and
#: as long as the longest CDS Hooks JWT lives.
HANDOFF_SECONDS = 3600
_HANDOFF = "handoff:"
#: The web route that opens a handed-off draft (the link's token is its only part).
LINK_PATH = "/from-chart/{token}"
#: The draft field (JSON) saying which answers of a draft prefilled from the chart came from it, and from where.
CHART_NOTE = "c.chart"


def _pending(token: str) -> str:
    """The owner of a draft not opened yet: the token's digest (the owner column holds 64 characters)."""
    return _HANDOFF + hashlib.sha256(token.encode()).hexdigest()[: 64 - len(_HANDOFF)]


@dataclass(frozen=True, slots=True)
class Draft:
    """One saved draft."""

    id: str
    owner: str
    created_at: dt.datetime
    updated_at: dt.datetime
    label: str | None
    answers: dict[str, str]


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _row(row: Any) -> Draft:
    return Draft(
        id=row.id,
        owner=row.owner,
        created_at=_utc(row.created_at),
        updated_at=_utc(row.updated_at),
        label=row.label,
        answers=orjson.loads(row.answers_json),
    )


class Drafts:
    """Drafts in the service's database (its engine and its SQLite write lock)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def save(
        self, owner: str, answers: dict[str, str], *, draft_id: str | None = None, label: str | None = None
    ) -> Draft:
        """Create a draft, or replace the answers of the owner's draft ``draft_id``.

        Raises:
            KeyError: ``draft_id`` is not a draft of this owner.
            ValueError: the answers are larger than a form could be.
        """
        body = orjson.dumps(answers).decode()
        if len(body) > MAX_DRAFT_BYTES:
            raise ValueError("the draft is too large")
        now = dt.datetime.now(dt.UTC)
        label = (label or "")[:200] or None
        with self.store._write_lock, self.store.engine.begin() as conn:
            if draft_id is None:
                draft_id = str(uuid.uuid4())
                conn.execute(
                    insert(DRAFTS),
                    {
                        "id": draft_id,
                        "owner": owner,
                        "created_at": now,
                        "updated_at": now,
                        "label": label,
                        "answers_json": body,
                    },
                )
            else:
                done = conn.execute(
                    update(DRAFTS)
                    .where(DRAFTS.c.id == draft_id, DRAFTS.c.owner == owner)
                    .values(updated_at=now, label=label, answers_json=body)
                )
                if done.rowcount != 1:
                    raise KeyError(draft_id)
        found = self.get(owner, draft_id)
        if found is None:  # pragma: no cover - written just above
            raise KeyError(draft_id)
        return found

    def get(self, owner: str, draft_id: str) -> Draft | None:
        """The owner's draft, or None (another principal's draft is not found either)."""
        with self.store.engine.connect() as conn:
            row = conn.execute(select(DRAFTS).where(DRAFTS.c.id == draft_id, DRAFTS.c.owner == owner)).first()
        return _row(row) if row is not None else None

    def list(self, owner: str, limit: int = 50) -> list[Draft]:
        """The owner's drafts, most recently saved first."""
        query = select(DRAFTS).where(DRAFTS.c.owner == owner).order_by(DRAFTS.c.updated_at.desc()).limit(limit)
        with self.store.engine.connect() as conn:
            return [_row(r) for r in conn.execute(query)]

    def delete(self, owner: str, draft_id: str) -> bool:
        """Delete the owner's draft; False when there was none."""
        with self.store._write_lock, self.store.engine.begin() as conn:
            done = conn.execute(delete(DRAFTS).where(DRAFTS.c.id == draft_id, DRAFTS.c.owner == owner))
        return bool(done.rowcount)

    def hand_off(self, answers: dict[str, str], *, label: str | None = None) -> str:
        """Keep a draft for whoever opens a link first, and return the link's token (URL-safe, no patient data).

        Handed-off drafts nobody opened in time are deleted here, so they do not pile up.

        Raises:
            ValueError: the answers are larger than a form could be.
        """
        body = orjson.dumps(answers).decode()
        if len(body) > MAX_DRAFT_BYTES:
            raise ValueError("the draft is too large")
        token = secrets.token_urlsafe(32)
        now = dt.datetime.now(dt.UTC)
        row = {"id": str(uuid.uuid4()), "owner": _pending(token), "created_at": now, "updated_at": now}
        with self.store._write_lock, self.store.engine.begin() as conn:
            cutoff = now - dt.timedelta(seconds=HANDOFF_SECONDS)
            conn.execute(delete(DRAFTS).where(DRAFTS.c.owner.startswith(_HANDOFF), DRAFTS.c.created_at < cutoff))
            conn.execute(insert(DRAFTS), {**row, "label": (label or "")[:200] or None, "answers_json": body})
        return token

    def claim(self, token: str, principal: str) -> Draft | None:
        """Give the draft behind a link to the principal opening it: once, within :data:`HANDOFF_SECONDS`.

        None for a token that is unknown, used already or expired (the three are not told apart).
        """
        if not 20 <= len(token) <= 100 or principal.startswith(_HANDOFF):
            return None
        owner = _pending(token)
        now = dt.datetime.now(dt.UTC)
        cutoff = now - dt.timedelta(seconds=HANDOFF_SECONDS)
        with self.store._write_lock, self.store.engine.begin() as conn:
            row = conn.execute(
                select(DRAFTS.c.id).where(DRAFTS.c.owner == owner, DRAFTS.c.created_at >= cutoff)
            ).first()
            if row is None:
                return None
            # Conditional on the owner still being the link's: of two workers opening it at once, one wins.
            done = conn.execute(
                update(DRAFTS)
                .where(DRAFTS.c.id == row.id, DRAFTS.c.owner == owner)
                .values(owner=principal, updated_at=now)
            )
            if done.rowcount != 1:
                return None
        return self.get(principal, row.id)
