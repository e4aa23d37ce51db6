"""Queries the service needs, one function each, on an open ``AsyncSession``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.errors import AlreadyHandledError, NotFoundError
from autoreply.store.models import (
    Base,
    Booking,
    Conversation,
    HandoffRow,
    InboundEvent,
    Lead,
    LeadIdentity,
    Message,
    OutboxRow,
    Rep,
)

__all__ = [
    "LEAD_FIELDS",
    "add_identity",
    "add_messages",
    "bookings_between",
    "claim_inbound",
    "current_lead",
    "enqueue",
    "lock_conversation",
    "lock_conversation_and_lead",
    "messages_of",
    "queued_in",
    "record_inbound",
    "rep_loads",
    "resolve_lead",
]

LEAD_FIELDS = ("name", "company", "email", "phone", "display_name", "industry")


async def resolve_lead(
    session: AsyncSession,
    identities: Sequence[tuple[str, str]],
    now: datetime,
    facts: Mapping[str, Any] | None = None,
) -> Lead:
    """The one lead these channel identities belong to, created or merged as needed.

    A lead first seen in the web chat and later by email address is one lead: every
    identity given is attached to it. If the identities already belonged to different
    leads, the newer leads are merged into the oldest one (their conversations,
    handoffs, bookings and identities move; the merged rows keep a pointer).
    """
    if not identities:
        raise ValueError("a lead needs at least one identity")
    owners = {
        (channel, external_id): await _owner(session, channel, external_id)
        for channel, external_id in identities
    }
    found = await _leads_for(session, owners.values())
    if found:
        lead = found[0]
        for other in found[1:]:
            await _merge(session, other, lead, now)
    else:
        lead = Lead(created_at=now, updated_at=now)
        session.add(lead)
        await session.flush()
    for (channel, external_id), owner in owners.items():
        if owner is None:  # new to us: no need to ask again who has it
            _attach(session, lead, channel, external_id, now)
        else:
            await add_identity(session, lead, channel, external_id, now)
    if facts:
        update_lead(lead, facts, now)
    return lead


async def _owner(session: AsyncSession, channel: str, external_id: str) -> int | None:
    """The lead an identity belongs to, if any."""
    return await session.scalar(
        select(LeadIdentity.lead_id).where(
            LeadIdentity.channel == channel, LeadIdentity.external_id == external_id
        )
    )


def _attach(
    session: AsyncSession, lead: Lead, channel: str, external_id: str, now: datetime
) -> None:
    session.add(
        LeadIdentity(lead_id=lead.id, channel=channel, external_id=external_id, created_at=now)
    )


async def _leads_for(session: AsyncSession, owners: Iterable[int | None]) -> list[Lead]:
    ids = list(dict.fromkeys(o for o in owners if o is not None))
    leads = []
    for lead_id in sorted(ids):
        lead = await session.get(Lead, lead_id, with_for_update=True)
        while lead is not None and lead.merged_into_id is not None:
            lead = await session.get(Lead, lead.merged_into_id)
        if lead is not None and lead not in leads:
            leads.append(lead)
    return sorted(leads, key=lambda lead: lead.id)


async def add_identity(
    session: AsyncSession, lead: Lead, channel: str, external_id: str, now: datetime
) -> Lead:
    """Attach an identity to a lead; if another lead has it, merge that lead into this one."""
    owner_id = await _owner(session, channel, external_id)
    if owner_id == lead.id:
        return lead
    if owner_id is not None:
        other = await session.get(Lead, owner_id)
        if other is not None:
            keep, gone = (lead, other) if lead.id < other.id else (other, lead)
            await _merge(session, gone, keep, now)
            return keep
    _attach(session, lead, channel, external_id, now)
    await session.flush()
    return lead


async def _merge(session: AsyncSession, gone: Lead, keep: Lead, now: datetime) -> None:
    for table in (LeadIdentity, Conversation, HandoffRow, Booking):
        await session.execute(update(table).where(table.lead_id == gone.id).values(lead_id=keep.id))
    await session.execute(
        update(OutboxRow).where(OutboxRow.lead_id == gone.id).values(lead_id=keep.id)
    )
    for name in LEAD_FIELDS:
        if getattr(keep, name) is None and getattr(gone, name) is not None:
            setattr(keep, name, getattr(gone, name))
    keep.opted_out_at = keep.opted_out_at or gone.opted_out_at
    gone.merged_into_id = keep.id
    gone.updated_at = keep.updated_at = now
    await session.flush()
    await session.refresh(keep, ["identities"])


def update_lead(lead: Lead, facts: Mapping[str, Any], now: datetime) -> None:
    """Fill in what we learnt about the lead (never blanks out a known value)."""
    for name in LEAD_FIELDS:
        value = facts.get(name)
        if value:
            setattr(lead, name, str(value))
    lead.updated_at = now


async def lock_conversation(session: AsyncSession, public_id: str) -> Conversation:
    """Load a conversation for a turn, locked against concurrent turns."""
    conversation = await session.scalar(
        select(Conversation).where(Conversation.public_id == public_id).with_for_update()
    )
    if conversation is None:
        raise NotFoundError(f"no conversation {public_id!r}")
    return conversation


async def lock_conversation_and_lead(
    session: AsyncSession, public_id: str, *, lock: bool = True
) -> tuple[Conversation, Lead]:
    """A conversation locked for a turn (unless not ``lock``), and its lead, in one query
    (the lead it was merged into, if it was)."""
    query = (
        select(Conversation, Lead)
        .join(Lead, Lead.id == Conversation.lead_id)
        .where(Conversation.public_id == public_id)
    )
    if lock:
        query = query.with_for_update(of=Conversation)
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFoundError(f"no conversation {public_id!r}")
    conversation, lead = row
    return conversation, await current_lead(session, lead)


async def current_lead(session: AsyncSession, lead: Lead) -> Lead:
    """The lead itself, or the one it was merged into."""
    while lead.merged_into_id is not None:
        merged = await session.get(Lead, lead.merged_into_id)
        if merged is None:  # pragma: no cover - foreign keys forbid it
            break
        lead = merged
    return lead


async def add_messages(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert messages in one statement; their ids, in order.

    Ids are assigned in the order of the rows of one INSERT (SQLite's rowid, a
    PostgreSQL sequence), so sorting the returned ids gives that order, whatever order
    RETURNING hands them back in.
    """
    if not rows:
        return []
    result = await session.execute(insert(Message).returning(Message.id), list(rows))
    return sorted(result.scalars())


async def messages_of(session: AsyncSession, conversation_id: int) -> list[Message]:
    """A conversation's messages, oldest first."""
    result = await session.scalars(
        select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
    )
    return list(result)


async def bookings_between(session: AsyncSession, start: datetime, end: datetime) -> list[Booking]:
    """Confirmed bookings overlapping [start, end)."""
    result = await session.scalars(
        select(Booking).where(
            Booking.status == "confirmed", Booking.start_at < end, Booking.end_at > start
        )
    )
    return list(result)


async def rep_loads(session: AsyncSession, since: datetime) -> dict[int, int]:
    """Confirmed bookings per rep from ``since`` on (for round-robin assignment)."""
    rows = await session.execute(
        select(Booking.rep_id, func.count())
        .where(Booking.status == "confirmed", Booking.start_at >= since)
        .group_by(Booking.rep_id)
    )
    return {int(rep_id): int(count) for rep_id, count in rows}


async def active_reps(session: AsyncSession) -> list[Rep]:
    """Reps who take meetings."""
    return list(await session.scalars(select(Rep).where(Rep.active.is_(True)).order_by(Rep.id)))


async def _insert_once(session: AsyncSession, row: Base) -> bool:
    """Insert a row guarded by a unique constraint; False if it was already there.

    The savepoint keeps the caller's transaction usable after the constraint fires.
    """
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True


async def record_inbound(
    session: AsyncSession,
    source: str,
    event_id: str,
    now: datetime,
    payload: Mapping[str, Any],
    occurred_at: datetime | None = None,
) -> bool:
    """Remember an inbound event id; False if it was seen before (a duplicate)."""
    return await _insert_once(
        session,
        InboundEvent(
            source=source,
            event_id=event_id,
            received_at=now,
            occurred_at=occurred_at,
            payload=dict(payload),
        ),
    )


_QUEUED = "autoreply.queued"


def queued_in(session: AsyncSession) -> bool:
    """Whether this session queued something for the outbox (so the worker can be woken)."""
    return bool(session.info.get(_QUEUED))


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
    return await _insert_once(
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


async def count_reps(session: AsyncSession) -> int:
    """How many reps there are (active or not)."""
    return int(await session.scalar(select(func.count()).select_from(Rep)) or 0)


async def all_reps(session: AsyncSession) -> list[Rep]:
    """Every rep, oldest first."""
    return list(await session.scalars(select(Rep).order_by(Rep.id)))
