"""CDS Hooks cards as issued and the clinician's feedback on them, beside the screening records.

Each card a hook call answers with is stored (its uuid, the decision id of the screening record it came from,
the rule, the indicator and its suggestions' uuids), so feedback on a card lands beside the record of the
screening that produced it. Both tables are append-only (database triggers, migration ``0003_cds_feedback``); feedback
on a card never changes the card, it adds a row. Tables are SQLAlchemy Core over the service's own engine.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import BigInteger, Column, DateTime, Engine, Integer, MetaData, String, Table, Text, insert, select

from .cdshooks import Card, Feedback

__all__ = ["CARDS", "FEEDBACK", "FeedbackStore", "UnknownCard"]

_META = MetaData()
CARDS = Table(
    "cds_cards",
    _META,
    Column("card_uuid", String(36), primary_key=True),
    Column("decision_id", String(36), nullable=False),
    Column("service_id", String(64), nullable=False),
    Column("hook_instance", String(200), nullable=False),
    Column("rule_id", String(64)),
    Column("indicator", String(16), nullable=False),
    Column("suggestions", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
FEEDBACK = Table(
    "cds_feedback",
    _META,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("card_uuid", String(36), nullable=False),
    Column("decision_id", String(36), nullable=False),
    Column("service_id", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("accepted_suggestions", Text),
    Column("override_system", String(200)),
    Column("override_code", String(100)),
    Column("override_display", String(200)),
    Column("user_comment", Text),
    Column("outcome_timestamp", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("submitted_by", String(64), nullable=False),
)


class UnknownCard(LookupError):
    """Feedback names a card this service did not issue (or a suggestion the card did not carry)."""

    def __init__(self, index: int, message: str) -> None:
        self.index = index
        super().__init__(message)


class FeedbackStore:
    """Appends issued cards and feedback through the service's database engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # SQLite takes one writer at a time: threads of a worker queue here rather than in SQLite's busy sleep.
        self._lock = threading.Lock()

    def add_cards(
        self, decision_id: str, service_id: str, hook_instance: str, cards: Sequence[Card], rules: Sequence[str | None]
    ) -> None:
        """Record the cards of one hook call (committed before the response is sent)."""
        if not cards:
            return
        now = dt.datetime.now(dt.UTC)
        rows = [
            {
                "card_uuid": card.uuid,
                "decision_id": decision_id,
                "service_id": service_id,
                "hook_instance": hook_instance,
                "rule_id": rule,
                "indicator": card.indicator,
                "suggestions": orjson.dumps([s.uuid for s in card.suggestions or ()]).decode(),
                "created_at": now,
            }
            for card, rule in zip(cards, rules, strict=True)
        ]
        with self._lock, self.engine.begin() as conn:
            conn.execute(insert(CARDS), rows)

    def add_feedback(self, service_id: str, items: Sequence[Feedback], submitted_by: str) -> list[dict[str, Any]]:
        """Append the feedback rows; every card (and accepted suggestion) must be one this service issued.

        Raises:
            UnknownCard: feedback on a card or suggestion not issued by this service (nothing is stored).
        """
        now = dt.datetime.now(dt.UTC)
        with self.engine.connect() as conn:
            known = {
                r.card_uuid: r
                for r in conn.execute(select(CARDS).where(CARDS.c.card_uuid.in_([f.card for f in items])))
            }
        rows = []
        for i, f in enumerate(items):
            card = known.get(f.card)
            if card is None or card.service_id != service_id:
                raise UnknownCard(i, f"card {f.card!r} was not issued by service {service_id!r}")
            offered = set(orjson.loads(card.suggestions))
            accepted = [a.id for a in f.acceptedSuggestions or ()]
            if f.outcome == "accepted" and not accepted:
                raise UnknownCard(i, "an accepted outcome names its acceptedSuggestions")
            if any(a not in offered for a in accepted):
                raise UnknownCard(i, "an accepted suggestion is not one of this card's suggestions")
            reason = f.overrideReason
            coding = reason.reason if reason else None
            rows.append(
                {
                    "card_uuid": f.card,
                    "decision_id": card.decision_id,
                    "service_id": service_id,
                    "outcome": f.outcome,
                    "accepted_suggestions": orjson.dumps(accepted).decode() if accepted else None,
                    "override_system": coding.system if coding else None,
                    "override_code": coding.code if coding else None,
                    "override_display": coding.display if coding else None,
                    "user_comment": reason.userComment if reason else None,
                    "outcome_timestamp": f.outcomeTimestamp,
                    "received_at": now,
                    "submitted_by": submitted_by,
                }
            )
        with self._lock, self.engine.begin() as conn:
            conn.execute(insert(FEEDBACK), rows)
        return rows

    def feedback_for(self, decision_id: str) -> list[dict[str, Any]]:
        """The feedback stored beside one screening record, oldest first."""
        query = select(FEEDBACK).where(FEEDBACK.c.decision_id == decision_id).order_by(FEEDBACK.c.seq)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def cards_for(self, decision_id: str) -> list[dict[str, Any]]:
        """The cards issued for one screening record."""
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(CARDS).where(CARDS.c.decision_id == decision_id))]
