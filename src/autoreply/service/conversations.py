"""Conversations as the channels use them: start, handle what the lead did, continue in the
chat, close, and the reads of the widget; each call is one transaction."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from fnmatch import fnmatch
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.domain import triggers
from autoreply.domain.handoff import HandoffRecord, TranscriptLine
from autoreply.domain.promise import FollowUp, follow_up
from autoreply.domain.scoring import PRICING_VIEWS_SCORED
from autoreply.errors import BadRequestError, ForbiddenError, NotFoundError
from autoreply.flows.turns import Inbound, State
from autoreply.service import crm
from autoreply.service.handoffs import collected, transcript_of
from autoreply.service.turn import Outgoing, TurnResult, TurnRunner, reply_text
from autoreply.signing import new_token, token_hash, verify_token
from autoreply.store import repos
from autoreply.store.models import Conversation

__all__ = ["ConversationService", "Outgoing", "TurnResult", "reply_text"]

log = logging.getLogger(__name__)
MAX_PAGES = 50


class ConversationService(TurnRunner):
    """Starts conversations and runs their turns; each call is one transaction."""

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
            lead = await repos.resolve_lead(session, identities, now)
            changed = repos.update_lead(lead, facts, now) if facts else []
            await crm.lead_seen(session, self.content, lead, changed, now)
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
            await self._note_activity(session, conversation, now, new=True)
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

    async def follow_up(self, conversation_id: str, now: datetime) -> FollowUp:
        """The promise a page may make about a conversation: exact once its handoff is
        written (its owner and SLA clock, ``Owners.assigned``), the calendar's before."""
        assigned = None
        async with self.uow.read() as session:
            conversation = await repos.conversation_by_public_id(session, conversation_id)
            row = await self.handoffs.row(session, conversation) if conversation else None
            if row is not None and self.owners is not None:
                assigned = await self.owners.assigned(session, row)
        return follow_up(self.content.calendar, now, assigned=assigned)

    async def locale_of(self, conversation_id: str) -> str:
        """The language of a conversation's flow."""
        async with self.uow.read() as session:
            flow_id = await repos.flow_id_of(session, conversation_id)
        if flow_id is None:
            raise NotFoundError(f"no conversation {conversation_id!r}")
        return self.content.engine(flow_id).flow.locale

    async def messages(
        self, conversation_id: str
    ) -> tuple[str, str, list[tuple[str, str, str, dict[str, Any], str]]]:
        """(status, locale, [(direction, kind, text, payload, ISO time)]) of a conversation."""
        async with self.uow.read() as session:
            conversation = await repos.conversation_by_public_id(session, conversation_id)
            if conversation is None:
                raise NotFoundError(f"no conversation {conversation_id!r}")
            rows = await repos.messages_of(session, conversation.id)
        locale = self.content.engine(conversation.flow_id).flow.locale
        return (
            conversation.status,
            locale,
            [
                (m.direction, m.kind, m.text, dict(m.payload), m.created_at.isoformat())
                for m in rows
            ],
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
                views = int(source.get("pricing_views", 0)) + 1
                source["pricing_views"] = views
                if views <= PRICING_VIEWS_SCORED:  # a view that adds points is a trigger
                    source = triggers.fire(source, "pricing_views", now, str(views))
            conversation.source = source
            await self._note_activity(session, conversation, now)
            await self.refresh_handoff(session, conversation, now)
            return int(source.get("pricing_views", 0))

    async def record_case_click(self, conversation_id: str, case_id: str) -> str | None:
        """Note that the lead clicked the link of a case study we sent (the first click's time).

        Returns where to send the browser (``None`` for an unknown case): our own case page
        with a signed view link (serving it records "viewed", see ``record_case_view``), or
        the operator's URL as it is; a page elsewhere can confirm nothing, so that case
        stays "clicked".
        """
        case = self.content.library.get(case_id)
        if case is None:
            return None
        await self._note_case(conversation_id, case_id, "case_clicks")
        if case.url == self.links.case_page(case.id):
            return self.links.case_view(conversation_id, case.id)
        return case.url

    async def record_case_view(self, conversation_id: str, case_id: str) -> None:
        """Note that our own page of a case study was served after the lead clicked its link."""
        await self._note_case(conversation_id, case_id, "case_clicks", "case_views")

    async def record_case_read(self, conversation_id: str, case_id: str) -> bool:
        """Note that the lead read our own page of a case study to the end (the page says
        so: the end of the story came into view, or the page stayed visible long enough).

        The first read of a case fires the ``case_read`` trigger (and counts as its click
        and view, should those be missing); telling it again changes nothing. Returns
        whether this was the first read.
        """
        return await self._note_case(
            conversation_id, case_id, "case_clicks", "case_views", "case_reads"
        )

    async def _note_case(self, conversation_id: str, case_id: str, *keys: str) -> bool:
        """Stamp ``now`` for the case under each key of the source, keeping a first time;
        whether the last key was stamped now."""
        now = self.content.clock.now()
        async with self.uow.write() as session:
            conversation = await repos.lock_conversation(session, conversation_id)
            source = dict(conversation.source or {})
            new = [key for key in keys if case_id not in dict(source.get(key) or {})]
            for key in new:
                source[key] = {**dict(source.get(key) or {}), case_id: now.isoformat()}
            if "case_reads" in new:
                source = triggers.fire(source, "case_read", now, case_id)
            conversation.source = source
            came_back = await self._note_activity(session, conversation, now)
            if new or came_back:
                await self.refresh_handoff(session, conversation, now)
        return keys[-1] in new

    async def _note_activity(
        self, session: AsyncSession, conversation: Conversation, now: datetime, *, new: bool = False
    ) -> bool:
        """Note on the conversation that the lead did something now (``new``: by starting
        it). A lead with a handoff who comes back after ``triggers.RETURN_AFTER`` of doing
        nothing anywhere fires ``return_visit`` here and on the conversation of their
        latest handoff, whose record is refreshed (a lead crossing into Tier A is told to
        its owner). Returns whether the lead came back."""
        source = triggers.seen(conversation.source or {}, now)
        came_back = False
        with session.no_autoflush:  # a new conversation is inserted once, after its turn
            handoffs = await repos.handoffs_of_lead(session, conversation.lead_id)
            if handoffs:
                before = [
                    triggers.last_seen(c.source or {}, c.updated_at)
                    for c in await repos.conversations_of_lead(session, conversation.lead_id)
                    if not (new and c is conversation)
                ]
                came_back = triggers.returned(before, now)
        if came_back:
            source = triggers.fire(source, "return_visit", now)
            latest = handoffs[0][0]
            if latest.conversation_id != conversation.id:
                other = await repos.conversation_by_id(session, latest.conversation_id, lock=True)
                if other is not None:
                    other.source = triggers.fire(
                        triggers.seen(other.source or {}, now), "return_visit", now
                    )
                    await self.refresh_handoff(session, other, now)
            log.info(
                "the lead came back",
                extra={"conversation": conversation.public_id, "lead": conversation.lead_id},
            )
        conversation.source = source
        return came_back

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
            if end and state.held:  # left before the details were complete: free the slot
                await repos.release_holds(session, conversation.id, now)
                state = state.evolve(booking=None)
            conversation.state = state.to_dict()
            if self.meetings is not None and state.booked:
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


def _scored(url: str, patterns: str) -> bool:
    """Whether a page's path matches one of the comma-separated wildcard patterns."""
    path = urlsplit(url).path or "/"
    return any(fnmatch(path, p.strip()) for p in patterns.split(",") if p.strip())
