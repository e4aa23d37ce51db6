"""Mail about booked meetings: invites, cancellations, and the pre-meeting email (0.5次商談).

Everything is queued in the outbox inside the caller's transaction, once per booking
(the outbox's de-duplication keys), so calling ``sync`` on every turn that might need it
is safe, and cheap: nothing is written until the row is sent. A booking made in the chat
before the lead gave an email address gets its invite when the address arrives; the rep's
copy waits until the conversation has told what it will tell (an address, or a handoff),
so the rep's invite names the lead.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, time
from typing import Any, Literal
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.channels.email.render import Calendar, MailRenderer, serialize
from autoreply.domain.calendar import BusinessCalendar, format_when
from autoreply.domain.invites import Invite, Person, invite_ics
from autoreply.errors import PermanentDeliveryError
from autoreply.flows.facts import challenge_of, timing_of
from autoreply.flows.turns import State
from autoreply.links import Links
from autoreply.service.content import Content
from autoreply.store import repos
from autoreply.store.models import Booking, Conversation, Lead, Rep
from autoreply.store.outbox import OutboxItem

__all__ = ["MeetingMail", "pre_meeting_at"]

log = logging.getLogger(__name__)


def pre_meeting_at(
    calendar: BusinessCalendar, start: datetime, now: datetime, at: time
) -> datetime:
    """When the pre-meeting email goes: at ``at`` on the business day before the meeting,
    or right away when that moment has passed (a meeting booked for tomorrow morning)."""
    day = calendar.previous_business_day(start.astimezone(calendar.tz).date())
    planned = datetime.combine(day, at, calendar.tz)
    return max(planned, now)


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

    async def cancelled(
        self,
        session: AsyncSession,
        conversation: Conversation,
        lead: Lead,
        booking: Booking,
        now: datetime,
    ) -> None:
        """Queue the cancellation to whoever got the invite; stop the pre-meeting email."""
        invited = await repos.recipients_of(
            session, [_key("booking_confirmed", booking.id, w) for w in ("lead", "rep")]
        )
        for who in ("lead", "rep"):
            recipient = invited.get(_key("booking_confirmed", booking.id, who))
            if recipient:
                await self._queue(
                    session, conversation, lead, booking, "booking_cancelled", who, recipient, now
                )
        stopped = await repos.cancel_pending(
            session,
            "the meeting was cancelled",
            dedupe_key=_key("pre_meeting", booking.id, "lead"),
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
        variables = self._variables(conversation, lead, state, booking, rep, who)
        to = (
            Person(rep.name, rep.email) if who == "rep" else Person(lead.name or "", item.recipient)
        )
        calendar = None
        if kind != "pre_meeting":
            method: Literal["REQUEST", "CANCEL"] = (
                "CANCEL" if kind == "booking_cancelled" else "REQUEST"
            )
            invite = Invite(
                uid=f"booking-{booking.id}-{conversation.public_id}@{self.host}",
                start=booking.start_at.astimezone(self.content.calendar.tz),
                end=booking.end_at.astimezone(self.content.calendar.tz),
                summary=variables["summary"],
                description=variables["description"],
                organizer=Person(rep.name, rep.email),
                attendees=(Person(lead.name or "", lead.email),) if lead.email else (),
                stamp=now,
                location=self.content.settings.meeting_url,
                sequence=1 if method == "CANCEL" else 0,
            )
            calendar = Calendar(invite_ics(invite, method), method)
        if kind == "pre_meeting":
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
            "timing": timing.describe(locale) if timing else None,
            "timing_text": timing.text if timing else None,
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
            "channel": conversation.channel,
        }
        variables["summary"] = self.renderer.part("meeting_summary", locale, variables)
        variables["description"] = self.renderer.part("meeting_description", locale, variables)
        return variables


def _key(kind: str, booking_id: int, who: str) -> str:
    return f"{kind}:{booking_id}:{who}"
