"""Rate-limit counters: one row per (bucket, key, window), counted up atomically.

The increment is a single ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` on SQLite
and PostgreSQL alike: the row is created by the first hit of a window and counted up by
the others, and concurrent hits on one row queue on its lock (PostgreSQL) or on the
write lock (SQLite), so no two of them read the same count.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.store.models import RateCounter

__all__ = ["add_hit", "clear_counters", "counter_value", "hold_until", "prune_counters"]

_PRIMARY_KEY = ["bucket", "key", "window_start"]


def _insert(session: AsyncSession) -> Any:
    """The dialect's INSERT, which knows ``ON CONFLICT``."""
    name = session.get_bind().dialect.name
    return (postgresql.insert if name == "postgresql" else sqlite.insert)(RateCounter)


async def add_hit(
    session: AsyncSession,
    bucket: str,
    key: str,
    window_start: datetime,
    expires_at: datetime,
    *,
    below: int | None = None,
) -> int | None:
    """Count one hit in a window and return the window's new count; with ``below``, only
    while the count is below it (None, and nothing counted, once it is reached)."""
    statement = _insert(session).values(
        bucket=bucket, key=key, window_start=window_start, count=1, expires_at=expires_at
    )
    statement = statement.on_conflict_do_update(
        index_elements=_PRIMARY_KEY,
        set_={"count": RateCounter.count + 1},
        where=RateCounter.count < below if below is not None else None,
    ).returning(RateCounter.count)
    count = await session.scalar(statement)
    return None if count is None else int(count)


async def counter_value(
    session: AsyncSession, bucket: str, key: str, window_start: datetime
) -> int:
    """The count of one window (0 if nothing was counted in it)."""
    count = await session.scalar(
        select(RateCounter.count).where(
            RateCounter.bucket == bucket,
            RateCounter.key == key,
            RateCounter.window_start == window_start,
        )
    )
    return int(count or 0)


async def hold_until(
    session: AsyncSession, bucket: str, key: str, now: datetime
) -> datetime | None:
    """The end of the latest hold (a lockout row) of ``key`` still running at ``now``."""
    until = await session.scalar(
        select(func.max(RateCounter.expires_at)).where(
            RateCounter.bucket == bucket, RateCounter.key == key, RateCounter.expires_at > now
        )
    )
    return until if isinstance(until, datetime) else None


async def clear_counters(session: AsyncSession, bucket: str, key: str) -> None:
    """Forget every window of ``key`` in ``bucket`` (a successful login, say)."""
    await session.execute(
        delete(RateCounter).where(RateCounter.bucket == bucket, RateCounter.key == key)
    )


async def prune_counters(session: AsyncSession, now: datetime) -> int:
    """Delete the counters nothing will read again (expired at ``now``); how many."""
    result = await session.execute(delete(RateCounter).where(RateCounter.expires_at <= now))
    return int(getattr(result, "rowcount", 0) or 0)
