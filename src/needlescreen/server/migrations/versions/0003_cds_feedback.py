"""CDS Hooks cards as issued and the feedback on them, beside the screening records (append-only).

Revision ID: 0003_cds_feedback
Revises: 0002_web_drafts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_cds_feedback"
down_revision = "0002_web_drafts"
branch_labels = None
depends_on = None

_TABLES = ("cds_cards", "cds_feedback")


def upgrade() -> None:
    op.create_table(
        "cds_cards",
        sa.Column("card_uuid", sa.String(36), primary_key=True),
        sa.Column("decision_id", sa.String(36), sa.ForeignKey("screening_records.id"), nullable=False),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("hook_instance", sa.String(200), nullable=False),
        sa.Column("rule_id", sa.String(64)),
        sa.Column("indicator", sa.String(16), nullable=False),
        sa.Column("suggestions", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_cds_cards_decision_id", "cds_cards", ["decision_id"])
    op.create_table(
        "cds_feedback",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("card_uuid", sa.String(36), sa.ForeignKey("cds_cards.card_uuid"), nullable=False),
        sa.Column("decision_id", sa.String(36), sa.ForeignKey("screening_records.id"), nullable=False),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("accepted_suggestions", sa.Text()),
        sa.Column("override_system", sa.String(200)),
        sa.Column("override_code", sa.String(100)),
        sa.Column("override_display", sa.String(200)),
        sa.Column("user_comment", sa.Text()),
        sa.Column("outcome_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_by", sa.String(64), nullable=False),
    )
    op.create_index("ix_cds_feedback_decision_id", "cds_feedback", ["decision_id", "seq"])
    if op.get_bind().dialect.name == "postgresql":
        # needlescreen_append_only() is created by revision 0001.
        for table in _TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION needlescreen_append_only()"
            )
    else:
        for table in _TABLES:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: feedback is a new row'); END"
                )


def downgrade() -> None:
    op.drop_table("cds_feedback")
    op.drop_table("cds_cards")
