"""Timers from the side of the transaction that sets them (the scheduler that fires them
is ``store.timers``).

A timer's ``key`` names what it is for (``sla:42:1``: the first escalation of handoff 42),
so scheduling the same thing twice is one timer, and the timers of one thing can be
cancelled together by the key's leading parts (``cancel_timers(session, "sla:42")``).
A cancelled timer keeps its row with status ``cancelled``, as a cancelled outbox row
does: a page can tell "fired" (``done``) from "called off".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.store.models import Timer
from autoreply.store.repos.queue import insert_once

__all__ = ["cancel_timers", "pending_timers", "reschedule", "schedule", "timer"]


async def schedule(
    session: AsyncSession,
    *,
    kind: str,
    key: str,
    due_at: datetime,
    payload: Mapping[str, Any],
    now: datetime,
) -> bool:
    """Set a timer in the caller's transaction; False if one under ``key`` exists already
    (pending, fired or cancelled: a key is used once)."""
    return await insert_once(
        session,
        Timer(
            kind=kind,
            key=key,
            due_at=due_at,
            payload=dict(payload),
            status="pending",
            attempts=0,
            created_at=now,
        ),
    )


async def reschedule(session: AsyncSession, key: str, due_at: datetime) -> bool:
    """Move a pending timer to ``due_at``; False if there is none pending under ``key``."""
    result = await session.execute(
        update(Timer).where(Timer.key == key, Timer.status == "pending").values(due_at=due_at)
    )
    return bool(getattr(result, "rowcount", 0))


async def cancel_timers(session: AsyncSession, prefix_or_key: str) -> int:
    """Call off pending timers: the one under this key and those whose keys extend it by
    ``:``-separated parts (``"sla:42"`` cancels ``sla:42`` and ``sla:42:2``, not
    ``sla:420``); they get status ``cancelled``. How many were cancelled."""
    base = prefix_or_key.rstrip(":")
    result = await session.execute(
        update(Timer)
        .where(
            Timer.status == "pending",
            or_(Timer.key == base, Timer.key.startswith(f"{base}:", autoescape=True)),
        )
        .values(status="cancelled")
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def timer(session: AsyncSession, key: str) -> Timer | None:
    """The timer under ``key``, whatever its status."""
    return await session.scalar(select(Timer).where(Timer.key == key))


async def pending_timers(session: AsyncSession, kind: str | None = None) -> list[Timer]:
    """Timers still to fire (of one kind, if given), soonest first."""
    query = select(Timer).where(Timer.status == "pending")
    if kind is not None:
        query = query.where(Timer.kind == kind)
    return list(await session.scalars(query.order_by(Timer.due_at, Timer.id)))
