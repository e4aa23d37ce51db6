"""The turn: the engine run on a locked conversation, its effects carried out, its messages,
outbox rows and handoff written, all in the caller's transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autoreply.channels.base import Outgoing
from autoreply.domain import triggers
from autoreply.domain.booking import Busy, RepAvailability, Slot, pick_rep, reps_free_for
from autoreply.domain.calendar import WeeklyHours
from autoreply.domain.handoff import HandoffRecord, case_clicks
from autoreply.errors import NotFoundError
from autoreply.flows.engine import Engine
from autoreply.flows.turns import (
    Book,
    Cards,
    Confirm,
    Context,
    Ended,
    Handoff,
    Inbound,
    LeadUpdate,
    OptIn,
    OptOut,
    Release,
    Reply,
    State,
    Turn,
    reply_to_dict,
)
from autoreply.links import Links
from autoreply.service import crm
from autoreply.service.content import Content
from autoreply.service.handoffs import HandoffWriter, facts
from autoreply.service.meetings import MeetingMail
from autoreply.service.owners import Owners
from autoreply.service.uow import UnitOfWork
from autoreply.store import repos
from autoreply.store.models import Conversation, HandoffRow, Lead

__all__ = ["Outgoing", "TurnResult", "TurnRunner", "reply_text"]

log = logging.getLogger(__name__)
BUSY_WINDOW = timedelta(days=90)


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


@dataclass(frozen=True)
class _Ran:
    """The engine's turn and what made it (the state, event and context it ran on)."""

    state: State
    event: Inbound
    ctx: Context
    turn: Turn


def reply_text(reply: Reply) -> str:
    """A plain-text rendering of a reply, for transcripts and logs."""
    if isinstance(reply, Cards):
        return "\n".join(f"[{c.title}] {c.url}" for c in reply.cards)
    return reply.text


class TurnRunner:
    """Runs turns and builds their context; ``ConversationService`` adds the use cases."""

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
        owners: Owners | None = None,
    ) -> None:
        self.content = content
        self.uow = UnitOfWork(sessions, readers, queued)
        self.outgoing = dict(outgoing or {})  # channels that push their replies (LINE)
        self.owners = owners  # routing, notifications, the SLA clock (None: nobody is told)
        self.handoffs = HandoffWriter(content, owners)
        self.links = links or Links(
            content.secret,
            content.settings.public_url,
            timedelta(days=content.settings.link_days),
        )
        self.meetings = meetings  # None: no email (a deployment without mail templates)

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
        if state.handoff is not None and self.owners is not None:
            existing = await self.handoffs.row(session, conversation)
            if existing is not None:
                ctx = replace(ctx, assigned=await self.owners.assigned(session, existing))
        if state.held:
            ctx = await self._keep_hold(session, engine, conversation, lead, state, ctx)
        ran = await self._book(session, engine, conversation, lead, state, event, ctx)
        turn = ran.turn
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
        outgoing_ids = ids[len(ids) - len(replies) :]
        await self._sync_meetings(session, conversation, lead, turn, now)
        written = await self.handoffs.after_turn(
            session, engine, conversation, lead, turn, ctx, now
        )
        record = written[0] if written else None
        if written is not None and ctx.assigned is None:
            turn, record = await self._tell_truth(
                session, engine, conversation, lead, ran, written, outgoing_ids, now
            )
        if record is not None and turn.state.handoff is None:
            # Remember in the state that a handoff exists, so later turns refresh it.
            conversation.state = turn.state.evolve(handoff=record.reason).to_dict()
        # An opted-out lead gets nothing pushed, except the confirmation of opting out;
        # one who is unreachable (blocked us on LINE) gets nothing at all.
        opting_out = any(isinstance(e, OptOut) for e in turn.effects)
        if lead.unreachable_at is None and (lead.opted_out_at is None or opting_out):
            await self._enqueue(
                session, engine, conversation, lead, outgoing_ids, turn.replies, now, reply_context
            )
        return TurnResult(
            locale=engine.flow.locale,
            conversation_id=conversation.public_id,
            lead_id=lead.id,
            replies=turn.replies,
            status=turn.state.status,
            handoff=record,
        )

    async def _book(
        self,
        session: AsyncSession,
        engine: Engine,
        conversation: Conversation,
        lead: Lead,
        state: State,
        event: Inbound,
        ctx: Context,
    ) -> _Ran:
        """The engine's turn, with the slot it picks held and the hold it confirms booked;
        a slot taken at this very moment runs the turn again as ``slot_taken`` (the lead is
        told and offered fresh slots)."""
        turn = engine.turn(state, event, ctx)
        if ctx.lead_booking is None and any(isinstance(e, Confirm) for e in turn.effects):
            booked = await self._booked_elsewhere(session, conversation, lead, turn, ctx.now)
            if booked is not None:  # one person, one meeting: the details named a booked lead
                ctx = replace(ctx, lead_booking=booked)
                turn = engine.turn(state, event, ctx)
        for effect in turn.effects:
            if isinstance(effect, Release):
                await repos.release_holds(session, conversation.id, ctx.now)
            if isinstance(effect, Book) and not await self.hold_slot(
                session, conversation, lead, effect, ctx, ctx.now, held_until=self._hold_end(ctx)
            ):
                ctx = await self.context(session, engine, conversation, lead, ctx.now, slots=True)
                taken = Inbound("slot_taken", value=effect.slot_id)
                return _Ran(state, taken, ctx, engine.turn(state, taken, ctx))
            if isinstance(effect, Confirm) and not await repos.confirm_hold(
                session, conversation.id
            ):  # pragma: no cover - _keep_hold made sure of the hold in this transaction
                ctx = await self.context(session, engine, conversation, lead, ctx.now, slots=True)
                ctx = replace(ctx, lost_hold=effect.slot_id)
                return _Ran(state, event, ctx, engine.turn(state, event, ctx))
        return _Ran(state, event, ctx, turn)

    async def _tell_truth(
        self,
        session: AsyncSession,
        engine: Engine,
        conversation: Conversation,
        lead: Lead,
        ran: _Ran,
        written: tuple[HandoffRecord, HandoffRow],
        message_ids: Sequence[int],
        now: datetime,
    ) -> tuple[Turn, HandoffRecord]:
        """This turn wrote the handoff and ran without its clock: say its promise as the
        owner and clock now make it true (「担当の○○より5分以内に」 only when they were told
        now). The engine runs the same turn again with them (pure, so only the words may
        differ); changed replies replace the rows just written and the record's transcript
        is brought up to date."""
        record, row = written
        assigned = await self.owners.assigned(session, row) if self.owners else None
        if assigned is None:
            return ran.turn, record
        ctx = replace(ran.ctx, assigned=assigned)
        again = engine.turn(ran.state, ran.event, ctx)
        same = (again.state, again.effects, len(again.replies))
        if same != (ran.turn.state, ran.turn.effects, len(ran.turn.replies)):
            # A flow that branches on the promise: keep the turn whose effects were applied.
            log.warning("promise changed the turn", extra={"conversation": conversation.public_id})
            return ran.turn, record
        pairs = zip(message_ids, again.replies, ran.turn.replies, strict=True)
        changed = [(message_id, reply) for message_id, reply, before in pairs if reply != before]
        if not changed:
            return ran.turn, record
        for message_id, reply in changed:
            await repos.rewrite_message(
                session, message_id, reply_text(reply), reply_to_dict(reply)
            )
        record = await self.handoffs.save(
            session, engine, conversation, lead, again.state, ctx, row.reason, now, row=row
        )
        return again, record

    async def _booked_elsewhere(
        self,
        session: AsyncSession,
        conversation: Conversation,
        lead: Lead,
        turn: Turn,
        now: datetime,
    ) -> dict[str, datetime] | None:
        """The upcoming meeting of this lead, or of the lead whose email address this turn
        gave, booked in another conversation (None when there is none)."""
        lead_ids = [lead.id]
        for effect in turn.effects:
            if isinstance(effect, LeadUpdate) and effect.fields.get("email"):
                known = await repos.lead_of_identity(
                    session, "email", effect.fields["email"].lower()
                )
                if known is not None and known not in lead_ids:
                    lead_ids.append(known)
        for lead_id in lead_ids:
            booked = await self._lead_booking(session, lead_id, conversation, now)
            if booked is not None:
                return booked
        return None

    async def _lead_booking(
        self, session: AsyncSession, lead_id: int, conversation: Conversation, now: datetime
    ) -> dict[str, datetime] | None:
        """The lead's upcoming meeting in another conversation (``Context.lead_booking``)."""
        other = await repos.upcoming_booking_of_lead(
            session, lead_id, now, other_than=conversation.id
        )
        if other is None:
            return None
        tz = self.content.calendar.tz
        return {"start": other.start_at.astimezone(tz), "end": other.end_at.astimezone(tz)}

    def _hold_end(self, ctx: Context) -> datetime:
        return ctx.now + timedelta(minutes=self.content.settings.slot_hold_minutes)

    async def _keep_hold(
        self,
        session: AsyncSession,
        engine: Engine,
        conversation: Conversation,
        lead: Lead,
        state: State,
        ctx: Context,
    ) -> Context:
        """The lead is still giving their details: keep their held slot for another
        ``slot_hold_minutes``. A hold that lapsed is taken again if its slot is still free;
        if someone took it meanwhile, the context says so (the engine offers slots again)."""
        if state.booking is None:  # pragma: no cover - only called when a slot is held
            return ctx
        until = self._hold_end(ctx)
        if await repos.extend_hold(session, conversation.id, until):
            return ctx
        slot_id = state.booking["slot_id"]
        start, end = Slot.parse_id(slot_id, ctx.calendar.tz)
        with_slots = await self.context(session, engine, conversation, lead, ctx.now, slots=True)
        if await self.hold_slot(
            session,
            conversation,
            lead,
            Book(slot_id, start, end),
            with_slots,
            ctx.now,
            held_until=until,
        ):
            return ctx
        log.info("held slot lapsed and was taken", extra={"conversation": conversation.public_id})
        return replace(with_slots, lost_hold=slot_id)

    async def _sync_meetings(
        self,
        session: AsyncSession,
        conversation: Conversation,
        lead: Lead,
        turn: Turn,
        now: datetime,
    ) -> None:
        """Queue or update the meeting emails when this turn changed what they say; before
        the handoff is written, so that it shows the pre-meeting email planned."""
        if not (
            self.meetings is not None
            and turn.state.booked
            and any(isinstance(e, Confirm | LeadUpdate | Handoff | Ended) for e in turn.effects)
        ):
            return
        handing_off = any(isinstance(e, Handoff) for e in turn.effects)
        known = turn.state.evolve(handoff=turn.state.handoff or ("now" if handing_off else None))
        await self.meetings.sync(session, conversation, lead, known, now)

    async def _apply(
        self,
        session: AsyncSession,
        conversation: Conversation,
        lead: Lead,
        turn: Turn,
        now: datetime,
    ) -> Lead:
        changed: list[str] = []
        for effect in turn.effects:
            if isinstance(effect, LeadUpdate):
                changed += repos.update_lead(lead, effect.fields, now)
                email = effect.fields.get("email")
                if email:
                    lead = await repos.add_identity(session, lead, "email", email.lower(), now)
                    conversation.lead_id = lead.id
            elif isinstance(effect, OptOut):
                lead.opted_out_at = lead.opted_out_at or now
            elif isinstance(effect, OptIn):
                lead.opted_out_at = None
        await crm.lead_updated(session, self.content, lead, changed, now)
        return lead

    async def hold_slot(
        self,
        session: AsyncSession,
        conversation: Conversation,
        lead: Lead,
        effect: Book,
        ctx: Context,
        now: datetime,
        *,
        held_until: datetime | None = None,
    ) -> bool:
        """Hold the slot with a free rep (round robin) until ``held_until``, or book it
        confirmed without one; False if it is gone (taken at this very moment, or no longer
        offered). ``ctx`` must have been built with ``slots``."""
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
            held_until=held_until,
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
        lead_booking = None
        if slots:
            lead_booking = await self._lead_booking(session, lead.id, conversation, now)
            for rep in await repos.active_reps(session):
                hours = WeeklyHours.parse(rep.hours) if rep.hours else None
                reps.append(RepAvailability(rep_id=str(rep.id), hours=hours))
            busy = [
                Busy(str(b.rep_id), b.start_at, b.end_at)
                for b in await repos.bookings_between(session, now, now + BUSY_WINDOW, now)
            ]
        source = conversation.source or {}
        if conversation.id is None:  # a conversation being started: its row id is in the links
            await session.flush()
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
            cases_clicked=len(case_clicks(source)),
            cases_read=len(triggers.case_reads(source)),
            return_visits=triggers.count(source, "return_visit"),
            second_form=triggers.count(source, "second_form") > 0,
            requested_document=bool(source.get("document")),
            links={
                # short: a chat or LINE message shows ~40 characters, not a ~100-character URL
                "cancel_booking": self.links.short("cancel", conversation.id, now),
                "reschedule_booking": self.links.short("reschedule", conversation.id, now),
            },
            lead_booking=lead_booking,
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
