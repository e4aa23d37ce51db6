"""Speed to lead through the whole app: a handoff gets an owner and a deadline, the owner's
team hears at once in hours (Slack stand-in on loopback), the morning digest after hours,
and the 連絡済み link stops the clock."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from autoreply.clock import FixedClock
from autoreply.web.app import create_app
from tests.conftest import make_settings, tokyo
from tests.notifystub import NotifyStub

PAGE = {"url": "https://example.com/", "title": "サンプル株式会社"}
TUESDAY_10 = tokyo(2026, 11, 24, 10, 0)


@pytest.fixture
async def notified_app(
    migrated: str, clock: FixedClock, notify: NotifyStub
) -> AsyncIterator[FastAPI]:
    """The app with the Slack target pointed at the stand-in."""
    settings = make_settings(
        database_url=migrated, slack_webhook_url=notify.slack_url(), run_worker=False
    )
    application = create_app(settings, clock=clock, migrate=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def web(notified_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=notified_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def chat_to_handoff(client: httpx.AsyncClient) -> str:
    """A lead who gives timing, challenge and their details, and declines a meeting."""
    start = await client.post("/api/chat/conversations", json={"page": PAGE})
    body = start.json()
    cid, auth = body["conversation_id"], {"Authorization": f"Bearer {body['token']}"}
    url = f"/api/chat/conversations/{cid}/messages"
    await client.post(url, json={"choice": "within_1_month", "label": "1か月以内"}, headers=auth)
    second = (
        await client.post(url, json={"text": "夜間の問い合わせ対応が遅れています"}, headers=auth)
    ).json()
    slots = next(r for r in second["replies"] if r["kind"] == "slots")
    pick = slots["days"][0]["slots"][0]
    await client.post(url, json={"slot": pick["id"], "label": pick["label"]}, headers=auth)
    for text in ("山田太郎", "株式会社サンプル", "taro@example.com"):
        last = await client.post(url, json={"text": text}, headers=auth)
    assert last.json()["status"] == "ended"
    return str(cid)


async def drain(app: FastAPI) -> None:
    runtime = app.state.runtime
    while await runtime.scheduler.run_once() + await runtime.worker.run_once():
        pass


async def test_in_hours_the_team_hears_at_once_and_the_link_stops_the_clock(
    web: httpx.AsyncClient, notified_app: FastAPI, clock: FixedClock, notify: NotifyStub
) -> None:
    clock.set(TUESDAY_10)
    cid = await chat_to_handoff(web)
    await drain(notified_app)
    record = await notified_app.state.runtime.service.handoff_record(cid)
    assert record is not None
    seen = notify.seen("slack")
    assert len(seen) == 1, [s.text for s in seen]
    text = seen[0].text
    assert "山田太郎" in text and "夜間の問い合わせ対応が遅れています" in text
    buttons = dict(seen[0].buttons)
    link = buttons["連絡済みにする"]
    path = re.sub(r"^http://127\.0\.0\.1:8000", "", link)
    page = await web.get(path)
    assert page.status_code == 200 and "連絡済みにする" in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    clock.set(tokyo(2026, 11, 24, 10, 3))
    done = await web.post(path, data={"csrf_token": csrf.group(1)})
    assert done.status_code == 200, done.text
    assert "期限内に連絡済み" in done.text, done.text
