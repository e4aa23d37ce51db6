"""Outbox rows from the side of the transaction that queues them (the worker that sends
them is ``store.outbox``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.store.models import Base, OutboxRow

__all__ = [
    "cancel_pending",
    "enqueue",
    "insert_once",
    "notification_rows",
    "queued_in",
    "recipients_of",
]

_QUEUED = "autoreply.queued"


async def insert_once(session: AsyncSession, row: Base) -> bool:
    """Insert a row guarded by a unique constraint; False if it was already there.

    The savepoint keeps the caller's transaction usable after the constraint fires.
    """
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True


def queued_in(session: AsyncSession) -> bool:
    """Whether this session queued something for the outbox (so the worker can be woken)."""
    return bool(session.info.get(_QUEUED))


async def enqueue(
    session: AsyncSession,
    *,
    channel: str,
    kind: str,
    recipient: str,
    payload: Mapping[str, Any],
    dedupe_key: str,
    now: datetime,
    due: datetime | None = None,
    conversation_id: int | None = None,
    lead_id: int | None = None,
) -> bool:
    """Add an outbox row in the caller's transaction (sent from ``due``, default now);
    False if the key was already queued. ``queued_in(session)`` tells afterwards."""
    session.info[_QUEUED] = True
    return await insert_once(
        session,
        OutboxRow(
            channel=channel,
            kind=kind,
            recipient=recipient,
            payload=dict(payload),
            dedupe_key=dedupe_key,
            status="pending",
            attempts=0,
            next_attempt_at=due or now,
            created_at=now,
            conversation_id=conversation_id,
            lead_id=lead_id,
        ),
    )


async def recipients_of(session: AsyncSession, keys: Iterable[str]) -> dict[str, str]:
    """Who the rows queued under these keys went (or go) to, by key."""
    rows = await session.execute(
        select(OutboxRow.dedupe_key, OutboxRow.recipient).where(
            OutboxRow.dedupe_key.in_(list(keys))
        )
    )
    return {str(key): str(recipient) for key, recipient in rows}


async def cancel_pending(
    session: AsyncSession,
    why: str,
    *,
    dedupe_key: str | None = None,
    channel: str | None = None,
    recipient: str | None = None,
) -> int:
    """Cancel rows not sent yet: the one queued under ``dedupe_key``, or everything for
    ``recipient`` on ``channel``; how many were cancelled."""
    query = update(OutboxRow).where(OutboxRow.status == "pending")
    if dedupe_key is not None:
        query = query.where(OutboxRow.dedupe_key == dedupe_key)
    else:
        query = query.where(OutboxRow.channel == channel, OutboxRow.recipient == recipient)
    result = await session.execute(query.values(status="cancelled", last_error=why))
    return int(getattr(result, "rowcount", 0) or 0)


async def notification_rows(session: AsyncSession, *, limit: int = 100) -> list[OutboxRow]:
    """Notifications to people (rows of kind ``notify_*``) and CRM webhook events (channel
    ``crm``) that failed for good or are being retried, newest first: what an admin must
    look at (a removed channel, a bad token, a CRM endpoint refusing)."""
    return list(
        await session.scalars(
            select(OutboxRow)
            .where(
                OutboxRow.kind.startswith("notify_") | (OutboxRow.channel == "crm"),
                (OutboxRow.status == "failed")
                | ((OutboxRow.status == "pending") & (OutboxRow.attempts > 0)),
            )
            .order_by(OutboxRow.id.desc())
            .limit(limit)
        )
    )
