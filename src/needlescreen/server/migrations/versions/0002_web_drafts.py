"""Drafts of the web form (needlescreen.web.drafts): working copies, replaced on save and deletable.

Revision ID: 0002_web_drafts
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_web_drafts"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_drafts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("label", sa.String(200)),
        sa.Column("answers_json", sa.Text(), nullable=False),
    )
    op.create_index("ix_web_drafts_owner", "web_drafts", ["owner", "updated_at"])


def downgrade() -> None:
    op.drop_table("web_drafts")
