"""Owners of handoffs: the events of a handoff's life, reps' loads and turns, and the
handoffs waiting to be told about."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.store.models import Conversation, HandoffEvent, HandoffRow, Rep

__all__ = [
    "ASSIGNING",
    "add_event",
    "events_of",
    "last_assigned",
    "lock_handoffs_to_announce",
    "open_handoff_counts",
    "owners_so_far",
    "reps_by_emails",
]

#: The events that give a rep a handoff (round robin counts from the latest of them).
ASSIGNING = ("assigned", "reassigned", "escalated")


def add_event(
    session: AsyncSession,
    *,
    handoff_id: int,
    kind: str,
    at: datetime,
    actor_id: int | None = None,
    rep_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> HandoffEvent:
    """Record one step of a handoff (``actor_id`` None: the system did it)."""
    event = HandoffEvent(
        handoff_id=handoff_id,
        kind=kind,
        at=at,
        actor_id=actor_id,
        rep_id=rep_id,
        detail=dict(detail or {}),
    )
    session.add(event)
    return event


async def events_of(session: AsyncSession, handoff_id: int) -> Sequence[HandoffEvent]:
    """A handoff's events, oldest first."""
    return list(
        await session.scalars(
            select(HandoffEvent)
            .where(HandoffEvent.handoff_id == handoff_id)
            .order_by(HandoffEvent.id)
        )
    )


async def owners_so_far(session: AsyncSession, handoff_id: int) -> set[int]:
    """Every rep a handoff has been given to."""
    rows = await session.scalars(
        select(HandoffEvent.rep_id).where(
            HandoffEvent.handoff_id == handoff_id,
            HandoffEvent.kind.in_(ASSIGNING),
            HandoffEvent.rep_id.is_not(None),
        )
    )
    return {int(r) for r in rows if r is not None}


async def reps_by_emails(session: AsyncSession, emails: Collection[str]) -> list[Rep]:
    """The active reps with these (lower-case) addresses."""
    if not emails:
        return []
    return list(
        await session.scalars(
            select(Rep).where(Rep.email.in_(sorted(emails)), Rep.active.is_(True)).order_by(Rep.id)
        )
    )


async def open_handoff_counts(session: AsyncSession, rep_ids: Collection[int]) -> dict[int, int]:
    """Rep id -> handoffs they own still waiting for a first contact."""
    if not rep_ids:
        return {}
    rows = await session.execute(
        select(HandoffRow.owner_id, func.count())
        .where(HandoffRow.owner_id.in_(sorted(rep_ids)), HandoffRow.status == "waiting")
        .group_by(HandoffRow.owner_id)
    )
    return {int(rep): int(n) for rep, n in rows.all() if rep is not None}


async def last_assigned(session: AsyncSession, rep_ids: Collection[int]) -> dict[int, datetime]:
    """Rep id -> when they were last given a handoff (round robin's memory, shared by
    every process because it is the database)."""
    if not rep_ids:
        return {}
    rows = await session.execute(
        select(HandoffEvent.rep_id, func.max(HandoffEvent.at))
        .where(HandoffEvent.rep_id.in_(sorted(rep_ids)), HandoffEvent.kind.in_(ASSIGNING))
        .group_by(HandoffEvent.rep_id)
    )
    return {int(rep): at for rep, at in rows.all() if rep is not None and at is not None}


async def lock_handoffs_to_announce(
    session: AsyncSession, now: datetime
) -> Sequence[tuple[HandoffRow, str]]:
    """Handoffs still waiting that nobody was told about yet and whose moment to tell has
    come (the morning digest), with their channel, locked; Tier A first, then oldest."""
    query = (
        select(HandoffRow, Conversation.channel)
        .join(Conversation, HandoffRow.conversation_id == Conversation.id)
        .where(
            HandoffRow.status == "waiting",
            HandoffRow.notified_at.is_(None),
            HandoffRow.notify_at.is_not(None),
            HandoffRow.notify_at <= now,
        )
        .order_by(HandoffRow.tier, HandoffRow.created_at, HandoffRow.id)
        .with_for_update(of=HandoffRow)
    )
    return [(row, str(channel)) for row, channel in (await session.execute(query)).all()]
