"""Form submissions: one lead, one conversation, a handoff and a contextual auto-reply email.

A submission is stored with everything it said (duplicates too); the lead it belongs to is
found by email address, so someone who chatted first and submits later is one lead. The
reply email is queued in the same transaction, so an accepted submission always gets its
reply, and the same submission again (same form, address and fields) within
``form_duplicate_minutes`` gets only one; a different document is a new request, and a
lead's second such request scores (the ``second_form`` trigger).

The submission also opens a conversation (channel ``form``) holding what the form said as
answered flow slots. The email's "continue in chat" link starts that flow in the web chat
from there (``ConversationService.continue_in_chat``), skipping what is already known.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from autoreply import graphemes
from autoreply.channels.email.render import MailRenderer, serialize
from autoreply.domain import triggers
from autoreply.domain.calendar import format_when
from autoreply.domain.forms import Submission
from autoreply.domain.invites import Person
from autoreply.domain.promise import follow_up
from autoreply.domain.timing import TimingBucket, timing_from_bucket
from autoreply.errors import ConfigError
from autoreply.flows.engine import Engine
from autoreply.flows.spec import SlotType
from autoreply.flows.turns import Cards, Reply, State, Text, cards_of, reply_to_dict
from autoreply.service import crm
from autoreply.service.conversations import ConversationService, reply_text
from autoreply.store import repos
from autoreply.store.models import Conversation, Lead

__all__ = ["Accepted", "FormIntake"]

log = logging.getLogger(__name__)
QUOTE_CHARS = 200


@dataclass(frozen=True)
class Accepted:
    """What a channel tells the submitter (and a marketing tool) after a submission."""

    submission_id: int
    lead_id: int
    conversation_id: str
    duplicate: bool
    continue_url: str


class FormIntake:
    """Takes checked submissions in (see ``content.forms``) and answers them by email."""

    def __init__(
        self,
        service: ConversationService,
        renderer: MailRenderer,
    ) -> None:
        self.service = service
        self.content = service.content
        self.renderer = renderer

    def engine_for(self, submission: Submission) -> Engine:
        """The flow that continues this form's conversation."""
        form = submission.form
        engine = self.content.flow_for(form.flow, form.locale)
        if engine is None:
            raise ConfigError(f"form {form.id!r}: unknown flow {form.flow!r}")
        return engine

    async def submit(self, submission: Submission, source: Mapping[str, Any]) -> Accepted:
        """Store a submission and queue its reply (or note it as a duplicate).

        Two first submissions from one new address at the same moment both try to create
        the lead; the loser of that race simply runs again and finds the lead.
        """
        tries = 3
        while True:
            tries -= 1
            try:
                return await self._submit(submission, source)
            except IntegrityError:
                if not tries:
                    raise
                log.info("form submission raced another for the same lead; again")

    async def _submit(self, submission: Submission, source: Mapping[str, Any]) -> Accepted:
        form = submission.form
        service = self.service
        now = self.content.clock.now()
        window = timedelta(minutes=self.content.settings.form_duplicate_minutes)
        async with service.uow.write() as session:
            lead = await repos.resolve_lead(session, [("email", submission.email)], now)
            given = submission.lead_facts()
            changed = repos.update_lead(lead, given, now) if given else []
            if submission.consented:  # which privacy notice they agreed to, and when
                lead.consent_at = now
                lead.consent_version = self.content.settings.privacy_policy_version
            await crm.lead_seen(session, self.content, lead, changed, now)
            earlier = await repos.earlier_submission(
                session, form.id, submission.email, now - window, submission.values
            )
            row = repos.add_submission(
                session,
                form_id=form.id,
                email=submission.email,
                lead_id=lead.id,
                fields=submission.values,
                source=source,
                now=now,
                duplicate_of=earlier,
            )
            await session.flush()
            if earlier is not None:
                log.info(
                    "the same submission again within the window: no second reply",
                    extra={"lead": lead.id, "form": form.id},
                )
                conversation = None
                if earlier.conversation_id is not None:
                    conversation = await repos.conversation_by_id(session, earlier.conversation_id)
                public_id = conversation.public_id if conversation else ""
                return Accepted(
                    row.id, lead.id, public_id, True, service.links.continue_chat(public_id, now)
                )
            engine = self.engine_for(submission)
            state, cards = self._prepared(engine, submission, lead.industry, now)
            conversation = await repos.add_conversation(
                session,
                lead=lead,
                channel="form",
                flow=(engine.flow.id, engine.flow.spec.version),
                now=now,
                contact=submission.email,
                source=await self._source(session, submission, source, lead, now),
                state=state.to_dict(),
            )
            await session.flush()
            row.conversation_id = conversation.id
            ctx = await service.context(session, engine, conversation, lead, now)
            locale = engine.flow.locale
            variables = self._variables(submission, engine, conversation, cards, now)
            subject = self.renderer.subject(submission.form.reply_template, locale, variables)
            await self._transcript(session, submission, conversation, cards, locale, subject, now)
            state = state.evolve(handoff="form")
            conversation.state = state.to_dict()
            conversation.first_response_at = now  # moved to the delivery time when it goes
            _, handoff = await service.handoffs.write(
                session, engine, conversation, lead, state, ctx, "form", now, row=None
            )
            # The handoff has its owner and clock now: the email promises what they make true.
            assigned = await service.owners.assigned(session, handoff) if service.owners else None
            variables["follow_up"] = follow_up(self.content.calendar, now, assigned=assigned)
            await self._reply(
                session, submission, conversation, lead, locale, variables, row.id, now
            )
            log.info(
                "form submission accepted",
                extra={"lead": lead.id, "conversation": conversation.public_id, "form": form.id},
            )
        return Accepted(
            row.id,
            lead.id,
            conversation.public_id,
            False,
            service.links.continue_chat(conversation.public_id, now),
        )

    async def _transcript(
        self,
        session: AsyncSession,
        submission: Submission,
        conversation: Conversation,
        cards: Cards,
        locale: str,
        subject: str,
        now: datetime,
    ) -> None:
        """The conversation's record of what the form said and was answered (the email by
        its subject, then the cases it introduces), for the handoff and the chat opened from
        the email, which reads like one conversation."""
        note = self.renderer.part(
            "form_note",
            locale,
            {
                "subject": subject,
                "form": submission.form,
                "answers": submission.summary(),
                "cases": len(cards.cards),
            },
        )
        replies: list[Reply] = [Text(note), *([cards] if cards.cards else [])]
        message = partial(repos.message_row, conversation.id, now=now)
        await repos.add_messages(
            session,
            [
                message("in", "form", _summary(submission), {}),
                *(message("out", r.kind, reply_text(r), reply_to_dict(r)) for r in replies),
            ],
        )

    async def _reply(
        self,
        session: AsyncSession,
        submission: Submission,
        conversation: Conversation,
        lead: Lead,
        locale: str,
        variables: dict[str, Any],
        submission_id: int,
        now: datetime,
    ) -> None:
        """The reply email, queued in this transaction."""
        rendered = self.renderer.render(
            submission.form.reply_template,
            locale,
            to=Person(lead.name or "", submission.email),
            now=now,
            variables=variables,
            auto_submitted="auto-replied",
        )
        await repos.enqueue(
            session,
            channel="email",
            kind="form_reply",
            recipient=rendered.recipient,
            payload={"message": serialize(rendered.message), "subject": rendered.subject},
            dedupe_key=f"form:{submission_id}",
            now=now,
            conversation_id=conversation.id,
            lead_id=lead.id,
        )

    async def _source(
        self,
        session: AsyncSession,
        submission: Submission,
        source: Mapping[str, Any],
        lead: Lead,
        now: datetime,
    ) -> dict[str, Any]:
        """Where the submission came from; a lead who sent a form before (any form, not a
        duplicate: each made its own ``form`` conversation) fires ``second_form``."""
        made = _source(submission, source)
        earlier = await repos.conversations_of_lead(session, lead.id)
        if any(c.channel == "form" for c in earlier):
            made = triggers.fire(made, "second_form", now, submission.form.title)
        return made

    def _prepared(
        self, engine: Engine, submission: Submission, industry: str | None, now: datetime
    ) -> tuple[State, Cards]:
        """The flow state the form's answers make, and the case studies that fit them."""
        flow = engine.flow
        slots: dict[str, Any] = {}
        for name, value in submission.slots().items():
            spec = flow.spec.slots.get(name)
            if spec is None:
                continue
            if spec.type is SlotType.TIMING:
                try:
                    bucket = TimingBucket(value)
                except ValueError:
                    continue
                label = dict((c.value, c.label) for _, c in submission.chosen()).get(value, value)
                slots[name] = timing_from_bucket(bucket, now, label).to_dict()
            else:
                slots[name] = value
        message = self.content.library.analyse(submission.challenge())  # tokenised once
        topics = [
            *submission.topics(),
            *(h.topic_id for h in self.content.vocabulary.detect(message)),
        ]
        topics = [t for t in dict.fromkeys(topics) if self.content.vocabulary.get(t)]
        matches = self.content.library.match(message, topics=topics, industry=industry, limit=3)
        cards = cards_of(matches, flow.locale)
        state = State(
            slots=slots,
            topics=tuple(topics),
            cases_sent=tuple(c.id for c in cards.cards),
        )
        return state, cards

    def _variables(
        self,
        submission: Submission,
        engine: Engine,
        conversation: Conversation,
        cards: Cards,
        now: datetime,
    ) -> dict[str, Any]:
        calendar = self.content.calendar
        links = self.service.links
        locale = engine.flow.locale
        challenge = submission.challenge()
        quote = graphemes.clip(challenge, QUOTE_CHARS + 1)
        documents = [
            {"field": label, "label": c.label, "url": links.absolute(c.url)}
            for label, c in submission.chosen()
            if c.url
        ]
        is_open = calendar.is_open(now)
        return {
            "form": {
                "id": submission.form.id,
                "title": submission.form.title,
                "kind": submission.form.kind,
            },
            "lead": submission.lead_facts(),
            "answers": submission.summary(),
            "documents": documents,
            "quote": quote,
            "cases": [
                {
                    "title": c.title,
                    "customer": c.customer,
                    "industry": c.industry,
                    "summary": c.summary,
                    "url": links.case(conversation.public_id, c.id),
                }
                for c in cards.cards
            ],
            "open_now": is_open,
            "next_opening": calendar.next_opening(now),
            "next_opening_text": format_when(calendar.next_opening(now), locale),
            "follow_up": follow_up(calendar, now),
            "continue_url": links.continue_chat(conversation.public_id, now),
            "book_url": links.book(conversation.public_id, now),
            "link_days": self.content.settings.link_days,
        }


def _source(submission: Submission, source: Mapping[str, Any]) -> dict[str, Any]:
    chosen = submission.chosen()
    document = next((c.label for label, c in chosen if c.url), None)
    return {
        **dict(source),
        "form_id": submission.form.id,
        "form_title": submission.form.title,
        "form_kind": submission.form.kind,
        **({"document": document} if document else {}),
    }


def _summary(submission: Submission) -> str:
    return "\n".join(f"{label}: {value}" for label, value in submission.summary())
