"""routing and the SLA clock: owners, handoff events, timers on the database

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("reps") as batch:
        batch.add_column(sa.Column("role", sa.String(20), nullable=False, server_default="rep"))
        batch.add_column(
            sa.Column("away", sa.Boolean(), nullable=False, server_default=sa.text("false"))
        )
        batch.add_column(sa.Column("away_until", _TS, nullable=True))
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("team", sa.String(100), nullable=True))
        batch.create_foreign_key(op.f("fk_leads_owner_id_reps"), "reps", ["owner_id"], ["id"])
    with op.batch_alter_table("handoffs") as batch:
        batch.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("team", sa.String(100), nullable=True))
        batch.add_column(sa.Column("routed_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("notify_at", _TS, nullable=True))
        batch.add_column(sa.Column("notified_at", _TS, nullable=True))
        batch.add_column(sa.Column("due_at", _TS, nullable=True))
        batch.add_column(
            sa.Column("escalation_level", sa.Integer(), nullable=False, server_default="0")
        )
        batch.create_foreign_key(op.f("fk_handoffs_owner_id_reps"), "reps", ["owner_id"], ["id"])
        batch.create_index(op.f("ix_handoffs_owner_id"), ["owner_id"])
    op.create_table(
        "handoff_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("handoff_id", sa.Integer(), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("rep_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["handoff_id"], ["handoffs.id"], name=op.f("fk_handoff_events_handoff_id_handoffs")
        ),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["reps.id"], name=op.f("fk_handoff_events_actor_id_reps")
        ),
        sa.ForeignKeyConstraint(
            ["rep_id"], ["reps.id"], name=op.f("fk_handoff_events_rep_id_reps")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoff_events")),
    )
    op.create_index("ix_handoff_events_handoff", "handoff_events", ["handoff_id", "id"])
    op.create_table(
        "timers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("due_at", _TS, nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("done_at", _TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timers")),
        sa.UniqueConstraint("key", name=op.f("uq_timers_key")),
    )
    op.create_index("ix_timers_due", "timers", ["status", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_timers_due", table_name="timers")
    op.drop_table("timers")
    op.drop_index("ix_handoff_events_handoff", table_name="handoff_events")
    op.drop_table("handoff_events")
    with op.batch_alter_table("handoffs") as batch:
        batch.drop_index(op.f("ix_handoffs_owner_id"))
        batch.drop_constraint(op.f("fk_handoffs_owner_id_reps"), type_="foreignkey")
        for column in (
            "escalation_level",
            "due_at",
            "notified_at",
            "notify_at",
            "routed_by",
            "team",
            "owner_id",
        ):
            batch.drop_column(column)
    with op.batch_alter_table("leads") as batch:
        batch.drop_constraint(op.f("fk_leads_owner_id_reps"), type_="foreignkey")
        batch.drop_column("team")
        batch.drop_column("owner_id")
    with op.batch_alter_table("reps") as batch:
        batch.drop_column("away_until")
        batch.drop_column("away")
        batch.drop_column("role")
