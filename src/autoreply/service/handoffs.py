"""Handoff records: built from a conversation and written for the rep, one per conversation."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.domain.calendar import format_when
from autoreply.domain.handoff import (
    Activity,
    HandoffRecord,
    Said,
    TranscriptLine,
    Who,
    build_handoff,
    case_clicks,
    case_views,
)
from autoreply.domain.triggers import case_reads, triggers_of
from autoreply.flows.engine import Engine
from autoreply.flows.facts import challenge_of, lead_score, timing_of
from autoreply.flows.turns import Context, Ended, Handoff, OptOut, State, Turn
from autoreply.service import crm
from autoreply.service.content import Content
from autoreply.service.first_line import render_first_line
from autoreply.service.owners import Owners
from autoreply.store import repos
from autoreply.store.models import (
    Conversation,
    HandoffRow,
    Lead,
    Message,
)

__all__ = ["HandoffWriter", "collected", "facts", "transcript_of"]

log = logging.getLogger(__name__)


class HandoffWriter:
    """Writes and refreshes the handoff row of a conversation."""

    def __init__(self, content: Content, owners: Owners | None = None) -> None:
        self.content = content
        self.owners = owners  # None: nobody is assigned or told (a trial chat, some tests)

    async def row(self, session: AsyncSession, conversation: Conversation) -> HandoffRow | None:
        """The conversation's handoff row, if one was written."""
        return await repos.handoff_of(session, conversation_id=conversation.id)

    async def after_turn(
        self,
        session: AsyncSession,
        engine: Engine,
        conversation: Conversation,
        lead: Lead,
        turn: Turn,
        ctx: Context,
        now: datetime,
    ) -> tuple[HandoffRecord, HandoffRow] | None:
        """Write or refresh the handoff this turn makes (a handoff effect, or an end with
        something collected); the record and its row, or None when there is none."""
        reason = next((e.reason for e in reversed(turn.effects) if isinstance(e, Handoff)), None)
        ended = any(isinstance(e, Ended | OptOut) for e in turn.effects)
        if reason is None and not ended and turn.state.handoff is None:
            return None  # no handoff yet and nothing in this turn makes one: no query
        existing = await self.row(session, conversation)
        if reason is None and existing is not None:
            reason = existing.reason
        if reason is None and ended and collected(turn.state):
            reason = "completed"
        if reason is None:
            return None
        return await self.write(
            session, engine, conversation, lead, turn.state, ctx, reason, now, row=existing
        )

    async def save(
        self,
        session: AsyncSession,
        engine: Engine,
        conversation: Conversation,
        lead: Lead,
        state: State,
        ctx: Context,
        reason: str,
        now: datetime,
        *,
        row: HandoffRow | None,
    ) -> HandoffRecord:
        """Write the handoff, or bring ``row`` (the existing one, from ``row()``) up to date."""
        record, _ = await self.write(
            session, engine, conversation, lead, state, ctx, reason, now, row=row
        )
        return record

    async def write(
        self,
        session: AsyncSession,
        engine: Engine,
        conversation: Conversation,
        lead: Lead,
        state: State,
        ctx: Context,
        reason: str,
        now: datetime,
        *,
        row: HandoffRow | None,
    ) -> tuple[HandoffRecord, HandoffRow]:
        """``save``, answering the row too: a new one has its owner and clock
        (``Owners.assign``), which the lead's promise is made from."""
        flow = engine.flow
        ctx = replace(ctx, lead=facts(lead))  # the effects of this turn may have changed it
        source = conversation.source or {}
        labels = {name: spec.label or name for name, spec in flow.spec.slots.items()}
        record = build_handoff(
            reason=reason,
            channel=conversation.channel,
            source=source,
            who=await _who(session, lead),
            said=Said(
                timing=timing_of(flow, state),
                challenge=challenge_of(flow, state),
                topic_labels=[t.label for t in (ctx.vocabulary.get(i) for i in state.topics) if t],
                slots={labels.get(k, k): v for k, v in state.slots.items()},
                tags=state.tags,
                score=lead_score(flow, state, ctx),
            ),
            activity=await _activity(session, conversation, state, ctx, flow.locale),
            locale=flow.locale,
        )
        data = record.to_dict()
        data["first_line_locale"] = flow.locale
        owner = await repos.get_rep(session, row.owner_id) if row and row.owner_id else None
        data["first_line"] = render_first_line(
            self.content, data, flow.locale, owner.name if owner else None, now
        )
        record = record.with_first_line(data["first_line"])
        if row is None:
            row = repos.add_handoff(
                session,
                conversation_id=conversation.id,
                lead_id=lead.id,
                reason=reason,
                tier=record.tier,
                score=record.score,
                record=data,
                now=now,
            )
            log.info(
                "handoff created",
                extra={
                    "conversation": conversation.public_id,
                    "lead": lead.id,
                    "tier": record.tier,
                },
            )
            await session.flush()
            if self.owners is not None:
                await self.owners.assign(session, row, lead, conversation, now)
            await crm.handoff_created(session, self.content, row, now)
        else:
            before, reasons = row.tier, row.record.get("reasons") or []
            row.reason, row.tier, row.score = reason, record.tier, record.score
            row.record, row.updated_at, row.lead_id = data, now, lead.id
            if self.owners is not None and self.owners.followups is not None:
                await self.owners.followups.refreshed(session, row, now)
            if self.owners is not None and before != row.tier:
                trigger = self.owners.trigger_text(reasons, data["reasons"], flow.locale)
                await self.owners.tier_changed(
                    session, row, conversation.channel, before, trigger, now
                )
        if data.get("booking") and self.owners is not None and self.owners.followups:
            await self.owners.followups.booked(session, lead.id, now)
        await session.flush()
        return record, row


async def _who(session: AsyncSession, lead: Lead) -> Who:
    return Who(
        facts={name: getattr(lead, name) for name in repos.LEAD_FIELDS},
        identities=[(i.channel, i.external_id) for i in await repos.identities_of(session, lead)],
        opted_out=lead.opted_out_at is not None,
        email_problem=(
            {"at": lead.email_failed_at.isoformat(), "error": lead.email_error}
            if lead.email_failed_at
            else None
        ),
    )


async def _activity(
    session: AsyncSession, conversation: Conversation, state: State, ctx: Context, locale: str
) -> Activity:
    source = conversation.source or {}
    messages = await repos.messages_of(session, conversation.id)
    booked = (
        None
        if state.booking is None
        else await repos.confirmed_booking(session, conversation_id=conversation.id)
    )
    booking_data = None
    if booked is not None:
        booking, rep = booked
        start = booking.start_at.astimezone(ctx.calendar.tz)
        booking_data = {
            "start": start.isoformat(),
            "end": booking.end_at.astimezone(ctx.calendar.tz).isoformat(),
            "start_text": format_when(start, locale),
            "rep": rep.name,
            "rep_email": rep.email,
        }
    return Activity(
        started_at=conversation.created_at,
        first_response_at=conversation.first_response_at,
        transcript=transcript_of(messages),
        cases_sent=_cards_sent(messages),
        cases_clicked=case_clicks(source),
        cases_viewed=case_views(source),
        booking=booking_data,
        pre_meeting=source.get("pre_meeting"),
        cases_read=case_reads(source),
        triggers=triggers_of(source),
    )


def facts(lead: Lead) -> dict[str, Any]:
    """What the engine and the handoff may know about a lead."""
    known: dict[str, Any] = {name: getattr(lead, name) for name in repos.LEAD_FIELDS}
    known["opted_out"] = lead.opted_out_at is not None
    return known


def collected(state: State) -> bool:
    """Whether a conversation gathered anything a rep could use."""
    return bool(state.slots or state.cases_sent or state.booking or state.handoff)


def _cards_sent(messages: Sequence[Message]) -> list[dict[str, Any]]:
    cards: list[dict[str, Any]] = []
    for message in messages:
        if message.direction == "out" and message.kind == "cards":
            cards.extend(message.payload.get("cards", []))
    return cards


def transcript_of(messages: Sequence[Message]) -> list[TranscriptLine]:
    return [
        TranscriptLine(direction=m.direction, text=m.text, at=m.created_at.isoformat())
        for m in messages
    ]
