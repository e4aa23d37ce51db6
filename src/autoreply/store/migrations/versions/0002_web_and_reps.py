"""web chat tokens, rep logins and API tokens, booking cancel links, who contacted

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reps") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("api_token_hash", sa.String(length=64), nullable=True))
        batch.create_unique_constraint(op.f("uq_reps_api_token_hash"), ["api_token_hash"])
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("token_hash", sa.String(length=64), nullable=True))
    with op.batch_alter_table("handoffs") as batch:
        batch.add_column(sa.Column("contacted_by", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_handoffs_contacted_by_reps"), "reps", ["contacted_by"], ["id"]
        )
    with op.batch_alter_table("bookings") as batch:
        batch.add_column(sa.Column("cancel_token_hash", sa.String(length=64), nullable=True))
        batch.create_unique_constraint(op.f("uq_bookings_cancel_token_hash"), ["cancel_token_hash"])


def downgrade() -> None:
    with op.batch_alter_table("bookings") as batch:
        batch.drop_constraint(op.f("uq_bookings_cancel_token_hash"), type_="unique")
        batch.drop_column("cancel_token_hash")
    with op.batch_alter_table("handoffs") as batch:
        batch.drop_constraint(op.f("fk_handoffs_contacted_by_reps"), type_="foreignkey")
        batch.drop_column("contacted_by")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("token_hash")
    with op.batch_alter_table("reps") as batch:
        batch.drop_constraint(op.f("uq_reps_api_token_hash"), type_="unique")
        batch.drop_column("api_token_hash")
        batch.drop_column("password_hash")
