"""The service layer on real databases: whole turns in one transaction, races, handoffs."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from autoreply.bootstrap import mail_renderer, seed_demo
from autoreply.clock import FixedClock
from autoreply.errors import NotFoundError
from autoreply.flows.turns import Inbound, SlotPicker, reply_to_dict
from autoreply.links import Links
from autoreply.service.content import Content
from autoreply.service.conversations import ConversationService
from autoreply.service.meetings import MeetingMail
from autoreply.store import repos
from autoreply.store.db import create_engine, session_factory
from autoreply.store.models import Booking, Conversation, HandoffRow, Lead, Message, OutboxRow
from tests.conftest import tokyo

SATURDAY_NIGHT = tokyo(2026, 11, 21, 23, 10)


@pytest.fixture
async def service(migrated: str, content: Content) -> AsyncIterator[ConversationService]:
    engine = create_engine(migrated)
    sessions = session_factory(engine)
    own = dataclasses.replace(content, clock=FixedClock(SATURDAY_NIGHT))
    await seed_demo(sessions, own.clock)
    links = Links(own.secret, own.settings.public_url, timedelta(days=14))
    meetings = MeetingMail(own, mail_renderer(own.settings), links)
    yield ConversationService(
        own, sessions, outgoing={"line": _one_request_per_turn}, meetings=meetings, links=links
    )
    await engine.dispose()


def _one_request_per_turn(conversation: Any, replies: Any, locale: str) -> list[dict[str, Any]]:
    """A pushing channel's renderer: all of a turn's replies in one request."""
    return [{"messages": [reply_to_dict(r) for r in replies]}]


async def _count(service: ConversationService, model: Any, *where: Any) -> int:
    async with service.uow.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def _to_offer(service: ConversationService, web_id: str) -> tuple[str, SlotPicker]:
    started = await service.start(
        channel="web", identities=[("web", web_id)], source={"url": "https://example.com/pricing"}
    )
    cid = started.conversation_id
    await service.handle(cid, Inbound("choice", text="1か月以内", value="within_1_month"))
    result = await service.handle(cid, Inbound("text", text="夜間の問い合わせ対応が遅れています"))
    picker = next(r for r in result.replies if isinstance(r, SlotPicker))
    return cid, picker


async def test_a_whole_conversation_is_stored_and_handed_off(service: ConversationService) -> None:
    """Every message is stored with its time, the booking is made and the handoff is Tier A."""
    cid, picker = await _to_offer(service, "sess-1")
    slot = picker.slots[0]
    await service.handle(cid, Inbound("slot", text=slot.label, value=slot.id))
    await service.handle(cid, Inbound("text", text="山田太郎です"))
    await service.handle(cid, Inbound("text", text="株式会社サンプル"))
    result = await service.handle(cid, Inbound("text", text="taro@example.com"))
    assert result.status == "ended"
    assert result.handoff is not None
    record = result.handoff
    assert record.tier == "A"
    assert record.booking is not None and record.booking["start_text"] == slot.label
    assert record.booking["rep"]
    assert record.timing is not None and record.timing["bucket"] == "within_1_month"
    assert record.challenge == "夜間の問い合わせ対応が遅れています"
    assert record.cases_sent and record.topics
    assert record.source["url"] == "https://example.com/pricing"
    assert "山田太郎様" in record.first_line and slot.label in record.first_line
    assert record.first_response_seconds == 0.0
    directions = [line.direction for line in record.transcript]
    assert directions.count("in") == 6 and directions[0] == "out"
    stored = await service.handoff_record(cid)
    assert stored is not None and stored["tier"] == "A"
    assert await _count(service, Booking, Booking.status == "confirmed") == 1
    async with service.uow.sessions() as s:
        lead = await s.scalar(select(Lead).where(Lead.email == "taro@example.com"))
        assert lead is not None and (lead.name, lead.company) == ("山田太郎", "株式会社サンプル")
        times = list(await s.scalars(select(Message.created_at)))
        assert times and all(t.tzinfo is not None for t in times)


async def test_concurrent_turns_on_one_conversation_are_serialised(
    service: ConversationService,
) -> None:
    """Two messages at once on one conversation both apply, one after the other; none is lost."""
    started = await service.start(channel="web", identities=[("web", "sess-2")])
    cid = started.conversation_id
    await asyncio.gather(
        service.handle(cid, Inbound("text", text="来月")),
        service.handle(cid, Inbound("text", text="人手不足で問い合わせに返信できていません")),
    )
    async with service.uow.sessions() as s:
        conversation = await s.scalar(select(Conversation).where(Conversation.public_id == cid))
        assert conversation is not None
        inbound = await s.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.conversation_id == conversation.id, Message.direction == "in")
        )
    assert inbound == 2
    # One of the two answered the timing question, the other the challenge question.
    assert conversation.step == "offer"
    assert set(conversation.state["slots"]) == {"timing", "challenge"}


@pytest.fixture
async def other_worker(
    migrated: str, service: ConversationService
) -> AsyncIterator[ConversationService]:
    """A second service on the same database with its own engine, as a second worker
    process of ``serve`` has (on SQLite the two meet at the file lock)."""
    engine = create_engine(migrated)
    yield ConversationService(service.content, session_factory(engine))
    await engine.dispose()


@pytest.mark.parametrize("workers", ["one worker", "two workers"])
async def test_two_leads_picking_one_slot_at_once_get_one_booking(
    service: ConversationService, other_worker: ConversationService, workers: str
) -> None:
    """Exactly one of two simultaneous picks wins; the other is told and offered fresh slots."""
    first, picker = await _to_offer(service, "sess-a")
    second, _ = await _to_offer(service, "sess-b")
    slot = picker.slots[0]
    rival = other_worker if workers == "two workers" else service
    results = await asyncio.gather(
        service.handle(first, Inbound("slot", text=slot.label, value=slot.id)),
        rival.handle(second, Inbound("slot", text=slot.label, value=slot.id)),
    )
    assert await _count(service, Booking, Booking.status == "held") == 1
    assert await _count(service, Booking, Booking.status == "confirmed") == 0
    losers = [r for r in results if any(isinstance(x, SlotPicker) for x in r.replies)]
    assert len(losers) == 1
    texts = " ".join(getattr(x, "text", "") for x in losers[0].replies)
    assert "埋まってしまいました" in texts
    fresh = next(x for x in losers[0].replies if isinstance(x, SlotPicker))
    assert slot.id not in {s.id for s in fresh.slots}


def _clock(service: ConversationService) -> FixedClock:
    clock = service.content.clock
    assert isinstance(clock, FixedClock)
    return clock


async def _give_details(service: ConversationService, cid: str, email: str) -> Any:
    await service.handle(cid, Inbound("text", text="山田太郎です"))
    await service.handle(cid, Inbound("text", text="株式会社サンプル"))
    return await service.handle(cid, Inbound("text", text=email))


async def test_a_lead_who_leaves_after_tapping_a_slot_holds_nothing_for_long(
    service: ConversationService,
) -> None:
    """Tapping a slot holds it: nobody else is offered it, but it is no booking: no email,
    no 商談予約あり on the handoff; when the lead leaves, the slot is free again."""
    cid, picker = await _to_offer(service, "sess-left")
    slot = picker.slots[0]
    held = await service.handle(cid, Inbound("slot", text=slot.label, value=slot.id))
    assert "仮予約" in held.replies[0].text  # type: ignore[union-attr]
    assert await _count(service, Booking, Booking.status == "held") == 1
    assert await _count(service, Booking, Booking.status == "confirmed") == 0
    _, other = await _to_offer(service, "sess-other")
    assert slot.id not in {s.id for s in other.slots}  # held: not offered to anyone else
    record = await service.close(cid)
    assert record is not None and record.booking is None
    assert "booked" not in [r["code"] for r in record.reasons]
    assert await _count(service, OutboxRow, OutboxRow.channel == "email") == 0
    assert await _count(service, Booking, Booking.status.in_(("held", "confirmed"))) == 0
    _, third = await _to_offer(service, "sess-third")
    assert slot.id in {s.id for s in third.slots}


async def test_a_hold_lapses_after_the_setting_and_the_slot_goes_to_another_lead(
    service: ConversationService,
) -> None:
    """A hold lasts ``slot_hold_minutes`` after the lead's last message; after that the slot
    is offered again; the first lead, coming back, is told and offered fresh slots."""
    minutes = service.content.settings.slot_hold_minutes
    first, picker = await _to_offer(service, "sess-slow")
    slot = picker.slots[0]
    await service.handle(first, Inbound("slot", text=slot.label, value=slot.id))
    _clock(service).advance(timedelta(minutes=minutes - 1))
    await service.handle(first, Inbound("text", text="山田太郎です"))  # keeps the hold
    _clock(service).advance(timedelta(minutes=minutes - 1))
    second, other = await _to_offer(service, "sess-fast")
    assert slot.id not in {s.id for s in other.slots}
    _clock(service).advance(timedelta(minutes=2))  # now past the hold
    second, other = await _to_offer(service, "sess-fast-2")
    assert slot.id in {s.id for s in other.slots}
    await service.handle(second, Inbound("slot", text=slot.label, value=slot.id))
    await _give_details(service, second, "fast@example.com")
    await service.handle(first, Inbound("text", text="株式会社サンプル"))
    back = await service.handle(first, Inbound("text", text="slow@example.com"))
    texts = " ".join(getattr(r, "text", "") for r in back.replies)
    assert "埋まってしまいました" in texts and "承りました" not in texts
    fresh = next(r for r in back.replies if isinstance(r, SlotPicker))
    assert slot.id not in {s.id for s in fresh.slots}
    again = await service.handle(
        first, Inbound("slot", text=fresh.slots[0].label, value=fresh.slots[0].id)
    )
    assert "承りました" in " ".join(getattr(r, "text", "") for r in again.replies)
    assert await _count(service, Booking, Booking.status == "confirmed") == 2
    assert await _count(service, Booking, Booking.status == "expired") == 1


async def test_a_lapsed_hold_nobody_took_is_confirmed(service: ConversationService) -> None:
    """A lead slower than the hold still gets the slot if nobody took it meanwhile."""
    cid, picker = await _to_offer(service, "sess-late")
    slot = picker.slots[0]
    await service.handle(cid, Inbound("slot", text=slot.label, value=slot.id))
    _clock(service).advance(timedelta(hours=1))
    done = await _give_details(service, cid, "late@example.com")
    assert done.handoff is not None and done.handoff.booking is not None
    assert done.handoff.booking["start_text"] == slot.label
    assert await _count(service, Booking, Booking.status == "confirmed") == 1
    assert await _count(service, OutboxRow, OutboxRow.kind == "booking_confirmed") == 2


async def test_push_channel_replies_go_through_the_outbox(service: ConversationService) -> None:
    """On a pushing channel each turn's replies are queued in the turn's transaction, as
    the channel renders them (here: two per request), the first request with the reply
    context; after opting out, only the confirmation; nothing for an empty channel."""

    def two_per_request(conversation: Any, replies: Any, locale: str) -> list[dict[str, Any]]:
        texts = [reply_to_dict(r) for r in replies]
        return [{"messages": texts[i : i + 2], "locale": locale} for i in range(0, len(texts), 2)]

    pushing = ConversationService(
        service.content, service.uow.sessions, outgoing={"line": two_per_request}
    )
    started = await pushing.start(
        channel="line", identities=[("line", "U42")], reply_context={"reply_token": "t1"}
    )
    async with service.uow.sessions() as s:
        rows = list(await s.scalars(select(OutboxRow).order_by(OutboxRow.id)))
    assert len(started.replies) == 2 and len(rows) == 1
    assert rows[0].payload["reply_token"] == "t1" and len(rows[0].payload["messages"]) == 2
    await pushing.handle(started.conversation_id, Inbound("text", text="配信停止"))
    after_stop = await _count(service, OutboxRow)
    assert after_stop == 2  # the confirmation of the opt-out itself
    await pushing.handle(started.conversation_id, Inbound("text", text="やっぱり質問です"))
    assert await _count(service, OutboxRow) == after_stop
    async with service.uow.sessions() as s:
        rows = list(await s.scalars(select(OutboxRow)))
        lead = await s.scalar(select(Lead).where(Lead.id == started.lead_id))
    assert {r.recipient for r in rows} == {"U42"}
    assert len({r.dedupe_key for r in rows}) == len(rows)
    assert "reply_token" not in rows[1].payload
    assert lead is not None and lead.opted_out_at is not None
    quiet = ConversationService(service.content, service.uow.sessions)  # no pushing channel
    other = await quiet.start(channel="line", identities=[("line", "U43")])
    assert other.replies and await _count(service, OutboxRow) == after_stop


async def test_a_lead_who_leaves_halfway_still_reaches_a_rep(
    service: ConversationService,
) -> None:
    """Closing a conversation with something collected writes a handoff; with nothing, none."""
    started = await service.start(channel="web", identities=[("web", "sess-3")])
    await service.handle(started.conversation_id, Inbound("text", text="年度内"))
    record = await service.close(started.conversation_id)
    assert record is not None and record.reason == "abandoned"
    assert record.timing is not None and record.timing["text"] == "年度内"
    empty = await service.start(channel="web", identities=[("web", "sess-4")])
    assert await service.close(empty.conversation_id) is None
    assert await _count(service, HandoffRow) == 1


async def test_unknown_conversation_is_not_found(service: ConversationService) -> None:
    """A made-up conversation id is refused, not created."""
    with pytest.raises(NotFoundError):
        await service.handle("no-such-id", Inbound("text", text="hi"))


async def test_replies_go_to_the_account_the_lead_wrote_from(
    service: ConversationService,
) -> None:
    """Two LINE accounts merged by one email address each get their own conversation's replies."""
    old = await service.start(channel="line", identities=[("line", "U-old")])
    new = await service.start(channel="line", identities=[("line", "U-new")])
    assert new.lead_id != old.lead_id
    for conversation in (old, new):
        async with service.uow.sessions() as s, s.begin():
            lead = await s.get(Lead, conversation.lead_id)
            assert lead is not None
            await repos.add_identity(s, lead, "email", "info@example.com", SATURDAY_NIGHT)
    async with service.uow.sessions() as s:
        first = await s.get(Lead, old.lead_id)
        assert first is not None and first.merged_into_id is None  # the older lead survives
        rows_before = await s.scalar(select(func.count()).select_from(OutboxRow))
    await service.handle(new.conversation_id, Inbound("text", text="来月"))
    await service.handle(old.conversation_id, Inbound("text", text="年度内"))
    async with service.uow.sessions() as s:
        rows = list(await s.scalars(select(OutboxRow).order_by(OutboxRow.id).offset(rows_before)))
        conversations = {c.id: c.public_id for c in await s.scalars(select(Conversation))}
    assert len(rows) == 2
    sent = {conversations[r.conversation_id or 0]: r.recipient for r in rows}
    assert sent == {new.conversation_id: "U-new", old.conversation_id: "U-old"}


async def test_closing_keeps_the_reason_the_flow_gave(service: ConversationService) -> None:
    """A conversation handed off as 'booked' stays 'booked' when the lead leaves."""
    cid, picker = await _to_offer(service, "sess-5")
    await service.handle(cid, Inbound("slot", value=picker.slots[0].id))
    await service.handle(cid, Inbound("text", text="佐藤"))
    await service.handle(cid, Inbound("text", text="株式会社サンプル"))
    await service.handle(cid, Inbound("text", text="sato@example.com"))
    record = await service.close(cid)
    assert record is not None and record.reason == "booked"


async def test_first_response_time_runs_from_the_leads_action(
    service: ConversationService,
) -> None:
    """The speed-to-lead figure counts from when the lead acted, not when we got to it."""
    started = await service.start(
        channel="web",
        identities=[("web", "sess-6")],
        occurred_at=SATURDAY_NIGHT - timedelta(seconds=3),
    )
    await service.handle(started.conversation_id, Inbound("text", text="担当者と話したい"))
    record = await service.handoff_record(started.conversation_id)
    assert record is not None and record["first_response_seconds"] == 3.0


async def test_an_opted_out_lead_stays_tier_c_and_can_come_back(
    service: ConversationService,
) -> None:
    """Opting out marks the lead; asking for a person later re-engages them on LINE."""
    first = await service.start(channel="line", identities=[("line", "U-7")])
    await service.handle(first.conversation_id, Inbound("choice", value="within_1_month"))
    await service.handle(first.conversation_id, Inbound("text", text="配信停止"))
    record = await service.handoff_record(first.conversation_id)
    assert record is not None and record["tier"] == "C" and record["opted_out"]
    queued = await _count(service, OutboxRow)
    silent = await service.handle(first.conversation_id, Inbound("text", text="もしもし"))
    assert silent.replies == () and await _count(service, OutboxRow) == queued
    back = await service.handle(first.conversation_id, Inbound("text", text="担当者と話したい"))
    assert back.replies and await _count(service, OutboxRow) > queued
    async with service.uow.sessions() as s:
        lead = await s.get(Lead, first.lead_id)
    assert lead is not None and lead.opted_out_at is None


async def test_idle_conversations_are_handed_off_once_and_stay_open(
    service: ConversationService,
) -> None:
    """After 30 idle minutes a conversation with answers reaches a rep; one without does not."""
    said = await service.start(channel="web", identities=[("web", "sess-idle-1")])
    await service.handle(said.conversation_id, Inbound("text", text="来月"))
    await service.start(channel="web", identities=[("web", "sess-idle-2")])  # said nothing
    clock = service.content.clock
    assert isinstance(clock, FixedClock)
    clock.advance(timedelta(minutes=29))
    assert await service.handoff_idle() == 0
    clock.advance(timedelta(minutes=2))
    assert await service.handoff_idle() == 1
    assert await service.handoff_idle() == 0  # not twice
    record = await service.handoff_record(said.conversation_id)
    assert record is not None and record["reason"] == "idle"
    back = await service.handle(said.conversation_id, Inbound("text", text="人手不足です"))
    assert back.status == "active" and back.replies  # the lead can simply go on
    refreshed = await service.handoff_record(said.conversation_id)
    assert refreshed is not None and refreshed["challenge"] == "人手不足です"
