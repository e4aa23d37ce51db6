"""The Slack, Teams and Chatwork transports against a loopback stand-in of all three
(``tests/notifystub.py``): what arrives, how each answer is classified for the outbox, and
a real ``OutboxWorker`` on a real database posting through them exactly once."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autoreply.channels.chatwork.transport import ChatworkTransport, chatwork_channel
from autoreply.channels.slack.transport import SlackTransport, slack_channel
from autoreply.channels.teams.transport import teams_channel
from autoreply.clock import FixedClock
from autoreply.domain.notices import Notice
from autoreply.errors import ConfigError, PermanentDeliveryError, TemporaryDeliveryError
from autoreply.store import repos
from autoreply.store.db import create_engine, session_factory
from autoreply.store.models import OutboxRow
from autoreply.store.outbox import OutboxItem, OutboxWorker, RetryPolicy, Transport
from tests.notifystub import NotifyStub, sample_lead, sample_notice

NOW = datetime(2026, 12, 7, 23, 10, tzinfo=UTC)
TARGETS = ("slack", "teams", "chatwork")
ROOM = "123456"


def transport(target: str, stub: NotifyStub, timeout: float = 0.5) -> Transport:
    """The target's transport, pointed at the stand-in (through its channel constructor)."""
    if target == "slack":
        channel = slack_channel(timeout)
    elif target == "teams":
        channel = teams_channel(timeout)
    else:
        channel = chatwork_channel(stub.url + "/", stub.token, timeout)
    assert channel.name == target and channel.outgoing is None and channel.transport
    return channel.transport


def recipient(target: str, stub: NotifyStub) -> str:
    """Where a row of the target goes: a webhook URL, or the room id."""
    return {"slack": stub.slack_url(), "teams": stub.teams_url(), "chatwork": ROOM}[target]


def item(target: str, to: str, notice: Notice | None = None, *, n: int = 1) -> OutboxItem:
    """An outbox row of the target as the worker hands it over."""
    return OutboxItem(
        id=n,
        channel=target,
        kind="notice",
        recipient=to,
        payload={"notice": (notice or sample_notice()).to_dict()},
        attempts=1,
        created_at=NOW,
        conversation_id=None,
        lead_id=None,
        dedupe_key=f"notice:{target}:{n}",
    )


async def send(target: str, stub: NotifyStub, **kwargs: float) -> None:
    await transport(target, stub, **kwargs).send(item(target, recipient(target, stub)), NOW)


@pytest.mark.parametrize("target", TARGETS)
async def test_a_notice_arrives_as_the_target_expects_it(target: str, notify: NotifyStub) -> None:
    """One request in the target's own format; the rep reads the title, the lead and
    both buttons with their exact URLs."""
    lead = sample_lead(42)
    notice = sample_notice(lead)
    await transport(target, notify).send(item(target, recipient(target, notify), notice), NOW)
    [request] = notify.calls(target)
    assert request.method == "POST" and request.status in (200, 202)
    [seen] = notify.seen(target)
    assert notice.title in seen.text and lead.who in seen.text and lead.first_line in seen.text
    if target == "chatwork":
        assert request.path == f"/v2/rooms/{ROOM}/messages"
        assert request.headers["X-ChatWorkToken"] == notify.token
        assert request.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
        assert request.body["self_unread"] == "0"
        assert [url for _, url in seen.links] == [lead.url, lead.contacted_url]
    else:
        assert request.headers["Content-Type"].startswith("application/json")
        assert seen.buttons == [
            ("引き継ぎを開く", lead.url),
            ("連絡済みにする", lead.contacted_url),
        ]
    if target == "teams":
        assert request.body["attachments"][0]["contentType"] == (
            "application/vnd.microsoft.card.adaptive"
        )
        assert request.status == 202


@pytest.mark.parametrize("target", TARGETS)
async def test_429_is_temporary_and_carries_the_far_ends_wait(
    target: str, notify: NotifyStub
) -> None:
    """429 with Retry-After: retried, after the wait the far end asked for."""
    notify.fail(target, 429, headers={"Retry-After": "30"})
    with pytest.raises(TemporaryDeliveryError) as caught:
        await send(target, notify)
    assert caught.value.retry_after == 30
    assert f"{target}: 429" in str(caught.value)
    assert notify.seen(target) == []


async def test_retry_after_may_be_an_http_date(notify: NotifyStub) -> None:
    """``Retry-After: <HTTP date>`` is read as the time left until then."""
    notify.fail("teams", 429, headers={"Retry-After": format_datetime(NOW + timedelta(minutes=2))})
    with pytest.raises(TemporaryDeliveryError) as caught:
        await send("teams", notify)
    assert caught.value.retry_after == 120


async def test_chatwork_429_without_retry_after_waits_for_the_rate_limit_reset(
    notify: NotifyStub,
) -> None:
    """Chatwork's 429 names when its window opens (``x-ratelimit-reset``, epoch seconds)."""
    reset = int((NOW + timedelta(seconds=95)).timestamp())
    notify.fail("chatwork", 429, headers={"x-ratelimit-reset": str(reset)})
    with pytest.raises(TemporaryDeliveryError) as caught:
        await send("chatwork", notify)
    assert caught.value.retry_after == 95


@pytest.mark.parametrize("target", TARGETS)
async def test_500_and_a_timeout_are_temporary(target: str, notify: NotifyStub) -> None:
    """A 5xx and a far end that never answers are retried later (no wait of their own)."""
    notify.fail(target, 500)
    with pytest.raises(TemporaryDeliveryError) as caught:
        await send(target, notify)
    assert caught.value.retry_after is None and f"{target}: 500" in str(caught.value)
    notify.hang(target)
    with pytest.raises(TemporaryDeliveryError) as hung:
        await send(target, notify, timeout=0.2)
    assert "Timeout" in str(hung.value)
    assert notify.seen(target) == []
    await send(target, notify)  # and the next attempt goes through
    assert len(notify.seen(target)) == 1


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("status", [400, 403, 404])
async def test_other_4xx_are_final_and_say_why(
    target: str, status: int, notify: NotifyStub
) -> None:
    """400, 403, 404: giving up, with the status and the far end's own words."""
    words = {"slack": "invalid_token", "teams": '{"error": "BadRequest"}', "chatwork": "x"}
    body = words[target] if status == 403 else None
    notify.fail(target, status, body=body)
    with pytest.raises(PermanentDeliveryError) as caught:
        await send(target, notify)
    assert str(caught.value).startswith(f"{target}: {status}")
    if status == 403:
        assert words[target] in str(caught.value)


async def test_slack_answers_name_what_is_wrong(notify: NotifyStub) -> None:
    """Slack's 404 ``no_service`` and 410 ``channel_is_archived`` are final and named."""
    for status, words in ((404, "no_service"), (410, "channel_is_archived")):
        notify.fail("slack", status)
        with pytest.raises(PermanentDeliveryError, match=f"slack: {status} {words}"):
            await send("slack", notify)


async def test_chatwork_checks_its_token_and_the_room_id(notify: NotifyStub) -> None:
    """A wrong token is 401 (final); a room id that is not a number is never sent; no
    token at all is a setting to fix."""
    wrong = ChatworkTransport(notify.url, "not-the-token", 0.5)
    with pytest.raises(PermanentDeliveryError, match=r"chatwork: 401 .*Invalid API token"):
        await wrong.send(item("chatwork", ROOM), NOW)
    right = ChatworkTransport(notify.url, notify.token, 0.5)
    with pytest.raises(PermanentDeliveryError, match="room id"):
        await right.send(item("chatwork", "12/../34"), NOW)
    assert len(notify.calls("chatwork")) == 1
    with pytest.raises(ConfigError):
        ChatworkTransport(notify.url, " ", 0.5)


@pytest.mark.parametrize("target", ["slack", "teams"])
async def test_a_webhook_that_is_not_a_url_or_not_there(target: str, notify: NotifyStub) -> None:
    """A recipient that is no http(s) URL is final (and not repeated: it is a secret);
    a closed port is temporary."""
    sender = transport(target, notify)
    with pytest.raises(PermanentDeliveryError) as caught:
        await sender.send(item(target, "hooks.slack.com/services/T/B/secret"), NOW)
    assert "secret" not in str(caught.value)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}/{target}/x"
    with pytest.raises(TemporaryDeliveryError):
        await sender.send(item(target, closed), NOW)


async def test_a_row_without_a_notice_is_final(notify: NotifyStub) -> None:
    """A payload that holds no notice can never be sent: final, nothing posted."""
    broken = item("slack", notify.slack_url())
    broken = OutboxItem(**{**broken.__dict__, "payload": {"notice": {"title": "x"}}})
    with pytest.raises(PermanentDeliveryError, match="holds no notice"):
        await SlackTransport(1).send(broken, NOW)
    assert notify.calls("slack") == []


# --- the real outbox ---------------------------------------------------------------


@pytest.fixture
async def sessions(migrated: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(migrated)
    yield session_factory(engine)
    await engine.dispose()


async def queue(sessions: async_sessionmaker[AsyncSession], target: str, to: str, key: str) -> None:
    async with sessions() as session, session.begin():
        await repos.enqueue(
            session,
            channel=target,
            kind="notice",
            recipient=to,
            payload={"notice": sample_notice().to_dict()},
            dedupe_key=key,
            now=NOW,
        )


async def rows(sessions: async_sessionmaker[AsyncSession]) -> dict[str, OutboxRow]:
    async with sessions() as session:
        return {r.dedupe_key: r for r in await session.scalars(select(OutboxRow))}


async def test_the_outbox_waits_out_a_429_then_posts_each_notice_once(
    sessions: async_sessionmaker[AsyncSession], notify: NotifyStub
) -> None:
    """Each target answers 429 (Retry-After 120 s) first: nothing is posted before the
    wait is over, then every notice arrives exactly once, however often the worker runs."""
    clock = FixedClock(NOW)
    worker = OutboxWorker(
        sessions,
        {t: transport(t, notify) for t in TARGETS},
        clock,
        RetryPolicy(first_retry_seconds=30),
    )
    for target in TARGETS:
        await queue(sessions, target, recipient(target, notify), f"n:{target}")
        notify.fail(target, 429, headers={"Retry-After": "120"})
    assert await worker.run_once() == 3
    queued = await rows(sessions)
    assert {r.status for r in queued.values()} == {"pending"}
    assert all(r.next_attempt_at >= NOW + timedelta(seconds=120) for r in queued.values())
    clock.advance(timedelta(seconds=90))  # past the outbox's own 30 s, before Slack's wish
    assert await worker.run_once() == 0
    clock.advance(timedelta(seconds=31))
    assert await worker.run_once() == 3
    for _ in range(3):
        clock.advance(timedelta(hours=1))
        assert await worker.run_once() == 0
    assert {t: len(notify.seen(t)) for t in TARGETS} == {t: 1 for t in TARGETS}
    assert {t: len(notify.calls(t)) for t in TARGETS} == {t: 2 for t in TARGETS}
    assert {r.status for r in (await rows(sessions)).values()} == {"sent"}


async def test_the_outbox_gives_up_on_a_403_and_says_why(
    sessions: async_sessionmaker[AsyncSession], notify: NotifyStub
) -> None:
    """A revoked Slack webhook (403 invalid_token): the row is failed with Slack's words
    and never tried again."""
    clock = FixedClock(NOW)
    worker = OutboxWorker(sessions, {"slack": transport("slack", notify)}, clock)
    await queue(sessions, "slack", notify.slack_url(), "n:revoked")
    notify.fail("slack", 403)
    assert await worker.run_once() == 1
    row = (await rows(sessions))["n:revoked"]
    assert row.status == "failed" and row.last_error == "slack: 403 invalid_token"
    clock.advance(timedelta(hours=5))
    assert await worker.run_once() == 0
    assert len(notify.calls("slack")) == 1 and notify.seen("slack") == []
