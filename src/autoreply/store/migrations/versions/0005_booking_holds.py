"""booking holds: a tapped slot is held until the lead's details are complete

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_OLD = sa.text("status = 'confirmed'")
_NEW = sa.text("status IN ('confirmed', 'held')")


def upgrade() -> None:
    with op.batch_alter_table("bookings") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.drop_index("uq_bookings_rep_start_active", sqlite_where=_OLD, postgresql_where=_OLD)
        batch.create_index(
            "uq_bookings_rep_start_active",
            ["rep_id", "start_at"],
            unique=True,
            sqlite_where=_NEW,
            postgresql_where=_NEW,
        )
        batch.create_index("ix_bookings_conversation_status", ["conversation_id", "status"])


def downgrade() -> None:
    # Holds are not bookings: they go, so that the old index (confirmed only) applies.
    op.execute("DELETE FROM bookings WHERE status = 'held'")
    with op.batch_alter_table("bookings") as batch:
        batch.drop_index("ix_bookings_conversation_status")
        batch.drop_index("uq_bookings_rep_start_active", sqlite_where=_NEW, postgresql_where=_NEW)
        batch.create_index(
            "uq_bookings_rep_start_active",
            ["rep_id", "start_at"],
            unique=True,
            sqlite_where=_OLD,
            postgresql_where=_OLD,
        )
        batch.drop_column("expires_at")
