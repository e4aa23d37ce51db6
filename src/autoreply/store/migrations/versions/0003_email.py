"""form submissions, outbox claims, undeliverable email on leads, inbound event attempts

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "form_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("form_id", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duplicate_of_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_form_submissions_conversation_id_conversations"),
        ),
        sa.ForeignKeyConstraint(
            ["duplicate_of_id"],
            ["form_submissions.id"],
            name=op.f("fk_form_submissions_duplicate_of_id_form_submissions"),
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_form_submissions_lead_id_leads")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_form_submissions")),
    )
    op.create_index(
        "ix_form_submissions_recent",
        "form_submissions",
        ["form_id", "email", "received_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_form_submissions_lead_id"), "form_submissions", ["lead_id"], unique=False
    )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("email_failed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("email_error", sa.Text(), nullable=True))
    with op.batch_alter_table("inbound_events") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=True))
    op.create_index(
        "ix_inbound_events_pending", "inbound_events", ["source", "processed_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_inbound_events_pending", table_name="inbound_events")
    with op.batch_alter_table("inbound_events") as batch:
        batch.drop_column("last_error")
        batch.drop_column("attempts")
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("email_error")
        batch.drop_column("email_failed_at")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("claimed_until")
    op.drop_index(op.f("ix_form_submissions_lead_id"), table_name="form_submissions")
    op.drop_index("ix_form_submissions_recent", table_name="form_submissions")
    op.drop_table("form_submissions")
