"""What happens after the first reply: the booking page of an email link, and what the
outbox learns about deliveries (sent, bounced) written back onto the lead and the handoff."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.domain import booking as slots_of
from autoreply.domain.calendar import format_date, format_when
from autoreply.errors import BadRequestError
from autoreply.flows.turns import Book, State
from autoreply.service.conversations import ConversationService
from autoreply.store import repos
from autoreply.store.models import Booking, Conversation, Lead, Message
from autoreply.store.outbox import OutboxItem

__all__ = ["BookingPage", "DayOfSlots", "Followup", "PageSlot"]

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


Outcome = Literal["booked", "taken", "already"]


class Followup:
    """The lead's self-service after an email, and delivery outcomes noted for the rep."""

    def __init__(self, service: ConversationService) -> None:
        self.service = service
        self.content = service.content

    async def booking_page(self, conversation_id: str) -> BookingPage:
        """The lead's booking, or the slots free now (spread over the next days)."""
        service = self.service
        now = self.content.clock.now()
        async with service.readers() as session:
            conversation, lead = await repos.lock_conversation_and_lead(
                session, conversation_id, lock=False
            )
            engine = self.content.engine(conversation.flow_id)
            locale = engine.flow.locale
            booked = await _confirmed(session, conversation)
            if booked is not None:
                start = booked.start_at.astimezone(self.content.calendar.tz)
                return BookingPage(
                    locale,
                    lead.name,
                    format_when(start, locale),
                    service.links.cancel(conversation_id),
                    (),
                )
            ctx = await service.context(session, engine, conversation, lead, now, slots=True)
        offered = slots_of.offer_slots(
            ctx.calendar, ctx.reps, ctx.busy, ctx.now, replace(self.content.rules, count=PAGE_SLOTS)
        )
        days: dict[str, list[PageSlot]] = {}
        for slot in offered:
            start = slot.start.astimezone(self.content.calendar.tz)
            day = format_date(start.date(), locale)
            days.setdefault(day, []).append(
                PageSlot(slot.id, f"{start.hour}:{start.minute:02d}", format_when(start, locale))
            )
        return BookingPage(
            locale,
            lead.name,
            None,
            None,
            tuple(DayOfSlots(d, tuple(s)) for d, s in days.items()),
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
        async with service.sessions() as session, session.begin():
            conversation, lead = await repos.lock_conversation_and_lead(session, conversation_id)
            if await _confirmed(session, conversation) is not None:
                return "already"
            engine = self.content.engine(conversation.flow_id)
            ctx = await service.context(session, engine, conversation, lead, now, slots=True)
            if not await service.hold_slot(
                session, conversation, lead, Book(slot_id, start, end), ctx, now
            ):
                return "taken"
            locale = engine.flow.locale
            label = format_when(start.astimezone(self.content.calendar.tz), locale)
            state = State.from_dict(conversation.state)
            state = state.evolve(
                booking={"slot_id": slot_id, "start": start.isoformat(), "end": end.isoformat()},
                offered=(),
                step=None if state.step == state.offer_step else state.step,
                handoff="booked",
            )
            conversation.state = state.to_dict()
            conversation.updated_at = now
            session.add(
                Message(
                    conversation_id=conversation.id,
                    direction="in",
                    kind="booking_page",
                    text=label,
                    payload={"value": slot_id},
                    created_at=now,
                )
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
        service.wake_if_queued(session)
        return "booked"

    # -- delivery outcomes (the outbox worker's hooks) ---------------------------------------

    async def delivered(self, item: OutboxItem, at: datetime, _error: str | None) -> None:
        """A message went out: the form reply's time is the real first response, and the
        pre-meeting email is marked on the handoff."""
        if item.conversation_id is None or item.kind not in ("form_reply", "pre_meeting"):
            return
        async with self.service.sessions() as session, session.begin():
            conversation = await _lock(session, item.conversation_id)
            if conversation is None:
                return
            if item.kind == "form_reply":
                first = conversation.first_response_at
                if first is None or first < at:
                    conversation.first_response_at = at
            else:
                source = dict(conversation.source or {})
                planned = dict(source.get("pre_meeting") or {})
                source["pre_meeting"] = {**planned, "sent_at": at.isoformat()}
                conversation.source = source
            await session.flush()
            await self.service.refresh_handoff(session, conversation, at)

    async def undeliverable(self, item: OutboxItem, at: datetime, error: str | None) -> None:
        """Mail to the lead bounced for good: mark the lead, so the rep pages show it."""
        if item.channel != "email" or item.lead_id is None:
            return
        async with self.service.sessions() as session, session.begin():
            lead = await session.get(Lead, item.lead_id)
            if lead is None or item.recipient != (lead.email or item.recipient):
                return
            lead.email_failed_at = at
            lead.email_error = (error or "")[:2000]
            if item.conversation_id is not None:
                conversation = await _lock(session, item.conversation_id)
                if conversation is not None:
                    await session.flush()
                    await self.service.refresh_handoff(session, conversation, at)
        log.warning(
            "email to a lead failed for good", extra={"lead": item.lead_id, "kind": item.kind}
        )


async def _confirmed(session: AsyncSession, conversation: Conversation) -> Booking | None:
    return await session.scalar(
        select(Booking).where(
            Booking.conversation_id == conversation.id, Booking.status == "confirmed"
        )
    )


async def _lock(session: AsyncSession, conversation_id: int) -> Conversation | None:
    return await session.scalar(
        select(Conversation).where(Conversation.id == conversation_id).with_for_update()
    )
