"""Storage on real SQLite and PostgreSQL: migrations, one lead across channels, de-duplication."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from autoreply.store import repos
from autoreply.store.db import create_engine, migration_status, session_factory
from autoreply.store.models import Base, Booking, Conversation, Lead, Rep
from tests.conftest import tokyo

NOW = tokyo(2026, 11, 21, 23, 10)


async def test_migrations_create_exactly_the_models(migrated: str) -> None:
    """After `db upgrade` the schema matches the models, and the head revision is recorded."""
    engine = create_engine(migrated)
    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata)
            )
        current, head = await migration_status(engine)
    finally:
        await engine.dispose()
    assert diff == []
    assert current == head and head


async def test_upgrade_twice_is_harmless(migrated: str) -> None:
    """Applying migrations on an up-to-date database changes nothing."""
    from autoreply.store.db import upgrade

    await upgrade(migrated)
    engine = create_engine(migrated)
    try:
        current, head = await migration_status(engine)
    finally:
        await engine.dispose()
    assert current == head


@pytest.fixture
async def sessions(migrated: str):  # type: ignore[no-untyped-def]
    engine = create_engine(migrated)
    yield session_factory(engine)
    await engine.dispose()


async def test_times_come_back_aware_and_equal(sessions) -> None:  # type: ignore[no-untyped-def]
    """A Tokyo time stored is the same instant read back, as an aware UTC datetime."""
    async with sessions() as s, s.begin():
        lead = Lead(created_at=NOW, updated_at=NOW)
        s.add(lead)
    async with sessions() as s:
        stored = await s.get(Lead, lead.id)
        assert stored is not None
        assert stored.created_at == NOW
        assert stored.created_at.tzinfo is not None
        assert stored.created_at.utcoffset() == timedelta(0)
        assert stored.created_at.tzinfo == UTC or stored.created_at.utcoffset() == timedelta(0)


async def test_same_identity_is_the_same_lead(sessions) -> None:  # type: ignore[no-untyped-def]
    """A web session seen twice resolves to one lead."""
    async with sessions() as s, s.begin():
        first = await repos.resolve_lead(s, [("web", "sess-1")], NOW)
    async with sessions() as s, s.begin():
        again = await repos.resolve_lead(s, [("web", "sess-1")], NOW, {"name": "山田"})
    assert again.id == first.id
    assert again.name == "山田"


async def test_two_channels_of_one_person_merge(sessions) -> None:  # type: ignore[no-untyped-def]
    """A chat lead and a LINE lead that turn out to share an email become one lead."""
    async with sessions() as s, s.begin():
        web = await repos.resolve_lead(s, [("web", "sess-1")], NOW, {"company": "サンプル"})
        s.add(
            Conversation(
                public_id="c-web",
                lead_id=web.id,
                channel="web",
                flow_id="f",
                flow_version=1,
                status="active",
                state={},
                source={},
                created_at=NOW,
                updated_at=NOW,
            )
        )
        line = await repos.resolve_lead(s, [("line", "U123")], NOW, {"display_name": "たろう"})
    assert web.id != line.id
    async with sessions() as s, s.begin():
        lead = await repos.resolve_lead(s, [("line", "U123")], NOW)
        lead = await repos.add_identity(s, lead, "email", "taro@example.com", NOW)
        merged = await repos.resolve_lead(
            s, [("web", "sess-1"), ("email", "taro@example.com")], NOW
        )
    assert merged.id == min(web.id, line.id)
    async with sessions() as s:
        keep = await s.get(Lead, merged.id)
        gone = await s.get(Lead, max(web.id, line.id))
        assert keep is not None and gone is not None
        assert gone.merged_into_id == keep.id
        assert (keep.company, keep.display_name) == ("サンプル", "たろう")
        await s.refresh(keep, ["identities"])
        assert sorted((i.channel, i.external_id) for i in keep.identities) == [
            ("email", "taro@example.com"),
            ("line", "U123"),
            ("web", "sess-1"),
        ]
        conversation = await s.scalar(select(Conversation).where(Conversation.public_id == "c-web"))
        assert conversation is not None and conversation.lead_id == keep.id
    async with sessions() as s, s.begin():
        again = await repos.resolve_lead(s, [("web", "sess-1")], NOW)
    assert again.id == keep.id


async def test_inbound_event_ids_deduplicate(sessions) -> None:  # type: ignore[no-untyped-def]
    """The same event id is accepted once per source; the other source is separate."""
    async with sessions() as s, s.begin():
        assert await repos.record_inbound(s, "line", "01HX", NOW, {"a": 1})
        assert not await repos.record_inbound(s, "line", "01HX", NOW, {"a": 1})
        assert await repos.record_inbound(s, "form", "01HX", NOW, {})
    async with sessions() as s, s.begin():
        assert not await repos.record_inbound(s, "line", "01HX", NOW, {"a": 1})


async def test_outbox_keys_deduplicate(sessions) -> None:  # type: ignore[no-untyped-def]
    """Queuing the same message twice leaves one row to send."""
    async with sessions() as s, s.begin():
        kw = {
            "channel": "line",
            "kind": "reply",
            "recipient": "U1",
            "payload": {"t": 1},
            "now": NOW,
        }
        assert await repos.enqueue(s, dedupe_key="message:1", **kw)
        assert not await repos.enqueue(s, dedupe_key="message:1", **kw)
        assert await repos.enqueue(s, dedupe_key="message:2", **kw)


async def test_a_rep_cannot_be_double_booked(sessions) -> None:  # type: ignore[no-untyped-def]
    """Two confirmed bookings of one rep at one start are refused; a cancelled one is not."""
    start = tokyo(2026, 11, 24, 10)
    async with sessions() as s, s.begin():
        rep = Rep(name="r", email="r@example.com", active=True, created_at=NOW)
        lead = Lead(created_at=NOW, updated_at=NOW)
        s.add_all([rep, lead])
        await s.flush()
        booking = {
            "rep_id": rep.id,
            "lead_id": lead.id,
            "start_at": start,
            "end_at": start + timedelta(minutes=30),
            "created_at": NOW,
        }
        s.add(Booking(status="confirmed", **booking))
    with pytest.raises(IntegrityError):
        async with sessions() as s, s.begin():
            s.add(Booking(status="confirmed", **booking))
    async with sessions() as s, s.begin():
        s.add(Booking(status="cancelled", **booking))
