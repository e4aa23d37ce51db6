"""Follow-ups through the whole app on both databases (FixedClock): the cadence's tasks at
the first contact in business time, cancelled when the lead books, the due timer's event
once, the overdue list's order and scope, the 0.5次商談 record, and tier aging."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from autoreply.clock import FixedClock
from autoreply.domain.crm_events import Webhook
from autoreply.store import repos
from autoreply.store.models import Conversation, FollowUp, HandoffRow, OutboxRow, Timer
from autoreply.web.app import create_app
from tests.conftest import make_settings, tokyo
from tests.integration.conftest import PASSWORD, _csrf
from tests.integration.test_sla import World, api_token, chat, page_text, steps_text, write_routing

ONE_TEAM = """\
routing:
  teams:
    - id: inside
      name: インサイドセールス
      members: [ito@example.com]
"""
TWO = """\
routing:
  teams:
    - id: inside
      name: インサイドセールス
      members: [ito@example.com, kato@example.com]
"""


@asynccontextmanager
async def running(
    url: str, clock: FixedClock, folder: Path, routing: str = ONE_TEAM, **settings_: object
) -> AsyncIterator[World]:
    """The app with a routing file of the test's own, CRM events queued to one webhook;
    timers and the outbox are run by hand."""
    settings = make_settings(
        database_url=url, routing=write_routing(folder, routing), run_worker=False, **settings_
    )
    app = create_app(settings, clock=clock, migrate=False)
    async with app.router.lifespan_context(app):
        app.state.runtime.content.webhooks = (Webhook("crm", "http://127.0.0.1:9/hook", "secret"),)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as web:
            yield World(app, web)


async def fire(world: World) -> int:
    """Fire every due timer (not the outbox: CRM rows are read where they were queued)."""
    total = 0
    while count := await world.runtime.scheduler.run_once():
        total += count
    return total


async def tasks_of(world: World, handoff_id: int) -> list[FollowUp]:
    async with world.runtime.sessions() as session:
        return list(
            await session.scalars(
                select(FollowUp).where(FollowUp.handoff_id == handoff_id).order_by(FollowUp.id)
            )
        )


async def crm_events(world: World, kind: str) -> list[OutboxRow]:
    async with world.runtime.sessions() as session:
        return list(
            await session.scalars(
                select(OutboxRow)
                .where(OutboxRow.channel == "crm", OutboxRow.kind == kind)
                .order_by(OutboxRow.id)
            )
        )


async def contacted_lead(world: World, clock: FixedClock, at: datetime) -> HandoffRow:
    """A lead chats at ``at`` (no meeting booked) and its owner marks it contacted then."""
    clock.set(at)
    cid = await chat(world, book=False)
    row = await world.handoff(cid)
    headers = await api_token(world, "ito@example.com")
    done = await world.web.post(f"/api/rep/handoffs/{row.id}/contacted", headers=headers)
    assert done.status_code == 200, done.text
    return await world.reload(row)


def local(task: FollowUp) -> tuple[str, str]:
    due = task.due_at.astimezone(tokyo(2026, 1, 1, 0, 0).tzinfo)
    return task.kind, due.strftime("%m-%d %H:%M")


# -- tasks at the first contact --------------------------------------------------------------

HOURS = """\
cadence:
  rules:
    - id: quick
      tiers: [A, B]
      tasks:
        - kind: send_material
          after: 2h
        - kind: second_call
          after: 1d
"""
#: (first contact, a cadence file of the test's own (None: the shipped one), the tasks of
#: the Tier B lead: kind and local due)
DUES: dict[str, tuple[tuple[int, int, int, int, int], str | None, list[tuple[str, str]]]] = {
    # Friday 16:30: 1 business day is Monday, 3 Wednesday, 10 the Friday after next.
    "friday-afternoon": (
        (2026, 12, 4, 16, 30),
        None,
        [
            ("reminder_mail", "12-07 16:30"),
            ("second_call", "12-09 16:30"),
            ("follow_call", "12-18 16:30"),
        ],
    ),
    # Friday before 海の日 (Monday 7/20): the next business day is Tuesday.
    "before-umi-no-hi": (
        (2026, 7, 17, 11, 0),
        None,
        [
            ("reminder_mail", "07-21 11:00"),
            ("second_call", "07-23 11:00"),
            ("follow_call", "08-03 11:00"),
        ],
    ),
    # Business hours: 1.5 h left on Friday (to 18:00), the other half hour on Monday.
    "hours-over-the-weekend": (
        (2026, 12, 4, 16, 30),
        HOURS,
        [("send_material", "12-07 09:30"), ("second_call", "12-07 16:30")],
    ),
    # 11:00 + 2 business hours skips the lunch break (12:00-13:00).
    "hours-over-lunch": (
        (2026, 12, 2, 11, 0),
        HOURS,
        [("send_material", "12-02 14:00"), ("second_call", "12-03 11:00")],
    ),
}


@pytest.mark.parametrize("case", list(DUES))
async def test_first_contact_plans_the_tasks_in_business_time(
    case: str, migrated: str, tmp_path: Path
) -> None:
    """A Tier B lead contacted gets the tasks of its rule (リマインドメール, 二次架電 within
    three business days, a フォローコール), due in business time across weekends, the
    holiday and the lunch break, owned by its owner, each with its timer."""
    moment, cadence, expected = DUES[case]
    clock = FixedClock(tokyo(*moment))
    extra = {}
    if cadence is not None:
        (tmp_path / "cadence.yaml").write_text(cadence, encoding="utf-8")
        extra["cadence"] = tmp_path / "cadence.yaml"
    async with running(migrated, clock, tmp_path, **extra) as world:
        ito = await world.rep("伊藤", "ito@example.com", password=PASSWORD)
        row = await contacted_lead(world, clock, tokyo(*moment))
        assert row.tier == "B"
        tasks = await tasks_of(world, row.id)
        assert [local(t) for t in tasks] == expected
        assert {t.owner_id for t in tasks} == {ito.id}
        assert {t.rule for t in tasks} == {"tier-b" if cadence is None else "quick"}
        async with world.runtime.sessions() as session:
            timers = await session.scalars(select(Timer).where(Timer.kind == "followup_due"))
            assert sorted(t.due_at for t in timers) == sorted(t.due_at for t in tasks)
        # A second click on 「対応済み」 keeps the first contact and makes no more tasks.
        headers = await api_token(world, "ito@example.com")
        await world.web.post(f"/api/rep/handoffs/{row.id}/contacted", headers=headers)
        assert len(await tasks_of(world, row.id)) == len(expected)


async def test_a_tier_without_a_rule_gets_no_tasks(migrated: str, tmp_path: Path) -> None:
    """A tier no rule names gets no task at its first contact."""
    (tmp_path / "cadence.yaml").write_text(HOURS.replace("[A, B]", "[A]"), encoding="utf-8")
    clock = FixedClock(tokyo(2026, 12, 2, 11, 0))
    async with running(migrated, clock, tmp_path, cadence=tmp_path / "cadence.yaml") as world:
        await world.rep("伊藤", "ito@example.com", password=PASSWORD)
        row = await contacted_lead(world, clock, clock.now())
        assert row.tier == "B" and await tasks_of(world, row.id) == []


async def test_a_booking_cancels_the_open_cadence_tasks(migrated: str, tmp_path: Path) -> None:
    """The lead books a meeting from the booking page after the first call: the open
    tasks the cadence made are called off (their timers too) and the handoff says why; a
    task added by hand stays."""
    clock = FixedClock(tokyo(2026, 12, 2, 10, 0))
    async with running(migrated, clock, tmp_path) as world:
        await world.rep("伊藤", "ito@example.com", password=PASSWORD)
        row = await contacted_lead(world, clock, clock.now())
        headers = await api_token(world, "ito@example.com")
        added = await world.web.post(
            f"/api/rep/handoffs/{row.id}/followups",
            json={"kind": "follow_call", "due_at": "2026-12-09T10:00:00+09:00", "note": "念のため"},
            headers=headers,
        )
        assert added.status_code == 201, added.text
        async with world.runtime.sessions() as session:
            conversation = await session.get(Conversation, row.conversation_id)
            assert conversation is not None
            public = conversation.public_id
        page = await world.runtime.bookings.booking_page(public)
        slot = page.days[0].slots[0]
        assert await world.runtime.bookings.book(public, slot.id) == "booked"
        tasks = await tasks_of(world, row.id)
        assert [(t.kind, t.status) for t in tasks] == [
            ("reminder_mail", "cancelled"),
            ("second_call", "cancelled"),
            ("follow_call", "cancelled"),
            ("follow_call", "open"),
        ]
        async with world.runtime.sessions() as session:
            pending = await session.scalars(
                select(Timer.key).where(Timer.kind == "followup_due", Timer.status == "pending")
            )
            assert list(pending) == [f"followup:{tasks[3].id}"]
        await world.login("ito@example.com")
        text = steps_text((await world.web.get(f"/rep/handoffs/{row.id}")).text)
        assert "フォローアップを取り消し 3件（商談予約のため）" in text


async def test_a_due_task_emits_followup_due_once(migrated: str, tmp_path: Path) -> None:
    """At its due moment a task queues one followup.due event (with its kind as people
    read it and its owner) and a step on the handoff; firing again adds nothing."""
    clock = FixedClock(tokyo(2026, 12, 2, 10, 0))
    async with running(migrated, clock, tmp_path) as world:
        await world.rep("伊藤", "ito@example.com", password=PASSWORD)
        row = await contacted_lead(world, clock, clock.now())
        await fire(world)
        assert await crm_events(world, "followup.due") == []
        clock.set(tokyo(2026, 12, 7, 10, 1))  # リマインドメール (12/3 10:00), 二次架電 (12/7 10:00)
        await fire(world)
        due = await crm_events(world, "followup.due")
        tasks = [e.payload["event"]["data"]["task"] for e in due]
        assert [(t["kind"], t["label"], t["owner"]["email"]) for t in tasks] == [
            ("reminder_mail", "リマインドメール", "ito@example.com"),
            ("second_call", "二次架電", "ito@example.com"),
        ]
        assert {e.payload["event"]["data"]["handoff_id"] for e in due} == {row.id}
        await fire(world)
        clock.set(tokyo(2026, 12, 7, 11, 0))
        await fire(world)
        assert len(await crm_events(world, "followup.due")) == 2
        kinds = [e.kind for e in await world.events(row.id)]
        assert kinds.count("followup_due") == 2


# -- the overdue list ------------------------------------------------------------------------


async def test_the_list_puts_overdue_first_and_shows_reps_their_own(
    migrated: str, tmp_path: Path
) -> None:
    """Overdue, then due today, then later; a rep sees their own tasks, a manager
    everyone's when asking; the page reads labels, not codes."""
    clock = FixedClock(tokyo(2026, 12, 1, 10, 0))
    async with running(migrated, clock, tmp_path, TWO) as world:
        await world.rep("伊藤", "ito@example.com", password=PASSWORD)
        kato = await world.rep("加藤", "kato@example.com", password=PASSWORD)
        await world.rep("部長", "boss@example.com", password=PASSWORD, role="manager")
        first = await contacted_lead(world, clock, clock.now())  # round robin: 伊藤
        clock.set(tokyo(2026, 12, 1, 10, 5))
        cid = await chat(world, book=False)  # 加藤
        second = await world.handoff(cid)
        assert second.owner_id == kato.id
        headers = await api_token(world, "kato@example.com")
        await world.web.post(f"/api/rep/handoffs/{second.id}/contacted", headers=headers)
        clock.set(
            tokyo(2026, 12, 4, 9, 0)
        )  # リマインドメール overdue, 二次架電 today, the call later
        await world.login("ito@example.com")
        page = await world.web.get("/rep/followups")
        assert page.status_code == 200
        text = page_text(page.text)
        assert "期限超過 1件" in text and "今日が期限 1件" in text and "今後 1件" in text
        assert text.index("期限超過") < text.index("今日が期限") < text.index("今後")
        assert "リマインドメール" in text and "二次架電" in text and "reminder_mail" not in text
        mine = (
            await world.web.get(
                "/api/rep/followups", headers=await api_token(world, "ito@example.com")
            )
        ).json()
        assert {t["handoff_id"] for t in mine} == {first.id}
        assert [t["bucket"] for t in mine] == ["overdue", "today", "later"]
        assert [t["due_at"] for t in mine] == sorted(t["due_at"] for t in mine)
        # 加藤 is a rep: who=all still shows only theirs.
        theirs = (await world.web.get("/api/rep/followups?who=all", headers=headers)).json()
        assert {t["handoff_id"] for t in theirs} == {second.id}
        boss = await api_token(world, "boss@example.com")
        everyone = (await world.web.get("/api/rep/followups?who=all", headers=boss)).json()
        assert {t["handoff_id"] for t in everyone} == {first.id, second.id}
        assert [t["due_at"] for t in everyone] == sorted(t["due_at"] for t in everyone)
        # Done from the list, with a note: it leaves the list and shows on the handoff.
        page = await world.web.get("/rep/followups")
        task_id = mine[0]["id"]
        done = await world.web.post(
            f"/rep/followups/{task_id}/done",
            data={"note": "資料をお送りしました", "csrf_token": _csrf(page.text)},
        )
        assert done.status_code == 303
        left = (
            await world.web.get(
                "/api/rep/followups", headers=await api_token(world, "ito@example.com")
            )
        ).json()
        assert task_id not in {t["id"] for t in left}
        handoff = page_text((await world.web.get(f"/rep/handoffs/{first.id}")).text)
        assert "資料をお送りしました" in handoff and "完了" in handoff


# -- the 0.5次商談 --------------------------------------------------------------------------


async def test_the_qualification_is_recorded_shown_and_emitted_per_revision(
    migrated: str, tmp_path: Path
) -> None:
    """The form starts from what the bot learnt; recording it shows 「0.5次商談完了」 on the
    handoff and in the JSON API, emits qualification.done, a revision emits again, and a
    次アクション with a date becomes a task."""
    clock = FixedClock(tokyo(2026, 12, 2, 10, 0))
    async with running(migrated, clock, tmp_path) as world:
        await world.rep("伊藤", "ito@example.com", password=PASSWORD)
        row = await contacted_lead(world, clock, clock.now())
        await world.login("ito@example.com")
        page = await world.web.get(f"/rep/handoffs/{row.id}")
        assert "夜間の問い合わせ対応が遅れています</textarea>" in page.text
        assert "1か月以内" in page.text
        form = {
            "challenge": "夜間の問い合わせ対応が遅れています",
            "decision_maker": "情報システム部 部長",
            "timeline": "3か月以内",
            "budget": "予算確保済み",
            "concerns": "既存の CRM との連携",
            "next_action": "見積提示",
            "next_action_due": "2026-12-07",
            "qualified": "yes",
            "note": "",
            "csrf_token": _csrf(page.text),
        }
        saved = await world.web.post(f"/rep/handoffs/{row.id}/qualification", data=form)
        assert saved.status_code == 303
        text = page_text((await world.web.get(f"/rep/handoffs/{row.id}")).text)
        assert "0.5次商談完了" in text and "情報システム部 部長" in text and "商談化する" in text
        headers = await api_token(world, "ito@example.com")
        detail = (await world.web.get(f"/api/rep/handoffs/{row.id}", headers=headers)).json()
        assert detail["qualification"]["budget"] == "予算確保済み"
        assert detail["qualified"] is True and detail["qualified_at"]
        next_action = [t for t in detail["follow_ups"] if t["kind"] == "next_action"]
        assert [t["due_at"] for t in next_action] == ["2026-12-07T00:00:00Z"]  # 9:00 JST
        events = await crm_events(world, "qualification.done")
        assert len(events) == 1
        data = events[0].payload["event"]["data"]
        assert data["qualification"]["decision_maker"] == "情報システム部 部長"
        assert data["by"]["email"] == "ito@example.com"
        # Again through the JSON API: replaced, a new event, the first time kept.
        clock.set(tokyo(2026, 12, 3, 10, 0))
        again = await world.web.post(
            f"/api/rep/handoffs/{row.id}/qualification",
            json={
                "budget": "予算未定",
                "qualified": False,
                "next_action": "見積提示",
                "next_action_due": "2026-12-08",
            },
            headers=headers,
        )
        assert again.status_code == 200, again.text
        assert again.json()["qualification"]["budget"] == "予算未定"
        assert again.json()["qualified_at"].startswith("2026-12-02")
        events = await crm_events(world, "qualification.done")
        assert (
            len(events) == 2
            and events[0].payload["event"]["id"] != events[1].payload["event"]["id"]
        )
        detail = (await world.web.get(f"/api/rep/handoffs/{row.id}", headers=headers)).json()
        states = sorted(
            (t["due_at"], t["status"]) for t in detail["follow_ups"] if t["kind"] == "next_action"
        )
        assert states == [("2026-12-07T00:00:00Z", "cancelled"), ("2026-12-08T00:00:00Z", "open")]
        bad = await world.web.post(
            f"/api/rep/handoffs/{row.id}/qualification", json={"budget": "x" * 201}, headers=headers
        )
        assert bad.status_code == 422


# -- aging -----------------------------------------------------------------------------------


async def test_a_silent_tier_b_lead_falls_to_c_after_30_days_and_not_before(
    migrated: str, tmp_path: Path
) -> None:
    """The daily run leaves a Tier B lead alone 29 days after its last message and moves it
    to C after 30, with a step saying why on the handoff; one run a day (one timer per day
    key), the next one always set."""
    clock = FixedClock(tokyo(2026, 12, 1, 10, 0))
    async with running(migrated, clock, tmp_path) as world:
        await world.rep("伊藤", "ito@example.com", password=PASSWORD)
        row = await contacted_lead(world, clock, clock.now())
        clock.set(tokyo(2026, 12, 29, 9, 0))  # the first run (12/2 06:00) is long overdue
        await fire(world)
        assert (await world.reload(row)).tier == "B"
        clock.set(tokyo(2026, 12, 31, 6, 0))  # 29 days 20 hours
        await fire(world)
        assert (await world.reload(row)).tier == "B"
        clock.set(tokyo(2027, 1, 1, 6, 0))  # 30 days 20 hours
        await fire(world)
        aged = await world.reload(row)
        assert aged.tier == "C" and aged.aged_at == tokyo(2027, 1, 1, 6, 0)
        steps = [e for e in await world.events(row.id) if e.kind == "aged"]
        assert len(steps) == 1 and steps[0].detail["from"] == "B"
        await world.login("ito@example.com")
        text = steps_text((await world.web.get(f"/rep/handoffs/{row.id}")).text)
        assert "Tier C に下降（反応なし）" in text and "30日以上反応なし" in text
        async with world.runtime.sessions() as session:
            runs = list(
                await session.scalars(
                    select(Timer).where(Timer.kind == "aging").order_by(Timer.due_at)
                )
            )
        assert [t.status for t in runs] == ["done", "done", "done", "pending"]
        assert runs[-1].due_at == tokyo(2027, 1, 2, 6, 0)


async def test_a_reaction_keeps_the_lead_out_of_aging(migrated: str, tmp_path: Path) -> None:
    """A lead who wrote again on day 19 is counted from then: still Tier B on day 31."""
    clock = FixedClock(tokyo(2026, 12, 1, 10, 0))
    async with running(migrated, clock, tmp_path) as world:
        await world.rep("伊藤", "ito@example.com", password=PASSWORD)
        row = await contacted_lead(world, clock, clock.now())
        clock.set(tokyo(2026, 12, 20, 10, 0))
        async with world.runtime.sessions() as session, session.begin():
            message = repos.message_row(
                row.conversation_id, "in", "text", "まだ検討中です", {}, clock.now()
            )
            await repos.add_messages(session, [message])
        clock.set(tokyo(2027, 1, 1, 6, 0))
        await fire(world)
        assert (await world.reload(row)).tier == "B"
        assert not [e for e in await world.events(row.id) if e.kind == "aged"]


async def test_a_lead_back_after_aging_gets_its_tier_back_with_a_step(
    migrated: str, tmp_path: Path
) -> None:
    """An aged lead coming back to the site is a reaction after the aging: the score's
    tier comes back (a return visit: Tier A) and the handoff says so,
    not silently; a refresh without a new reaction keeps it at C."""
    clock = FixedClock(tokyo(2026, 12, 1, 10, 0))
    async with running(migrated, clock, tmp_path) as world:
        await world.rep("伊藤", "ito@example.com", password=PASSWORD)
        start = await world.web.post(
            "/api/chat/conversations", json={"page": {"url": "https://example.com/"}}
        )
        cid, token = start.json()["conversation_id"], start.json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        url = f"/api/chat/conversations/{cid}/messages"
        await world.web.post(
            url, json={"choice": "within_1_month", "label": "1か月以内"}, headers=auth
        )
        offer = (await world.web.post(url, json={"text": "夜間対応"}, headers=auth)).json()
        decline = next(r for r in offer["replies"] if r["kind"] == "slots")["decline"]
        await world.web.post(
            url, json={"slot": decline["value"], "label": decline["label"]}, headers=auth
        )
        await world.web.post(url, json={"text": "back@example.com"}, headers=auth)
        row = await world.handoff(cid)
        headers = await api_token(world, "ito@example.com")
        await world.web.post(f"/api/rep/handoffs/{row.id}/contacted", headers=headers)
        clock.set(tokyo(2027, 1, 1, 6, 0))
        await fire(world)
        assert (await world.reload(row)).tier == "C"
        # The lead's record is rewritten by something that is not a reaction: still C.
        async with world.runtime.sessions() as session, session.begin():
            aged = await session.get(HandoffRow, row.id)
            assert aged is not None
            await world.runtime.followups.refreshed(session, aged, clock.now())
            assert aged.tier == "C"
        clock.set(tokyo(2027, 1, 5, 10, 0))
        seen = await world.web.post(
            f"/api/chat/conversations/{cid}/pages",
            json={"url": "https://example.com/cases", "title": "導入事例"},
            headers=auth,
        )
        assert seen.status_code == 204
        back = await world.reload(row)
        assert back.tier == "A" and back.aged_at is None  # a return visit: Tier A
        steps = await world.events(row.id)
        assert [(s.detail["from"], s.detail["to"]) for s in steps if s.kind == "revived"] == [
            ("C", "A")
        ]


async def test_malformed_follow_up_input_is_refused(migrated: str, tmp_path: Path) -> None:
    """Malformed follow-up input is refused with 4xx: a kind that does not exist, a date
    that is not one, a task that does not exist."""
    clock = FixedClock(tokyo(2026, 12, 2, 10, 0))
    async with running(migrated, clock, tmp_path) as world:
        await world.rep("伊藤", "ito@example.com", password=PASSWORD)
        row = await contacted_lead(world, clock, clock.now())
        headers = await api_token(world, "ito@example.com")
        wrong = await world.web.post(
            f"/api/rep/handoffs/{row.id}/followups",
            json={"kind": "lunch", "due_at": "2026-12-09T10:00:00+09:00"},
            headers=headers,
        )
        assert wrong.status_code == 422
        naive = await world.web.post(
            f"/api/rep/handoffs/{row.id}/followups",
            json={"kind": "follow_call", "due_at": "2026-12-09T10:00:00"},
            headers=headers,
        )
        assert naive.status_code == 422
        missing = await world.web.post("/api/rep/followups/999999/done", json={}, headers=headers)
        assert missing.status_code == 404
        await world.login("ito@example.com")
        page = await world.web.get(f"/rep/handoffs/{row.id}")
        bad_date = await world.web.post(
            f"/rep/handoffs/{row.id}/followups",
            data={"kind": "follow_call", "due_date": "12/09", "csrf_token": _csrf(page.text)},
        )
        assert bad_date.status_code == 400
