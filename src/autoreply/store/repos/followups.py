"""Follow-up tasks (``follow_ups``) and what the cadence and aging read: a lead's bookings,
its latest messages, the handoffs old enough to age."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.store.models import Booking, Conversation, FollowUp, HandoffRow, Message

__all__ = [
    "add_follow_up",
    "follow_up_list",
    "follow_ups_of_handoff",
    "handoffs_to_age",
    "last_booking_by_lead",
    "last_inbound_by_lead",
    "lead_has_booking",
    "lock_follow_up",
    "lock_open_follow_ups_of_lead",
]


async def add_follow_up(session: AsyncSession, task: FollowUp) -> FollowUp:
    """Insert a task (its id set)."""
    session.add(task)
    await session.flush()
    return task


async def follow_ups_of_handoff(session: AsyncSession, handoff_id: int) -> list[FollowUp]:
    """A handoff's tasks: open ones by due time, then the rest (done, cancelled)."""
    rows = await session.scalars(
        select(FollowUp).where(FollowUp.handoff_id == handoff_id).order_by(FollowUp.id)
    )
    return sorted(rows, key=lambda t: (t.status != "open", t.due_at, t.id))


async def lock_follow_up(session: AsyncSession, task_id: int) -> FollowUp | None:
    """One task, locked for an update."""
    return await session.scalar(select(FollowUp).where(FollowUp.id == task_id).with_for_update())


async def lock_open_follow_ups_of_lead(
    session: AsyncSession, lead_id: int, *, made_by_rules: bool = True
) -> list[FollowUp]:
    """The open tasks on any handoff of one lead (the handoff's lead: merges move
    handoffs), locked; only those a cadence rule made when ``made_by_rules``."""
    query = (
        select(FollowUp)
        .join(HandoffRow, HandoffRow.id == FollowUp.handoff_id)
        .where(HandoffRow.lead_id == lead_id, FollowUp.status == "open")
    )
    if made_by_rules:
        query = query.where(FollowUp.rule.is_not(None), FollowUp.rule != "qualification")
    return list(await session.scalars(query.order_by(FollowUp.id).with_for_update(of=FollowUp)))


async def follow_up_list(
    session: AsyncSession, *, owner_id: int | None, limit: int = 500
) -> Sequence[tuple[FollowUp, HandoffRow]]:
    """Open tasks with their handoffs, soonest due first (so the overdue ones lead);
    only one owner's when ``owner_id`` is given."""
    query = (
        select(FollowUp, HandoffRow)
        .join(HandoffRow, HandoffRow.id == FollowUp.handoff_id)
        .where(FollowUp.status == "open")
    )
    if owner_id is not None:
        query = query.where(FollowUp.owner_id == owner_id)
    rows = await session.execute(query.order_by(FollowUp.due_at, FollowUp.id).limit(limit))
    return [(task, row) for task, row in rows.all()]


async def lead_has_booking(session: AsyncSession, lead_id: int) -> bool:
    """Whether the lead has a confirmed meeting (upcoming or past): it is in a meeting,
    a follow-up call is not what it needs."""
    found = await session.scalar(
        select(Booking.id).where(Booking.lead_id == lead_id, Booking.status == "confirmed").limit(1)
    )
    return found is not None


async def handoffs_to_age(
    session: AsyncSession, tiers: Collection[str], created_before: datetime
) -> list[HandoffRow]:
    """Handoffs of ``tiers`` not aged yet and written before ``created_before`` (younger
    ones cannot have gone quiet long enough), locked for an update."""
    if not tiers:
        return []
    return list(
        await session.scalars(
            select(HandoffRow)
            .where(
                HandoffRow.tier.in_(tuple(tiers)),
                HandoffRow.aged_at.is_(None),
                HandoffRow.created_at <= created_before,
            )
            .order_by(HandoffRow.id)
            .with_for_update()
        )
    )


async def last_inbound_by_lead(
    session: AsyncSession, lead_ids: Collection[int]
) -> dict[int, datetime]:
    """Lead id -> when the lead last wrote to us (any conversation, any channel)."""
    if not lead_ids:
        return {}
    rows = await session.execute(
        select(Conversation.lead_id, func.max(Message.created_at))
        .join(Message, Message.conversation_id == Conversation.id)
        .where(Conversation.lead_id.in_(tuple(lead_ids)), Message.direction == "in")
        .group_by(Conversation.lead_id)
    )
    return {int(lead): at for lead, at in rows.all() if at is not None}


async def last_booking_by_lead(
    session: AsyncSession, lead_ids: Collection[int]
) -> dict[int, tuple[datetime, bool]]:
    """Lead id -> (when the lead last booked, whether it has a confirmed meeting), for
    leads with any booking that got past a hold."""
    if not lead_ids:
        return {}
    rows = await session.execute(
        select(Booking.lead_id, Booking.created_at, Booking.status).where(
            Booking.lead_id.in_(tuple(lead_ids)), Booking.status != "held"
        )
    )
    found: dict[int, tuple[datetime, bool]] = {}
    for lead, created, status in rows.all():
        at, confirmed = found.get(int(lead), (created, False))
        found[int(lead)] = (max(at, created), confirmed or status == "confirmed")
    return found
