"""Inbound events from channels that deliver at least once (LINE): stored, then claimed once."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.errors import AlreadyHandledError
from autoreply.store.models import InboundEvent
from autoreply.store.repos.queue import insert_once

__all__ = ["claim_inbound", "inbound_failed", "pending_inbound", "record_inbound"]


async def record_inbound(
    session: AsyncSession,
    source: str,
    event_id: str,
    now: datetime,
    payload: Mapping[str, Any],
    occurred_at: datetime | None = None,
) -> bool:
    """Remember an inbound event id; False if it was seen before (a duplicate)."""
    return await insert_once(
        session,
        InboundEvent(
            source=source,
            event_id=event_id,
            received_at=now,
            occurred_at=occurred_at,
            payload=dict(payload),
        ),
    )


async def claim_inbound(session: AsyncSession, event_id: int, now: datetime) -> None:
    """Mark a stored inbound event handled, in the transaction that handles it; raises
    ``AlreadyHandledError`` if another transaction did (so its effects happen once)."""
    result = await session.execute(
        update(InboundEvent)
        .where(InboundEvent.id == event_id, InboundEvent.processed_at.is_(None))
        .values(processed_at=now)
    )
    if not getattr(result, "rowcount", 0):
        raise AlreadyHandledError(f"inbound event {event_id} was handled already")


async def pending_inbound(
    session: AsyncSession, source: str, *, max_attempts: int, limit: int
) -> list[tuple[int, dict[str, Any], datetime]]:
    """The oldest unhandled events of a source by the far end's time: (id, payload,
    received at); events that failed ``max_attempts`` times are left alone."""
    rows = await session.execute(
        select(InboundEvent.id, InboundEvent.payload, InboundEvent.received_at)
        .where(
            InboundEvent.source == source,
            InboundEvent.processed_at.is_(None),
            InboundEvent.attempts < max_attempts,
        )
        .order_by(InboundEvent.occurred_at, InboundEvent.id)
        .limit(limit)
    )
    return [(int(i), dict(payload), received) for i, payload, received in rows]


async def inbound_failed(session: AsyncSession, event_id: int, error: str) -> None:
    """Count a failed attempt at an event, with the error."""
    await session.execute(
        update(InboundEvent)
        .where(InboundEvent.id == event_id)
        .values(attempts=InboundEvent.attempts + 1, last_error=error[:2000])
    )
