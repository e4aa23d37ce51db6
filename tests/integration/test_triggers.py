"""Behaviour triggers through the whole app: the pricing page viewed twice and a case study
read to the end take a Tier B lead into Tier A, and the owner hears at once in hours (Slack
stand-in on loopback) or in the next morning digest after hours; the handoff says what
happened when; a return visit and a second form raise the score too."""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from autoreply.clock import FixedClock
from autoreply.service import reps
from autoreply.store.models import Conversation, HandoffEvent, HandoffRow
from autoreply.web.app import create_app
from tests.conftest import make_settings, tokyo
from tests.integration.conftest import EMAIL, PASSWORD, _login
from tests.notifystub import NotifyStub

PUBLIC = "http://127.0.0.1:8000"  # make_settings' default AUTOREPLY_PUBLIC_URL
HOME = {"url": f"{PUBLIC}/", "title": "サンプル株式会社"}
PRICING = {"url": f"{PUBLIC}/pricing", "title": "料金"}
TUESDAY_10 = tokyo(2026, 11, 24, 10, 0)
TUESDAY_20 = tokyo(2026, 11, 24, 20, 0)
WEDNESDAY_9 = tokyo(2026, 11, 25, 9, 0)


@pytest.fixture
async def notified_app(
    migrated: str, clock: FixedClock, notify: NotifyStub
) -> AsyncIterator[FastAPI]:
    """The app with the Slack target pointed at the stand-in; the test drives the workers."""
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


async def drain(app: FastAPI) -> None:
    """Fire due timers and deliver the outbox until nothing is left."""
    runtime = app.state.runtime
    while await runtime.scheduler.run_once() + await runtime.worker.run_once():
        pass


class Lead:
    """A visitor of the demo site talking to the chat."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.cid = ""
        self.auth: dict[str, str] = {}
        self.cards: list[dict[str, Any]] = []

    async def start(self, visitor: str | None = None) -> None:
        body: dict[str, Any] = {"page": HOME}
        if visitor:
            body["visitor"] = visitor
        started = (await self.client.post("/api/chat/conversations", json=body)).json()
        self.cid = started["conversation_id"]
        self.auth = {"Authorization": f"Bearer {started['token']}"}

    async def say(self, **message: str) -> dict[str, Any]:
        url = f"/api/chat/conversations/{self.cid}/messages"
        answer = await self.client.post(url, json=message, headers=self.auth)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    async def view(self, page: dict[str, str]) -> None:
        url = f"/api/chat/conversations/{self.cid}/pages"
        answer = await self.client.post(url, json=page, headers=self.auth)
        assert answer.status_code == 204, answer.text

    async def considering(self) -> None:
        """Undecided, with a challenge, no meeting, an address: handed off (Tier B once the
        pricing page was viewed)."""
        await self.say(choice="undecided", label="未定・情報収集中")
        reply = await self.say(text="夜間の問い合わせ対応が遅れています")
        self.cards = next(r for r in reply["replies"] if r["kind"] == "cards")["cards"]
        await self.say(slot="decline", label="今回は予約しない")
        done = await self.say(text="taro@example.com")
        assert done["status"] == "ended", done

    async def open_case(self, index: int = 0) -> tuple[str, str]:
        """Click a case card's link and load the page it leads to: the case page's path and
        its HTML."""
        clicked = await self.client.get(_path(self.cards[index]["url"]))
        assert clicked.status_code == 302
        target = _path(clicked.headers["location"])
        page = await self.client.get(target)
        assert page.status_code == 200
        return urlsplit(target).path, page.text

    async def read_to_the_end(self, index: int = 0) -> httpx.Response:
        """What the case page's script sends: a beacon of a JSON string (text/plain)."""
        path, page = await self.open_case(index)
        return await self.client.post(
            f"{path}/read",
            content=json.dumps(_report(page, "end")),
            headers={"content-type": "text/plain;charset=UTF-8"},
        )


def _path(url: str) -> str:
    assert url.startswith(PUBLIC + "/"), url
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _report(page: str, how: str) -> dict[str, str]:
    """The signed values the case page carries for its report."""
    end = re.search(r'<div id="case-end"[^>]*>', page)
    assert end, "the case page has no end marker"
    values = dict(re.findall(r'data-(c|v)="([^"]+)"', end.group(0)))
    assert set(values) == {"c", "v"}, "the case page carries no signed report values"
    return {**values, "how": how}


async def _handoff(app: FastAPI, cid: str) -> HandoffRow:
    async with app.state.runtime.sessions() as session:
        row = await session.scalar(
            select(HandoffRow)
            .join(Conversation, HandoffRow.conversation_id == Conversation.id)
            .where(Conversation.public_id == cid)
        )
    assert row is not None
    return row


async def _rep_page(client: httpx.AsyncClient, app: FastAPI, handoff_id: int) -> str:
    """The rep's handoff page (a rep account is made and logged in the first time)."""
    if (await client.get("/rep/login")).status_code == 200:
        async with app.state.runtime.sessions() as session, session.begin():
            await reps.create_rep(session, "佐藤 花子", EMAIL, now=TUESDAY_10, password=PASSWORD)
        await _login(client)
    page = await client.get(f"/rep/handoffs/{handoff_id}")
    assert page.status_code == 200
    return page.text


def _section(page: str, heading: str) -> str:
    """The rep page from a heading to the next one."""
    start = page.index(heading)
    return page[start : page.index("<h2", start + 1)]


def _tier_a_posts(notify: NotifyStub) -> list[str]:
    return [s.text for s in notify.seen("slack") if "【Tier Aに上昇】" in s.text]


async def test_in_hours_pricing_twice_and_a_case_read_make_tier_a_and_the_owner_hears_at_once(
    web: httpx.AsyncClient, notified_app: FastAPI, clock: FixedClock, notify: NotifyStub
) -> None:
    clock.set(TUESDAY_10)
    lead = Lead(web)
    await lead.start()
    await lead.view(PRICING)  # browsing before the chat says anything
    await lead.considering()
    await drain(notified_app)
    row = await _handoff(notified_app, lead.cid)
    assert (row.tier, row.score) == ("B", 35), row.record["reasons"]
    assert len(notify.seen("slack")) == 1  # the new lead, at once in hours
    assert _tier_a_posts(notify) == []

    clock.set(tokyo(2026, 11, 24, 10, 5))
    await lead.view(PRICING)  # the second view: 45 points, still B
    await lead.open_case()  # clicked and viewed: 50, still B
    await drain(notified_app)
    assert (await _handoff(notified_app, lead.cid)).tier == "B"
    assert _tier_a_posts(notify) == []

    clock.set(tokyo(2026, 11, 24, 10, 7))
    read = await lead.read_to_the_end()
    assert read.status_code == 204, read.text
    again = await lead.read_to_the_end()  # the page reloaded: nothing changes
    assert again.status_code == 204
    await drain(notified_app)

    row = await _handoff(notified_app, lead.cid)
    assert (row.tier, row.score) == ("A", 65), row.record["reasons"]
    posts = _tier_a_posts(notify)
    assert len(posts) == 1, [s.text for s in notify.seen("slack")]
    assert "事例を最後まで閲覧により、Tier A に上がりました" in posts[0]
    assert "夜間の問い合わせ対応が遅れています" in posts[0]

    case = lead.cards[0]
    record = row.record
    assert list(record["cases_read"]) == [case["id"]]
    assert [(t["code"], t["detail"]) for t in record["triggers"]] == [
        ("pricing_views", "1"),
        ("pricing_views", "2"),
        ("case_read", case["id"]),
    ]
    assert record["triggers"][-1]["at"] == tokyo(2026, 11, 24, 10, 7).isoformat()
    assert {"code": "case_read", "points": 15, "detail": "1"} in record["reasons"]

    async with notified_app.state.runtime.sessions() as session:
        events = list(
            await session.scalars(
                select(HandoffEvent).where(
                    HandoffEvent.handoff_id == row.id, HandoffEvent.kind == "tier_a"
                )
            )
        )
    assert [e.detail["trigger"] for e in events] == ["事例を最後まで閲覧"]

    page = await _rep_page(web, notified_app, row.id)
    cases = _section(page, "送付した導入事例")
    cell = cases[cases.index(html.escape(case["title"])) :]
    cell = cell[: cell.index("</tr>")]
    assert "事例を最後まで閲覧" in cell and "11月24日(火) 10:07" in cell
    triggers = _section(page, "きっかけ")
    assert "料金ページ閲覧" in triggers and "2回目" in triggers
    assert "事例を最後まで閲覧" in triggers and html.escape(case["title"]) in triggers
    assert "11月24日(火) 10:07" in triggers and "11月24日(火) 10:05" in triggers
    score = _section(page, "Tier とスコア")
    assert "事例を最後まで閲覧" in score and "+15" in score


async def test_after_hours_tier_a_waits_for_the_morning_digest(
    web: httpx.AsyncClient, notified_app: FastAPI, clock: FixedClock, notify: NotifyStub
) -> None:
    """Told in hours as Tier B just before closing; in the evening the lead comes back,
    views pricing again and reads a case: no post at night, and the morning digest names
    them as Tier A."""
    clock.set(tokyo(2026, 11, 24, 17, 50))
    lead = Lead(web)
    await lead.start()
    await lead.view(PRICING)
    await lead.considering()
    await drain(notified_app)
    assert len(notify.seen("slack")) == 1

    clock.set(TUESDAY_20)
    await lead.view(PRICING)  # a return after ten hours, and the second view
    read = await lead.read_to_the_end()
    assert read.status_code == 204
    await drain(notified_app)
    row = await _handoff(notified_app, lead.cid)
    assert row.tier == "A"
    assert [t["code"] for t in row.record["triggers"]] == [
        "pricing_views",
        "pricing_views",
        "return_visit",
        "case_read",
    ]
    assert {"code": "return_visit", "points": 10, "detail": "1"} in row.record["reasons"]
    assert len(notify.seen("slack")) == 1, [s.text[:60] for s in notify.seen("slack")]
    assert _tier_a_posts(notify) == []

    clock.set(WEDNESDAY_9)
    await drain(notified_app)
    posts = notify.seen("slack")
    assert len(posts) == 2, [p.text for p in posts]
    digest = posts[1].text
    assert "【朝のまとめ】" in digest and "夜間の問い合わせ対応が遅れています" in digest
    assert "ランク\nA（" in digest and "事例を最後まで閲覧" in digest, digest
    assert _tier_a_posts(notify) == []


async def test_a_forged_or_malformed_read_report_is_refused_and_records_nothing(
    web: httpx.AsyncClient, notified_app: FastAPI, clock: FixedClock
) -> None:
    clock.set(TUESDAY_10)
    lead = Lead(web)
    await lead.start()
    await lead.considering()
    path, page = await lead.open_case(0)
    report = _report(page, "time")
    other_case = lead.cards[1]["id"]
    text = {"content-type": "text/plain"}

    forged = await web.post(f"{path}/read", json={**report, "v": "0" * 32})
    assert forged.status_code == 403
    re_aimed = await web.post(f"/cases/{other_case}/read", json=report)
    assert re_aimed.status_code == 403  # signed for another case
    unknown = await web.post("/cases/no-such-case/read", json=report)
    assert unknown.status_code == 404
    for body, kind, status in [
        (b"not json", text, 400),
        (b"[1, 2]", text, 400),
        (json.dumps({**report, "how": "glance"}).encode(), text, 400),
        (json.dumps({**report, "extra": 1}).encode(), text, 400),
        (json.dumps({"c": report["c"], "how": "end"}).encode(), text, 400),
        (json.dumps({**report, "c": "x\u0000y"}).encode(), text, 400),
        (b"c=1&v=2", {"content-type": "multipart/form-data; boundary=x"}, 400),
        (b"<read/>", {"content-type": "application/xml"}, 400),
        (b"\xff\xfe", {"content-type": "application/x-www-form-urlencoded"}, 400),
        (b"x" * 5000, text, 413),
    ]:
        answer = await web.post(f"{path}/read", content=body, headers=kind)
        assert answer.status_code == status, (body[:40], answer.text)
        assert answer.json()["detail"]
    record = await notified_app.state.runtime.service.handoff_record(lead.cid)
    assert record is not None and record["cases_read"] == {} and record["triggers"] == []

    # The same report as a form (a beacon of URLSearchParams) is accepted.
    as_form = await web.post(f"{path}/read", data=report)
    assert as_form.status_code == 204
    record = await notified_app.state.runtime.service.handoff_record(lead.cid)
    assert record is not None and list(record["cases_read"]) == [lead.cards[0]["id"]]


async def test_a_case_page_opened_without_a_view_link_does_not_report(
    web: httpx.AsyncClient, notified_app: FastAPI
) -> None:
    """Only a page reached from a signed view link carries what its report needs."""
    case = notified_app.state.runtime.content.library.cases[0]
    page = await web.get(f"/cases/{case.id}")
    assert page.status_code == 200 and 'id="case-end"' in page.text
    assert "data-read-url" not in page.text


async def test_a_new_conversation_after_a_gap_is_a_return_visit_on_the_latest_handoff(
    web: httpx.AsyncClient, notified_app: FastAPI, clock: FixedClock
) -> None:
    """The same browser starts a new chat the next day: the lead's handoff is refreshed
    with 再訪問, and the new conversation carries it too; within half an hour it is not."""
    clock.set(TUESDAY_10)
    lead = Lead(web)
    await lead.start(visitor="returning-visitor-1")
    await lead.considering()
    first = await _handoff(notified_app, lead.cid)
    assert first.score == 25

    clock.set(tokyo(2026, 11, 24, 10, 20))
    soon = Lead(web)
    await soon.start(visitor="returning-visitor-1")
    assert (await _handoff(notified_app, lead.cid)).record["triggers"] == []

    clock.set(tokyo(2026, 11, 25, 11, 0))
    back = Lead(web)
    await back.start(visitor="returning-visitor-1")
    row = await _handoff(notified_app, lead.cid)
    assert row.score == 35
    assert [t["code"] for t in row.record["triggers"]] == ["return_visit"]
    assert row.record["triggers"][0]["at"] == tokyo(2026, 11, 25, 11, 0).isoformat()
    await back.considering()
    again = await _handoff(notified_app, back.cid)
    assert again.id != row.id
    assert {"code": "return_visit", "points": 10, "detail": "1"} in again.record["reasons"]

    page = await _rep_page(web, notified_app, row.id)
    assert "再訪問" in _section(page, "きっかけ")


async def test_a_page_view_after_a_gap_is_a_return_visit(
    web: httpx.AsyncClient, notified_app: FastAPI, clock: FixedClock
) -> None:
    clock.set(TUESDAY_10)
    lead = Lead(web)
    await lead.start()
    await lead.considering()
    clock.set(tokyo(2026, 11, 24, 10, 30))
    await lead.view(HOME)  # thirty minutes: still the same visit
    clock.set(tokyo(2026, 11, 24, 11, 1))
    await lead.view(HOME)  # thirty-one minutes after the last page
    clock.set(tokyo(2026, 11, 24, 11, 2))
    await lead.view(HOME)
    record = await notified_app.state.runtime.service.handoff_record(lead.cid)
    assert record is not None
    assert [(t["code"], t["at"]) for t in record["triggers"]] == [
        ("return_visit", tokyo(2026, 11, 24, 11, 1).isoformat())
    ]
    assert record["score"] == 35


FORM = {
    "consent": "yes",  # 個人情報の取り扱いに同意する
    "document": "service-overview",
    "company": "株式会社サンプル",
    "name": "山田太郎",
    "email": "yamada@example.com",
    "timing": "undecided",
}


async def test_a_second_distinct_form_scores_and_a_duplicate_does_not(
    web: httpx.AsyncClient, notified_app: FastAPI, clock: FixedClock
) -> None:
    clock.set(TUESDAY_10)
    first = await web.post("/forms/document-request", json=FORM)
    assert first.status_code == 202, first.text
    duplicate = await web.post("/forms/document-request", json=FORM)
    assert duplicate.json()["duplicate"] is True
    first_row = await _handoff(notified_app, first.json()["conversation_id"])
    assert all(r["code"] != "second_form" for r in first_row.record["reasons"])

    clock.set(tokyo(2026, 11, 24, 10, 3))
    second = await web.post("/forms/document-request", json={**FORM, "document": "pricing"})
    assert second.status_code == 202 and second.json()["duplicate"] is False
    row = await _handoff(notified_app, second.json()["conversation_id"])
    assert {"code": "second_form", "points": 10, "detail": ""} in row.record["reasons"]
    assert [(t["code"], t["detail"]) for t in row.record["triggers"]] == [
        ("second_form", "資料請求")
    ]
    page = await _rep_page(web, notified_app, row.id)
    assert "2回目のフォーム送信" in _section(page, "きっかけ")
