"""Email end to end against a real SMTP server on loopback (aiosmtpd), on SQLite and PostgreSQL.

What the server received is parsed the way a mail client parses it; the links in it are
followed against the running app.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from icalendar import Calendar
from sqlalchemy import func, select

from autoreply.channels.email.form import SIGNATURE_HEADER, signature
from autoreply.clock import FixedClock
from autoreply.store.models import FormSubmission, Lead, OutboxRow
from autoreply.web.app import create_app
from tests.conftest import make_settings, tokyo
from tests.integration.conftest import _login
from tests.mailserver import MailServer, Received, mail_server

FORM = {
    "consent": "yes",  # 個人情報の取り扱いに同意する
    "document": "service-overview",
    "company": "株式会社サンプル",
    "name": "山田太郎",
    "email": "taro@example.com",
    "timing": "within_3_months",
    "message": "夜間や休日の問い合わせへの返信が遅れて、商談化できていません",
}


@pytest.fixture
def smtp() -> Iterator[MailServer]:
    """The SMTP server, up."""
    with mail_server() as server:
        yield server


def _settings(migrated: str, smtp: MailServer, **extra: Any) -> Any:
    return make_settings(
        database_url=migrated,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_tls="none",
        smtp_timeout_seconds=5,
        run_worker=False,  # each test delivers when it wants to (runtime.worker.run_once)
        **extra,
    )


@pytest.fixture
async def app(migrated: str, clock: FixedClock, smtp: MailServer) -> AsyncIterator[FastAPI]:
    """The app sending through the loopback SMTP server."""
    application = create_app(_settings(migrated, smtp), clock=clock, migrate=False)
    async with application.router.lifespan_context(application):
        yield application


async def deliver(app: FastAPI) -> int:
    """Let the outbox worker send everything that is due now."""
    total = 0
    while (count := await app.state.runtime.worker.run_once()) > 0:
        total += count
    return total


async def count(app: FastAPI, model: Any, *where: Any) -> int:
    async with app.state.runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)))


def body(message: EmailMessage, kind: str = "plain") -> str:
    part = message.get_body((kind,))
    assert part is not None, f"no text/{kind} part"
    text = part.get_content()
    assert isinstance(text, str)
    return text


def path_of(text: str, prefix: str) -> str:
    """The path of the first link in ``text`` under ``/prefix``."""
    found = re.search(rf"https?://[^/\s]+(/{prefix}[^\s\"<]*)", text)
    assert found, f"no /{prefix} link in the message"
    return found.group(1).replace("&amp;", "&")


def invite(received: Received) -> Calendar:
    """The calendar a mail client would hand to the calendar (the text/calendar part)."""
    parts = [p for p in received.message.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1
    raw = parts[0].get_payload(decode=True)
    assert isinstance(raw, bytes)
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b""), "iCalendar needs CRLF"
    return Calendar.from_ical(raw)


async def submit(client: httpx.AsyncClient, **changes: str) -> httpx.Response:
    return await client.post("/forms/document-request", data={**FORM, **changes})


async def test_a_form_gets_a_reply_that_is_about_the_request(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer
) -> None:
    """Japanese subject and names decode, both parts are there, and the mail quotes the
    request, sends the document and matching cases, and promises the real next opening."""
    accepted = await submit(client)
    assert accepted.status_code == 303
    assert accepted.headers["location"].startswith("/forms/document-request/thanks?c=")
    thanks = await client.get(accepted.headers["location"])
    assert "チャットで続ける" in thanks.text and "11月24日(火) 9:00以降" in thanks.text
    assert await deliver(app) == 1
    [received] = smtp.recorder.received
    assert received.rcpt_tos == ["taro@example.com"]
    assert received.mail_from == "sales@example.com"
    raw_head = received.data.split(b"\r\n\r\n", 1)[0]
    assert b"=?utf-8?" in raw_head.lower() and max(raw_head) < 128  # RFC 2047, 7-bit headers
    message = received.message
    assert (
        message["Subject"]
        == "【サンプル株式会社】資料のご請求ありがとうございます（サービス概要資料）"
    )
    assert message["From"].addresses[0].display_name == "サンプル株式会社 営業部"
    assert str(message["To"]) == "山田太郎 <taro@example.com>"
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["Message-ID"].startswith("<") and message["Message-ID"].endswith("@example.com>")
    assert message["Date"].datetime.utcoffset() is not None
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in message.iter_parts())
    text = body(message)
    assert "株式会社サンプル\n山田太郎 様" in text
    assert "■ サービス概要資料\nhttp://127.0.0.1:8000/documents/service-overview" in text
    assert "> 夜間や休日の問い合わせへの返信が遅れて、商談化できていません" in text
    assert "株式会社ハルカゼ精機様" in text  # the night-inquiry case study
    assert "担当者より11月24日(火) 9:00以降にご連絡いたします。" in text
    html = body(message, "html")
    assert "夜間や休日の問い合わせへの返信が遅れて" in html and "事例を読む" in html


async def test_the_links_in_the_reply_work_against_the_app(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer
) -> None:
    """A case link records the click, the document link is a page of the app; the continue
    link opens the same conversation in the chat (what the form said is not asked again);
    the booking link books a slot."""
    await submit(client)
    await deliver(app)
    text = body(smtp.recorder.received[0].message)
    case = await client.get(path_of(text, "r/"))
    assert case.status_code == 302
    document = await client.get(path_of(text, "documents/"))
    assert document.status_code == 200 and "サービス概要資料" in document.text
    opened = await client.get(path_of(text, "c/"))
    assert opened.status_code == 303
    landing, _, fragment = opened.headers["location"].partition("#autoreply=")
    assert landing == "http://127.0.0.1:8000/"
    conversation_id, token = fragment.split(".", 1)
    chat = await client.get(
        f"/api/chat/conversations/{conversation_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert chat.status_code == 200
    messages = chat.json()["messages"]
    # One coherent conversation: what the form said as the bot's summary (never as the
    # lead's own bubble), the email's cases right after the sentence introducing them, a
    # greeting that asks nothing it will not ask, no other cases, then the slots.
    assert all(m["direction"] == "out" for m in messages)
    replies = [m["reply"] for m in messages]
    assert replies[0]["kind"] == "text"
    assert replies[0]["text"].startswith("資料請求フォームで、次の内容を承りました。")
    assert "・ご相談内容・課題：夜間や休日" in replies[0]["text"]
    assert replies[0]["text"].endswith("メールでご紹介した導入事例は、こちらです。")
    assert replies[1]["kind"] == "cards"
    emailed = [c["title"] for c in replies[1]["cards"]]
    assert emailed and all(title in text for title in emailed)
    assert [r["kind"] for r in replies[2:]] == ["text", "slots"]
    assert replies[2]["text"].startswith(
        "資料をご請求いただき、ありがとうございました。こちらで続けてご案内いたします。"
    )
    assert "お伺い" not in replies[2]["text"]  # timing and challenge came with the form
    assert "担当者より11月24日(火) 9:00以降にご連絡いたします" in replies[2]["text"]
    record = await app.state.runtime.service.handoff_record(conversation_id)
    assert record["channel"] == "form" and record["cases_clicked"]
    assert record["first_line"].startswith("株式会社サンプル 山田太郎様、サンプル株式会社の")
    assert "サービス概要資料をご請求いただき、ありがとうございました。" in record["first_line"]
    page = await client.get(path_of(text, "book/"))
    assert page.status_code == 200 and "11月24日(火)" in page.text
    slot = re.search(r'name="slot" value="([^"]+)"', page.text)
    assert slot
    booked = await client.post(path_of(text, "book/"), data={"slot": slot.group(1)})
    assert booked.status_code == 200 and "承りました" in booked.text
    record = await app.state.runtime.service.handoff_record(conversation_id)
    assert record["reason"] == "booked" and record["booking"]["start_text"] == "11月24日(火) 10:00"
    again = await client.post(path_of(text, "book/"), data={"slot": slot.group(1)})
    assert "ご予約済み" in again.text  # one booking per lead, however often they click


async def test_json_from_a_marketing_tool_and_one_lead_per_address(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer
) -> None:
    """JSON gets 202 JSON; the address a lead gave in the chat makes the form the same lead."""
    await _book_in_chat(client)  # gives taro@example.com in the chat
    async with app.state.runtime.sessions() as session:
        chat_lead = await session.scalar(select(Lead.id).where(Lead.email == "taro@example.com"))
    response = await client.post(
        "/forms/inquiry",
        json={
            "company": "株式会社サンプル",
            "name": "山田太郎",
            "email": "Taro@Example.com",
            "message": "料金について知りたい",
            "utm": {"source": "newsletter"},
            "consent": True,  # the tool's form asked for it
        },
    )
    assert response.status_code == 202, response.text
    data = response.json()
    assert data["status"] == "accepted" and data["duplicate"] is False
    assert data["lead_id"] == chat_lead
    assert await count(app, Lead, Lead.merged_into_id.is_(None)) == 1
    await deliver(app)
    [reply] = smtp.recorder.by_subject("お問い合わせありがとうございます")
    assert "> 料金について知りたい" in body(reply.message)
    record = await app.state.runtime.service.handoff_record(data["conversation_id"])
    assert record["source"]["utm"] == {"source": "newsletter"}


async def test_a_second_submission_within_the_window_sends_one_reply(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer, clock: FixedClock
) -> None:
    """The same submission twice: both are stored; only the first gets a reply; later, a
    new one does."""
    await submit(client)
    again = await submit(client)
    assert again.status_code == 303
    assert await count(app, FormSubmission) == 2
    assert await count(app, FormSubmission, FormSubmission.duplicate_of_id.is_not(None)) == 1
    await deliver(app)
    assert len(smtp.recorder.received) == 1
    clock.advance(timedelta(minutes=11))
    await submit(client)
    await deliver(app)
    assert len(smtp.recorder.received) == 2


async def test_a_different_document_within_the_window_is_a_new_request(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer
) -> None:
    """Asking for the case book right after the overview is a second request: its own reply
    with its own document; changing only the message is one too; an exact repeat is not."""
    await submit(client)
    await submit(client, document="case-book")
    await submit(client, document="case-book")  # a double click on the second request
    await submit(client, message="料金も知りたいです")
    assert await count(app, FormSubmission) == 4
    assert await count(app, FormSubmission, FormSubmission.duplicate_of_id.is_not(None)) == 1
    assert await deliver(app) == 3
    subjects = sorted(str(r.message["Subject"]) for r in smtp.recorder.received)
    assert sum("サービス概要資料" in s for s in subjects) == 2
    assert sum("導入事例集" in s for s in subjects) == 1, subjects


async def test_the_same_form_twice_at_the_same_moment_sends_one_reply(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer
) -> None:
    """A double click from a new address: both posts race to create the lead; one lead,
    two stored submissions, one reply."""
    first, second = await asyncio.gather(submit(client), submit(client))
    assert first.status_code == second.status_code == 303
    assert await count(app, Lead) == 1 and await count(app, FormSubmission) == 2
    await deliver(app)
    assert len(smtp.recorder.received) == 1


async def test_bad_input_gets_a_clear_answer_and_stores_nothing(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Missing and invalid fields: 422 JSON per field, or the form again (400) with the
    errors next to the fields and the values kept; an oversize body: 413; the honeypot:
    a normal-looking answer and nothing stored; an unknown form: 404."""
    as_json = await client.post("/forms/document-request", json={"email": "not-an-address"})
    assert as_json.status_code == 422
    errors = as_json.json()["errors"]
    assert errors["email"]["code"] == "invalid_email" and errors["name"]["code"] == "required"
    page = await submit(client, email="taro@", name="")
    assert page.status_code == 400
    assert (
        "メールアドレスの形式をご確認ください。" in page.text
        and 'value="株式会社サンプル"' in page.text
    )
    big = await client.post(
        "/forms/document-request",
        content=b"x" * 70_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert big.status_code == 413
    odd = await client.post(
        "/forms/document-request", content=b"<xml/>", headers={"content-type": "text/xml"}
    )
    assert odd.status_code == 400 and "application/json" in odd.json()["detail"]
    bot = await submit(client, website="http://spam.example")
    assert bot.status_code == 303 and bot.headers["location"] == "/forms/document-request/thanks"
    assert (await client.post("/forms/nope", json=FORM)).status_code == 404
    assert await count(app, FormSubmission) == 0 and await count(app, OutboxRow) == 0


async def test_one_address_may_post_only_so_often(
    migrated: str, clock: FixedClock, smtp: MailServer
) -> None:
    """Past AUTOREPLY_FORM_RATE_PER_MINUTE posts a minute, a client gets 429."""
    application = create_app(
        _settings(migrated, smtp, form_rate_per_minute=3), clock=clock, migrate=False
    )
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            codes = [
                (await submit(client, email=f"u{i}@example.com")).status_code for i in range(4)
            ]
    assert codes == [303, 303, 303, 429]


async def test_signed_forms_refuse_missing_and_wrong_signatures(
    migrated: str, clock: FixedClock, smtp: MailServer, tmp_path: Path
) -> None:
    """A form that requires a signature stores nothing for a post without one or with a
    wrong one (401), and takes the correctly signed raw body."""
    forms = tmp_path / "forms.yaml"
    forms.write_text(
        "forms:\n  crm:\n    title: お問い合わせ\n    require_signature: true\n    flow: demo-ja\n"
        "    fields:\n      email: {type: email, label: メール, required: true}\n"
        "      name: {type: name, label: お名前}\n",
        encoding="utf-8",
    )
    settings = _settings(migrated, smtp, forms=forms, form_signing_secret="s3cret")
    application = create_app(settings, clock=clock, migrate=False)
    payload = b'{"email": "ito@example.com", "name": "\\u4f0a\\u85e4", "consent": true}'
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            json_type = {"content-type": "application/json"}
            missing = await client.post("/forms/crm", content=payload, headers=json_type)
            wrong = await client.post(
                "/forms/crm",
                content=payload,
                headers={**json_type, SIGNATURE_HEADER: signature("other", payload)},
            )
            tampered = await client.post(
                "/forms/crm",
                content=payload.replace(b"ito", b"eve"),
                headers={**json_type, SIGNATURE_HEADER: signature("s3cret", payload)},
            )
            assert (missing.status_code, wrong.status_code, tampered.status_code) == (401,) * 3
            assert "X-Autoreply-Signature" in missing.json()["detail"]
            assert await count(application, FormSubmission) == 0
            assert await count(application, Lead) == 0
            good = await client.post(
                "/forms/crm",
                content=payload,
                headers={**json_type, SIGNATURE_HEADER: signature("s3cret", payload)},
            )
            assert good.status_code == 202, good.text
            assert await count(application, FormSubmission) == 1


async def test_smtp_down_then_up_delivers_each_message_once(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer, clock: FixedClock
) -> None:
    """Submissions are accepted while the mail server is down; once it is up, each reply
    arrives exactly once, however often the worker runs."""
    smtp.stop()
    for i in range(3):
        assert (await submit(client, email=f"lead{i}@example.com")).status_code == 303
    assert await deliver(app) == 3  # tried, failed: connection refused
    async with app.state.runtime.sessions() as session:
        rows = list(await session.scalars(select(OutboxRow)))
    assert {r.status for r in rows} == {"pending"} and {r.attempts for r in rows} == {1}
    assert all(r.next_attempt_at > clock.now() for r in rows)
    assert all("Connect" in (r.last_error or "") or "refused" in (r.last_error or "") for r in rows)
    smtp.start()
    assert await deliver(app) == 0  # not due yet: backoff
    clock.advance(timedelta(minutes=2))
    assert await deliver(app) == 3
    clock.advance(timedelta(hours=2))
    assert await deliver(app) == 0
    assert sorted(r.rcpt_tos[0] for r in smtp.recorder.received) == [
        "lead0@example.com",
        "lead1@example.com",
        "lead2@example.com",
    ]


async def test_a_4xx_is_retried_and_a_5xx_marks_the_lead(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer, clock: FixedClock, rep: Any
) -> None:
    """451 means later (delivered on the next attempt, once); 550 means never: the row
    fails, the lead is marked and the rep pages say the mail did not arrive."""
    smtp.recorder.data_replies.append("451 4.3.0 mailbox busy, try later")
    await submit(client, email="later@example.com")
    await deliver(app)
    assert not smtp.recorder.received
    clock.advance(timedelta(minutes=2))
    await deliver(app)
    assert [r.rcpt_tos for r in smtp.recorder.received] == [["later@example.com"]]
    smtp.recorder.rcpt_replies.append("550 5.1.1 no such user")
    await submit(client, email="nobody@example.com")
    await deliver(app)
    async with app.state.runtime.sessions() as session:
        failed = await session.scalar(select(OutboxRow).where(OutboxRow.status == "failed"))
        lead = await session.scalar(select(Lead).where(Lead.email == "nobody@example.com"))
    assert failed is not None and "550" in (failed.last_error or "")
    assert lead is not None and lead.email_failed_at is not None
    clock.advance(timedelta(hours=5))
    assert await deliver(app) == 0  # never tried again
    await _login(client)
    listing = await client.get("/rep/handoffs")
    assert "メール不達" in listing.text
    detail = re.findall(r'href="(/rep/handoffs/\d+)"', listing.text)
    pages = [await client.get(link) for link in detail]
    bounced = [p for p in pages if "nobody@example.com" in p.text]
    assert bounced and "550 5.1.1 no such user" in bounced[0].text


async def test_a_worker_that_died_mid_send_is_taken_over(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer, clock: FixedClock
) -> None:
    """A row claimed by a worker that then died is sent by the next one after the lease;
    before that, nobody sends it twice."""
    await submit(client)
    worker = app.state.runtime.worker
    claimed = await worker._claim()
    assert len(claimed) == 1
    assert await deliver(app) == 0  # claimed by someone else: left alone
    clock.advance(worker.policy.lease + timedelta(seconds=1))
    assert await deliver(app) == 1
    assert len(smtp.recorder.received) == 1


async def _book_in_chat(
    client: httpx.AsyncClient, day_index: int = 0
) -> tuple[str, dict[str, str]]:
    started = await client.post(
        "/api/chat/conversations", json={"page": {"url": "https://example.com/"}}
    )
    cid = started.json()["conversation_id"]
    auth = {"Authorization": f"Bearer {started.json()['token']}"}
    url = f"/api/chat/conversations/{cid}/messages"
    await client.post(url, json={"choice": "within_1_month", "label": "1か月以内"}, headers=auth)
    offer = await client.post(
        url, json={"text": "夜間の問い合わせ対応が遅れています"}, headers=auth
    )
    slots = next(r for r in offer.json()["replies"] if r["kind"] == "slots")
    pick = slots["days"][day_index]["slots"][0]
    await client.post(url, json={"slot": pick["id"], "label": pick["label"]}, headers=auth)
    for text in ("山田太郎", "株式会社サンプル", "taro@example.com"):
        await client.post(url, json={"text": text}, headers=auth)
    return cid, auth


async def test_a_booking_sends_invites_and_a_cancel_withdraws_them(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer
) -> None:
    """The lead and the rep get METHOD:REQUEST with the right Tokyo times and one UID;
    cancelling sends METHOD:CANCEL with that UID and a higher SEQUENCE."""
    cid, _ = await _book_in_chat(client)
    await deliver(app)
    confirmed = smtp.recorder.by_subject("承りました") + smtp.recorder.by_subject("【予約】")
    to = {r.rcpt_tos[0]: r for r in confirmed}
    assert set(to) == {"taro@example.com", "demo-rep@example.com"}
    lead_copy = to["taro@example.com"]
    assert (
        lead_copy.message["Subject"]
        == "【サンプル株式会社】11月24日(火) 10:00からのお打ち合わせを承りました"
    )
    calendar = invite(lead_copy)
    assert calendar["METHOD"] == "REQUEST"
    [event] = calendar.walk("VEVENT")
    assert event.decoded("DTSTART") == tokyo(2026, 11, 24, 10, 0)
    assert event.decoded("DTSTART").tzinfo.key == "Asia/Tokyo"  # type: ignore[union-attr]
    assert event.decoded("DTEND") == tokyo(2026, 11, 24, 10, 30)
    assert str(event["ORGANIZER"]) == "mailto:demo-rep@example.com"
    assert str(event["ATTENDEE"]) == "mailto:taro@example.com"
    uid = str(event["UID"])
    assert str(invite(to["demo-rep@example.com"]).walk("VEVENT")[0]["UID"]) == uid
    attachments = [p.get_filename() for p in lead_copy.message.iter_attachments()]
    assert attachments == ["invite.ics"]
    cancel_path = path_of(body(lead_copy.message), "bookings/")
    page = await client.get(cancel_path)
    signature_value = re.search(r'name="s" value="([^"]+)"', page.text)
    assert signature_value
    done = await client.post(cancel_path.split("?")[0], data={"s": signature_value.group(1)})
    assert "キャンセルいたしました" in done.text
    await deliver(app)
    cancels = [r for r in smtp.recorder.received if "キャンセル" in str(r.message["Subject"])]
    assert {r.rcpt_tos[0] for r in cancels} == {"taro@example.com", "demo-rep@example.com"}
    for received in cancels:
        calendar = invite(received)
        [event] = calendar.walk("VEVENT")
        assert calendar["METHOD"] == "CANCEL" and str(event["UID"]) == uid
        assert int(event["SEQUENCE"]) == 1 and str(event["STATUS"]) == "CANCELLED"
    record = await app.state.runtime.service.handoff_record(cid)
    assert record["booking"] is None


async def test_the_pre_meeting_email_goes_the_business_day_before(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer, clock: FixedClock, rep: Any
) -> None:
    """A meeting on Wednesday gets its 0.5次商談 email on Tuesday at 17:00 (not before),
    built from what the lead said; the handoff shows when it went."""
    cid, _ = await _book_in_chat(client, day_index=1)  # 11/25 (Wed)
    await deliver(app)
    assert not smtp.recorder.by_subject("お打ち合わせに向けて")
    record = await app.state.runtime.service.handoff_record(cid)
    assert record["pre_meeting"]["scheduled_at"] == "2026-11-24T17:00:00+09:00"
    clock.set(tokyo(2026, 11, 24, 16, 59))
    await deliver(app)
    assert not smtp.recorder.by_subject("お打ち合わせに向けて")
    clock.set(tokyo(2026, 11, 24, 17, 0))
    await deliver(app)
    [pre] = smtp.recorder.by_subject("お打ち合わせに向けて")
    text = body(pre.message)
    assert pre.rcpt_tos == ["taro@example.com"]
    assert "お客様の言葉：「夜間の問い合わせ対応が遅れています」" in text
    assert "■ 当日のアジェンダ" in text and "当日は難しいこと" in text
    assert "■ 事前にお考えいただけると話が早いこと" in text
    assert pre.message["Date"].datetime == tokyo(2026, 11, 24, 17, 0)  # dated when it went
    record = await app.state.runtime.service.handoff_record(cid)
    assert record["pre_meeting"]["sent_at"] == "2026-11-24T17:00:00+09:00"
    await _login(client)
    listing = await client.get("/rep/handoffs")
    link = re.search(r'href="(/rep/handoffs/\d+)"', listing.text)
    assert link
    assert (
        "0.5次商談（事前のご案内メール）: 送信済み 11月24日(火) 17:00"
        in (await client.get(link.group(1))).text
    )


async def test_a_meeting_booked_for_the_next_morning_gets_its_note_right_away(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer
) -> None:
    """Saturday night, Tuesday 10:00 (Monday is a holiday): the business day before has
    already ended, so the pre-meeting email goes now."""
    await _book_in_chat(client, day_index=0)
    await deliver(app)
    assert smtp.recorder.by_subject("お打ち合わせに向けて")


async def test_without_an_smtp_server_mail_is_written_to_a_folder(
    migrated: str, clock: FixedClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The embedded default: .eml files that a mail client opens, and the log says where."""
    folder = tmp_path / "mail"
    settings = make_settings(database_url=migrated, mail_dir=folder, run_worker=False)
    application = create_app(settings, clock=clock, migrate=False)
    caplog.set_level("INFO")
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await submit(client)
        await application.state.runtime.worker.run_once()
    [file] = list(folder.glob("*.eml"))
    assert file.name == "20261121-141000-000001-form_reply.eml"  # queued at, in UTC
    assert str(folder) in caplog.text
    from email import message_from_bytes, policy

    message = message_from_bytes(file.read_bytes(), policy=policy.default)
    assert "資料のご請求ありがとうございます" in str(message["Subject"])


async def test_the_worker_inside_serve_delivers_within_seconds(
    migrated: str, smtp: MailServer
) -> None:
    """With the worker running (as in `autoreply serve`), a reply is on the mail server
    moments after the submission, without anyone polling for it."""
    from autoreply.clock import SystemClock

    # (no owner notice: it is sent only in business hours, and this counts the lead's mail)
    settings = _settings(migrated, smtp).model_copy(
        update={"run_worker": True, "notify_owner_email": False}
    )
    application = create_app(settings, clock=SystemClock(), migrate=False)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await submit(client)
            for _ in range(100):
                if smtp.recorder.received:
                    break
                await asyncio.sleep(0.05)
    assert len(smtp.recorder.received) == 1


def test_links_point_at_the_public_url(app: FastAPI) -> None:
    """Every link in a message lives under AUTOREPLY_PUBLIC_URL."""
    links = app.state.runtime.service.links
    url = links.continue_chat("abc", tokyo(2026, 11, 21, 23, 0))
    assert urlsplit(url).netloc == "127.0.0.1:8000"
    assert links.opened("continue", url.rsplit("/", 1)[1], tokyo(2026, 12, 5, 0, 0)) == "abc"
    assert links.opened("continue", url.rsplit("/", 1)[1], tokyo(2026, 12, 6, 0, 0)) is None
    assert links.opened("book", url.rsplit("/", 1)[1], tokyo(2026, 11, 22, 0, 0)) is None
