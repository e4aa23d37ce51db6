"""The lead hears the truth: after the handoff is written, the chat's last message and the
form's auto-reply email promise what the SLA makes true (「担当の○○より5分以内に」 only when
the owner is on shift and was told now; otherwise the moment the clock starts), on SQLite
and PostgreSQL, with a fixed clock, the real SMTP server on loopback and the whole app."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from autoreply.clock import FixedClock
from autoreply.service import reps
from autoreply.service.reps import DEMO_REP
from autoreply.web.app import create_app
from tests.conftest import make_settings, tokyo
from tests.mailserver import MailServer, mail_server

DEMO_NAME = DEMO_REP[0]  # 「デモ担当 山田」, the only member of the shipped routing's team
TUESDAY_10 = tokyo(2026, 11, 24, 10, 0)  # Monday 11/23 is 勤労感謝の日
FORM = {
    "consent": "yes",  # 個人情報の取り扱いに同意する
    "document": "service-overview",
    "company": "株式会社サンプル",
    "name": "山田太郎",
    "email": "taro@example.com",
    "timing": "within_3_months",
    "message": "夜間や休日の問い合わせへの返信が遅れて、商談化できていません",
}
FORM_EN = {
    "consent": "yes",  # 個人情報の取り扱いに同意する
    "document": "service-overview",
    "company": "Example Ltd.",
    "name": "Jane Doe",
    "email": "jane@example.com",
    "message": "Our replies to night-time inquiries are slow",
}
PAGE = {"url": "https://example.com/", "title": "サンプル株式会社"}
AFTERNOONS = "mon-fri 13:00-18:00"
AFTERNOON_ROUTING = """\
routing:
  teams:
    - id: afternoons
      name: 午後チーム
      members: [hiru@example.com]
  rules: []
  fallback: afternoons
"""


@pytest.fixture
def smtp() -> Iterator[MailServer]:
    with mail_server() as server:
        yield server


@pytest.fixture
def clock() -> FixedClock:
    """Tuesday 10:00 in Tokyo, in business hours, until a test moves it."""
    return FixedClock(TUESDAY_10)


def _settings(migrated: str, smtp: MailServer, **extra: Any) -> Any:
    return make_settings(
        database_url=migrated,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_tls="none",
        smtp_timeout_seconds=5,
        run_worker=False,
        **extra,
    )


async def _app(settings: Any, clock: FixedClock) -> AsyncIterator[FastAPI]:
    application = create_app(settings, clock=clock, migrate=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def app(migrated: str, clock: FixedClock, smtp: MailServer) -> AsyncIterator[FastAPI]:
    """The shipped settings: the demo rep owns every lead and is emailed each notice."""
    async for application in _app(_settings(migrated, smtp), clock):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def deliver(app: FastAPI) -> None:
    while await app.state.runtime.worker.run_once():
        pass


def reply_to(smtp: MailServer, address: str) -> tuple[str, str]:
    """The plain and HTML text of the one email ``address`` received."""
    [received] = [r for r in smtp.recorder.received if r.rcpt_tos == [address]]
    return _part(received.message, "plain"), _part(received.message, "html")


def _part(message: EmailMessage, kind: str) -> str:
    part = message.get_body((kind,))
    assert part is not None, f"no text/{kind} part"
    text = part.get_content()
    assert isinstance(text, str)
    return text


async def test_a_form_in_hours_promises_the_owner_within_the_sla(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer
) -> None:
    """Tuesday 10:00: the demo rep is on shift and emailed the notice at once, so the
    reply names them and the five minutes of the SLA, in both parts of the email."""
    accepted = await client.post("/forms/document-request", data=FORM)
    assert accepted.status_code == 303
    await deliver(app)
    text, html = reply_to(smtp, "taro@example.com")
    promise = f"担当の{DEMO_NAME}より5分以内にご連絡いたします。"
    assert promise in text and promise in html
    thanks = await client.get(accepted.headers["location"])  # the thank-you page agrees
    assert promise in thanks.text
    assert "本日中" not in text and "以降" not in text
    # ...and it is true: the owner was told at the same moment, with the same deadline.
    notice, _ = reply_to(smtp, "demo-rep@example.com")
    assert "山田太郎" in notice


async def test_an_english_form_in_hours_names_the_owner_too(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer
) -> None:
    accepted = await client.post("/forms/document-request-en", data=FORM_EN)
    assert accepted.status_code == 303
    await deliver(app)
    text, html = reply_to(smtp, "jane@example.com")
    promise = f"{DEMO_NAME} will contact you within 5 minutes."
    assert promise in text and promise in html


async def test_a_form_on_saturday_night_promises_the_next_opening(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer, clock: FixedClock
) -> None:
    """Saturday 23:10 (Monday a holiday): the clock starts Tuesday 9:00; no minutes, no name."""
    clock.set(tokyo(2026, 11, 21, 23, 10))
    await client.post("/forms/document-request", data=FORM)
    await deliver(app)
    text, html = reply_to(smtp, "taro@example.com")
    assert "担当者より11月24日(火) 9:00以降にご連絡いたします。" in text
    for body in (
        text,
        html,
    ):  # a case study's own summary may say 「1分以内に」: look at the promise
        assert DEMO_NAME not in body
        assert re.search(r"分以内に(?:ご連絡|ご対応)", body) is None
    assert [r.rcpt_tos for r in smtp.recorder.received] == [["taro@example.com"]]  # nobody pinged


async def test_a_team_that_works_afternoons_is_promised_from_1300(
    migrated: str, clock: FixedClock, smtp: MailServer, tmp_path: Path
) -> None:
    """The team's only rep works 13:00-18:00: a 10:00 form hears 13:00, never 5 minutes."""
    routing = tmp_path / "routing.yaml"
    routing.write_text(AFTERNOON_ROUTING, encoding="utf-8")
    async for app in _app(_settings(migrated, smtp, routing=routing), clock):
        async with app.state.runtime.sessions() as session, session.begin():
            await reps.create_rep(
                session, "昼間 一郎", "hiru@example.com", now=TUESDAY_10, hours=AFTERNOONS
            )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            accepted = await c.post("/forms/document-request", data=FORM)
            thanks = await c.get(accepted.headers["location"])
        await deliver(app)
        text, _ = reply_to(smtp, "taro@example.com")
        assert "担当者より11月24日(火) 13:00以降にご連絡いたします。" in text
        assert "担当者より11月24日(火) 13:00以降にご連絡いたします。" in thanks.text
        assert "分以内" not in text and "昼間" not in text
        # In business hours the team hears at once; the owner's clock starts at 13:00.
        owner_text, _ = reply_to(smtp, "hiru@example.com")
        assert "初回連絡の期限: 11月24日(火) 13:05" in owner_text


async def test_with_nobody_to_tell_no_minutes_are_promised(
    migrated: str, clock: FixedClock, smtp: MailServer
) -> None:
    """No notification target at all (no owner email, no channel): nobody hears of the
    lead at once, so the email keeps the calendar's 「本日中に」."""
    async for app in _app(_settings(migrated, smtp, notify_owner_email=False), clock):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            await c.post("/forms/document-request", data=FORM)
        await deliver(app)
        text, _ = reply_to(smtp, "taro@example.com")
        assert "担当者より本日中にご連絡いたします。" in text
        assert "分以内" not in text


async def _chat_declining_the_meeting(
    client: httpx.AsyncClient, locale: str, answers: tuple[str, str, str]
) -> tuple[str, dict[str, str], list[dict[str, Any]]]:
    """A web lead who gives timing and challenge, declines the slots and leaves an email
    address: the conversation's id, its auth header, and the last turn's replies."""
    start = await client.post("/api/chat/conversations", json={"page": PAGE, "locale": locale})
    body = start.json()
    cid, auth = body["conversation_id"], {"Authorization": f"Bearer {body['token']}"}
    url = f"/api/chat/conversations/{cid}/messages"
    timing, challenge, email = answers
    await client.post(url, json={"text": timing}, headers=auth)
    await client.post(url, json={"text": challenge}, headers=auth)
    await client.post(url, json={"slot": "decline"}, headers=auth)
    last = await client.post(url, json={"text": email}, headers=auth)
    assert last.status_code == 200, last.text
    return str(cid), auth, last.json()["replies"]


async def test_the_chats_last_message_in_hours_names_the_owner(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer
) -> None:
    """The turn that writes the handoff says its promise as the new owner and clock make
    it true; the stored conversation and the rep's transcript say the same words."""
    cid, auth, replies = await _chat_declining_the_meeting(
        client, "ja", ("来月中", "夜間の問い合わせ対応が遅れています", "taro@example.com")
    )
    promise = f"いただいた内容は担当の{DEMO_NAME}に引き継ぎ、5分以内にご連絡いたします。"
    assert promise in replies[0]["text"], replies
    read = await client.get(f"/api/chat/conversations/{cid}", headers=auth)
    out = [m["reply"] for m in read.json()["messages"] if m["direction"] == "out"]
    stored = [reply.get("text") or "" for reply in out]
    assert any(promise in text for text in stored)
    record = await app.state.runtime.service.handoff_record(cid)
    assert record is not None
    assert any(promise in line["text"] for line in record["transcript"])
    await deliver(app)
    notice, _ = reply_to(smtp, "demo-rep@example.com")  # the owner was told, as promised
    assert "夜間の問い合わせ対応が遅れています" in notice


async def test_the_english_chats_last_message_in_hours_names_the_owner(
    client: httpx.AsyncClient,
) -> None:
    _, _, replies = await _chat_declining_the_meeting(
        client, "en", ("next month", "Our replies to night inquiries are slow", "jane@example.com")
    )
    assert f"and {DEMO_NAME} will contact you within 5 minutes." in replies[0]["text"], replies


async def test_the_chats_last_message_at_night_promises_the_next_opening(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    clock.set(tokyo(2026, 11, 21, 23, 10))
    _, _, replies = await _chat_declining_the_meeting(
        client, "ja", ("来月中", "夜間の問い合わせ対応が遅れています", "taro@example.com")
    )
    text = replies[0]["text"]
    assert "いただいた内容は担当者に引き継ぎ、11月24日(火) 9:00以降にご連絡いたします。" in text
    assert "担当の" not in text


async def test_a_lead_who_asks_for_a_person_hears_the_owners_promise_later_too(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    """The handoff is written when they ask (no way to reach them yet); two minutes later
    they give a phone number and hear the owner's promise, still inside the deadline."""
    start = await client.post("/api/chat/conversations", json={"page": PAGE})
    body = start.json()
    cid, auth = body["conversation_id"], {"Authorization": f"Bearer {body['token']}"}
    url = f"/api/chat/conversations/{cid}/messages"
    asked = await client.post(url, json={"text": "担当者と話したいです"}, headers=auth)
    assert "山田" not in " ".join(r.get("text", "") for r in asked.json()["replies"])
    clock.set(datetime(2026, 11, 24, 10, 2, tzinfo=TUESDAY_10.tzinfo))
    told = await client.post(url, json={"text": "090-1234-5678"}, headers=auth)
    text = told.json()["replies"][-1]["text"]
    assert f"担当の{DEMO_NAME}より5分以内にご連絡いたします。" in text


@pytest.mark.parametrize("minutes", [5, 15])
async def test_the_demo_site_promises_the_configured_first_contact_minutes(
    migrated: str, clock: FixedClock, smtp: MailServer, minutes: int
) -> None:
    """The home page and the service overview say what the service does (a notice at once,
    first contact aimed within the configured minutes), not a bare 「すぐにお知らせします」."""
    settings = _settings(migrated, smtp, sla_first_contact_minutes=minutes)
    async for app in _app(settings, clock):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            for path in ("/", "/documents/service-overview"):
                page = await c.get(path)
                assert page.status_code == 200
                assert (
                    f"営業時間内は担当者へすぐに通知し、{minutes}分以内のご連絡を目指します。"
                ) in page.text, path
                assert "すぐにお知らせします" not in page.text
