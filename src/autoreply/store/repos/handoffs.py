"""Handoff rows: one per conversation, and the queue reps work through."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from autoreply.store.models import Conversation, HandoffRow

__all__ = [
    "add_handoff",
    "handoff_of",
    "handoff_with_channel",
    "handoffs",
    "handoffs_of_lead",
    "lock_handoff",
    "lock_waiting_handoffs_of_lead",
]


async def handoff_of(
    session: AsyncSession, *, conversation_id: int | None = None, public_id: str | None = None
) -> HandoffRow | None:
    """The handoff row of a conversation (by row id or public id), if one was written."""
    query = select(HandoffRow)
    if public_id is not None:
        query = query.join(Conversation).where(Conversation.public_id == public_id)
    else:
        query = query.where(HandoffRow.conversation_id == conversation_id)
    return await session.scalar(query)


def add_handoff(
    session: AsyncSession,
    *,
    conversation_id: int,
    lead_id: int,
    reason: str,
    tier: str,
    score: int,
    record: Mapping[str, Any],
    now: datetime,
) -> HandoffRow:
    """A new handoff waiting for a rep, added to the session."""
    row = HandoffRow(
        conversation_id=conversation_id,
        lead_id=lead_id,
        status="waiting",
        created_at=now,
        reason=reason,
        tier=tier,
        score=score,
        record=dict(record),
        updated_at=now,
    )
    session.add(row)
    return row


async def handoffs(
    session: AsyncSession, *, status: str, channel: str, limit: int
) -> Sequence[tuple[HandoffRow, str, int]]:
    """One handoff per lead (``all`` for any status or channel): the lead's first in the
    order reps work them (Tier A first, then newest), with its channel and how many
    handoffs the lead has in all; leads in that same order."""
    order = (HandoffRow.tier.asc(), HandoffRow.created_at.desc(), HandoffRow.id.desc())
    ranked = select(
        HandoffRow.id.label("id"),
        func.row_number().over(partition_by=HandoffRow.lead_id, order_by=order).label("rank"),
    ).join(Conversation, HandoffRow.conversation_id == Conversation.id)
    if status != "all":
        ranked = ranked.where(HandoffRow.status == status)
    if channel != "all":
        ranked = ranked.where(Conversation.channel == channel)
    best = ranked.subquery()
    others = aliased(HandoffRow)
    total = (
        select(func.count())
        .select_from(others)
        .where(others.lead_id == HandoffRow.lead_id)
        .scalar_subquery()
    )
    query = (
        select(HandoffRow, Conversation.channel, total)
        .join(best, best.c.id == HandoffRow.id)
        .join(Conversation, HandoffRow.conversation_id == Conversation.id)
        .where(best.c.rank == 1)
        .order_by(*order)
        .limit(limit)
    )
    return [(row, str(ch), int(n)) for row, ch, n in (await session.execute(query)).all()]


async def handoffs_of_lead(session: AsyncSession, lead_id: int) -> Sequence[tuple[HandoffRow, str]]:
    """Every handoff of one lead with its channel, newest first."""
    query = (
        select(HandoffRow, Conversation.channel)
        .join(Conversation, HandoffRow.conversation_id == Conversation.id)
        .where(HandoffRow.lead_id == lead_id)
        .order_by(HandoffRow.created_at.desc(), HandoffRow.id.desc())
    )
    return [(row, str(ch)) for row, ch in (await session.execute(query)).all()]


async def lock_waiting_handoffs_of_lead(session: AsyncSession, lead_id: int) -> list[HandoffRow]:
    """The lead's handoffs still waiting for a first contact, locked for an update."""
    return list(
        await session.scalars(
            select(HandoffRow)
            .where(HandoffRow.lead_id == lead_id, HandoffRow.status == "waiting")
            .order_by(HandoffRow.id)
            .with_for_update()
        )
    )


async def handoff_with_channel(
    session: AsyncSession, handoff_id: int
) -> tuple[HandoffRow, str] | None:
    """One handoff with its conversation's channel."""
    found = (
        await session.execute(
            select(HandoffRow, Conversation.channel)
            .join(Conversation, HandoffRow.conversation_id == Conversation.id)
            .where(HandoffRow.id == handoff_id)
        )
    ).first()
    return None if found is None else (found[0], str(found[1]))


async def lock_handoff(session: AsyncSession, handoff_id: int) -> HandoffRow | None:
    """A handoff locked for an update."""
    return await session.scalar(
        select(HandoffRow).where(HandoffRow.id == handoff_id).with_for_update()
    )
