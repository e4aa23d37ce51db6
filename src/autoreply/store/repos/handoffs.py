"""Handoff rows: one per conversation, and the queue reps work through."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from autoreply.store.models import Booking, Conversation, HandoffRow, Lead, Message

__all__ = [
    "MAX_QUERY_LENGTH",
    "QueueEntry",
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


MAX_QUERY_LENGTH = 200  # a search of the queue: longer is a 422 at the door


class QueueEntry(NamedTuple):
    """One lead's line in the rep's queue."""

    row: HandoffRow
    channel: str
    lead_handoffs: int  # how many handoffs the lead has in all
    next_meeting: datetime | None  # the lead's next confirmed meeting (start)
    last_meeting: datetime | None  # else the latest one already over


def _matches(q: str) -> ColumnElement[bool]:
    """A handoff whose lead's name, company, email or LINE name, whose challenge, or whose
    conversation's words from the lead contain ``q`` (case-insensitive for ASCII; ``%``
    and ``_`` are literal). A substring search: no index helps it (see docs/reps.md)."""
    needle = q.lower()

    def has(column: Any) -> ColumnElement[bool]:
        return func.lower(column).contains(needle, autoescape=True)

    said = exists().where(
        Message.conversation_id == HandoffRow.conversation_id,
        Message.direction == "in",
        has(Message.text),
    )
    return or_(
        has(Lead.name),
        has(Lead.company),
        has(Lead.email),
        has(Lead.display_name),
        has(HandoffRow.record["challenge"].as_string()),
        said,
    )


async def handoffs(
    session: AsyncSession,
    *,
    status: str,
    channel: str,
    limit: int,
    now: datetime,
    q: str = "",
) -> Sequence[QueueEntry]:
    """One handoff per lead (``all`` for any status or channel; ``q`` a search, see
    :func:`_matches`): the lead's first in the order reps work them (Tier A first, then
    newest), with its channel, how many handoffs the lead has in all and the lead's
    meetings (confirmed, the next one ending after ``now``, else the last); leads in that
    same order."""
    order = (HandoffRow.tier.asc(), HandoffRow.created_at.desc(), HandoffRow.id.desc())
    ranked = select(
        HandoffRow.id.label("id"),
        func.row_number().over(partition_by=HandoffRow.lead_id, order_by=order).label("rank"),
    ).join(Conversation, HandoffRow.conversation_id == Conversation.id)
    if status != "all":
        ranked = ranked.where(HandoffRow.status == status)
    if channel != "all":
        ranked = ranked.where(Conversation.channel == channel)
    if q.strip():
        ranked = ranked.join(Lead, HandoffRow.lead_id == Lead.id).where(_matches(q.strip()))
    best = ranked.subquery()
    others = aliased(HandoffRow)
    total = (
        select(func.count())
        .select_from(others)
        .where(others.lead_id == HandoffRow.lead_id)
        .scalar_subquery()
    )
    confirmed = (Booking.lead_id == HandoffRow.lead_id, Booking.status == "confirmed")
    upcoming = (
        select(func.min(Booking.start_at)).where(*confirmed, Booking.end_at > now)
    ).scalar_subquery()
    past = (
        select(func.max(Booking.start_at)).where(*confirmed, Booking.end_at <= now)
    ).scalar_subquery()
    query = (
        select(HandoffRow, Conversation.channel, total, upcoming, past)
        .join(best, best.c.id == HandoffRow.id)
        .join(Conversation, HandoffRow.conversation_id == Conversation.id)
        .where(best.c.rank == 1)
        .order_by(*order)
        .limit(limit)
    )
    return [
        QueueEntry(row, str(ch), int(n), nxt, last)
        for row, ch, n, nxt, last in (await session.execute(query)).all()
    ]


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
