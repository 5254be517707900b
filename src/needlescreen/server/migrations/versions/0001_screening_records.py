"""The screening records table, append-only (triggers refuse UPDATE and DELETE).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_PG_FUNCTION = """
CREATE FUNCTION needlescreen_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'screening records are append-only: a correction is a new record';
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "screening_records",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_by", sa.String(64), nullable=False),
        sa.Column("patient_ref", sa.String(64)),
        sa.Column("clinician", sa.String(200)),
        sa.Column("clinic", sa.String(200)),
        sa.Column("encounter_date", sa.Date()),
        sa.Column("verdict", sa.String(8), nullable=False),
        sa.Column("technique", sa.String(16), nullable=False),
        sa.Column("ruleset_name", sa.String(200), nullable=False),
        sa.Column("ruleset_revision", sa.String(64), nullable=False),
        sa.Column("ruleset_hash", sa.String(64), nullable=False),
        sa.Column("policy_source", sa.String(500), nullable=False),
        sa.Column("engine", sa.String(16), nullable=False),
        sa.Column("package_version", sa.String(64), nullable=False),
        sa.Column("previous_id", sa.String(36), sa.ForeignKey("screening_records.id")),
        sa.Column("intake_json", sa.Text(), nullable=False),
        sa.Column("result_json", sa.Text(), nullable=False),
        sa.Column("changes_json", sa.Text()),
    )
    op.create_index("ix_screening_records_patient_ref", "screening_records", ["patient_ref", "seq"])
    op.create_index("ix_screening_records_verdict", "screening_records", ["verdict", "seq"])
    op.create_index("ix_screening_records_created_at", "screening_records", ["created_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER screening_records_append_only BEFORE UPDATE OR DELETE ON screening_records "
            "FOR EACH ROW EXECUTE FUNCTION needlescreen_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER screening_records_no_{action.lower()} BEFORE {action} ON screening_records "
                "BEGIN SELECT RAISE(ABORT, 'screening records are append-only: a correction is a new record'); END"
            )


def downgrade() -> None:
    op.drop_table("screening_records")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS needlescreen_append_only()")
