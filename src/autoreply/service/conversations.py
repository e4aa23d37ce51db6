"""The service layer: runs one turn of a conversation in one database transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from fnmatch import fnmatch
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autoreply.domain.booking import Busy, RepAvailability, Slot, pick_rep, reps_free_for
from autoreply.domain.calendar import WeeklyHours
from autoreply.domain.handoff import HandoffRecord, TranscriptLine
from autoreply.errors import BadRequestError, ForbiddenError, NotFoundError
from autoreply.flows.engine import Engine
from autoreply.flows.turns import (
    Book,
    Cards,
    Context,
    Ended,
    Handoff,
    Inbound,
    LeadUpdate,
    OptIn,
    OptOut,
    Reply,
    State,
    Turn,
    reply_to_dict,
)
from autoreply.links import Links
from autoreply.service.content import Content
from autoreply.service.handoffs import HandoffWriter, collected, facts, transcript_of
from autoreply.service.meetings import MeetingMail
from autoreply.service.uow import UnitOfWork
from autoreply.signing import new_token, token_hash, verify_token
from autoreply.store import repos
from autoreply.store.models import Booking, Conversation, Lead

__all__ = ["ConversationService", "Outgoing", "TurnResult", "reply_text"]

log = logging.getLogger(__name__)
BUSY_WINDOW = timedelta(days=90)
MAX_PAGES = 50


@dataclass(frozen=True)
class TurnResult:
    """What a channel needs after a turn: the replies to show and where things stand."""

    conversation_id: str
    lead_id: int
    replies: tuple[Reply, ...]
    status: str
    handoff: HandoffRecord | None = None
    token: str | None = None  # only from ``start``: the conversation's secret
    locale: str = "ja"  # the language of the conversation's flow


Outgoing = Callable[[Conversation, Sequence[Reply], str], list[dict[str, Any]]]
"""Renders a turn's replies (conversation, replies, locale) into outbox payloads, one per
request the channel will make."""


def reply_text(reply: Reply) -> str:
    """A plain-text rendering of a reply, for transcripts and logs."""
    if isinstance(reply, Cards):
        return "\n".join(f"[{c.title}] {c.url}" for c in reply.cards)
    return reply.text


class ConversationService:
    """Starts conversations and runs their turns; each call is one transaction."""

    def __init__(
        self,
        content: Content,
        sessions: async_sessionmaker[AsyncSession],
        *,
        outgoing: Mapping[str, Outgoing] | None = None,
        readers: async_sessionmaker[AsyncSession] | None = None,
        links: Links | None = None,
        meetings: MeetingMail | None = None,
        queued: Callable[[], None] = lambda: None,
    ) -> None:
        self.content = content
        self.uow = UnitOfWork(sessions, readers, queued)
        self.outgoing = dict(outgoing or {})  # channels that push their replies (LINE)
        self.handoffs = HandoffWriter(content)
        self.links = links or Links(
            content.secret,
            content.settings.public_url,
            timedelta(days=content.settings.link_days),
        )
        self.meetings = meetings  # None: no email (a deployment without mail templates)

    # -- public API ------------------------------------------------------------------

    async def start(
        self,
        *,
        channel: str,
        identities: Sequence[tuple[str, str]],
        facts: Mapping[str, Any] | None = None,
        source: Mapping[str, Any] | None = None,
        flow_id: str | None = None,
        occurred_at: datetime | None = None,
        reply_context: Mapping[str, Any] | None = None,
        inbound_event: int | None = None,
    ) -> TurnResult:
        """Start a conversation for the lead these identities belong to, and greet them.

        The first identity on ``channel`` is where this conversation's replies go (a lead
        merged across several LINE accounts still gets each reply where they wrote).
        ``occurred_at`` is when the lead acted (an event's timestamp), the start of the
        speed-to-lead clock; it defaults to now. ``reply_context`` travels with the pushed
        replies (LINE's reply token); ``inbound_event`` is the stored event this turn
        answers, marked handled in the same transaction (``AlreadyHandledError`` if it was).
        """
        engine = self.content.engine(flow_id)
        now = self.content.clock.now()
        contact = next((ext for ch, ext in identities if ch == channel), None)
        token = new_token()
        async with self.uow.write() as session:
            if inbound_event is not None:
                await repos.claim_inbound(session, inbound_event, now)
            lead = await repos.resolve_lead(session, identities, now, facts)
            conversation = await repos.add_conversation(
                session,
                lead=lead,
                channel=channel,
                flow=(engine.flow.id, engine.flow.spec.version),
                now=now,
                contact=contact,
                source=source,
                token_hash=token_hash(token),
                started_at=occurred_at,
            )  # inserted with the state after the greeting
            log.info(
                "conversation started",
                extra={"conversation": conversation.public_id, "lead": lead.id, "channel": channel},
            )
            result = await self._turn(
                session, engine, conversation, lead, Inbound("start"), now, reply_context
            )
        return replace(result, token=token)

    async def handle(
        self,
        conversation_id: str,
        event: Inbound,
        *,
        token: str | None = None,
        strict_taps: bool = False,
        reply_context: Mapping[str, Any] | None = None,
        inbound_event: int | None = None,
    ) -> TurnResult:
        """Apply one thing the lead did (text, choice, slot pick) and return the replies.

        With ``token``, the caller must hold the conversation's secret (the web chat).
        With ``strict_taps``, a tap on a choice or slot that is not on offer is refused
        (``BadRequestError``) instead of being treated as an unreadable answer.
        ``reply_context`` and ``inbound_event`` are as for ``start``.
        """
        now = self.content.clock.now()
        async with self.uow.write() as session:
            if inbound_event is not None:
                await repos.claim_inbound(session, inbound_event, now)
            conversation, lead = await repos.lock_conversation_and_lead(session, conversation_id)
            if token is not None and not verify_token(token, conversation.token_hash):
                raise ForbiddenError("wrong conversation token")
            engine = self.content.engine(conversation.flow_id)
            if strict_taps:
                refusal = engine.refusal(State.from_dict(conversation.state), event)
                if refusal:
                    raise BadRequestError(refusal)
            result = await self._turn(
                session, engine, conversation, lead, event, now, reply_context
            )
        return result

    async def continue_in_chat(self, conversation_id: str) -> TurnResult:
        """Open a conversation begun elsewhere (a form) in the web chat.

        The chat gets a new token (a chat opened from an older link stops working); the
        first time, the flow starts from what the form already said, and its replies are
        waiting in the transcript when the widget opens it.
        """
        now = self.content.clock.now()
        token = new_token()
        async with self.uow.write() as session:
            conversation, lead = await repos.lock_conversation_and_lead(session, conversation_id)
            engine = self.content.engine(conversation.flow_id)
            conversation.token_hash = token_hash(token)
            source = dict(conversation.source or {})
            if "chat_started_at" in source or conversation.status != "active":
                result = TurnResult(
                    conversation.public_id,
                    lead.id,
                    (),
                    conversation.status,
                    locale=engine.flow.locale,
                )
            else:
                conversation.source = {**source, "chat_started_at": now.isoformat()}
                start = Inbound("start")
                result = await self._turn(session, engine, conversation, lead, start, now)
                log.info(
                    "conversation continued in the chat",
                    extra={"conversation": conversation_id, "lead": lead.id},
                )
        return replace(result, token=token)

    async def locale_of(self, conversation_id: str) -> str:
        """The language of a conversation's flow."""
        async with self.uow.read() as session:
            flow_id = await repos.flow_id_of(session, conversation_id)
        if flow_id is None:
            raise NotFoundError(f"no conversation {conversation_id!r}")
        return self.content.engine(flow_id).flow.locale

    async def messages(
        self, conversation_id: str
    ) -> tuple[str, str, list[tuple[str, str, dict[str, Any], str]]]:
        """(status, locale, [(direction, text, payload, ISO time)]) of a conversation."""
        async with self.uow.read() as session:
            conversation = await repos.conversation_by_public_id(session, conversation_id)
            if conversation is None:
                raise NotFoundError(f"no conversation {conversation_id!r}")
            rows = await repos.messages_of(session, conversation.id)
        locale = self.content.engine(conversation.flow_id).flow.locale
        return (
            conversation.status,
            locale,
            [(m.direction, m.text, dict(m.payload), m.created_at.isoformat()) for m in rows],
        )

    async def authorize(self, conversation_id: str, token: str) -> None:
        """Raise unless ``token`` is this conversation's secret."""
        async with self.uow.read() as session:
            stored = await repos.token_hash_of(session, conversation_id)
            if stored is None:
                raise NotFoundError(f"no conversation {conversation_id!r}")
            if not verify_token(token, stored):
                raise ForbiddenError("wrong conversation token")

    async def record_page(self, conversation_id: str, url: str, title: str) -> int:
        """Note a page the lead viewed; pages matching ``score_pages`` raise the score.

        Returns how many scored pages the lead has viewed so far.
        """
        now = self.content.clock.now()
        async with self.uow.write() as session:
            conversation = await repos.lock_conversation(session, conversation_id)
            source = dict(conversation.source or {})
            pages = [*source.get("pages", []), {"url": url, "title": title, "at": now.isoformat()}]
            source["pages"] = pages[-MAX_PAGES:]
            if _scored(url, self.content.settings.score_pages):
                source["pricing_views"] = int(source.get("pricing_views", 0)) + 1
            conversation.source = source
            await self.refresh_handoff(session, conversation, now)
            return int(source.get("pricing_views", 0))

    async def record_case_opened(self, conversation_id: str, case_id: str) -> str | None:
        """Note that the lead opened a case study we sent; returns its URL (None if unknown)."""
        case = self.content.library.get(case_id)
        if case is None:
            return None
        now = self.content.clock.now()
        async with self.uow.write() as session:
            conversation = await repos.lock_conversation(session, conversation_id)
            source = dict(conversation.source or {})
            opened = list(source.get("cases_opened", []))
            if case_id not in opened:
                source["cases_opened"] = [*opened, case_id]
                conversation.source = source
                await self.refresh_handoff(session, conversation, now)
        return case.url

    async def booking_of(self, conversation_id: str) -> Booking | None:
        """The conversation's confirmed booking, if any."""
        async with self.uow.read() as session:
            found = await repos.confirmed_booking(session, public_id=conversation_id)
        return None if found is None else found[0]

    async def cancel_booking(self, conversation_id: str) -> Booking | None:
        """Cancel the conversation's booking (the slot is free again); None if there is none.

        The handoff is refreshed so the rep sees that the meeting is off.
        """
        now = self.content.clock.now()
        async with self.uow.write() as session:
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
            if self.meetings is not None:
                await self.meetings.cancelled(session, conversation, lead, booking, now)
            await self.refresh_handoff(session, conversation, now)
            log.info("booking cancelled", extra={"conversation": conversation_id})
        return booking

    async def handoff_idle(self) -> int:
        """Hand off conversations left idle for ``idle_handoff_minutes`` with something said.

        The conversation stays open: a lead who comes back simply continues, and the
        handoff is refreshed. Returns how many were handed off.
        """
        now = self.content.clock.now()
        cutoff = now - timedelta(minutes=self.content.settings.idle_handoff_minutes)
        async with self.uow.read() as session:
            ids = await repos.idle_conversations(session, cutoff)
        count = 0
        for conversation_id in ids:
            if await self.close(conversation_id, "idle", end=False) is not None:
                count += 1
        return count

    async def close(
        self, conversation_id: str, reason: str = "abandoned", *, end: bool = True
    ) -> HandoffRecord | None:
        """Hand off whatever a lead who left told us (if anything); ``end`` closes it too."""
        now = self.content.clock.now()
        async with self.uow.write() as session:
            conversation, lead = await repos.lock_conversation_and_lead(session, conversation_id)
            engine = self.content.engine(conversation.flow_id)
            state = State.from_dict(conversation.state)
            existing = await self.handoffs.row(session, conversation)
            if existing is None and not collected(state):
                return None
            if existing is not None:
                reason = existing.reason  # the flow's own reason (booked, asked…) stands
            ctx = await self.context(session, engine, conversation, lead, now)
            state = state.evolve(handoff=state.handoff or reason)  # turns now know there is one
            if end and conversation.status == "active":
                conversation.status = "ended"
                state = state.evolve(status="ended", step=None)
                conversation.updated_at = now
            conversation.state = state.to_dict()
            if self.meetings is not None and state.booking is not None:
                await self.meetings.sync(session, conversation, lead, state, now)
            record = await self.handoffs.save(
                session, engine, conversation, lead, state, ctx, reason, now, row=existing
            )
        return record

    async def handoff_record(self, conversation_id: str) -> dict[str, Any] | None:
        """The stored handoff record of a conversation, if one was written."""
        async with self.uow.read() as session:
            row = await repos.handoff_of(session, public_id=conversation_id)
            return None if row is None else dict(row.record)

    async def transcript(self, conversation_id: str) -> list[TranscriptLine]:
        """Every message of a conversation, oldest first."""
        async with self.uow.read() as session:
            conversation = await repos.conversation_by_public_id(session, conversation_id)
            if conversation is None:
                return []
            return transcript_of(await repos.messages_of(session, conversation.id))

    # -- the turn ----------------------------------------------------------------------

    async def _turn(
        self,
        session: AsyncSession,
        engine: Engine,
        conversation: Conversation,
        lead: Lead,
        event: Inbound,
        now: datetime,
        reply_context: Mapping[str, Any] | None = None,
    ) -> TurnResult:
        state = State.from_dict(conversation.state) if conversation.state else State()
        slots = engine.may_need_slots(state, event)
        ctx = await self.context(session, engine, conversation, lead, now, slots=slots)
        turn = engine.turn(state, event, ctx)
        for effect in turn.effects:
            if isinstance(effect, Book) and not await self.hold_slot(
                session, conversation, lead, effect, ctx, now
            ):
                ctx = await self.context(session, engine, conversation, lead, now, slots=True)
                turn = engine.turn(state, Inbound("slot_taken", value=effect.slot_id), ctx)
                break
        lead = await self._apply(session, conversation, lead, turn, now)
        if turn.replies and conversation.first_response_at is None:
            # Read the clock again: the figure includes the time this turn took.
            conversation.first_response_at = self.content.clock.now()
        conversation.state = turn.state.to_dict()
        conversation.step = turn.state.step
        conversation.status = turn.state.status
        conversation.updated_at = now
        await session.flush()
        replies = [reply_to_dict(r) for r in turn.replies]
        ids = await repos.add_messages(
            session, _message_rows(conversation.id, event, turn.replies, replies, now)
        )
        # An opted-out lead gets nothing pushed, except the confirmation of opting out;
        # one who is unreachable (blocked us on LINE) gets nothing at all.
        opting_out = any(isinstance(e, OptOut) for e in turn.effects)
        if lead.unreachable_at is None and (lead.opted_out_at is None or opting_out):
            outgoing_ids = ids[len(ids) - len(replies) :]
            await self._enqueue(
                session, engine, conversation, lead, outgoing_ids, turn.replies, now, reply_context
            )
        if (
            self.meetings is not None
            and turn.state.booking is not None
            and any(isinstance(e, Book | LeadUpdate | Handoff | Ended) for e in turn.effects)
        ):
            # Before the handoff is written, so that it shows the pre-meeting email planned.
            handing_off = any(isinstance(e, Handoff) for e in turn.effects)
            known = turn.state.evolve(
                handoff=turn.state.handoff or ("now" if handing_off else None)
            )
            await self.meetings.sync(session, conversation, lead, known, now)
        record = await self.handoffs.after_turn(session, engine, conversation, lead, turn, ctx, now)
        if record is not None and turn.state.handoff is None:
            # Remember in the state that a handoff exists, so later turns refresh it.
            conversation.state = turn.state.evolve(handoff=record.reason).to_dict()
        return TurnResult(
            locale=engine.flow.locale,
            conversation_id=conversation.public_id,
            lead_id=lead.id,
            replies=turn.replies,
            status=turn.state.status,
            handoff=record,
        )

    async def _apply(
        self,
        session: AsyncSession,
        conversation: Conversation,
        lead: Lead,
        turn: Turn,
        now: datetime,
    ) -> Lead:
        for effect in turn.effects:
            if isinstance(effect, LeadUpdate):
                repos.update_lead(lead, effect.fields, now)
                email = effect.fields.get("email")
                if email:
                    lead = await repos.add_identity(session, lead, "email", email.lower(), now)
                    conversation.lead_id = lead.id
            elif isinstance(effect, OptOut):
                lead.opted_out_at = lead.opted_out_at or now
            elif isinstance(effect, OptIn):
                lead.opted_out_at = None
        return lead

    async def hold_slot(
        self,
        session: AsyncSession,
        conversation: Conversation,
        lead: Lead,
        effect: Book,
        ctx: Context,
        now: datetime,
    ) -> bool:
        """Hold the slot with a free rep (round robin); False if it is gone (taken at this
        very moment, or no longer offered). ``ctx`` must have been built with ``slots``."""
        free = reps_free_for(
            ctx.calendar, ctx.reps, ctx.busy, now, effect.start, effect.end, self.content.rules
        )
        if not free:
            return False
        slot = Slot(effect.start, effect.end, free)
        loads = await repos.rep_loads(session, now)
        rep_id = int(pick_rep(slot, {str(k): v for k, v in loads.items()}))
        booked = await repos.add_booking(
            session,
            rep_id=rep_id,
            lead_id=lead.id,
            conversation_id=conversation.id,
            start=effect.start,
            end=effect.end,
            now=now,
        )
        if not booked:
            log.info("slot taken concurrently", extra={"conversation": conversation.public_id})
        return booked

    async def _enqueue(
        self,
        session: AsyncSession,
        engine: Engine,
        conversation: Conversation,
        lead: Lead,
        message_ids: Sequence[int],
        replies: Sequence[Reply],
        now: datetime,
        reply_context: Mapping[str, Any] | None,
    ) -> None:
        """Channels that push (LINE) send from the outbox, written in this transaction:
        one row per request the channel will make, the first with the reply context."""
        render = self.outgoing.get(conversation.channel)
        if render is None or not conversation.contact or not replies:
            return
        for index, payload in enumerate(render(conversation, replies, engine.flow.locale)):
            extra = dict(reply_context or {}) if index == 0 else {}
            await repos.enqueue(
                session,
                channel=conversation.channel,
                kind="reply",
                recipient=conversation.contact,
                payload={**payload, **extra},
                dedupe_key=f"turn:{message_ids[0]}:{index}",
                now=now,
                conversation_id=conversation.id,
                lead_id=lead.id,
            )

    # -- context and handoff -------------------------------------------------------------

    async def refresh_handoff(
        self, session: AsyncSession, conversation: Conversation, now: datetime
    ) -> None:
        """Bring an existing handoff up to date after something outside a turn changed."""
        row = await self.handoffs.row(session, conversation)
        if row is None:
            return
        engine = self.content.engine(conversation.flow_id)
        lead = await self._lead(session, conversation)
        state = State.from_dict(conversation.state)
        ctx = await self.context(session, engine, conversation, lead, now)
        await self.handoffs.save(
            session, engine, conversation, lead, state, ctx, row.reason, now, row=row
        )

    async def _lead(self, session: AsyncSession, conversation: Conversation) -> Lead:
        lead = await repos.get_lead(session, conversation.lead_id)
        if lead is None:  # pragma: no cover - foreign keys forbid it
            raise NotFoundError(f"conversation {conversation.public_id} has no lead")
        return lead

    async def context(
        self,
        session: AsyncSession,
        engine: Engine,
        conversation: Conversation,
        lead: Lead,
        now: datetime,
        *,
        slots: bool = False,
    ) -> Context:
        """What a turn (or a message about the conversation) may look at; reps and
        bookings only when ``slots`` (they cost queries)."""
        content = self.content
        reps: list[RepAvailability] = []
        busy: list[Busy] = []
        if slots:
            for rep in await repos.active_reps(session):
                hours = WeeklyHours.parse(rep.hours) if rep.hours else None
                reps.append(RepAvailability(rep_id=str(rep.id), hours=hours))
            busy = [
                Busy(str(b.rep_id), b.start_at, b.end_at)
                for b in await repos.bookings_between(session, now, now + BUSY_WINDOW)
            ]
        source = conversation.source or {}
        return Context(
            now=now.astimezone(content.calendar.tz),
            calendar=content.calendar,
            library=content.library,
            vocabulary=content.vocabulary,
            channel=conversation.channel,
            lead=facts(lead),
            source=source,
            reps=reps,
            busy=busy,
            slot_rules=content.rules,
            fiscal_year_start_month=content.settings.fiscal_year_start_month,
            pricing_views=int(source.get("pricing_views", 0)),
            cases_opened=len(source.get("cases_opened", [])),
            requested_document=bool(source.get("document")),
            links={"cancel_booking": self.links.cancel(conversation.public_id)},
        )


def _message_rows(
    conversation_id: int,
    event: Inbound,
    replies: Sequence[Reply],
    payloads: Sequence[dict[str, Any]],
    now: datetime,
) -> list[dict[str, Any]]:
    """The rows of a turn's messages: what the lead did (unless it was the start), then
    every reply, in order."""
    rows = []
    if event.kind != "start":
        rows.append(
            repos.message_row(
                conversation_id, "in", event.kind, event.text, {"value": event.value}, now
            )
        )
    rows.extend(
        repos.message_row(conversation_id, "out", r.kind, reply_text(r), p, now)
        for r, p in zip(replies, payloads, strict=True)
    )
    return rows


def _scored(url: str, patterns: str) -> bool:
    """Whether a page's path matches one of the comma-separated wildcard patterns."""
    path = urlsplit(url).path or "/"
    return any(fnmatch(path, p.strip()) for p in patterns.split(",") if p.strip())
