"""What the outbox learns about deliveries (sent, bounced), written back onto the lead and
the handoff."""

from __future__ import annotations

import logging
from datetime import datetime

from autoreply.service.conversations import ConversationService
from autoreply.store import repos
from autoreply.store.outbox import OutboxItem

__all__ = ["Deliveries"]

log = logging.getLogger(__name__)


class Deliveries:
    """The outbox worker's hooks: a sent form reply is the real first response, a sent
    pre-meeting email shows on the handoff, a bounce marks the lead."""

    def __init__(self, service: ConversationService) -> None:
        self.service = service

    async def delivered(self, item: OutboxItem, at: datetime, _error: str | None) -> None:
        """A message went out: the form reply's time is the real first response, and the
        pre-meeting email is marked on the handoff."""
        if item.conversation_id is None or item.kind not in ("form_reply", "pre_meeting"):
            return
        async with self.service.uow.write() as session:
            conversation = await repos.conversation_by_id(session, item.conversation_id, lock=True)
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
        async with self.service.uow.write() as session:
            lead = await repos.get_lead(session, item.lead_id)
            if lead is None or item.recipient != (lead.email or item.recipient):
                return
            lead.email_failed_at = at
            lead.email_error = (error or "")[:2000]
            if item.conversation_id is not None:
                conversation = await repos.conversation_by_id(
                    session, item.conversation_id, lock=True
                )
                if conversation is not None:
                    await session.flush()
                    await self.service.refresh_handoff(session, conversation, at)
        log.warning(
            "email to a lead failed for good", extra={"lead": item.lead_id, "kind": item.kind}
        )
