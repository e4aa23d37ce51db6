"""Conversations and their messages."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.errors import NotFoundError
from autoreply.store.models import Conversation, HandoffRow, Lead, Message
from autoreply.store.repos.leads import current_lead

__all__ = [
    "add_conversation",
    "add_messages",
    "conversation_by_id",
    "conversation_by_public_id",
    "conversations_of_lead",
    "flow_id_of",
    "idle_conversations",
    "latest_on_contact",
    "lock_conversation",
    "lock_conversation_and_lead",
    "message_row",
    "messages_of",
    "token_hash_of",
]


async def add_conversation(
    session: AsyncSession,
    *,
    lead: Lead,
    channel: str,
    flow: tuple[str, int],
    now: datetime,
    contact: str | None,
    source: Mapping[str, Any] | None = None,
    state: Mapping[str, Any] | None = None,
    token_hash: str | None = None,
    started_at: datetime | None = None,
) -> Conversation:
    """A new active conversation of ``lead`` on ``channel`` with the flow ``(id, version)``,
    added to the session (inserted at the next flush). ``started_at`` is when the lead
    acted (never later than ``now``)."""
    flow_id, flow_version = flow
    conversation = Conversation(
        public_id=secrets.token_urlsafe(24),
        lead_id=lead.id,
        channel=channel,
        flow_id=flow_id,
        flow_version=flow_version,
        step=None,
        status="active",
        state=dict(state or {}),
        source=dict(source or {}),
        contact=contact,
        token_hash=token_hash,
        created_at=min(started_at or now, now),
        updated_at=now,
    )
    session.add(conversation)
    return conversation


async def lock_conversation(session: AsyncSession, public_id: str) -> Conversation:
    """Load a conversation for a turn, locked against concurrent turns."""
    conversation = await session.scalar(
        select(Conversation).where(Conversation.public_id == public_id).with_for_update()
    )
    if conversation is None:
        raise NotFoundError(f"no conversation {public_id!r}")
    return conversation


async def lock_conversation_and_lead(
    session: AsyncSession, public_id: str, *, lock: bool = True
) -> tuple[Conversation, Lead]:
    """A conversation locked for a turn (unless not ``lock``), and its lead, in one query
    (the lead it was merged into, if it was)."""
    query = (
        select(Conversation, Lead)
        .join(Lead, Lead.id == Conversation.lead_id)
        .where(Conversation.public_id == public_id)
    )
    if lock:
        query = query.with_for_update(of=Conversation)
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFoundError(f"no conversation {public_id!r}")
    conversation, lead = row
    return conversation, await current_lead(session, lead)


async def conversation_by_id(
    session: AsyncSession, conversation_id: int, *, lock: bool = False
) -> Conversation | None:
    """A conversation by its row id (locked for an update with ``lock``, and then read
    afresh: a copy loaded earlier in the transaction may predate the lock)."""
    query = select(Conversation).where(Conversation.id == conversation_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def conversation_by_public_id(session: AsyncSession, public_id: str) -> Conversation | None:
    """A conversation by the id channels know it by, for reading."""
    return await session.scalar(select(Conversation).where(Conversation.public_id == public_id))


async def conversations_of_lead(session: AsyncSession, lead_id: int) -> list[Conversation]:
    """Every conversation of one lead, oldest first (a person has a few, not thousands)."""
    return list(
        await session.scalars(
            select(Conversation).where(Conversation.lead_id == lead_id).order_by(Conversation.id)
        )
    )


async def flow_id_of(session: AsyncSession, public_id: str) -> str | None:
    """The flow a conversation runs, None if there is no such conversation."""
    return await session.scalar(
        select(Conversation.flow_id).where(Conversation.public_id == public_id)
    )


async def token_hash_of(session: AsyncSession, public_id: str) -> str | None:
    """The stored hash of a conversation's secret token; None if there is no such
    conversation (or it has no token)."""
    return await session.scalar(
        select(Conversation.token_hash).where(Conversation.public_id == public_id)
    )


async def latest_on_contact(session: AsyncSession, channel: str, contact: str) -> str | None:
    """The newest conversation held with this contact on this channel (its public id)."""
    return await session.scalar(
        select(Conversation.public_id)
        .where(Conversation.channel == channel, Conversation.contact == contact)
        .order_by(Conversation.id.desc())
        .limit(1)
    )


async def idle_conversations(session: AsyncSession, idle_since: datetime) -> list[str]:
    """Active conversations not updated since ``idle_since`` that have no handoff yet."""
    return list(
        await session.scalars(
            select(Conversation.public_id)
            .where(
                Conversation.status == "active",
                Conversation.updated_at < idle_since,
                ~select(HandoffRow.id)
                .where(HandoffRow.conversation_id == Conversation.id)
                .exists(),
            )
            .order_by(Conversation.id)
        )
    )


def message_row(
    conversation_id: int,
    direction: str,
    kind: str,
    text: str,
    payload: Mapping[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """One message as ``add_messages`` takes it."""
    return {
        "conversation_id": conversation_id,
        "direction": direction,
        "kind": kind,
        "text": text,
        "payload": dict(payload),
        "created_at": now,
    }


async def add_messages(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Insert messages (rows from ``message_row``) in one statement; their ids, in order.

    Ids are assigned in the order of the rows of one INSERT (SQLite's rowid, a
    PostgreSQL sequence), so sorting the returned ids gives that order, whatever order
    RETURNING hands them back in.
    """
    if not rows:
        return []
    result = await session.execute(insert(Message).returning(Message.id), list(rows))
    return sorted(result.scalars())


async def rewrite_message(
    session: AsyncSession, message_id: int, text: str, payload: Mapping[str, Any]
) -> None:
    """Change what a message written in this transaction says (a turn's reply, said again
    once its handoff's owner is known)."""
    await session.execute(
        update(Message).where(Message.id == message_id).values(text=text, payload=dict(payload))
    )


async def messages_of(session: AsyncSession, conversation_id: int) -> list[Message]:
    """A conversation's messages, oldest first."""
    result = await session.scalars(
        select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
    )
    return list(result)
