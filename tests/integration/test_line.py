"""LINE end to end: webhook bodies signed as LINE signs them, a loopback stand-in for the
Messaging API (line-bot-sdk pointed at it), real SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from autoreply.channels.line.transport import retry_key
from autoreply.channels.line.wire import inbound_of, postback_data
from autoreply.clock import FixedClock
from autoreply.flows.turns import Inbound
from autoreply.store.models import Conversation, InboundEvent, Lead, OutboxRow
from autoreply.web.app import create_app
from tests.conftest import make_settings
from tests.integration.conftest import _login
from tests.linestub import LineStub, line_stub, sign

SECRET = "test-channel-secret"
WEBHOOK = "/line/webhook"


@pytest.fixture
async def stub() -> AsyncIterator[LineStub]:
    """The Messaging API stand-in, with two users' profiles."""
    async with line_stub() as server:
        server.profiles.update({"U1": "山田太郎", "U2": "佐藤花子"})
        yield server


@pytest.fixture
async def app(migrated: str, clock: FixedClock, stub: LineStub) -> AsyncIterator[FastAPI]:
    """The app with a LINE channel whose API is the stand-in; tests run the background
    work themselves (``work``) so that every step is deterministic."""
    settings = make_settings(
        database_url=migrated,
        line_channel_secret=SECRET,
        line_channel_access_token="test-access-token",
        line_api_url=stub.url,
        run_worker=False,
    )
    application = create_app(settings, clock=clock, migrate=False)
    async with application.router.lifespan_context(application):
        yield application


async def work(app: FastAPI) -> None:
    """What the background jobs do: handle stored events, then deliver the outbox."""
    runtime = app.state.runtime
    while await runtime.line.process_pending() or await runtime.worker.run_once():
        pass


class Events:
    """Webhook events as LINE sends them (ids unique, timestamps from the test clock)."""

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self.n = 0

    def _base(self, kind: str, user: str, **extra: Any) -> dict[str, Any]:
        self.n += 1
        return {
            "type": kind,
            "mode": "active",
            "timestamp": int(self.clock.now().timestamp() * 1000) + self.n,
            "source": {"type": "user", "userId": user},
            "webhookEventId": f"01HWEBHOOK{self.n:016d}",
            "deliveryContext": {"isRedelivery": False},
            **extra,
        }

    def follow(self, user: str, token: str) -> dict[str, Any]:
        return self._base("follow", user, replyToken=token)

    def text(self, user: str, text: str, token: str) -> dict[str, Any]:
        message = {"id": str(self.n), "type": "text", "text": text, "quoteToken": "q"}
        return self._base("message", user, replyToken=token, message=message)

    def postback(self, user: str, data: str, token: str) -> dict[str, Any]:
        return self._base("postback", user, replyToken=token, postback={"data": data})


@pytest.fixture
def events(clock: FixedClock, stub: LineStub) -> Events:
    return Events(clock)


async def post(
    client: httpx.AsyncClient, *events: dict[str, Any], **headers: str
) -> httpx.Response:
    body = json.dumps({"destination": "Ubot", "events": list(events)}).encode()
    return await client.post(
        WEBHOOK,
        content=body,
        headers={
            "content-type": "application/json",
            "x-line-signature": sign(SECRET, body),
            **headers,
        },
    )


async def say(
    client: httpx.AsyncClient, app: FastAPI, stub: LineStub, event: dict[str, Any]
) -> None:
    """One event from a user's phone: LINE gives it a reply token, we answer it."""
    user = event["source"]["userId"]
    if "replyToken" in event:
        stub.reply_tokens[event["replyToken"]] = user
    assert (await post(client, event)).status_code == 200
    await work(app)


def quick_replies(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [i["action"] for i in message.get("quickReply", {}).get("items", [])]


def tap(message: dict[str, Any], label_part: str) -> str:
    """The postback data of the quick reply whose label contains ``label_part``."""
    return next(a["data"] for a in quick_replies(message) if label_part in a["label"])


async def count(app: FastAPI, model: Any, *where: Any) -> int:
    async with app.state.runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)))


async def test_a_follow_then_taps_and_text_end_in_a_booking_and_a_handoff(
    client: httpx.AsyncClient, app: FastAPI, stub: LineStub, events: Events
) -> None:
    """Greeted with quick replies, cases as a Flex carousel, slots as
    quick replies, a booking, and a LINE handoff with the display name; every answer by
    the reply token."""
    await say(client, app, stub, events.follow("U1", "r1"))
    assert stub.calls("/v2/bot/profile/U1")
    greeting = stub.last("U1")
    assert "営業時間外" in stub.texts("U1")[0]
    timing = quick_replies(greeting)
    assert 1 <= len(timing) <= 13 and all(len(a["label"]) <= 20 for a in timing)
    assert all(len(a["data"]) <= 300 for a in timing)
    await say(client, app, stub, events.postback("U1", tap(greeting, "1か月以内"), "r2"))
    assert "課題" in stub.texts("U1")[-1]
    await say(client, app, stub, events.text("U1", "夜間の問い合わせ対応が遅れています", "r3"))
    carousel = next(m for u, m in stub.delivered if u == "U1" and m["type"] == "flex")
    bubbles = carousel["contents"]["contents"]
    assert 1 <= len(bubbles) <= 12 and carousel["altText"].startswith("導入事例：")
    link = bubbles[0]["footer"]["contents"][0]["action"]["uri"]
    assert link.startswith("http://127.0.0.1:8000/r/")
    offer = stub.last("U1")
    slots = quick_replies(offer)
    assert slots[0]["label"] == "11月24日(火) 10:00" and slots[-1]["label"] == "今回は予約しない"
    await say(client, app, stub, events.postback("U1", tap(offer, "11月24日(火) 10:00"), "r4"))
    for token, text in (("r5", "山田太郎"), ("r6", "株式会社サンプル"), ("r7", "taro@example.com")):
        await say(client, app, stub, events.text("U1", text, token))
    # The booked message: its lines kept, the cancel link a button (not a ~100-character URL)
    booked = next(
        m for u, m in stub.delivered if u == "U1" and "承りました" in m.get("altText", "")
    )
    assert booked["type"] == "flex" and booked["contents"]["type"] == "bubble"
    said = booked["contents"]["body"]["contents"][0]["text"]
    assert said.splitlines()[0].endswith("11月24日(火) 10:00からのお打ち合わせを承りました。")
    assert "taro@example.com" in said.splitlines()[1] and "http" not in said
    [button] = booked["contents"]["footer"]["contents"]
    assert button["action"]["label"] == "予約をキャンセルする"
    assert button["action"]["uri"].startswith("http://127.0.0.1:8000/b/c")
    opened = await client.get(button["action"]["uri"].removeprefix("http://127.0.0.1:8000"))
    assert opened.status_code == 303 and "/cancel?s=" in opened.headers["location"]
    assert button["action"]["uri"] in booked["altText"]  # the notification still has it
    assert stub.calls("/v2/bot/message/push") == []  # every answer went by reply token
    assert len(stub.calls("/v2/bot/message/reply")) == 7
    async with app.state.runtime.sessions() as session:
        conversation = await session.scalar(select(Conversation))
        lead = await session.scalar(select(Lead).where(Lead.display_name == "山田太郎"))
    assert conversation is not None and lead is not None
    record = await app.state.runtime.service.handoff_record(conversation.public_id)
    assert record["reason"] == "booked" and record["channel"] == "line"
    assert record["lead"]["display_name"] == "山田太郎"
    assert record["booking"]["start_text"] == "11月24日(火) 10:00"


async def test_a_redelivered_event_gets_one_reply(
    client: httpx.AsyncClient, app: FastAPI, stub: LineStub, events: Events
) -> None:
    """The same webhookEventId twice (the second marked isRedelivery) is stored and
    answered once."""
    follow = events.follow("U1", "r1")
    stub.reply_tokens["r1"] = "U1"
    again = {**follow, "deliveryContext": {"isRedelivery": True}}
    assert (await post(client, follow)).status_code == 200
    assert (await post(client, again)).status_code == 200
    await work(app)
    assert (await post(client, again)).status_code == 200  # after handling, too
    await work(app)
    assert await count(app, InboundEvent) == 1
    assert len(stub.calls("/v2/bot/message/reply")) == 1
    assert await count(app, Conversation) == 1


async def test_an_expired_reply_token_falls_back_to_one_push(
    client: httpx.AsyncClient, app: FastAPI, stub: LineStub, events: Events, clock: FixedClock
) -> None:
    """A token LINE refuses (400 Invalid reply token), or one too old to try, means one
    push with an X-Line-Retry-Key instead; never both, never two."""
    await say(client, app, stub, events.follow("U1", "r1"))
    event = events.text("U1", "来月", "r2")  # LINE never issued r2: it answers 400
    assert (await post(client, event)).status_code == 200
    await work(app)
    replies, pushes = stub.calls("/v2/bot/message/reply"), stub.calls("/v2/bot/message/push")
    assert len(replies) == 2 and len(pushes) == 1
    key = pushes[0].headers["X-Line-Retry-Key"]
    assert uuid.UUID(key) and pushes[0].body["to"] == "U1"
    assert "課題" in stub.texts("U1")[-1]
    late = events.text("U1", "人手が足りず返信が遅れています", "r3")
    stub.reply_tokens["r3"] = "U1"
    assert (await post(client, late)).status_code == 200
    clock.advance(timedelta(seconds=55))  # handled after the token's useful life
    await work(app)
    assert len(stub.calls("/v2/bot/message/reply")) == 2  # not even tried
    assert len(stub.calls("/v2/bot/message/push")) == 2


async def test_a_500_then_a_200_delivers_once(
    client: httpx.AsyncClient, app: FastAPI, stub: LineStub, events: Events, clock: FixedClock
) -> None:
    """The API failing (500 on the reply, then 500 on the push) is retried with backoff
    through the outbox; the user gets the greeting exactly once."""
    stub.fail += [
        ("/v2/bot/message/reply", 500, {"message": "oops"}, {}),
        ("/v2/bot/message/push", 500, {"message": "oops"}, {}),
    ]
    await say(client, app, stub, events.follow("U1", "r1"))
    assert stub.delivered == []
    async with app.state.runtime.sessions() as session:
        row = await session.scalar(select(OutboxRow))
    assert row is not None and row.status == "pending" and "500" in (row.last_error or "")
    clock.advance(timedelta(minutes=1))
    await work(app)
    assert stub.delivered == []  # the push failed too: retried later
    clock.advance(timedelta(minutes=2))
    await work(app)
    clock.advance(timedelta(minutes=10))
    await work(app)
    greetings = [t for t in stub.texts("U1") if "お問い合わせありがとうございます" in t]
    assert len(greetings) == 1
    keys = {r.headers["X-Line-Retry-Key"] for r in stub.calls("/v2/bot/message/push")}
    assert len(keys) == 1  # every retry of the push carried the same key


async def test_a_push_accepted_before_a_timeout_is_not_sent_again(
    app: FastAPI, stub: LineStub, clock: FixedClock
) -> None:
    """If LINE took a push but we never heard (a crash, a timeout), the retry with the same
    key is answered 409 and counts as delivered: the user sees it once."""
    service = app.state.runtime.service
    started = await service.start(channel="line", identities=[("line", "U1")])
    await service.handle(started.conversation_id, Inbound("text", text="来月"))
    worker = app.state.runtime.worker
    [first] = await worker._claim()  # claimed (the turns queue in order), then the worker dies
    stub.retry_keys.add(retry_key(first))  # ...after LINE had accepted the push
    clock.advance(worker.policy.lease + timedelta(seconds=1))
    await work(app)
    async with app.state.runtime.sessions() as session:
        statuses = list(await session.scalars(select(OutboxRow.status)))
    assert statuses == ["sent", "sent"]
    # The greeting was accepted before (409 now); only the second turn's answer is new.
    assert len(stub.texts("U1")) == 1 and "課題" in stub.texts("U1")[0]
    assert len(stub.calls("/v2/bot/message/push")) == 2


async def test_two_users_at_once_keep_separate_conversations(
    client: httpx.AsyncClient, app: FastAPI, stub: LineStub, events: Events
) -> None:
    """Interleaved events of two users (several in one webhook request) each go to the
    right conversation and each user gets their own answers, in order."""
    stub.reply_tokens.update({"a1": "U1", "b1": "U2", "a2": "U1", "b2": "U2"})
    assert (
        await post(client, events.follow("U1", "a1"), events.follow("U2", "b1"))
    ).status_code == 200
    await work(app)
    assert (
        await post(client, events.text("U2", "年度内", "b2"), events.text("U1", "来月", "a2"))
    ).status_code == 200
    await work(app)
    assert await count(app, Conversation) == 2
    for user in ("U1", "U2"):
        texts = stub.texts(user)
        assert "営業時間外" in texts[0] and "課題" in texts[-1]
    async with app.state.runtime.sessions() as session:
        rows = {
            c.contact: c.state["slots"]["timing"]["text"]
            for c in await session.scalars(select(Conversation))
        }
    assert rows == {"U1": "来月", "U2": "年度内"}


async def test_events_are_handled_in_lines_order_not_arrival_order(
    client: httpx.AsyncClient, app: FastAPI, stub: LineStub, events: Events
) -> None:
    """Delivered out of order, a user's events are still handled by their timestamp."""
    follow = events.follow("U1", "r1")
    answer = events.text("U1", "来月", "r2")
    stub.reply_tokens.update({"r1": "U1", "r2": "U1"})
    assert (await post(client, answer)).status_code == 200
    assert (await post(client, follow)).status_code == 200
    await work(app)
    texts = stub.texts("U1")
    assert "営業時間外" in texts[0] and "課題" in texts[-1]
    assert await count(app, Conversation) == 1


async def test_forged_unsigned_and_malformed_webhooks_are_refused(
    client: httpx.AsyncClient, app: FastAPI, stub: LineStub, events: Events
) -> None:
    """Wrong or missing signature, bad JSON, missing fields: 400, nothing stored, nobody
    answered. LINE's "Verify" (no events) is 200; the header's letter case does not matter."""
    body = json.dumps({"events": [events.follow("U1", "r1")]}).encode()
    json_type = {"content-type": "application/json"}
    forged = await client.post(
        WEBHOOK, content=body, headers={**json_type, "x-line-signature": sign("other", body)}
    )
    unsigned = await client.post(WEBHOOK, content=body, headers=json_type)
    garbage = await client.post(
        WEBHOOK,
        content=b"{not json",
        headers={**json_type, "x-line-signature": sign(SECRET, b"{not json")},
    )
    missing = json.dumps({"events": [{"type": "follow"}]}).encode()
    incomplete = await client.post(
        WEBHOOK, content=missing, headers={**json_type, "x-line-signature": sign(SECRET, missing)}
    )
    assert [r.status_code for r in (forged, unsigned, garbage, incomplete)] == [400] * 4
    assert "signature" in forged.json()["detail"]
    empty = b'{"destination": "Ubot", "events": []}'
    verify = await client.post(
        WEBHOOK, content=empty, headers={**json_type, "X-Line-Signature": sign(SECRET, empty)}
    )
    assert verify.status_code == 200
    await work(app)
    assert await count(app, InboundEvent) == 0 and stub.requests == []


async def test_groups_standby_and_unknown_events_are_stored_and_not_answered(
    client: httpx.AsyncClient, app: FastAPI, stub: LineStub, events: Events
) -> None:
    """A group message, a standby-mode event and an event type we do not use are kept,
    marked handled, and get no answer."""
    group = {
        **events.text("U1", "こんにちは", "g1"),
        "source": {"type": "group", "groupId": "G1", "userId": "U1"},
    }
    standby = {**events.text("U1", "こんにちは", "s1"), "mode": "standby"}
    standby.pop("replyToken")
    odd = {**events.follow("U1", "x1"), "type": "beacon", "beacon": {"hwid": "d41d8cd98f"}}
    assert (await post(client, group, standby, odd)).status_code == 200
    await work(app)
    assert stub.requests == []
    assert await count(app, InboundEvent, InboundEvent.processed_at.is_not(None)) == 3


async def test_after_unfollow_nothing_more_is_sent(
    client: httpx.AsyncClient, app: FastAPI, stub: LineStub, events: Events, clock: FixedClock
) -> None:
    """A user who blocks the account is marked unreachable and queued messages are
    dropped; following again makes them reachable and greets them again."""
    stub.fail.append(("/v2/bot/message/reply", 500, {}, {}))
    await say(client, app, stub, events.follow("U1", "r1"))  # the greeting waits for a retry
    unfollow = events._base("unfollow", "U1")
    assert (await post(client, unfollow)).status_code == 200
    await work(app)
    clock.advance(timedelta(hours=1))
    await work(app)
    assert stub.delivered == []
    async with app.state.runtime.sessions() as session:
        lead = await session.scalar(select(Lead))
        statuses = set(await session.scalars(select(OutboxRow.status)))
    assert lead is not None and lead.unreachable_at is not None and statuses == {"cancelled"}
    await say(client, app, stub, events.follow("U1", "r2"))
    assert any("お問い合わせありがとうございます" in t for t in stub.texts("U1"))
    async with app.state.runtime.sessions() as session:
        lead = await session.scalar(select(Lead))
    assert lead is not None and lead.unreachable_at is None


async def test_a_stored_event_survives_a_restart(
    migrated: str, clock: FixedClock, stub: LineStub, events: Events
) -> None:
    """Stored by one process that then died, handled by the next one."""

    def settings() -> Any:
        return make_settings(
            database_url=migrated,
            line_channel_secret=SECRET,
            line_channel_access_token="test-access-token",
            line_api_url=stub.url,
            run_worker=False,
        )

    stub.reply_tokens["r1"] = "U1"
    first = create_app(settings(), clock=clock, migrate=False)
    async with first.router.lifespan_context(first):
        transport = httpx.ASGITransport(app=first)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await post(client, events.follow("U1", "r1"))).status_code == 200
    assert stub.delivered == []
    second = create_app(settings(), clock=clock, migrate=False)
    async with second.router.lifespan_context(second):
        await work(second)
    assert any("お問い合わせありがとうございます" in t for t in stub.texts("U1"))


async def test_the_rep_sees_the_line_lead_with_the_display_name(
    client: httpx.AsyncClient, app: FastAPI, stub: LineStub, events: Events, rep: Any
) -> None:
    """The handoff of a LINE lead names them by their LINE name and says to follow up on
    LINE; the first line says LINE too."""
    await say(client, app, stub, events.follow("U1", "r1"))
    await say(client, app, stub, events.text("U1", "担当者と話したい", "r2"))
    await _login(client)
    listing = await client.get("/rep/handoffs")
    link = re.search(r'href="(/rep/handoffs/\d+)"', listing.text)
    assert link and "山田太郎" in listing.text
    page = (await client.get(link.group(1))).text
    assert (
        "LINEでフォローしてください" in page
        and "LINEでお問い合わせいただき、ありがとうございました。" in page
    )


def test_tap_data_round_trips() -> None:
    """What a quick reply sends back is read as the same tap."""
    data = postback_data("slot", "20261124T0100Z", "11月24日(火) 10:00")
    event = {"type": "postback", "postback": {"data": data}}
    inbound = inbound_of(event)
    assert inbound is not None and (inbound.kind, inbound.value) == ("slot", "20261124T0100Z")
    assert parse_qs(data)["l"] == ["11月24日(火) 10:00"]
