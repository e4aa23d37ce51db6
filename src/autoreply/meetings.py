"""Mail about booked meetings: invites, cancellations, and the pre-meeting email (0.5次商談).

Everything is queued in the outbox inside the caller's transaction, once per booking
(the outbox's de-duplication keys), so calling ``sync`` on every turn that might need it
is safe. A booking made in the chat before the lead gave an email address gets its invite
when the address arrives; the rep's copy waits until the conversation has told what it
will tell (an address, or a handoff), so the rep's invite names the lead.
"""

from __future__ import annotations

import logging
from datetime import datetime, time
from typing import Any, Literal
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.bootstrap import Domain
from autoreply.channels.email import Calendar, MailRenderer, Rendered, serialize
from autoreply.domain.calendar import BusinessCalendar, format_when
from autoreply.domain.invites import Invite, Person, invite_ics
from autoreply.flows.engine import timing_of
from autoreply.flows.turns import State
from autoreply.links import Links
from autoreply.store import repos
from autoreply.store.models import Booking, Conversation, Lead, OutboxRow, Rep

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
    """Queues the emails of a booking's life: confirmed, reminded (0.5次商談), cancelled."""

    def __init__(self, domain: Domain, renderer: MailRenderer, links: Links) -> None:
        self.domain = domain
        self.renderer = renderer
        self.links = links
        host = urlsplit(domain.settings.public_url).hostname or "autoreply"
        self.uid_domain = host

    async def sync(
        self,
        session: AsyncSession,
        conversation: Conversation,
        lead: Lead,
        state: State,
        now: datetime,
    ) -> None:
        """Queue what the conversation's confirmed booking still needs (if it has one)."""
        found = await _booking(session, conversation)
        if found is None:
            return
        booking, rep = found
        if lead.email:
            await self._invite(session, conversation, lead, state, booking, rep, now, "lead")
            await self._pre_meeting(session, conversation, lead, state, booking, rep, now)
        if lead.email or state.handoff:
            await self._invite(session, conversation, lead, state, booking, rep, now, "rep")

    async def cancelled(
        self,
        session: AsyncSession,
        conversation: Conversation,
        lead: Lead,
        booking: Booking,
        now: datetime,
    ) -> None:
        """Queue the cancellation to whoever got the invite; stop the pre-meeting email."""
        rep = await session.get(Rep, booking.rep_id)
        if rep is None:  # pragma: no cover - foreign keys forbid it
            return
        invited = set(
            await session.scalars(
                select(OutboxRow.dedupe_key).where(
                    OutboxRow.dedupe_key.in_(
                        [f"invite:{booking.id}:lead", f"invite:{booking.id}:rep"]
                    )
                )
            )
        )
        state = State.from_dict(conversation.state)
        for who in ("lead", "rep"):
            if f"invite:{booking.id}:{who}" in invited:
                await self._send(
                    session,
                    conversation,
                    lead,
                    self._meeting_mail(
                        "booking_cancelled", conversation, lead, state, booking, rep, now, who
                    ),
                    f"cancel:{booking.id}:{who}",
                    "booking_cancelled",
                    now,
                )
        stopped = await session.execute(
            update(OutboxRow)
            .where(
                OutboxRow.dedupe_key == f"premeeting:{booking.id}",
                OutboxRow.status == "pending",
            )
            .values(status="cancelled", last_error="the meeting was cancelled")
        )
        if getattr(stopped, "rowcount", 0):
            source = dict(conversation.source or {})
            source.pop("pre_meeting", None)
            conversation.source = source

    # -- the messages --------------------------------------------------------------------

    async def _invite(
        self,
        session: AsyncSession,
        conversation: Conversation,
        lead: Lead,
        state: State,
        booking: Booking,
        rep: Rep,
        now: datetime,
        who: Literal["lead", "rep"],
    ) -> None:
        rendered = self._meeting_mail(
            "booking_confirmed", conversation, lead, state, booking, rep, now, who
        )
        key = f"invite:{booking.id}:{who}"
        await self._send(session, conversation, lead, rendered, key, "booking_confirmed", now)

    async def _pre_meeting(
        self,
        session: AsyncSession,
        conversation: Conversation,
        lead: Lead,
        state: State,
        booking: Booking,
        rep: Rep,
        now: datetime,
    ) -> None:
        settings = self.domain.settings
        calendar = self.domain.calendar
        due = pre_meeting_at(
            calendar, booking.start_at, now, time.fromisoformat(settings.pre_meeting_time)
        )
        variables = self._variables(conversation, lead, state, booking, rep, now, "lead")
        variables["sent_on"] = format_when(due.astimezone(calendar.tz), variables["locale"])
        rendered = self.renderer.render(
            "pre_meeting",
            variables["locale"],
            to=Person(lead.name or "", lead.email or ""),
            now=due,
            variables=variables,
            reply_to=self._reply_to(rep),
        )
        queued = await self._send(
            session,
            conversation,
            lead,
            rendered,
            f"premeeting:{booking.id}",
            "pre_meeting",
            now,
            due=due,
            scheduled=True,
        )
        if queued:
            source = dict(conversation.source or {})
            source["pre_meeting"] = {"scheduled_at": due.isoformat(), "sent_at": None}
            conversation.source = source

    def _meeting_mail(
        self,
        name: str,
        conversation: Conversation,
        lead: Lead,
        state: State,
        booking: Booking,
        rep: Rep,
        now: datetime,
        who: Literal["lead", "rep"],
    ) -> Rendered:
        variables = self._variables(conversation, lead, state, booking, rep, now, who)
        cancel = name == "booking_cancelled"
        invite = Invite(
            uid=f"booking-{booking.id}-{conversation.public_id}@{self.uid_domain}",
            start=booking.start_at.astimezone(self.domain.calendar.tz),
            end=booking.end_at.astimezone(self.domain.calendar.tz),
            summary=variables["summary"],
            description=variables["description"],
            organizer=Person(rep.name, rep.email),
            attendees=(Person(lead.name or "", lead.email),) if lead.email else (),
            stamp=now,
            location=self.domain.settings.meeting_url,
            sequence=1 if cancel else 0,
        )
        method: Literal["REQUEST", "CANCEL"] = "CANCEL" if cancel else "REQUEST"
        to = (
            Person(rep.name, rep.email)
            if who == "rep"
            else Person(lead.name or "", lead.email or "")
        )
        return self.renderer.render(
            name,
            variables["locale"],
            to=to,
            now=now,
            variables=variables,
            reply_to=None if who == "rep" else self._reply_to(rep),
            calendar=Calendar(invite_ics(invite, method), method),
        )

    def _reply_to(self, rep: Rep) -> Person | None:
        if self.domain.settings.mail_reply_to == "rep":
            return Person(rep.name, rep.email)
        return None

    def _variables(
        self,
        conversation: Conversation,
        lead: Lead,
        state: State,
        booking: Booking,
        rep: Rep,
        now: datetime,
        who: str,
    ) -> dict[str, Any]:
        engine = self.domain.engine(conversation.flow_id)
        flow = engine.flow
        locale = flow.locale
        tz = self.domain.calendar.tz
        start = booking.start_at.astimezone(tz)
        minutes = int((booking.end_at - booking.start_at).total_seconds() // 60)
        challenge = next(
            (
                str(state.slots[n])
                for n, spec in flow.spec.slots.items()
                if spec.topics and state.slots.get(n)
            ),
            None,
        )
        timing = timing_of(flow, state)
        vocabulary = self.domain.vocabulary
        cases = [c for c in (self.domain.library.get(i) for i in state.cases_sent) if c]
        variables: dict[str, Any] = {
            "locale": locale,
            "who": who,
            "lead": {name: getattr(lead, name) for name in repos.LEAD_FIELDS},
            "rep": {"name": rep.name, "email": rep.email},
            "start": start,
            "start_text": format_when(start, locale),
            "end_text": format_when(booking.end_at.astimezone(tz), locale),
            "minutes": minutes,
            "meeting_url": self.domain.settings.meeting_url,
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

    async def _send(
        self,
        session: AsyncSession,
        conversation: Conversation,
        lead: Lead,
        rendered: Rendered,
        key: str,
        kind: str,
        now: datetime,
        *,
        due: datetime | None = None,
        scheduled: bool = False,
    ) -> bool:
        queued = await repos.enqueue(
            session,
            channel="email",
            kind=kind,
            recipient=rendered.recipient,
            payload={
                "message": serialize(rendered.message),
                "subject": rendered.subject,
                "scheduled": scheduled,
                "due": due.isoformat() if due else None,
            },
            dedupe_key=key,
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


async def _booking(session: AsyncSession, conversation: Conversation) -> tuple[Booking, Rep] | None:
    row = (
        await session.execute(
            select(Booking, Rep)
            .join(Rep, Rep.id == Booking.rep_id)
            .where(Booking.conversation_id == conversation.id, Booking.status == "confirmed")
        )
    ).first()
    return None if row is None else (row[0], row[1])
