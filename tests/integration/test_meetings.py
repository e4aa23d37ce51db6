"""Booked meetings after the fact, end to end on SQLite and PostgreSQL with the real SMTP
server on loopback: the lead moves the meeting through the pages of the link in the
invite (the updated invite keeps the UID, SEQUENCE counts up), the rep marks it held or
no-show (not before it began), moves or cancels it, the morning reminder goes once at the
right time (FixedClock), and every step queues its CRM event.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from autoreply.clock import FixedClock
from autoreply.domain.booking import Slot
from autoreply.domain.crm_events import Webhook
from autoreply.service import reps
from autoreply.store.models import Booking, Conversation, OutboxRow, Rep, Timer
from autoreply.web.app import create_app
from tests.conftest import tokyo
from tests.integration.conftest import EMAIL, _csrf, _login
from tests.integration.test_email import _book_in_chat, _settings, body, deliver, invite
from tests.mailserver import MailServer, Received, mail_server

LEAD = "taro@example.com"
TUESDAY_10 = tokyo(2026, 11, 24, 10, 0)  # the first slot the chat offers (Monday is a holiday)


@pytest.fixture
def smtp() -> Iterator[MailServer]:
    with mail_server() as server:
        yield server


async def _app(
    migrated: str, clock: FixedClock, smtp: MailServer, **extra: Any
) -> AsyncIterator[FastAPI]:
    application = create_app(_settings(migrated, smtp, **extra), clock=clock, migrate=False)
    async with application.router.lifespan_context(application):
        runtime = application.state.runtime
        runtime.content.webhooks = (Webhook("crm", "http://127.0.0.1:9/hook", "s3cret"),)
        yield application


@pytest.fixture
async def app(migrated: str, clock: FixedClock, smtp: MailServer) -> AsyncIterator[FastAPI]:
    """The app sending through the loopback SMTP server, with a CRM webhook configured."""
    async for application in _app(migrated, clock, smtp):
        yield application


async def _bookings(app: FastAPI) -> list[Booking]:
    async with app.state.runtime.sessions() as session:
        return list(await session.scalars(select(Booking).order_by(Booking.id)))


async def _events(app: FastAPI) -> list[dict[str, Any]]:
    """The meeting events queued for the CRM, in order (lead and handoff events left out)."""
    async with app.state.runtime.sessions() as session:
        rows = await session.scalars(
            select(OutboxRow).where(OutboxRow.channel == "crm").order_by(OutboxRow.id)
        )
        events = [dict(r.payload["event"]) for r in rows]
    return [e for e in events if str(e["type"]).startswith("meeting.")]


async def _timers(app: FastAPI) -> list[Timer]:
    async with app.state.runtime.sessions() as session:
        kind = Timer.kind == "meeting_reminder"
        return list(await session.scalars(select(Timer).where(kind).order_by(Timer.id)))


def _link(received: Received, what: str) -> str:
    found = re.search(
        rf"https?://[^/\s]+(/bookings/[^\s\"<]*/{what}\?s=[0-9a-f]+)", body(received.message)
    )
    assert found, f"no {what} link in the message"
    return found.group(1)


def _slot_ids(html: str) -> list[str]:
    return re.findall(r'name="slot" value="([^"]+)"', html)


def _start(slot_id: str) -> datetime:
    return Slot.parse_id(slot_id, ZoneInfo("Asia/Tokyo"))[0]


def _the_invite(smtp: MailServer, to: str, subject: str) -> tuple[Received, Any]:
    [received] = [r for r in smtp.recorder.by_subject(subject) if r.rcpt_tos == [to]]
    calendar = invite(received)
    [event] = calendar.walk("VEVENT")
    return received, (calendar, event)


async def _run_timers(app: FastAPI) -> None:
    """Fire what is due now (the SLA's timers too: only the reminder's are looked at)."""
    while await app.state.runtime.scheduler.run_once():
        pass


async def _rep_of(app: FastAPI, booking: Booking) -> Rep:
    async with app.state.runtime.sessions() as session:
        rep = await session.get(Rep, booking.rep_id)
        assert rep is not None
        return rep


# -- the lead moves the meeting ------------------------------------------------------------


async def test_the_lead_moves_the_meeting_and_the_invite_updates(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer
) -> None:
    """The link in the confirmation opens the free slots; a pick moves the meeting: the
    old booking is `rescheduled`, the new one points at it, the lead and the rep get
    METHOD:REQUEST with the same UID, SEQUENCE 1 and the new DTSTART. Moving again (back to
    the first slot, free again) is SEQUENCE 2."""
    await _book_in_chat(client)
    await deliver(app)
    first, (_, original) = _the_invite(smtp, LEAD, "承りました")
    uid = str(original["UID"])
    assert int(original["SEQUENCE"]) == 0
    assert "日時の変更" in body(first.message)
    path = _link(first, "reschedule")

    page = await client.get(path)
    assert page.status_code == 200
    assert '現在のご予約：<strong class="when">11月24日(火) 10:00〜</strong>' in page.text
    offered = _slot_ids(page.text)
    assert offered and all(_start(s) != TUESDAY_10 for s in offered)
    target = next(s for s in offered if _start(s).date() != TUESDAY_10.date())
    signature = re.search(r'name="s" value="([^"]+)"', page.text)
    assert signature
    moved = await client.post(path.split("?")[0], data={"s": signature.group(1), "slot": target})
    assert moved.status_code == 200
    assert "変更いたしました" in moved.text

    old, new = await _bookings(app)
    assert (old.status, new.status) == ("rescheduled", "confirmed")
    assert new.rescheduled_from_id == old.id and new.sequence == 1
    assert new.start_at == _start(target) and new.rep_id == old.rep_id

    await deliver(app)
    rep = await _rep_of(app, new)
    for to in (LEAD, rep.email):
        subject = "変更いたしました" if to == LEAD else "【日程変更】"
        received, (calendar, event) = _the_invite(smtp, to, subject)
        assert calendar["METHOD"] == "REQUEST"
        assert str(event["UID"]) == uid
        assert int(event["SEQUENCE"]) == 1
        assert event.decoded("DTSTART") == _start(target)
    lead_copy, _ = _the_invite(smtp, LEAD, "変更いたしました")
    text = body(lead_copy.message)
    assert "（変更前：11月24日(火) 10:00）" in text
    assert not smtp.recorder.by_subject("キャンセル")  # a move is not a cancellation

    # The first slot is free again: the lead can move back to it.
    again = await client.post(
        path.split("?")[0],
        data={
            "s": signature.group(1),
            "slot": Slot(TUESDAY_10, TUESDAY_10 + timedelta(minutes=30), ()).id,
        },
    )
    assert again.status_code == 200 and "11月24日(火) 10:00" in again.text
    *_, newest = await _bookings(app)
    assert newest.start_at == TUESDAY_10 and newest.sequence == 2
    await deliver(app)
    received = [r for r in smtp.recorder.by_subject("変更いたしました") if r.rcpt_tos == [LEAD]]
    [event] = invite(received[-1]).walk("VEVENT")
    assert str(event["UID"]) == uid and int(event["SEQUENCE"]) == 2
    assert event.decoded("DTSTART") == TUESDAY_10

    # Cancelling the moved meeting cancels that UID with a higher SEQUENCE.
    cancel = await client.post(
        _link(lead_copy, "cancel").split("?")[0],
        data={"s": _link(lead_copy, "cancel").split("s=")[1]},
    )
    assert "キャンセルいたしました" in cancel.text
    await deliver(app)
    [cancelled] = [r for r in smtp.recorder.by_subject("キャンセル") if r.rcpt_tos == [LEAD]]
    calendar = invite(cancelled)
    [event] = calendar.walk("VEVENT")
    assert calendar["METHOD"] == "CANCEL" and str(event["UID"]) == uid
    assert int(event["SEQUENCE"]) == 3

    kinds = [(e["type"], e["data"]["meeting"]["sequence"]) for e in await _events(app)]
    assert ("meeting.booked", 0) in kinds
    assert kinds.count(("meeting.rescheduled", 1)) == 1
    assert ("meeting.rescheduled", 2) in kinds and ("meeting.cancelled", 3) in kinds
    moves = [e for e in await _events(app) if e["type"] == "meeting.rescheduled"]
    assert {e["data"]["meeting"]["uid"] for e in moves} == {uid}
    assert datetime.fromisoformat(moves[0]["data"]["meeting"]["previous_start"]) == TUESDAY_10


async def test_a_slot_taken_meanwhile_is_refused_politely(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer
) -> None:
    """Two leads, one rep: the first picks the slot the second just booked (a stale page);
    the answer is 409, a polite sentence and fresh slots, and nothing moved."""
    await _book_in_chat(client)
    await deliver(app)
    first, _ = _the_invite(smtp, LEAD, "承りました")
    path = _link(first, "reschedule")
    page = await client.get(path)
    stale = next(s for s in _slot_ids(page.text) if _start(s).date() != TUESDAY_10.date())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        started = await other.post(
            "/api/chat/conversations", json={"page": {"url": "https://example.com/"}}
        )
        cid = started.json()["conversation_id"]
        auth = {"Authorization": f"Bearer {started.json()['token']}"}
        url = f"/api/chat/conversations/{cid}/messages"
        await other.post(url, json={"choice": "within_1_month", "label": "1か月以内"}, headers=auth)
        await other.post(url, json={"text": "問い合わせ対応"}, headers=auth)
        await other.post(url, json={"slot": stale, "label": "x"}, headers=auth)
        for text in ("鈴木一郎", "株式会社ベータ", "ichiro@example.com"):
            await other.post(url, json={"text": text}, headers=auth)
    assert sum(b.status == "confirmed" for b in await _bookings(app)) == 2

    signature = path.split("s=")[1]
    refused = await client.post(path.split("?")[0], data={"s": signature, "slot": stale})
    assert refused.status_code == 409
    assert "ちょうど埋まってしまいました" in refused.text
    assert stale not in _slot_ids(refused.text) and _slot_ids(refused.text)
    mine = [b for b in await _bookings(app) if b.lead_id == (await _bookings(app))[0].lead_id]
    assert [(b.status, b.start_at) for b in mine] == [("confirmed", TUESDAY_10)]


async def test_bad_links_get_a_human_page(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer, clock: FixedClock
) -> None:
    """A forged signature, another conversation's, an unknown conversation, a cancelled
    meeting and one that began: each a page that says what to do, never a 500."""
    cid, _ = await _book_in_chat(client)
    await deliver(app)
    first, _ = _the_invite(smtp, LEAD, "承りました")
    path = _link(first, "reschedule")
    forged = await client.get(f"/bookings/{cid}/reschedule?s=0123456789abcdef0123456789abcdef")
    assert forged.status_code == 404 and "このリンクは無効です" in forged.text
    unsigned = await client.get(f"/bookings/{cid}/reschedule")
    assert unsigned.status_code == 404 and "このリンクは無効です" in unsigned.text
    foreign = await client.post(
        "/bookings/nobody/reschedule", data={"s": path.split("s=")[1], "slot": "x"}
    )
    assert foreign.status_code == 404 and "このリンクは無効です" in foreign.text
    tampered = await client.post(path.split("?")[0], data={"s": path.split("s=")[1], "slot": "x"})
    assert tampered.status_code == 409 and "ちょうど埋まって" in tampered.text

    clock.set(tokyo(2026, 11, 24, 10, 1))
    started = await client.get(path)
    assert started.status_code == 200 and "開始時刻を過ぎている" in started.text
    assert not _slot_ids(started.text)
    clock.set(tokyo(2026, 11, 22, 9, 0))
    await app.state.runtime.bookings.cancel_booking(cid)
    gone = await client.get(path)
    assert "変更できるお打ち合わせのご予約がございません" in gone.text


async def _book_as(client: httpx.AsyncClient, email: str, day_index: int = 0) -> str:
    """Another lead (another address) books the first slot of a day in the chat."""
    started = await client.post(
        "/api/chat/conversations", json={"page": {"url": "https://example.com/"}}
    )
    cid = str(started.json()["conversation_id"])
    auth = {"Authorization": f"Bearer {started.json()['token']}"}
    url = f"/api/chat/conversations/{cid}/messages"
    await client.post(url, json={"choice": "within_1_month", "label": "1か月以内"}, headers=auth)
    offer = await client.post(url, json={"text": "問い合わせ対応"}, headers=auth)
    slots = next(r for r in offer.json()["replies"] if r["kind"] == "slots")
    pick = slots["days"][day_index]["slots"][0]
    await client.post(url, json={"slot": pick["id"], "label": pick["label"]}, headers=auth)
    for text in ("鈴木一郎", "株式会社ベータ", email):
        await client.post(url, json={"text": text}, headers=auth)
    return cid


# -- the rep marks, moves, cancels -----------------------------------------------------------


async def test_the_rep_marks_held_only_once_the_meeting_began(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer, clock: FixedClock, rep: Rep
) -> None:
    """The handoff page's meeting block: before the start there is no 実施 button and a
    post is refused with the reason (409); from the start on it records held, when and by
    whom, and the CRM gets meeting.held."""
    await _book_in_chat(client)
    [booking] = await _bookings(app)
    await _login(client)
    listing = await client.get("/rep/handoffs")
    handoff = re.search(r'href="(/rep/handoffs/\d+)"', listing.text)
    assert handoff
    page = await client.get(handoff.group(1))
    assert (
        'id="meeting"' in page.text
        and "予約済み（結果は開始時刻を過ぎてから記録できます）" in page.text
    )
    assert "実施済みにする" not in page.text
    csrf = _csrf(page.text)
    early = await client.post(
        f"/rep/bookings/{booking.id}/outcome", data={"outcome": "held", "csrf_token": csrf}
    )
    assert early.status_code == 409 and "まだ開始時刻になっていません" in early.text
    assert (await _bookings(app))[0].outcome is None

    clock.set(tokyo(2026, 11, 24, 10, 5))
    await _login(client)  # a rep session does not last from Saturday night to Tuesday
    page = await client.get(handoff.group(1))
    csrf = _csrf(page.text)
    assert "実施済みにする" in page.text and "商談の結果を記録してください" in page.text
    done = await client.post(
        f"/rep/bookings/{booking.id}/outcome", data={"outcome": "held", "csrf_token": csrf}
    )
    assert done.status_code == 303 and done.headers["location"].startswith(handoff.group(1))
    [marked] = await _bookings(app)
    assert (marked.outcome, marked.outcome_at, marked.outcome_by) == (
        "held",
        tokyo(2026, 11, 24, 10, 5),
        rep.id,
    )
    page = await client.get(handoff.group(1))
    assert "実施済み" in page.text and f"{rep.name}が記録" in page.text
    [held] = [e for e in await _events(app) if e["type"] == "meeting.held"]
    assert held["data"]["meeting"]["outcome"] == "held"
    assert held["data"]["handoff_id"] == int(handoff.group(1).rsplit("/", 1)[1])
    forged = await client.post(
        f"/rep/bookings/{booking.id}/outcome", data={"outcome": "held", "csrf_token": "x"}
    )
    assert forged.status_code == 403


async def test_the_api_marks_no_show_moves_and_cancels(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer, clock: FixedClock, rep: Rep
) -> None:
    """JSON: 409 with a reason before the start, no_show after it; a rep moves a meeting
    to one of its free slots (updated invite) and cancels it (the lead and the rep get
    the cancellation)."""
    await _book_in_chat(client)
    [booking] = await _bookings(app)
    async with app.state.runtime.sessions() as session, session.begin():
        auth = {"Authorization": f"Bearer {await reps.issue_token(session, EMAIL)}"}
    url = f"/api/rep/bookings/{booking.id}"
    early = await client.post(f"{url}/outcome", json={"outcome": "no_show"}, headers=auth)
    assert early.status_code == 409 and "has not started" in early.json()["detail"]
    wrong = await client.post(f"{url}/outcome", json={"outcome": "maybe"}, headers=auth)
    assert wrong.status_code == 422
    assert (await client.post(f"{url}/outcome", json={"outcome": "held"})).status_code == 401
    missing = await client.post(
        "/api/rep/bookings/999999/outcome", json={"outcome": "held"}, headers=auth
    )
    assert missing.status_code == 404

    slots = await client.get(f"{url}/slots", headers=auth)
    assert slots.status_code == 200 and slots.json()
    target = next(s["id"] for s in slots.json() if _start(s["id"]).date() != TUESDAY_10.date())
    moved = await client.post(f"{url}/reschedule", json={"slot": target}, headers=auth)
    assert moved.status_code == 200
    assert moved.json()["rescheduled_from_id"] == booking.id and moved.json()["sequence"] == 1
    stale = await client.post(f"{url}/reschedule", json={"slot": target}, headers=auth)
    assert stale.status_code == 409  # the old booking is no longer the meeting
    new_id = moved.json()["id"]
    await deliver(app)
    assert smtp.recorder.by_subject("変更いたしました")

    clock.set(_start(target) + timedelta(minutes=20))
    no_show = await client.post(
        f"/api/rep/bookings/{new_id}/outcome", json={"outcome": "no_show"}, headers=auth
    )
    assert no_show.status_code == 200 and no_show.json()["outcome"] == "no_show"
    assert no_show.json()["outcome_by"] == rep.id
    types = [e["type"] for e in await _events(app)]
    assert types.count("meeting.no_show") == 1 and "meeting.rescheduled" in types

    # After a no-show the rep books a new date, then calls it off.
    later = await client.get(f"/api/rep/bookings/{new_id}/slots", headers=auth)
    again = await client.post(
        f"/api/rep/bookings/{new_id}/reschedule", json={"slot": later.json()[0]["id"]}, headers=auth
    )
    assert again.status_code == 200 and again.json()["sequence"] == 2
    cancelled = await client.post(f"/api/rep/bookings/{again.json()['id']}/cancel", headers=auth)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    await deliver(app)
    cancels = [r for r in smtp.recorder.received if "キャンセル" in str(r.message["Subject"])]
    assert LEAD in {r.rcpt_tos[0] for r in cancels} and len(cancels) == 2
    record = await app.state.runtime.service.handoff_record(await _conversation_id(app))
    assert record is not None and record["booking"] is None
    twice = await client.post(f"/api/rep/bookings/{again.json()['id']}/cancel", headers=auth)
    assert twice.status_code == 409


async def _conversation_id(app: FastAPI) -> str:
    async with app.state.runtime.sessions() as session:
        found = await session.scalar(select(Conversation.public_id).limit(1))
        assert found is not None
        return str(found)


async def test_the_rep_moves_the_meeting_on_the_rep_pages(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer, rep: Rep
) -> None:
    """日程を変更する: the rep's free slots; a pick moves it and returns to the handoff,
    which shows the move."""
    await _book_in_chat(client)
    [booking] = await _bookings(app)
    await _login(client)
    page = await client.get(f"/rep/bookings/{booking.id}/reschedule")
    assert page.status_code == 200 and "商談の日程変更" in page.text
    target = next(s for s in _slot_ids(page.text) if _start(s).date() != TUESDAY_10.date())
    moved = await client.post(
        f"/rep/bookings/{booking.id}/reschedule",
        data={"slot": target, "csrf_token": _csrf(page.text)},
    )
    assert moved.status_code == 303
    handoff = await client.get(moved.headers["location"])
    assert "日程変更 1回" in handoff.text and "変更前: <s>11月24日(火) 10:00</s>" in handoff.text
    again = await client.post(
        f"/rep/bookings/{booking.id}/reschedule",
        data={"slot": target, "csrf_token": _csrf(page.text)},
    )
    assert again.status_code == 409 and "別の日時に変更されています" in again.text


# -- the morning reminder --------------------------------------------------------------------


async def test_the_reminder_goes_once_at_eight_on_the_day(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer, clock: FixedClock
) -> None:
    """A Tuesday 10:00 meeting: a timer for Tuesday 08:00; nothing at 07:59, one email at
    08:00 (the time, how it will come, the reschedule and cancel links), never a second."""
    await _book_in_chat(client)
    [timer] = await _timers(app)
    assert timer.due_at == tokyo(2026, 11, 24, 8, 0) and timer.status == "pending"
    clock.set(tokyo(2026, 11, 24, 7, 59))
    await _run_timers(app)
    await deliver(app)
    assert not smtp.recorder.by_subject("本日10:00")
    assert [t.status for t in await _timers(app)] == ["pending"]
    clock.set(tokyo(2026, 11, 24, 8, 0))
    await _run_timers(app)
    assert [t.status for t in await _timers(app)] == ["done"]
    await deliver(app)
    [reminder] = smtp.recorder.by_subject("本日10:00からのお打ち合わせのご案内")
    assert reminder.rcpt_tos == [LEAD]
    text = body(reminder.message)
    assert "日時：11月24日(火) 10:00〜（30分）" in text
    assert "オンライン会議のURLをお送りいたします" in text  # no AUTOREPLY_MEETING_URL set
    assert "/reschedule?s=" in text and "/cancel?s=" in text
    assert not [p for p in reminder.message.walk() if p.get_content_type() == "text/calendar"]
    clock.set(tokyo(2026, 11, 24, 9, 0))
    await _run_timers(app)
    await deliver(app)
    assert len(smtp.recorder.by_subject("本日10:00")) == 1


async def test_no_reminder_after_a_cancel_and_it_moves_with_the_meeting(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer, clock: FixedClock
) -> None:
    """Moved to Wednesday: Tuesday's timer is called off and Wednesday 08:00 gets one;
    cancelled: none goes at all."""
    cid, _ = await _book_in_chat(client)
    await deliver(app)
    first, _ = _the_invite(smtp, LEAD, "承りました")
    path = _link(first, "reschedule")
    page = await client.get(path)
    wednesday = next(s for s in _slot_ids(page.text) if _start(s).day == 25)
    await client.post(path.split("?")[0], data={"s": path.split("s=")[1], "slot": wednesday})
    old, new = await _timers(app)
    assert old.status == "cancelled"
    assert (new.status, new.due_at) == ("pending", tokyo(2026, 11, 25, 8, 0))
    clock.set(tokyo(2026, 11, 24, 8, 0))
    await _run_timers(app)
    await deliver(app)
    assert not smtp.recorder.by_subject("からのお打ち合わせのご案内")
    clock.set(tokyo(2026, 11, 25, 8, 0))
    await _run_timers(app)
    await deliver(app)
    [reminder] = smtp.recorder.by_subject("からのお打ち合わせのご案内")
    assert f"日時：11月25日(水) {_start(wednesday):%-H:%M}〜" in body(reminder.message)

    clock.set(tokyo(2026, 11, 25, 8, 1))
    await app.state.runtime.bookings.cancel_booking(cid)
    assert all(t.status != "pending" for t in await _timers(app))


async def test_a_cancelled_meeting_gets_no_reminder(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer, clock: FixedClock
) -> None:
    cid, _ = await _book_in_chat(client)
    await app.state.runtime.bookings.cancel_booking(cid)
    [timer] = await _timers(app)
    assert timer.status == "cancelled"
    clock.set(tokyo(2026, 11, 24, 8, 0))
    await _run_timers(app)
    await deliver(app)
    assert not smtp.recorder.by_subject("本日")


async def test_no_reminder_when_the_setting_is_empty(
    migrated: str, clock: FixedClock, smtp: MailServer
) -> None:
    async for application in _app(migrated, clock, smtp, meeting_reminder_time=""):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            await _book_in_chat(c)
        assert not await _timers(application)
        clock.set(tokyo(2026, 11, 24, 8, 0))
        await _run_timers(application)
        await deliver(application)
        assert not smtp.recorder.by_subject("本日")
        assert smtp.recorder.by_subject("承りました")  # the rest of the mail still goes


async def test_an_english_lead_gets_the_reminder_and_the_page_in_english(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer, clock: FixedClock
) -> None:
    started = await client.post(
        "/api/chat/conversations",
        json={"flow": "demo-en", "page": {"url": "https://example.com/en"}},
    )
    cid = started.json()["conversation_id"]
    auth = {"Authorization": f"Bearer {started.json()['token']}"}
    url = f"/api/chat/conversations/{cid}/messages"
    await client.post(url, json={"choice": "within_1_month"}, headers=auth)
    offer = await client.post(
        url, json={"text": "Night-time enquiries wait too long"}, headers=auth
    )
    slots = next(r for r in offer.json()["replies"] if r["kind"] == "slots")
    pick = slots["days"][0]["slots"][0]
    await client.post(url, json={"slot": pick["id"], "label": pick["label"]}, headers=auth)
    for text in ("Jane Smith", "Acme Ltd", "jane@example.com"):
        await client.post(url, json={"text": text}, headers=auth)
    clock.set(tokyo(2026, 11, 24, 8, 0))
    await _run_timers(app)
    await deliver(app)
    [reminder] = smtp.recorder.by_subject("Reminder: our meeting today at 10:00")
    assert reminder.rcpt_tos == ["jane@example.com"]
    text = body(reminder.message)
    assert "Dear Jane Smith," in text and "pick another time here:" in text
    page = await client.get(_link(reminder, "reschedule"))
    assert page.status_code == 200 and "Change the meeting time" in page.text
    assert "Booked now:" in page.text


async def test_two_leads_moving_to_one_slot_at_once_make_one_meeting(
    client: httpx.AsyncClient, app: FastAPI, smtp: MailServer
) -> None:
    """Both pick the same free slot of their (one) rep at the same moment: one moves, the
    other is told the slot was just taken, and the rep has one meeting there."""
    first, _ = await _book_in_chat(client, day_index=0)
    second = await _book_as(client, "ichiro@example.com", day_index=1)
    links = app.state.runtime.service.links
    page = await client.get(links.reschedule(first).split("testserver", 1)[-1])
    target = next(s for s in _slot_ids(page.text) if _start(s).day == 26)

    async def move(cid: str) -> httpx.Response:
        signature = links.reschedule(cid).rsplit("s=", 1)[1]
        return await client.post(
            f"/bookings/{cid}/reschedule", data={"s": signature, "slot": target}
        )

    answers = await asyncio.gather(move(first), move(second))
    assert sorted(a.status_code for a in answers) == [200, 409]
    assert "ちょうど埋まってしまいました" in next(a.text for a in answers if a.status_code == 409)
    confirmed = [b for b in await _bookings(app) if b.status == "confirmed"]
    assert sum(b.start_at == _start(target) for b in confirmed) == 1
    assert len(confirmed) == 2  # the loser keeps the meeting it had
