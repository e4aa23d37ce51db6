"""Mail and timers about booked meetings: invites (and their updates when a meeting moves),
cancellations, the pre-meeting email (0.5次商談), the same-day morning reminder, and the
CRM events of a booking's life (booked, cancelled).

Everything is queued in the outbox inside the caller's transaction, once per booking
(the outbox's de-duplication keys), so calling ``sync`` on every turn that might need it
is safe, and cheap: nothing is written until the row is sent. A booking made in the chat
before the lead gave an email address gets its invite when the address arrives; the rep's
copy waits until the conversation has told what it will tell (an address, or a handoff),
so the rep's invite names the lead.

A meeting that moves is a new booking pointing at the one it replaced
(``rescheduled_from_id``); its invite keeps the UID of the first booking of that chain and
carries the booking's ``sequence`` (one more per move or cancel), so calendars update the
event they already hold instead of adding one.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, time
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.channels.email.render import Calendar, MailRenderer, serialize
from autoreply.domain.calendar import BusinessCalendar, format_when
from autoreply.domain.invites import Invite, Person, invite_ics
from autoreply.domain.voice import chose, timing_as_said, timing_in_words
from autoreply.errors import PermanentDeliveryError
from autoreply.flows.facts import challenge_of, timing_of
from autoreply.flows.turns import State
from autoreply.links import Links
from autoreply.service import events
from autoreply.service.content import Content
from autoreply.store import repos
from autoreply.store.models import Booking, Conversation, Lead, Rep
from autoreply.store.outbox import OutboxItem
from autoreply.store.timers import TimerItem

__all__ = ["REMINDER", "MeetingMail", "pre_meeting_at", "reminder_at"]

REMINDER = "meeting_reminder"
"""The kind of the reminder's timer and of its email."""

log = logging.getLogger(__name__)


def pre_meeting_at(
    calendar: BusinessCalendar, start: datetime, now: datetime, at: time
) -> datetime:
    """When the pre-meeting email goes: at ``at`` on the business day before the meeting,
    or right away when that moment has passed (a meeting booked for tomorrow morning)."""
    day = calendar.previous_business_day(start.astimezone(calendar.tz).date())
    planned = datetime.combine(day, at, calendar.tz)
    return max(planned, now)


def reminder_at(tz: ZoneInfo, start: datetime, now: datetime, at: time) -> datetime | None:
    """When the same-day reminder goes: at ``at`` (business time zone) on the meeting's
    day; None when the meeting is not later that day than ``at`` (a 07:30 meeting gets no
    08:00 reminder) or that moment has passed (booked the same morning).

    >>> from zoneinfo import ZoneInfo
    >>> tokyo = ZoneInfo("Asia/Tokyo")
    >>> start = datetime(2026, 11, 24, 10, 0, tzinfo=tokyo)
    >>> reminder_at(tokyo, start, datetime(2026, 11, 21, 23, 0, tzinfo=tokyo), time(8, 0))
    datetime.datetime(2026, 11, 24, 8, 0, tzinfo=zoneinfo.ZoneInfo(key='Asia/Tokyo'))
    >>> reminder_at(tokyo, start, datetime(2026, 11, 24, 8, 30, tzinfo=tokyo), time(8, 0)) is None
    True
    """
    planned = datetime.combine(start.astimezone(tz).date(), at, tz)
    return planned if start > planned and planned > now else None


class MeetingMail:
    """Queues the emails of a booking's life (confirmed, 0.5次商談, cancelled), and writes
    them when the outbox sends them.

    A turn only queues (a row naming what to write and for whom): writing a message with
    its invite costs more than the rest of a turn, and a message written when it goes
    holds what is known then (the pre-meeting email days later, the name given after the
    booking). Its Message-ID comes from the row, so every attempt sends the same one.
    """

    def __init__(self, content: Content, renderer: MailRenderer, links: Links) -> None:
        self.content = content
        self.renderer = renderer
        self.links = links
        self.host = urlsplit(content.settings.public_url).hostname or "autoreply"

    async def sync(
        self,
        session: AsyncSession,
        conversation: Conversation,
        lead: Lead,
        state: State,
        now: datetime,
    ) -> None:
        """Queue what the conversation's confirmed booking still needs (if it has one)."""
        found = await repos.confirmed_booking(session, conversation_id=conversation.id)
        if found is None:
            return
        booking, rep = found
        if lead.email:
            await self._queue(
                session, conversation, lead, booking, "booking_confirmed", "lead", lead.email, now
            )
            await self._schedule_reminder(session, booking, now)
            settings, calendar = self.content.settings, self.content.calendar
            due = pre_meeting_at(
                calendar, booking.start_at, now, time.fromisoformat(settings.pre_meeting_time)
            )
            if await self._queue(
                session,
                conversation,
                lead,
                booking,
                "pre_meeting",
                "lead",
                lead.email,
                now,
                due=due,
            ):
                source = dict(conversation.source or {})
                source["pre_meeting"] = {"scheduled_at": due.isoformat(), "sent_at": None}
                conversation.source = source
        if lead.email or state.handoff:
            await self._queue(
                session, conversation, lead, booking, "booking_confirmed", "rep", rep.email, now
            )
        if booking.rescheduled_from_id is None:  # a moved one is told as rescheduled
            await self.emit(session, conversation, "meeting.booked", booking, rep, now)

    async def _schedule_reminder(
        self, session: AsyncSession, booking: Booking, now: datetime
    ) -> None:
        """The same-day reminder's timer (``meeting_reminder_time``; empty: none)."""
        setting = self.content.settings.meeting_reminder_time
        if not setting:
            return
        due = reminder_at(
            self.content.calendar.tz, booking.start_at, now, time.fromisoformat(setting)
        )
        if due is not None:
            await repos.schedule(
                session,
                kind=REMINDER,
                key=f"{REMINDER}:{booking.id}",
                due_at=due,
                payload={"booking": booking.id},
                now=now,
            )

    async def remind(self, session: AsyncSession, timer: TimerItem, now: datetime) -> None:
        """The reminder's timer fired: queue the email (written when it is sent), unless
        the meeting is off, has begun, or the setting was emptied since."""
        if not self.content.settings.meeting_reminder_time:
            return
        row = await repos.booking_in_context(session, int(timer.payload["booking"]))
        if row is None:
            return
        booking, _, conversation, lead = row
        lead = await repos.current_lead(session, lead)
        if booking.status != "confirmed" or booking.start_at <= now or not lead.email:
            return
        await self._queue(session, conversation, lead, booking, REMINDER, "lead", lead.email, now)

    async def uid(self, session: AsyncSession, booking: Booking, conversation: Conversation) -> str:
        """The invite's UID: the first booking of the meeting's chain names it for good."""
        first = (await repos.booking_chain(session, booking))[-1]
        return f"booking-{first.id}-{conversation.public_id}@{self.host}"

    async def emit(
        self,
        session: AsyncSession,
        conversation: Conversation,
        event_type: str,
        booking: Booking,
        rep: Rep,
        now: datetime,
        *,
        key: str | None = None,
        previous_start: datetime | None = None,
    ) -> None:
        """A CRM event about this booking (``events.emit``; nothing without a webhook)."""
        if not self.content.webhooks:
            return
        handoff = await repos.handoff_of(session, conversation_id=conversation.id)
        uid = await self.uid(session, booking, conversation)
        await events.emit(
            session,
            self.content,
            event_type,
            lead_id=booking.lead_id,
            key=key or f"booking:{booking.id}",
            at=now,
            data={
                "handoff_id": handoff.id if handoff else None,
                "meeting": events.meeting_part(booking, rep, uid, previous_start=previous_start),
            },
        )

    async def moved(
        self,
        session: AsyncSession,
        conversation: Conversation,
        before: Booking,
        now: datetime,
    ) -> None:
        """The meeting moved off ``before``: what was queued for it and not sent yet is
        withdrawn (invites waiting for the lead's name, the pre-meeting email, the
        reminder); ``sync`` then queues the updated invites for the new booking."""
        await self._withdraw(session, conversation, before, "the meeting was moved")
        for who in ("lead", "rep"):
            await repos.cancel_pending(
                session,
                "the meeting was moved",
                dedupe_key=_key("booking_confirmed", before.id, who),
            )

    async def cancelled(
        self,
        session: AsyncSession,
        conversation: Conversation,
        lead: Lead,
        booking: Booking,
        now: datetime,
    ) -> None:
        """Queue the cancellation (one more SEQUENCE) to whoever got the invite; stop the
        pre-meeting email and the reminder; tell the CRM."""
        booking.sequence = (booking.sequence or 0) + 1
        invited = await repos.recipients_of(
            session, [_key("booking_confirmed", booking.id, w) for w in ("lead", "rep")]
        )
        for who in ("lead", "rep"):
            recipient = invited.get(_key("booking_confirmed", booking.id, who))
            if recipient:
                await self._queue(
                    session, conversation, lead, booking, "booking_cancelled", who, recipient, now
                )
        await self._withdraw(session, conversation, booking, "the meeting was cancelled")
        rep = await repos.get_rep(session, booking.rep_id)
        if rep is not None:
            await self.emit(session, conversation, "meeting.cancelled", booking, rep, now)

    async def _withdraw(
        self, session: AsyncSession, conversation: Conversation, booking: Booking, why: str
    ) -> None:
        """The pre-meeting email and the reminder of a booking that is off, if not sent."""
        await repos.cancel_timers(session, f"{REMINDER}:{booking.id}")
        await repos.cancel_pending(session, why, dedupe_key=_key(REMINDER, booking.id, "lead"))
        stopped = await repos.cancel_pending(
            session, why, dedupe_key=_key("pre_meeting", booking.id, "lead")
        )
        if stopped:
            source = dict(conversation.source or {})
            source.pop("pre_meeting", None)
            conversation.source = source

    async def _queue(
        self,
        session: AsyncSession,
        conversation: Conversation,
        lead: Lead,
        booking: Booking,
        kind: str,
        who: str,
        recipient: str,
        now: datetime,
        *,
        due: datetime | None = None,
    ) -> bool:
        queued = await repos.enqueue(
            session,
            channel="email",
            kind=kind,
            recipient=recipient,
            payload={
                "compose": kind,
                "who": who,
                "booking": booking.id,
                "scheduled": due is not None,
                "due": due.isoformat() if due else None,
                "sequence": booking.sequence or 0,  # the invite's revision when queued
            },
            dedupe_key=_key(kind, booking.id, who),
            now=now,
            due=due,
            conversation_id=conversation.id,
            lead_id=lead.id,
        )
        if queued:
            log.info(
                "email queued",
                extra={"conversation": conversation.public_id, "lead": lead.id, "kind": kind},
            )
        return queued

    # -- writing them (the outbox worker, when a row is sent) --------------------------------

    async def compose(self, session: AsyncSession, item: OutboxItem, now: datetime) -> str:
        """The message of a queued meeting email, written now (``PermanentDeliveryError``
        when what it is about is gone)."""
        row = await repos.booking_in_context(session, int(item.payload["booking"]))
        if row is None:
            raise PermanentDeliveryError(f"booking {item.payload['booking']} is gone")
        booking, rep, conversation, lead = row
        lead = await repos.current_lead(session, lead)
        state = State.from_dict(conversation.state)
        kind, who = str(item.payload["compose"]), str(item.payload["who"])
        chain = await repos.booking_chain(session, booking)
        variables = self._variables(conversation, lead, state, booking, rep, who, now)
        if who == "rep":  # the rep's invite opens the handoff in one tap
            handoff = await repos.handoff_of(session, conversation_id=conversation.id)
            variables["handoff_url"] = (
                self.links.handoff_page(handoff.id)
                if handoff is not None
                else self.links.absolute("/rep/handoffs")
            )
        if len(chain) > 1:  # moved: the messages say from when to when
            variables["previous_start_text"] = format_when(
                chain[1].start_at.astimezone(self.content.calendar.tz), variables["locale"]
            )
        to = (
            Person(rep.name, rep.email) if who == "rep" else Person(lead.name or "", item.recipient)
        )
        calendar = None
        if kind in ("booking_confirmed", "booking_cancelled"):
            method: Literal["REQUEST", "CANCEL"] = (
                "CANCEL" if kind == "booking_cancelled" else "REQUEST"
            )
            sequence = item.payload.get("sequence")
            if not isinstance(sequence, int):  # queued before rows said it
                sequence = max(booking.sequence, 1) if method == "CANCEL" else booking.sequence
            invite = Invite(
                uid=f"booking-{chain[-1].id}-{conversation.public_id}@{self.host}",
                start=booking.start_at.astimezone(self.content.calendar.tz),
                end=booking.end_at.astimezone(self.content.calendar.tz),
                summary=variables["summary"],
                description=variables["description"],
                organizer=Person(rep.name, rep.email),
                attendees=(Person(lead.name or "", lead.email),) if lead.email else (),
                stamp=now,
                location=self.content.settings.meeting_url,
                sequence=sequence,
            )
            calendar = Calendar(invite_ics(invite, method), method)
        if kind in ("pre_meeting", REMINDER):
            variables["sent_on"] = format_when(
                now.astimezone(self.content.calendar.tz), variables["locale"]
            )
        rendered = self.renderer.render(
            kind,
            variables["locale"],
            to=to,
            now=now,
            variables=variables,
            reply_to=None if who == "rep" else self._reply_to(rep),
            calendar=calendar,
            message_id=f"<{uuid.uuid5(uuid.NAMESPACE_URL, item.dedupe_key)}@{self.host}>",
        )
        return serialize(rendered.message)

    def _reply_to(self, rep: Rep) -> Person | None:
        if self.content.settings.mail_reply_to == "rep":
            return Person(rep.name, rep.email)
        return None

    def _variables(
        self,
        conversation: Conversation,
        lead: Lead,
        state: State,
        booking: Booking,
        rep: Rep,
        who: str,
        now: datetime,
    ) -> dict[str, Any]:
        engine = self.content.engine(conversation.flow_id)
        flow = engine.flow
        locale = flow.locale
        tz = self.content.calendar.tz
        start = booking.start_at.astimezone(tz)
        minutes = int((booking.end_at - booking.start_at).total_seconds() // 60)
        challenge = challenge_of(flow, state)
        timing = timing_of(flow, state)
        vocabulary = self.content.vocabulary
        cases = [c for c in (self.content.library.get(i) for i in state.cases_sent) if c]
        variables: dict[str, Any] = {
            "locale": locale,
            "who": who,
            "lead": {name: getattr(lead, name) for name in repos.LEAD_FIELDS},
            "rep": {"name": rep.name, "email": rep.email},
            "start": start,
            "start_text": format_when(start, locale),
            "end_text": format_when(booking.end_at.astimezone(tz), locale),
            "minutes": minutes,
            "meeting_url": self.content.settings.meeting_url,
            "challenge": challenge,
            "topics": [t.label for t in (vocabulary.get(i) for i in state.topics) if t],
            # as the lead said it: a chosen 3か月以内 stays 3か月以内, typed words are quoted
            "timing": timing_as_said(timing, locale) if timing else None,
            "timing_text": timing.text if timing else None,
            "timing_reading": (
                None
                if timing is None or chose(timing)
                else timing_in_words(timing, locale, now.astimezone(tz).date())
            ),
            "handoff_url": None,
            "cases": [
                {
                    "title": c.title,
                    "customer": c.customer,
                    "summary": c.summary,
                    "url": self.links.case(conversation.public_id, c.id),
                }
                for c in cases
            ],
            "cancel_url": self.links.cancel(conversation.public_id),
            "reschedule_url": self.links.reschedule(conversation.public_id),
            "previous_start_text": None,
            "channel": conversation.channel,
        }
        variables["summary"] = self.renderer.part("meeting_summary", locale, variables)
        variables["description"] = self.renderer.part("meeting_description", locale, variables)
        return variables


def _key(kind: str, booking_id: int, who: str) -> str:
    return f"{kind}:{booking_id}:{who}"
