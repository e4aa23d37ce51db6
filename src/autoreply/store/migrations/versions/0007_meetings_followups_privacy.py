"""meeting outcomes and invite revisions, 0.5次商談 fields, follow-up tasks, consent,
server-side rep sessions, the privacy log

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("consent_at", _TS, nullable=True))
        batch.add_column(sa.Column("consent_version", sa.String(40), nullable=True))
    with op.batch_alter_table("handoffs") as batch:
        batch.add_column(sa.Column("qualified_at", _TS, nullable=True))
        batch.add_column(sa.Column("qualified_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("qualification", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("qualified", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("aged_at", _TS, nullable=True))
        batch.create_foreign_key(
            op.f("fk_handoffs_qualified_by_reps"), "reps", ["qualified_by"], ["id"]
        )
    with op.batch_alter_table("bookings") as batch:
        batch.add_column(sa.Column("sequence", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("outcome", sa.String(20), nullable=True))
        batch.add_column(sa.Column("outcome_at", _TS, nullable=True))
        batch.add_column(sa.Column("outcome_by", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("rescheduled_from_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_bookings_outcome_by_reps"), "reps", ["outcome_by"], ["id"]
        )
        batch.create_foreign_key(
            op.f("fk_bookings_rescheduled_from_id_bookings"),
            "bookings",
            ["rescheduled_from_id"],
            ["id"],
        )
    op.create_table(
        "follow_ups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("handoff_id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("rule", sa.String(100), nullable=True),
        sa.Column("due_at", _TS, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("done_at", _TS, nullable=True),
        sa.Column("done_by", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["handoff_id"], ["handoffs.id"], name=op.f("fk_follow_ups_handoff_id_handoffs")
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_follow_ups_lead_id_leads")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["reps.id"], name=op.f("fk_follow_ups_owner_id_reps")
        ),
        sa.ForeignKeyConstraint(["done_by"], ["reps.id"], name=op.f("fk_follow_ups_done_by_reps")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_ups")),
    )
    op.create_index("ix_follow_ups_open", "follow_ups", ["status", "due_at"])
    op.create_index("ix_follow_ups_handoff", "follow_ups", ["handoff_id", "id"])
    op.create_index(op.f("ix_follow_ups_lead_id"), "follow_ups", ["lead_id"])
    op.create_table(
        "rep_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("rep_id", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("revoked_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(["rep_id"], ["reps.id"], name=op.f("fk_rep_sessions_rep_id_reps")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rep_sessions")),
    )
    op.create_index(op.f("ix_rep_sessions_rep_id"), "rep_sessions", ["rep_id"])
    op.create_table(
        "privacy_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_log")),
    )


def downgrade() -> None:
    op.drop_table("privacy_log")
    op.drop_index(op.f("ix_rep_sessions_rep_id"), table_name="rep_sessions")
    op.drop_table("rep_sessions")
    op.drop_index(op.f("ix_follow_ups_lead_id"), table_name="follow_ups")
    op.drop_index("ix_follow_ups_handoff", table_name="follow_ups")
    op.drop_index("ix_follow_ups_open", table_name="follow_ups")
    op.drop_table("follow_ups")
    with op.batch_alter_table("bookings") as batch:
        batch.drop_constraint(op.f("fk_bookings_rescheduled_from_id_bookings"), type_="foreignkey")
        batch.drop_constraint(op.f("fk_bookings_outcome_by_reps"), type_="foreignkey")
        for column in ("rescheduled_from_id", "outcome_by", "outcome_at", "outcome", "sequence"):
            batch.drop_column(column)
    with op.batch_alter_table("handoffs") as batch:
        batch.drop_constraint(op.f("fk_handoffs_qualified_by_reps"), type_="foreignkey")
        for column in ("aged_at", "qualified", "qualification", "qualified_by", "qualified_at"):
            batch.drop_column(column)
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("consent_version")
        batch.drop_column("consent_at")
