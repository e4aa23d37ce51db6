"""Meetings booked outside the chat: the page an email links to (free slots, a pick booked as
in the chat), the booking it shows, and its cancellation."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import tzinfo
from typing import Literal

from autoreply.domain import booking as slots_of
from autoreply.domain.calendar import format_date, format_when
from autoreply.errors import BadRequestError
from autoreply.flows.turns import Book, State
from autoreply.links import ShortLink
from autoreply.service.conversations import ConversationService
from autoreply.store import repos
from autoreply.store.models import Booking

__all__ = ["BookingPage", "Bookings", "DayOfSlots", "Outcome", "PageSlot", "by_day"]

log = logging.getLogger(__name__)
PAGE_SLOTS = 12


@dataclass(frozen=True)
class PageSlot:
    """One free slot as the booking page shows it."""

    id: str
    time: str  # 10:00
    label: str  # 11月24日(火) 10:00


@dataclass(frozen=True)
class DayOfSlots:
    """The free slots of one day."""

    day: str  # 11月24日(火)
    slots: tuple[PageSlot, ...]


@dataclass(frozen=True)
class BookingPage:
    """What the booking page of a conversation shows."""

    locale: str
    name: str | None
    booked: str | None  # the booked meeting's start, when there is one
    cancel_url: str | None
    days: tuple[DayOfSlots, ...]
    reschedule_url: str | None = None


Outcome = Literal["booked", "taken", "already"]


def by_day(offered: Sequence[slots_of.Slot], tz: tzinfo, locale: str) -> tuple[DayOfSlots, ...]:
    """Offered slots as the booking pages show them: grouped by day, in offer order."""
    days: dict[str, list[PageSlot]] = {}
    for slot in offered:
        start = slot.start.astimezone(tz)
        day = format_date(start.date(), locale)
        days.setdefault(day, []).append(
            PageSlot(slot.id, f"{start.hour}:{start.minute:02d}", format_when(start, locale))
        )
    return tuple(DayOfSlots(d, tuple(s)) for d, s in days.items())


class Bookings:
    """A lead's meeting outside the chat: the booking page of an email link, the booking
    it shows, and cancelling it from the signed link in the confirmation."""

    def __init__(self, service: ConversationService) -> None:
        self.service = service
        self.content = service.content

    async def booking_of(self, conversation_id: str) -> Booking | None:
        """The conversation's confirmed booking, if any."""
        async with self.service.uow.read() as session:
            found = await repos.confirmed_booking(session, public_id=conversation_id)
        return None if found is None else found[0]

    async def short_target(self, opened: ShortLink) -> str | None:
        """Where a short link (``/b/<token>``, already checked) leads: the signed cancel or
        reschedule page of its conversation; None if the conversation is gone (deleted)."""
        async with self.service.uow.read() as session:
            conversation = await repos.conversation_by_id(session, opened.conversation)
        if conversation is None:
            return None
        links = self.service.links
        if opened.kind == "reschedule":
            return links.reschedule(conversation.public_id)
        return links.cancel(conversation.public_id)

    async def cancel_booking(self, conversation_id: str) -> Booking | None:
        """Cancel the conversation's booking (the slot is free again); None if there is none.

        The handoff is refreshed so the rep sees that the meeting is off.
        """
        now = self.content.clock.now()
        async with self.service.uow.write() as session:
            conversation, lead = await repos.lock_conversation_and_lead(session, conversation_id)
            found = await repos.confirmed_booking(session, conversation_id=conversation.id)
            if found is None:
                return None
            booking = found[0]
            booking.status = "cancelled"
            booking.cancelled_at = now
            state = State.from_dict(conversation.state)
            tags = tuple(dict.fromkeys((*state.tags, "booking_cancelled")))
            conversation.state = state.evolve(booking=None, tags=tags).to_dict()
            conversation.updated_at = now
            await session.flush()
            if self.service.meetings is not None:
                await self.service.meetings.cancelled(session, conversation, lead, booking, now)
            await self.service.refresh_handoff(session, conversation, now)
            log.info("booking cancelled", extra={"conversation": conversation_id})
        return booking

    async def booking_page(self, conversation_id: str) -> BookingPage:
        """The lead's booking, or the slots free now (spread over the next days)."""
        service = self.service
        now = self.content.clock.now()
        async with service.uow.read() as session:
            conversation, lead = await repos.lock_conversation_and_lead(
                session, conversation_id, lock=False
            )
            engine = self.content.engine(conversation.flow_id)
            locale = engine.flow.locale
            found = await repos.confirmed_booking(session, conversation_id=conversation.id)
            booked, booked_in = (found[0], conversation_id) if found else (None, None)
            if booked is None:  # one person, one meeting: a booking made in another chat
                booked = await repos.upcoming_booking_of_lead(session, lead.id, now)
                if booked is not None and booked.conversation_id is not None:
                    other = await repos.conversation_by_id(session, booked.conversation_id)
                    booked_in = other.public_id if other else None
            if booked is not None:
                start = booked.start_at.astimezone(self.content.calendar.tz)
                return BookingPage(
                    locale,
                    lead.name,
                    format_when(start, locale),
                    service.links.cancel(booked_in) if booked_in else None,
                    (),
                    service.links.reschedule(booked_in) if booked_in else None,
                )
            ctx = await service.context(session, engine, conversation, lead, now, slots=True)
        offered = slots_of.offer_slots(
            ctx.calendar, ctx.reps, ctx.busy, ctx.now, replace(self.content.rules, count=PAGE_SLOTS)
        )
        return BookingPage(
            locale, lead.name, None, None, by_day(offered, self.content.calendar.tz, locale)
        )

    async def book(self, conversation_id: str, slot_id: str) -> Outcome:
        """Book a slot picked on the booking page: one transaction, a free rep (round
        robin), the handoff and the invites, like a pick in the chat."""
        service = self.service
        now = self.content.clock.now()
        try:
            start, end = slots_of.Slot.parse_id(slot_id, self.content.calendar.tz)
        except (ValueError, KeyError) as exc:
            raise BadRequestError(f"not a slot: {slot_id!r}") from exc
        async with service.uow.write() as session:
            conversation, lead = await repos.lock_conversation_and_lead(session, conversation_id)
            if await repos.confirmed_booking(
                session, conversation_id=conversation.id
            ) or await repos.upcoming_booking_of_lead(session, lead.id, now):
                return "already"  # one person, one meeting (change it by cancelling first)
            engine = self.content.engine(conversation.flow_id)
            await repos.release_holds(session, conversation.id, now)  # a chat's hold, if any
            ctx = await service.context(session, engine, conversation, lead, now, slots=True)
            if not await service.hold_slot(
                session, conversation, lead, Book(slot_id, start, end), ctx, now
            ):
                return "taken"
            locale = engine.flow.locale
            label = format_when(start.astimezone(self.content.calendar.tz), locale)
            state = State.from_dict(conversation.state)
            state = state.evolve(
                booking={
                    "slot_id": slot_id,
                    "start": start.isoformat(),
                    "end": end.isoformat(),
                    "status": "confirmed",
                },
                offered=(),
                step=None if state.step == state.offer_step else state.step,
                handoff="booked",
            )
            conversation.state = state.to_dict()
            conversation.updated_at = now
            await repos.add_messages(
                session,
                [
                    repos.message_row(
                        conversation.id, "in", "booking_page", label, {"value": slot_id}, now
                    )
                ],
            )
            await session.flush()
            if service.meetings is not None:
                await service.meetings.sync(session, conversation, lead, state, now)
            row = await service.handoffs.row(session, conversation)
            ctx = await service.context(session, engine, conversation, lead, now)
            await service.handoffs.save(
                session, engine, conversation, lead, state, ctx, "booked", now, row=row
            )
            log.info(
                "booked from the booking page",
                extra={"conversation": conversation_id, "lead": lead.id},
            )
        return "booked"
