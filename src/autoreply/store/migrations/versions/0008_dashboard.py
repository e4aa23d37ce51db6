"""dashboard: the handoff facts the dashboard counts, and the indexes it reads

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
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("contacted_at", _TS, nullable=True),
        sa.Column("contacted_by", sa.Integer(), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("team", sa.String(100), nullable=True),
        sa.Column("due_at", _TS, nullable=True),
        sa.Column("qualified_at", _TS, nullable=True),
        sa.Column("qualified", sa.Boolean(), nullable=True),
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
    op.create_index("ix_handoff_facts_created_at", "handoff_facts", ["created_at"])
    op.create_index(
        "ix_handoffs_dashboard",
        "handoffs",
        ["created_at", "updated_at", "contacted_at", "qualified_at", "qualified"],
    )
    op.create_index("ix_bookings_dashboard", "bookings", ["conversation_id", "status", "outcome"])
    op.create_index(
        "ix_conversations_dashboard", "conversations", ["created_at", "channel", "lead_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_dashboard", table_name="conversations")
    op.drop_index("ix_bookings_dashboard", table_name="bookings")
    op.drop_index("ix_handoffs_dashboard", table_name="handoffs")
    op.drop_table("handoff_facts")
