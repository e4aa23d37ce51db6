"""Alembic environment: runs on the connection the caller hands over (async engines)."""

from __future__ import annotations

from alembic import context

from autoreply.store.models import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - always called through autoreply.store.db
    raise RuntimeError("run migrations with `autoreply db upgrade`")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
