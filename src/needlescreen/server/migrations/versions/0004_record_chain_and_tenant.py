"""Records carry their clinic (tenant) and a seal chained to the record before; no insert may replace a record
(SQLite) and TRUNCATE is refused (PostgreSQL).

Records stored before this migration are sealed by it, in their order, so that the chain covers them from here on.
That needs an UPDATE of each, which the append-only trigger refuses: it is lifted for the backfill only, inside
this migration's transaction, and restored before the transaction commits.

Revision ID: 0004_record_chain
Revises: 0003_cds_feedback
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from needlescreen.server.chain import GENESIS, SEALED_FIELDS, seal

revision = "0004_record_chain"
down_revision = "0003_cds_feedback"
branch_labels = None
depends_on = None

_MESSAGE = "screening records are append-only: a correction is a new record"


_TYPES: dict[str, sa.types.TypeEngine[Any]] = {"created_at": sa.DateTime(timezone=True), "encounter_date": sa.Date()}
# The table as this revision knows it, typed so that times and dates read back as the service reads them.
_RECORDS = sa.table(
    "screening_records",
    sa.column("seq", sa.Integer()),
    *(sa.column(name, _TYPES.get(name, sa.Text())) for name in SEALED_FIELDS),
)


def _seal_existing(bind: sa.Connection) -> None:
    rows = bind.execute(sa.select(_RECORDS).order_by(_RECORDS.c.seq)).mappings().all()
    previous = GENESIS
    for row in rows:
        record_hash = seal(dict(row), previous)
        bind.execute(
            sa.text("UPDATE screening_records SET prev_hash = :p, record_hash = :h WHERE seq = :s"),
            {"p": previous, "h": record_hash, "s": row["seq"]},
        )
        previous = record_hash


def upgrade() -> None:
    bind = op.get_bind()
    for name, length in (("tenant", 64), ("prev_hash", 64), ("record_hash", 64)):
        op.add_column("screening_records", sa.Column(name, sa.String(length)))
    op.create_index("ix_screening_records_tenant", "screening_records", ["tenant", "seq"])
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE screening_records DISABLE TRIGGER screening_records_append_only")
        _seal_existing(bind)
        op.execute("ALTER TABLE screening_records ENABLE TRIGGER screening_records_append_only")
        op.execute(
            "CREATE TRIGGER screening_records_no_truncate BEFORE TRUNCATE ON screening_records "
            "FOR EACH STATEMENT EXECUTE FUNCTION needlescreen_append_only()"
        )
    else:
        op.execute("DROP TRIGGER screening_records_no_update")
        _seal_existing(bind)
        op.execute(
            "CREATE TRIGGER screening_records_no_update BEFORE UPDATE ON screening_records "
            f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
        )
        # INSERT OR REPLACE (and REPLACE INTO) delete the row they replace without firing a DELETE trigger (unless
        # recursive triggers are on, which no other client need have): refuse the insert itself.
        op.execute(
            "CREATE TRIGGER screening_records_no_replace BEFORE INSERT ON screening_records "
            "WHEN EXISTS (SELECT 1 FROM screening_records WHERE seq = NEW.seq) "
            "OR EXISTS (SELECT 1 FROM screening_records WHERE id = NEW.id) "
            f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER screening_records_no_truncate ON screening_records")
    else:
        op.execute("DROP TRIGGER screening_records_no_replace")
    op.drop_index("ix_screening_records_tenant", "screening_records")
    for name in ("record_hash", "prev_hash", "tenant"):
        # A plain ALTER TABLE on SQLite too (3.35+): a batch rebuild would drop the append-only triggers.
        op.execute(f"ALTER TABLE screening_records DROP COLUMN {name}")
