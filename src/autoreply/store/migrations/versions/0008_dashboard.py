"""dashboard: the handoff facts the dashboard counts, and the indexes of its date range

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "handoff_facts",
        sa.Column("handoff_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("computed_from", _TS, nullable=False),
        sa.Column("contacted_at", _TS, nullable=True),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("campaign", sa.String(300), nullable=False),
        sa.Column("in_hours", sa.Boolean(), nullable=False),
        sa.Column("bot_seconds", sa.Float(), nullable=True),
        sa.Column("contact_seconds", sa.Float(), nullable=True),
        sa.Column("cases_sent", sa.Integer(), nullable=False),
        sa.Column("cases_opened", sa.Integer(), nullable=False),
        sa.Column("pre_meeting_sent", sa.Boolean(), nullable=False),
        sa.Column("pre_meeting_viewed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("handoff_id", name=op.f("pk_handoff_facts")),
    )
    op.create_index(op.f("ix_handoffs_created_at"), "handoffs", ["created_at"])
    op.create_index(op.f("ix_conversations_created_at"), "conversations", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_conversations_created_at"), table_name="conversations")
    op.drop_index(op.f("ix_handoffs_created_at"), table_name="handoffs")
    op.drop_table("handoff_facts")
