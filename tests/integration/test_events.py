"""CRM events are queued in the caller's transaction: one outbox row per webhook that wants
the event, checked against the event's shape, once per fact (same key, same event id)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autoreply.domain.crm_events import Event, Webhook
from autoreply.service import events
from autoreply.service.content import Content
from autoreply.store.db import create_engine, session_factory
from autoreply.store.models import Lead, LeadIdentity, OutboxRow
from tests.conftest import tokyo

NOW = tokyo(2026, 12, 7, 10, 0)
HOOKS = (
    Webhook("default", "http://127.0.0.1:9/crm", "s1"),
    Webhook("meetings-only", "http://127.0.0.1:9/m", "s2", frozenset({"meeting.held"})),
)


@pytest.fixture
async def sessions(migrated: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(migrated)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def _lead(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session, session.begin():
        lead = Lead(created_at=NOW, updated_at=NOW, name="山田 太郎", company="サンプル商事")
        session.add(lead)
        await session.flush()
        session.add(LeadIdentity(lead_id=lead.id, channel="line", external_id="U1", created_at=NOW))
        return lead.id


async def _rows(sessions: async_sessionmaker[AsyncSession]) -> list[OutboxRow]:
    async with sessions() as session:
        return list(await session.scalars(select(OutboxRow).order_by(OutboxRow.id)))


async def test_one_row_per_wanting_webhook_and_once_per_fact(
    sessions: async_sessionmaker[AsyncSession], content: Content
) -> None:
    hooked = dataclasses.replace(content, webhooks=HOOKS)
    lead_id = await _lead(sessions)
    for _ in range(2):  # the same fact emitted twice is one event
        async with sessions() as session, session.begin():
            the_id = await events.emit(
                session,
                hooked,
                "lead.updated",
                lead_id=lead_id,
                key=f"{lead_id}:1",
                at=NOW,
                data={"changed": ["company"]},
            )
    rows = await _rows(sessions)
    assert [(r.channel, r.recipient) for r in rows] == [("crm", f"default:lead:{lead_id}")]
    event = Event.model_validate(rows[0].payload["event"])
    assert event.id == the_id == events.event_id("lead.updated", f"{lead_id}:1")
    assert event.lead.company == "サンプル商事" and event.lead.line_user_id == "U1"
    assert event.data == {"changed": ["company"]}
    assert rows[0].dedupe_key == f"crm:default:{the_id}"


async def test_nothing_is_queued_without_a_webhook_and_bad_events_are_refused(
    sessions: async_sessionmaker[AsyncSession], content: Content
) -> None:
    lead_id = await _lead(sessions)
    async with sessions() as session, session.begin():
        assert (
            await events.emit(
                session, content, "lead.created", lead_id=lead_id, key="x", at=NOW, data={}
            )
            is None
        )
    hooked = dataclasses.replace(content, webhooks=HOOKS)
    async with sessions() as session, session.begin():
        with pytest.raises(ValueError, match="unknown event type"):
            await events.emit(
                session, hooked, "lead.gone", lead_id=lead_id, key="x", at=NOW, data={}
            )
        with pytest.raises(ValidationError):
            await events.emit(
                session, hooked, "meeting.held", lead_id=lead_id, key="x", at=NOW, data={}
            )
    assert await _rows(sessions) == []
