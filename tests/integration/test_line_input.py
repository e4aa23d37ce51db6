"""Signed LINE webhook bodies that LINE would never send, the webhook's size limit, and two
workers meeting a new LINE user at once; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from autoreply.clock import FixedClock
from autoreply.store import repos
from autoreply.store.models import InboundEvent, Lead, LeadIdentity, Message
from autoreply.web.app import create_app
from autoreply.web.routes.line import MAX_BODY
from tests.conftest import make_settings
from tests.integration.test_line import SECRET, WEBHOOK, Events, post, say, work
from tests.linestub import LineStub, line_stub, sign

NEW_USER = "U" + "0123456789abcdef" * 2


@pytest.fixture
async def stub() -> AsyncIterator[LineStub]:
    """The Messaging API stand-in."""
    async with line_stub() as server:
        server.profiles.update({"U1": "山田太郎", NEW_USER: "佐藤花子"})
        yield server


@pytest.fixture
async def app(migrated: str, clock: FixedClock, stub: LineStub) -> AsyncIterator[FastAPI]:
    """The app with a LINE channel whose API is the stand-in (background work by hand)."""
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


@pytest.fixture
def events(clock: FixedClock) -> Events:
    return Events(clock)


async def _count(app: FastAPI, model: Any) -> int:
    async with app.state.runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)))


async def _signed(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await client.post(
        WEBHOOK,
        content=body,
        headers={"content-type": "application/json", "x-line-signature": sign(SECRET, body)},
    )


def _refused(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 400, response.text[:300]
    assert reason in response.json()["detail"], response.json()["detail"]


# -- nesting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 30_000,
        b'{"a":' * 30_000,
        b'{"events": [{"message": ' + b"[" * 30_000 + b"]" * 30_000 + b"}]}",
    ],
    ids=["lists", "objects", "inside-an-event"],
)
async def test_deeply_nested_json_with_a_valid_signature_is_a_400(
    client: httpx.AsyncClient, app: FastAPI, body: bytes
) -> None:
    """Nesting no webhook has is refused with the reason, never a RecursionError."""
    _refused(await _signed(client, body), "nested")
    assert await _count(app, InboundEvent) == 0


# -- timestamps and user ids -------------------------------------------------------------


@pytest.mark.parametrize("timestamp", [10**20, -(10**20), 2**63, -1, 1e20, -1e20])
async def test_timestamps_no_calendar_has_are_a_400(
    client: httpx.AsyncClient, app: FastAPI, events: Events, timestamp: Any
) -> None:
    """A timestamp beyond the year 9999 or before 1970 (or not an integer) is refused."""
    event = {**events.follow("U1", "r1"), "timestamp": timestamp}
    _refused(await post(client, event), "timestamp")
    assert await _count(app, InboundEvent) == 0


@pytest.mark.parametrize(
    "user", [12345, 1.5, True, ["U1"], {"id": "U1"}, "U" + "0" * 33, "U1\x00", "U 1", ""]
)
async def test_a_user_id_that_is_not_a_line_user_id_is_a_400_and_no_lead(
    client: httpx.AsyncClient, app: FastAPI, events: Events, user: Any
) -> None:
    """``source.userId`` must be text of at most 33 letters and digits; a number (once
    answered, and made a lead) or anything else is refused, and nothing is stored."""
    event = events.text("U1", "こんにちは", "r1")
    event["source"] = {"type": "user", "userId": user}
    _refused(await post(client, event), "userId")
    await work(app)
    assert await _count(app, InboundEvent) == 0 and await _count(app, Lead) == 0


@pytest.mark.parametrize("event_id", ["01H\x00", "01H\n", "é" * 3, "x" * 201])
async def test_an_event_id_with_control_characters_is_a_400(
    client: httpx.AsyncClient, app: FastAPI, events: Events, event_id: str
) -> None:
    """The event id is how an event is stored once: odd ones are refused."""
    event = {**events.follow("U1", "r1"), "webhookEventId": event_id}
    _refused(await post(client, event), "webhookEventId")


# -- NUL ---------------------------------------------------------------------------------


async def test_nul_in_a_line_message_is_removed_and_the_message_answered(
    client: httpx.AsyncClient, app: FastAPI, stub: LineStub, events: Events
) -> None:
    """Message text loses its NUL characters; the message is stored, answered, handled."""
    await say(client, app, stub, events.follow("U1", "r1"))
    await say(client, app, stub, events.text("U1", "夜間の\x00問い合わせ", "r2"))
    async with app.state.runtime.sessions() as session:
        texts = list(await session.scalars(select(Message.text).where(Message.direction == "in")))
        failed = await session.scalar(
            select(func.count()).select_from(InboundEvent).where(InboundEvent.attempts > 0)
        )
    assert "夜間の問い合わせ" in texts and failed == 0


# -- size ----------------------------------------------------------------------------------


async def test_a_declared_oversize_body_is_a_413_before_any_of_it_is_read(app: FastAPI) -> None:
    """Content-Length above the limit is answered 413 without reading the body."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body was read")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": WEBHOOK,
        "raw_path": WEBHOOK.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(MAX_BODY + 1).encode()),
            (b"x-line-signature", b"whatever"),
        ],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
        "state": {},
    }
    await app(scope, receive, send)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 413


@pytest.mark.parametrize("length", ["²".encode("latin-1"), b"-1", b"1e9", b"abc"])
async def test_a_content_length_that_is_no_number_is_not_a_500(
    client: httpx.AsyncClient, length: bytes
) -> None:
    """An unreadable Content-Length is ignored for the size check (the stream decides)."""
    body = b'{"events": []}'
    response = await client.post(
        WEBHOOK,
        content=body,
        headers={"x-line-signature": sign(SECRET, body), "content-length": length},
    )
    assert response.status_code < 500


async def test_an_oversize_body_without_a_length_is_cut_off_at_the_limit(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """A chunked body (no Content-Length) is refused 413 as soon as it passes the limit."""

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(MAX_BODY // 65_536 + 2):
            yield b" " * 65_536

    response = await client.post(WEBHOOK, content=chunks(), headers={"x-line-signature": "x"})
    assert response.status_code == 413
    assert await _count(app, InboundEvent) == 0


# -- two workers, one new user -------------------------------------------------------------


async def test_two_transactions_meeting_a_new_line_user_make_one_lead(app: FastAPI) -> None:
    """Two sessions resolve the same new LINE user at once: the second waits for the
    first's identity, finds its lead, and neither fails (PostgreSQL: the unique index
    makes the second wait, then it reads again; SQLite: transactions take turns)."""
    runtime = app.state.runtime
    now = runtime.content.clock.now()
    first_resolved = asyncio.Event()
    first_may_commit = asyncio.Event()

    async def first() -> int:
        async with runtime.sessions() as session, session.begin():
            lead = await repos.resolve_lead(session, [("line", NEW_USER)], now)
            first_resolved.set()
            await first_may_commit.wait()
            return int(lead.id)

    async def second() -> int:
        await first_resolved.wait()
        async with runtime.sessions() as session, session.begin():
            lead = await repos.resolve_lead(
                session, [("line", NEW_USER)], now, {"display_name": "佐藤花子"}
            )
            return int(lead.id)

    one = asyncio.create_task(first())
    two = asyncio.create_task(second())
    await first_resolved.wait()
    await asyncio.sleep(0.3)  # the second is now waiting on the identity (or its turn)
    first_may_commit.set()
    ids = await asyncio.gather(one, two)
    assert ids[0] == ids[1]
    assert await _count(app, LeadIdentity) == 1
    async with runtime.sessions() as session:
        lead = await session.get(Lead, ids[0])
        assert lead is not None and lead.display_name == "佐藤花子"


async def test_a_new_users_first_events_handled_by_two_workers_at_once(
    client: httpx.AsyncClient, app: FastAPI, stub: LineStub, events: Events
) -> None:
    """A follow and a message of one new user, handled at the same moment by two
    processors: one lead, both events handled, none failed."""
    stub.reply_tokens.update({"r1": NEW_USER, "r2": NEW_USER})
    body = json.dumps(
        {"events": [events.follow(NEW_USER, "r1"), events.text(NEW_USER, "こんにちは", "r2")]}
    ).encode()
    assert (await _signed(client, body)).status_code == 200
    inbox = app.state.runtime.line
    async with inbox.uow.read() as session:
        rows = await repos.pending_inbound(session, "line", max_attempts=5, limit=10)
    await asyncio.gather(*(inbox._handle(*row) for row in rows))
    await work(app)
    async with app.state.runtime.sessions() as session:
        handled = await session.scalar(
            select(func.count())
            .select_from(InboundEvent)
            .where(InboundEvent.processed_at.is_not(None), InboundEvent.attempts == 0)
        )
    assert handled == 2
    assert await _count(app, Lead) == 1 and await _count(app, LeadIdentity) == 1
