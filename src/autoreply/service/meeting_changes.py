"""A booked meeting after the fact: the lead moves it (the reschedule link of the invite and
the emails), the rep marks what happened (held, no-show), moves it or cancels it.

A move is one transaction: the new slot is booked confirmed with the same rep (the unique
index of one live booking per rep and start makes a taken slot lose cleanly), the old
booking becomes ``rescheduled`` (its slot is free again), the new row points at it
(``rescheduled_from_id``) with one more ``sequence``, and the updated invite (same UID),
the pre-meeting email and the morning reminder follow the new time (``MeetingMail``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.domain import booking as slots_of
from autoreply.domain.calendar import BusinessCalendar, format_when
from autoreply.errors import BadRequestError, ConflictError, NotFoundError
from autoreply.flows.turns import Context, State
from autoreply.service.booking import PAGE_SLOTS, Bookings, DayOfSlots, by_day
from autoreply.service.conversations import ConversationService
from autoreply.store import repos
from autoreply.store.models import Booking, Conversation, Lead, Rep

__all__ = [
    "OUTCOMES",
    "MeetingChanges",
    "MeetingNotChangeable",
    "MeetingView",
    "Moved",
    "ReschedulePage",
    "meeting_view",
]

log = logging.getLogger(__name__)

OUTCOMES = ("held", "no_show")
Outcome = Literal["held", "no_show"]
Moved = Literal["moved", "taken", "none", "started"]
"""What a move came to: done; the slot was taken a moment ago (fresh slots are shown);
there is no meeting to move (cancelled, or none booked); the meeting has begun."""


class MeetingNotChangeable(ConflictError):
    """The meeting cannot be changed so now; ``reason`` says why (``not_started``: an
    outcome before the meeting began; ``not_confirmed``: it was cancelled or moved)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ReschedulePage:
    """What a reschedule page (the lead's or the rep's) shows."""

    locale: str
    name: str | None  # the lead's
    booked: str | None  # the meeting's start as it stands (None: nothing to move)
    rep: str | None
    state: Literal["open", "none", "started"]  # open: it can move (the slots, if any)
    days: tuple[DayOfSlots, ...]
    cancel_url: str | None = None


@dataclass(frozen=True)
class MeetingView:
    """The meeting block of the handoff page."""

    id: int
    status: str  # confirmed, cancelled
    start_text: str
    end_text: str
    rep: str
    started: bool  # its start has passed: held / no-show can be marked
    outcome: str | None
    outcome_at: datetime | None
    outcome_by: str | None
    sequence: int
    previous: tuple[str, ...]  # where it was before each move, latest first


async def meeting_view(
    session: AsyncSession, calendar: BusinessCalendar, conversation_id: int, now: datetime
) -> MeetingView | None:
    """The meeting of a handoff's conversation (the confirmed one, else the last cancelled)."""
    found = await repos.latest_booking_of_conversation(session, conversation_id)
    if found is None:
        return None
    booking, rep = found
    chain = await repos.booking_chain(session, booking)
    by = await repos.get_rep(session, booking.outcome_by) if booking.outcome_by else None
    tz = calendar.tz
    return MeetingView(
        id=booking.id,
        status=booking.status,
        start_text=format_when(booking.start_at.astimezone(tz), "ja"),
        end_text=f"{booking.end_at.astimezone(tz):%H:%M}",
        rep=rep.name,
        started=booking.start_at <= now,
        outcome=booking.outcome,
        outcome_at=booking.outcome_at,
        outcome_by=by.name if by else None,
        sequence=booking.sequence,
        previous=tuple(format_when(b.start_at.astimezone(tz), "ja") for b in chain[1:]),
    )


class MeetingChanges:
    """Moving, marking and cancelling booked meetings (the lead's links, the rep pages)."""

    def __init__(self, service: ConversationService, bookings: Bookings) -> None:
        self.service = service
        self.bookings = bookings
        self.content = service.content

    # -- slots -----------------------------------------------------------------------------

    async def _slots(
        self,
        session: AsyncSession,
        conversation: Conversation,
        lead: Lead,
        booking: Booking,
        now: datetime,
    ) -> tuple[Context, str]:
        """The context of a move (only the meeting's own rep) and the flow's language."""
        engine = self.content.engine(conversation.flow_id)
        ctx = await self.service.context(session, engine, conversation, lead, now, slots=True)
        own = [r for r in ctx.reps if r.rep_id == str(booking.rep_id)]
        return replace(ctx, reps=own), engine.flow.locale

    def _offered(self, ctx: Context, booking: Booking) -> list[slots_of.Slot]:
        rules = replace(self.content.rules, count=PAGE_SLOTS)
        offered = slots_of.offer_slots(ctx.calendar, ctx.reps, ctx.busy, ctx.now, rules)
        return [s for s in offered if s.start != booking.start_at]

    async def _page(
        self,
        session: AsyncSession,
        conversation: Conversation,
        lead: Lead,
        found: tuple[Booking, Rep] | None,
        now: datetime,
        *,
        rep_side: bool = False,
    ) -> ReschedulePage:
        locale = self.content.engine(conversation.flow_id).flow.locale
        if found is None:
            return ReschedulePage(locale, lead.name, None, None, "none", ())
        booking, rep = found
        start = booking.start_at.astimezone(self.content.calendar.tz)
        booked = format_when(start, locale)
        cancel = self.service.links.cancel(conversation.public_id)
        if booking.start_at <= now and not rep_side:
            return ReschedulePage(locale, lead.name, booked, rep.name, "started", (), cancel)
        ctx, locale = await self._slots(session, conversation, lead, booking, now)
        days = by_day(self._offered(ctx, booking), self.content.calendar.tz, locale)
        return ReschedulePage(locale, lead.name, booked, rep.name, "open", days, cancel)

    # -- the lead's link -------------------------------------------------------------------

    async def reschedule_page(self, conversation_id: str) -> ReschedulePage:
        """The lead's meeting and the other free slots of its rep."""
        now = self.content.clock.now()
        async with self.service.uow.read() as session:
            conversation, lead = await repos.lock_conversation_and_lead(
                session, conversation_id, lock=False
            )
            found = await repos.confirmed_booking(session, conversation_id=conversation.id)
            return await self._page(session, conversation, lead, found, now)

    async def reschedule(self, conversation_id: str, slot_id: str) -> Moved:
        """Move the conversation's meeting to the slot the lead picked."""
        now = self.content.clock.now()
        start, end = self._parse(slot_id)
        async with self.service.uow.write() as session:
            conversation, lead = await repos.lock_conversation_and_lead(session, conversation_id)
            found = await repos.confirmed_booking(session, conversation_id=conversation.id)
            if found is None:
                return "none"
            if found[0].start_at <= now:
                return "started"
            return await self._move(session, conversation, lead, *found, start, end, now, "lead")

    # -- the rep's pages and API -------------------------------------------------------------

    async def _context_of(
        self, session: AsyncSession, booking_id: int, *, lock: bool
    ) -> tuple[Booking, Rep, Conversation, Lead]:
        """A booking with its rep, conversation and lead; with ``lock``, the conversation is
        locked first and then the booking (the order the lead's pages and the turn take)."""
        found = await repos.booking_in_context(session, booking_id)
        if found is None:
            raise NotFoundError(f"no booking {booking_id}")
        booking, rep, conversation, lead = found
        if lock:
            fresh = await repos.conversation_by_id(session, conversation.id, lock=True)
            conversation = fresh or conversation
            locked = await repos.lock_booking(session, booking_id)
            if locked is None:  # pragma: no cover - bookings are never deleted
                raise NotFoundError(f"no booking {booking_id}")
            booking = locked[0]
        return booking, rep, conversation, await repos.current_lead(session, lead)

    async def handoff_of(self, booking_id: int) -> int | None:
        """The handoff page a booking is shown on (None: none was written)."""
        async with self.service.uow.read() as session:
            _, _, conversation, _ = await self._context_of(session, booking_id, lock=False)
            row = await repos.handoff_of(session, conversation_id=conversation.id)
            return row.id if row else None

    async def current(self, booking_id: int) -> Booking:
        """The booking a meeting is now: this one, or the one it was last moved to."""
        async with self.service.uow.read() as session:
            booking, _, conversation, _ = await self._context_of(session, booking_id, lock=False)
            if booking.status == "rescheduled":
                found = await repos.confirmed_booking(session, conversation_id=conversation.id)
                if found is not None:
                    return found[0]
            return booking

    async def rep_page(self, booking_id: int) -> ReschedulePage:
        """The rep's reschedule page: the meeting and the rep's other free slots."""
        now = self.content.clock.now()
        async with self.service.uow.read() as session:
            booking, rep, conversation, lead = await self._context_of(
                session, booking_id, lock=False
            )
            found = (booking, rep) if booking.status == "confirmed" else None
            return await self._page(session, conversation, lead, found, now, rep_side=True)

    async def rep_reschedule(self, booking_id: int, slot_id: str, by: Rep) -> Moved:
        """A rep moves the meeting (after a call, or after a no-show: a new date)."""
        now = self.content.clock.now()
        start, end = self._parse(slot_id)
        async with self.service.uow.write() as session:
            booking, rep, conversation, lead = await self._context_of(
                session, booking_id, lock=True
            )
            if booking.status != "confirmed":
                raise _not_confirmed(booking)
            return await self._move(
                session, conversation, lead, booking, rep, start, end, now, f"rep:{by.id}"
            )

    async def mark(self, booking_id: int, outcome: str, by: Rep) -> Booking:
        """Record what happened at the meeting: ``held`` or ``no_show``, once it began."""
        if outcome not in OUTCOMES:
            raise BadRequestError(f"outcome must be one of {', '.join(OUTCOMES)}")
        now = self.content.clock.now()
        async with self.service.uow.write() as session:
            booking, rep, conversation, _ = await self._context_of(session, booking_id, lock=True)
            if booking.status != "confirmed":
                raise _not_confirmed(booking)
            if booking.start_at > now:
                when = format_when(booking.start_at.astimezone(self.content.calendar.tz), "en")
                raise MeetingNotChangeable(
                    f"the meeting has not started yet (it starts {when}): "
                    "held or no-show can be marked from its start on",
                    "not_started",
                )
            if booking.outcome == outcome:
                return booking
            booking.outcome, booking.outcome_at, booking.outcome_by = outcome, now, by.id
            await session.flush()
            if self.service.meetings is not None:
                await self.service.meetings.emit(
                    session,
                    conversation,
                    f"meeting.{outcome}",
                    booking,
                    rep,
                    now,
                    key=f"booking:{booking.id}:{outcome}",
                )
            log.info(
                "meeting outcome", extra={"booking": booking.id, "outcome": outcome, "rep": by.id}
            )
            return booking

    async def cancel(self, booking_id: int, by: Rep) -> Booking:
        """A rep cancels the meeting: as the lead's cancel link does (the cancellation goes
        to the lead and the rep, the slot is free, the handoff says so)."""
        async with self.service.uow.read() as session:
            booking, _, conversation, _ = await self._context_of(session, booking_id, lock=False)
        if booking.status != "confirmed":
            raise _not_confirmed(booking)
        cancelled = await self.bookings.cancel_booking(conversation.public_id)
        if cancelled is None or cancelled.id != booking.id:
            raise _not_confirmed(booking)  # moved or cancelled meanwhile
        log.info("meeting cancelled by the rep", extra={"booking": booking.id, "rep": by.id})
        return cancelled

    # -- the move itself ---------------------------------------------------------------------

    def _parse(self, slot_id: str) -> tuple[datetime, datetime]:
        try:
            return slots_of.Slot.parse_id(slot_id, self.content.calendar.tz)
        except (ValueError, KeyError) as exc:
            raise BadRequestError(f"not a slot: {slot_id!r}") from exc

    async def _move(
        self,
        session: AsyncSession,
        conversation: Conversation,
        lead: Lead,
        before: Booking,
        rep: Rep,
        start: datetime,
        end: datetime,
        now: datetime,
        by: str,
    ) -> Moved:
        if start == before.start_at:
            return "taken"  # the slot it already has is not a free one
        ctx, locale = await self._slots(session, conversation, lead, before, now)
        free = slots_of.reps_free_for(
            ctx.calendar, ctx.reps, ctx.busy, now, start, end, self.content.rules
        )
        if str(rep.id) not in free or not await repos.add_booking(
            session,
            rep_id=rep.id,
            lead_id=before.lead_id,
            conversation_id=conversation.id,
            start=start,
            end=end,
            now=now,
        ):
            return "taken"
        before.status, before.cancelled_at = "rescheduled", now
        await session.flush()
        found = await repos.confirmed_booking(session, conversation_id=conversation.id)
        if found is None:  # pragma: no cover - just added in this transaction
            return "taken"
        booking = found[0]
        booking.rescheduled_from_id = before.id
        booking.sequence = (before.sequence or 0) + 1
        slot_id = slots_of.Slot(start, end, (str(rep.id),)).id
        state = State.from_dict(conversation.state)
        state = state.evolve(
            booking={
                "slot_id": slot_id,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "status": "confirmed",
            }
        )
        conversation.state = state.to_dict()
        conversation.updated_at = now
        if by == "lead":
            label = format_when(start.astimezone(self.content.calendar.tz), locale)
            await repos.add_messages(
                session,
                [
                    repos.message_row(
                        conversation.id,
                        "in",
                        "reschedule_page",
                        label,
                        {"value": slot_id, "from": before.start_at.isoformat()},
                        now,
                    )
                ],
            )
        await session.flush()
        meetings = self.service.meetings
        if meetings is not None:
            await meetings.moved(session, conversation, before, now)
            await meetings.sync(session, conversation, lead, state, now)
            await meetings.emit(
                session,
                conversation,
                "meeting.rescheduled",
                booking,
                rep,
                now,
                previous_start=before.start_at,
            )
        await self.service.refresh_handoff(session, conversation, now)
        log.info(
            "meeting moved",
            extra={"conversation": conversation.public_id, "booking": booking.id, "by": by},
        )
        return "moved"


def _not_confirmed(booking: Booking) -> MeetingNotChangeable:
    return MeetingNotChangeable(
        f"the meeting is {booking.status}: only a booked meeting can be changed",
        "not_confirmed",
    )
