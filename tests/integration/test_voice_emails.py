"""The emails as the lead and the rep receive them (the loopback SMTP server), in one voice:
the signature with the company's address and phone, the timing as the lead said it, the
rep's link to the handoff, a word on how the meeting link will come, and the rep's first
line in the owner's own name (docs/style.md)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from autoreply.clock import FixedClock
from autoreply.store.models import HandoffRow
from autoreply.web.app import create_app
from tests.integration.test_email import _settings, body, deliver, invite, submit
from tests.mailserver import MailServer, Received, mail_server

LEAD = "taro@example.com"
ADDRESS = "〒100-0005 東京都千代田区丸の内1-1-1 サンプルビル5階"
PHONE = "03-1234-5678"
JOIN_JA = "オンライン会議のURLは、担当の{rep}より開始時刻までにメールでお送りいたします。"


@pytest.fixture
def smtp() -> Iterator[MailServer]:
    with mail_server() as server:
        yield server


async def _app(
    migrated: str, clock: FixedClock, smtp: MailServer, **extra: Any
) -> AsyncIterator[FastAPI]:
    application = create_app(_settings(migrated, smtp, **extra), clock=clock, migrate=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def app(migrated: str, clock: FixedClock, smtp: MailServer) -> AsyncIterator[FastAPI]:
    """The app with the company's address and phone set, and no meeting URL."""
    async for application in _app(
        migrated, clock, smtp, company_address=ADDRESS, company_phone=PHONE
    ):
        yield application


async def _chat(
    client: httpx.AsyncClient,
    *,
    timing: dict[str, str],
    flow: str | None = None,
    challenge: str = "夜間の問い合わせ対応が遅れています",
    details: tuple[str, str, str] = ("山田太郎", "株式会社サンプル", LEAD),
) -> str:
    """A lead books the first slot in the chat, answering the timing with ``timing``."""
    started = await client.post(
        "/api/chat/conversations",
        json={"page": {"url": "https://example.com/"}, **({"flow": flow} if flow else {})},
    )
    cid = str(started.json()["conversation_id"])
    auth = {"Authorization": f"Bearer {started.json()['token']}"}
    url = f"/api/chat/conversations/{cid}/messages"
    await client.post(url, json=timing, headers=auth)
    offer = await client.post(url, json={"text": challenge}, headers=auth)
    slots = next(r for r in offer.json()["replies"] if r["kind"] == "slots")
    pick = slots["days"][0]["slots"][0]
    await client.post(url, json={"slot": pick["id"], "label": pick["label"]}, headers=auth)
    for text in details:
        await client.post(url, json={"text": text}, headers=auth)
    return cid


def _to(smtp: MailServer, address: str, subject: str) -> Received:
    [found] = [r for r in smtp.recorder.by_subject(subject) if r.rcpt_tos == [address]]
    return found


def _description(received: Received) -> str:
    [event] = invite(received).walk("VEVENT")
    return str(event.get("DESCRIPTION"))


async def _handoff(app: FastAPI) -> HandoffRow:
    async with app.state.runtime.sessions() as session:
        [row] = list(await session.scalars(select(HandoffRow)))
        return row


async def test_the_signature_carries_the_company_address_and_phone(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer
) -> None:
    """The form reply ends with the company, its address, its phone and its site, and
    thanks for 資料のご請求 (never 資料請求いただき)."""
    await submit(client)
    await deliver(app)
    [received] = smtp.recorder.received
    text = body(received.message)
    signature = text.split("\n--\n", 1)[1]
    assert signature.splitlines() == [
        "サンプル株式会社 営業部",
        ADDRESS,
        f"TEL：{PHONE}",
        "https://example.com/",
        "このメールにご返信いただくと、担当者に届きます。",
    ]
    assert "このたびは資料をご請求いただき、誠にありがとうございます。" in text
    assert "資料請求いただき" not in text
    html = body(received.message, "html")
    assert ADDRESS in html and 'href="tel:0312345678"' in html


async def test_without_address_and_phone_the_signature_leaves_them_out(
    migrated: str, clock: FixedClock, smtp: MailServer
) -> None:
    async for application in _app(migrated, clock, smtp):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            await submit(c)
        await deliver(application)
    [received] = smtp.recorder.received
    signature = body(received.message).split("\n--\n", 1)[1]
    assert signature.splitlines() == [
        "サンプル株式会社 営業部",
        "https://example.com/",
        "このメールにご返信いただくと、担当者に届きます。",
    ]
    assert "TEL" not in body(received.message, "html")


async def test_a_chosen_timing_is_said_as_chosen_and_the_rep_gets_the_handoff_link(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer
) -> None:
    """The lead tapped 「1か月以内」: the pre-meeting email and the rep's invite say
    「1か月以内」, no date range; the rep's invite links to its handoff; with no meeting URL
    the invite, its calendar entry and the pre-meeting email say how the link will come."""
    await _chat(client, timing={"choice": "within_1_month", "label": "1か月以内"})
    await deliver(app)
    row = await _handoff(app)
    [pre] = smtp.recorder.by_subject("お打ち合わせに向けて")
    text = body(pre.message)
    assert "ご導入の時期：1か月以内\n" in text
    assert "2026年" not in text and "〜2026" not in text
    assert "サンプル株式会社のデモ担当 山田でございます。" in text
    rep_copy = _to(smtp, "demo-rep@example.com", "【予約】")
    rep_name = re.search(r"^(.+) さん$", body(rep_copy.message), re.M)
    assert rep_name
    join = JOIN_JA.format(rep=rep_name.group(1))
    assert f"参加方法：{join}" in text
    rep_text = body(rep_copy.message)
    assert "導入時期：1か月以内\n" in rep_text
    assert f"http://127.0.0.1:8000/rep/handoffs/{row.id}" in rep_text
    assert f'href="http://127.0.0.1:8000/rep/handoffs/{row.id}"' in body(rep_copy.message, "html")
    lead_copy = _to(smtp, LEAD, "承りました")
    lead_text = body(lead_copy.message)
    assert f"参加方法：{join}" in lead_text
    assert "担当者とのオンラインでのお打ち合わせのご予約を承りました。" in lead_text
    assert join in _description(lead_copy).replace("\n", "")
    assert join in body(lead_copy.message, "html")
    assert "/rep/handoffs" not in lead_text  # the lead never sees the rep pages


async def test_typed_timing_is_quoted_to_the_lead_and_read_for_the_rep(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer
) -> None:
    """The lead typed 「来月中旬くらい」: the pre-meeting email quotes it; the rep's invite
    quotes it with its reading (12月中旬ごろ); the rep's first line says the reading, in
    the owner's own name, with いたしました."""
    cid = await _chat(client, timing={"text": "来月中旬くらい"})
    await deliver(app)
    [pre] = smtp.recorder.by_subject("お打ち合わせに向けて")
    assert "ご導入の時期：「来月中旬くらい」\n" in body(pre.message)
    rep_text = body(_to(smtp, "demo-rep@example.com", "【予約】").message)
    assert "導入時期：「来月中旬くらい」（12月中旬ごろ）" in rep_text
    record = await app.state.runtime.service.handoff_record(cid)
    line = str(record["first_line"])
    assert line.startswith("株式会社サンプル 山田太郎様、サンプル株式会社の")
    assert "でございます。" in line.splitlines()[0]
    assert "ご導入は12月中旬ごろをお考えとのことですので" in line
    assert "「夜間の問い合わせ対応が遅れています」という点について" in line
    assert "ご連絡いたしました。" in line
    assert "くらい" not in line and "ご連絡しました" not in line


async def test_an_english_invite_says_how_the_link_will_come(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer
) -> None:
    await _chat(
        client,
        flow="demo-en",
        timing={"choice": "within_3_months"},
        challenge="Night-time enquiries wait too long",
        details=("Jane Smith", "Acme Ltd", "jane@example.com"),
    )
    await deliver(app)
    lead_copy = _to(smtp, "jane@example.com", "is confirmed")
    text = body(lead_copy.message)
    found = re.search(
        r"^How to join: (.+) will email you the link to the online meeting", text, re.M
    )
    assert found, text
    assert "will email you the link to the online meeting before it starts." in _description(
        lead_copy
    ).replace("\n", "")
    signature = text.split("\n--\n", 1)[1].splitlines()
    assert signature[:3] == ["Sample Inc. Sales", ADDRESS, f"Phone: {PHONE}"]
    [pre] = smtp.recorder.by_subject("Before our meeting")
    assert "Timing: Within 3 months\n" in body(pre.message)  # the button, as tapped
    assert "This is デモ担当 山田 at Sample Inc.: ahead of" in body(pre.message)


async def test_with_a_meeting_url_the_invite_gives_it_and_no_promise(
    migrated: str, clock: FixedClock, smtp: MailServer
) -> None:
    async for application in _app(
        migrated, clock, smtp, meeting_url="https://meet.example.com/sales"
    ):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            await _chat(c, timing={"choice": "within_1_month", "label": "1か月以内"})
        await deliver(application)
    lead_copy = _to(smtp, LEAD, "承りました")
    text = body(lead_copy.message)
    assert "参加URL：https://meet.example.com/sales" in text
    assert "参加方法" not in text and "オンライン会議のURLは" not in _description(lead_copy)
