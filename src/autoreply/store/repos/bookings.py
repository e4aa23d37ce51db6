"""Meeting bookings: the confirmed booking of a conversation, busy times, rep loads."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.store.models import Booking, Conversation, Lead, Rep

__all__ = [
    "add_booking",
    "booking_in_context",
    "bookings_between",
    "confirmed_booking",
    "rep_loads",
]


async def confirmed_booking(
    session: AsyncSession, *, conversation_id: int | None = None, public_id: str | None = None
) -> tuple[Booking, Rep] | None:
    """The confirmed booking of a conversation (by row id or public id) and its rep."""
    query = select(Booking, Rep).join(Rep, Rep.id == Booking.rep_id)
    if public_id is not None:
        query = query.join(Conversation, Conversation.id == Booking.conversation_id).where(
            Conversation.public_id == public_id
        )
    else:
        query = query.where(Booking.conversation_id == conversation_id)
    row = (await session.execute(query.where(Booking.status == "confirmed"))).first()
    return None if row is None else (row[0], row[1])


async def booking_in_context(
    session: AsyncSession, booking_id: int
) -> tuple[Booking, Rep, Conversation, Lead] | None:
    """A booking with its rep, conversation and (stored) lead, whatever its status."""
    row = (
        await session.execute(
            select(Booking, Rep, Conversation, Lead)
            .join(Rep, Rep.id == Booking.rep_id)
            .join(Conversation, Conversation.id == Booking.conversation_id)
            .join(Lead, Lead.id == Conversation.lead_id)
            .where(Booking.id == booking_id)
        )
    ).first()
    return None if row is None else (row[0], row[1], row[2], row[3])


async def add_booking(
    session: AsyncSession,
    *,
    rep_id: int,
    lead_id: int,
    conversation_id: int,
    start: datetime,
    end: datetime,
    now: datetime,
) -> bool:
    """Book the slot with the rep; False if the rep's slot was taken at this very moment
    (a unique index allows one confirmed booking per rep and start). The savepoint keeps
    the caller's transaction usable either way."""
    try:
        async with session.begin_nested():
            session.add(
                Booking(
                    rep_id=rep_id,
                    lead_id=lead_id,
                    conversation_id=conversation_id,
                    start_at=start,
                    end_at=end,
                    status="confirmed",
                    created_at=now,
                )
            )
    except IntegrityError:
        return False
    return True


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
