"""Meeting bookings: holds and confirmed bookings of a conversation, busy times, rep loads.

A tapped slot is first *held* (status ``held`` until ``expires_at``), then confirmed once the
lead's details are complete. A hold past its expiry no longer blocks anyone: the queries read
it as gone, and the next hold or booking of its slot marks it ``expired`` first.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.store.models import Booking, Conversation, Lead, Rep

__all__ = [
    "add_booking",
    "booking_chain",
    "booking_in_context",
    "bookings_between",
    "bookings_of_lead",
    "confirm_hold",
    "confirmed_booking",
    "extend_hold",
    "latest_booking_of_conversation",
    "lock_booking",
    "release_holds",
    "rep_loads",
    "upcoming_booking_of_lead",
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
    held_until: datetime | None = None,
) -> bool:
    """Hold the slot with the rep until ``held_until`` (or, without it, book it confirmed);
    False if the rep's slot was taken at this very moment (a unique index allows one held
    or confirmed booking per rep and start). A lapsed hold of the slot is marked expired
    first. The savepoint keeps the caller's transaction usable either way."""
    try:
        async with session.begin_nested():
            await session.execute(
                update(Booking)
                .where(
                    Booking.rep_id == rep_id,
                    Booking.start_at == start,
                    Booking.status == "held",
                    Booking.expires_at <= now,
                )
                .values(status="expired")
            )
            session.add(
                Booking(
                    rep_id=rep_id,
                    lead_id=lead_id,
                    conversation_id=conversation_id,
                    start_at=start,
                    end_at=end,
                    status="confirmed" if held_until is None else "held",
                    expires_at=held_until,
                    created_at=now,
                )
            )
    except IntegrityError:
        return False
    return True


async def extend_hold(session: AsyncSession, conversation_id: int, until: datetime) -> bool:
    """Keep the conversation's hold until ``until``; False if it has none any more.

    A hold still marked ``held`` is the conversation's even past its expiry: nobody can
    hold or book its slot without marking it expired first.
    """
    result = await session.execute(
        update(Booking)
        .where(Booking.conversation_id == conversation_id, Booking.status == "held")
        .values(expires_at=until)
    )
    return bool(getattr(result, "rowcount", 0))


async def confirm_hold(session: AsyncSession, conversation_id: int) -> bool:
    """Turn the conversation's hold into a confirmed booking; False if it has none."""
    result = await session.execute(
        update(Booking)
        .where(Booking.conversation_id == conversation_id, Booking.status == "held")
        .values(status="confirmed", expires_at=None)
    )
    return bool(getattr(result, "rowcount", 0))


async def release_holds(session: AsyncSession, conversation_id: int, now: datetime) -> None:
    """Free the slot a conversation holds (it ended before the details were complete)."""
    await session.execute(
        update(Booking)
        .where(Booking.conversation_id == conversation_id, Booking.status == "held")
        .values(status="released", cancelled_at=now)
    )


async def bookings_between(
    session: AsyncSession, start: datetime, end: datetime, now: datetime
) -> list[Booking]:
    """Confirmed bookings and live holds (at ``now``) overlapping [start, end)."""
    result = await session.scalars(
        select(Booking).where(
            or_(
                Booking.status == "confirmed",
                (Booking.status == "held") & (Booking.expires_at > now),
            ),
            Booking.start_at < end,
            Booking.end_at > start,
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


async def bookings_of_lead(session: AsyncSession, lead_id: int) -> list[tuple[Booking, Rep]]:
    """A lead's confirmed and cancelled bookings (not holds), with their reps, latest first."""
    rows = await session.execute(
        select(Booking, Rep)
        .join(Rep, Rep.id == Booking.rep_id)
        .where(Booking.lead_id == lead_id, Booking.status.in_(("confirmed", "cancelled")))
        .order_by(Booking.start_at.desc())
    )
    return [(booking, rep) for booking, rep in rows.all()]


async def upcoming_booking_of_lead(
    session: AsyncSession, lead_id: int, now: datetime, *, other_than: int | None = None
) -> Booking | None:
    """The lead's next confirmed meeting that has not started, in a conversation other than
    ``other_than`` (one person has one meeting with us at a time)."""
    query = select(Booking).where(
        Booking.lead_id == lead_id, Booking.status == "confirmed", Booking.start_at > now
    )
    if other_than is not None:
        query = query.where(
            (Booking.conversation_id != other_than) | Booking.conversation_id.is_(None)
        )
    return await session.scalar(query.order_by(Booking.start_at).limit(1))


async def lock_booking(session: AsyncSession, booking_id: int) -> tuple[Booking, Rep] | None:
    """A booking locked for a change (its outcome, a cancel, a move), with its rep."""
    row = (
        await session.execute(
            select(Booking, Rep)
            .join(Rep, Rep.id == Booking.rep_id)
            .where(Booking.id == booking_id)
            .with_for_update(of=Booking)
            .execution_options(populate_existing=True)  # what the lock holds, not a stale copy
        )
    ).first()
    return None if row is None else (row[0], row[1])


async def booking_chain(session: AsyncSession, booking: Booking) -> list[Booking]:
    """The booking and the ones it was moved from, newest first: the last is the first
    booking of the meeting (whose id the invite's UID keeps across moves)."""
    chain = [booking]
    seen = {booking.id}
    while chain[-1].rescheduled_from_id is not None:
        before = await session.get(Booking, chain[-1].rescheduled_from_id)
        if before is None or before.id in seen:  # pragma: no cover - foreign keys, no loops
            break
        seen.add(before.id)
        chain.append(before)
    return chain


async def latest_booking_of_conversation(
    session: AsyncSession, conversation_id: int
) -> tuple[Booking, Rep] | None:
    """The conversation's meeting as the rep sees it: the confirmed one, else the last one
    cancelled (moved ones are in its chain; holds are not meetings yet)."""
    row = (
        await session.execute(
            select(Booking, Rep)
            .join(Rep, Rep.id == Booking.rep_id)
            .where(
                Booking.conversation_id == conversation_id,
                Booking.status.in_(("confirmed", "cancelled")),
            )
            .order_by((Booking.status == "confirmed").desc(), Booking.id.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else (row[0], row[1])
