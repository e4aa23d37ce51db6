"""The SLA clock, escalation and the morning digest (issue 12) through the whole app, on
both databases: leads chat in at chosen moments (FixedClock), the scheduler and the outbox
are run by hand, and the test reads what each person sees: the Slack/Teams/Chatwork
stand-in's messages, the reps' emails (outbox rows), the handoff page and the JSON API."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from autoreply.clock import FixedClock
from autoreply.service import reps
from autoreply.store import repos
from autoreply.store.models import HandoffEvent, HandoffRow, OutboxRow, Rep
from autoreply.web.app import create_app
from tests.conftest import make_settings, tokyo
from tests.integration.conftest import PASSWORD, _csrf, _login
from tests.integration.test_cli import run
from tests.notifystub import NotifyStub, Seen, slack_seen

ROOM = "4242"


# -- the world of a test -------------------------------------------------------------------


def write_routing(folder: Path, text: str, stub: NotifyStub | None = None) -> Path:
    """A routing file of the test's own (``{stub}`` in it: the stand-in's base URL)."""
    path = folder / "routing.yaml"
    path.write_text(text.replace("{stub}", stub.url) if stub else text, encoding="utf-8")
    return path


@dataclass
class World:
    """One running app with its HTTP client."""

    app: FastAPI
    web: httpx.AsyncClient

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime

    async def drain(self) -> None:
        """Fire every due timer and deliver every due outbox row, until nothing is left."""
        while await self.runtime.scheduler.run_once() + await self.runtime.worker.run_once():
            pass

    async def rep(
        self,
        name: str,
        address: str,
        *,
        hours: str | None = None,
        role: str = "rep",
        password: str | None = None,
    ) -> Rep:
        """A rep account (the routing file names members by this address)."""
        async with self.runtime.sessions() as session, session.begin():
            return await reps.create_rep(
                session,
                name,
                address,
                now=self.runtime.content.clock.now(),
                hours=hours,
                role=role,
                password=password,
            )

    async def handoff(self, cid: str) -> HandoffRow:
        """The handoff of a conversation."""
        async with self.runtime.sessions() as session:
            row = await repos.handoff_of(session, public_id=cid)
            assert row is not None, f"no handoff for conversation {cid}"
            return row

    async def reload(self, row: HandoffRow) -> HandoffRow:
        """The handoff as it is now."""
        async with self.runtime.sessions() as session:
            fresh = await session.get(HandoffRow, row.id)
            assert fresh is not None
            return fresh

    async def events(self, handoff_id: int) -> list[HandoffEvent]:
        """A handoff's steps (handoff_events), oldest first."""
        async with self.runtime.sessions() as session:
            return list(
                await session.scalars(
                    select(HandoffEvent)
                    .where(HandoffEvent.handoff_id == handoff_id)
                    .order_by(HandoffEvent.id)
                )
            )

    async def mails(self, to: str | None = None) -> list[tuple[OutboxRow, EmailMessage]]:
        """The notification emails queued (kind notify_*), parsed, oldest first."""
        async with self.runtime.sessions() as session:
            rows = await session.scalars(
                select(OutboxRow)
                .where(OutboxRow.channel == "email", OutboxRow.kind.startswith("notify_"))
                .order_by(OutboxRow.id)
            )
            found = []
            for row in rows:
                if to is not None and row.recipient != to:
                    continue
                message = email.message_from_string(
                    row.payload["message"], policy=email.policy.default
                )
                assert isinstance(message, EmailMessage)
                found.append((row, message))
            return found

    async def login(self, address: str) -> None:
        """Log in on the rep pages as a rep created with ``password=PASSWORD``."""
        done = await _login(self.web, address, PASSWORD)
        assert done.status_code == 303, done.text


def text_of(message: EmailMessage) -> str:
    """The text part of an email, as the rep reads it."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def slack_at(stub: NotifyStub, name: str) -> list[Seen]:
    """What is read in the Slack channel of one webhook (``stub.slack_url(name)``)."""
    return [slack_seen(r.body) for r in stub.delivered("slack") if r.path == f"/slack/{name}"]


@asynccontextmanager
async def running(
    url: str, clock: FixedClock, stub: NotifyStub, routing: Path
) -> AsyncIterator[World]:
    """The app on ``url`` with all three chat targets at the stand-in, run by hand."""
    settings = make_settings(
        database_url=url,
        routing=routing,
        run_worker=False,
        slack_webhook_url=stub.slack_url("team"),
        teams_webhook_url=stub.teams_url(),
        chatwork_api_url=stub.url,
        chatwork_api_token=stub.token,
        chatwork_room_id=ROOM,
    )
    app = create_app(settings, clock=clock, migrate=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as web:
            yield World(app, web)


async def chat(
    world: World,
    *,
    name: str = "山田太郎",
    timing: tuple[str, str] = ("within_1_month", "1か月以内"),
    challenge: str = "夜間の問い合わせ対応が遅れています",
    utm: str | None = None,
    book: bool = True,
) -> str:
    """A lead chats to a handoff: timing, challenge, then a meeting booked (with name,
    company, email) or declined (with an email to be called back at: no name). Each chat is
    a new lead (its own address). The conversation's id."""
    page = {"url": "https://example.com/", "title": "サンプル株式会社"}
    client = world.web
    start = await client.post(
        "/api/chat/conversations", json={"page": page, "utm": {"source": utm} if utm else {}}
    )
    body = start.json()
    assert start.status_code == 201, body
    cid, auth = body["conversation_id"], {"Authorization": f"Bearer {body['token']}"}
    url = f"/api/chat/conversations/{cid}/messages"
    await client.post(url, json={"choice": timing[0], "label": timing[1]}, headers=auth)
    second = (await client.post(url, json={"text": challenge}, headers=auth)).json()
    offer = next(r for r in second["replies"] if r["kind"] == "slots")
    if book:
        pick = offer["days"][0]["slots"][0]
        await client.post(url, json={"slot": pick["id"], "label": pick["label"]}, headers=auth)
        answers = [name, "株式会社サンプル", f"lead-{uuid.uuid4().hex[:8]}@example.com"]
    else:
        decline = offer["decline"]
        await client.post(
            url, json={"slot": decline["value"], "label": decline["label"]}, headers=auth
        )
        answers = [f"lead-{uuid.uuid4().hex[:8]}@example.com"]
    for text in answers:
        last = await client.post(url, json={"text": text}, headers=auth)
    assert last.json()["status"] == "ended", last.json()
    return str(cid)


def page_text(html: str) -> str:
    """A page's text as a person reads it (tags gone, entities resolved, spaces collapsed)."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def steps_text(html: str) -> str:
    """The 「経緯」 (history) of a handoff page, as text."""
    found = re.search(r'<details id="steps"[^>]*>(.*?)</details>', html, re.S)
    assert found, "no 経緯 on the handoff page"
    return page_text(found.group(1))


def path_of(url: str) -> str:
    """A link of a notification as a path on the app (the links use AUTOREPLY_PUBLIC_URL)."""
    return re.sub(r"^https?://[^/]+", "", url)


async def api_token(world: World, address: str) -> dict[str, str]:
    """The JSON API's headers for a rep (a new token from ``reps.issue_token``)."""
    async with world.runtime.sessions() as session, session.begin():
        token = await reps.issue_token(session, address)
    return {"Authorization": f"Bearer {token}"}


# -- the deadline in business time ---------------------------------------------------------

TWO = """\
routing:
  teams:
    - id: inside
      name: インサイドセールス
      members: [ito@example.com, kato@example.com]
  fallback: inside
"""


HOT = "【Tier A】新しいリード: 山田太郎 様"
MORNING = "【朝のまとめ】営業時間外のお問い合わせ 1件（インサイドセールス）"
LUNCH = "【まとめ】営業時間外のお問い合わせ 1件（インサイドセールス）"
Moment = tuple[int, int, int, int, int]
#: the lead's moment, the next opening (None: in hours), the deadline as the rep reads
#: it, the title of what the team's channel shows
DEADLINES: dict[str, tuple[Moment, Moment | None, str, str]] = {
    "in-hours": ((2026, 11, 24, 10, 0), None, "11月24日(火) 10:05", HOT),
    "lunch": ((2026, 11, 24, 11, 58), None, "11月24日(火) 13:03", HOT),
    "during-lunch": ((2026, 11, 24, 12, 30), (2026, 11, 24, 13, 0), "11月24日(火) 13:05", LUNCH),
    "friday-night": ((2026, 12, 4, 19, 0), (2026, 12, 7, 9, 0), "12月7日(月) 9:05", MORNING),
    "umi-no-hi": ((2026, 7, 17, 19, 0), (2026, 7, 21, 9, 0), "7月21日(火) 9:05", MORNING),
    "year-end": ((2026, 12, 28, 19, 0), (2027, 1, 4, 9, 0), "1月4日(月) 9:05", MORNING),
}


@pytest.mark.parametrize("case", DEADLINES)
async def test_the_first_contact_deadline_runs_in_business_time(
    migrated: str, notify: NotifyStub, tmp_path: Path, case: str
) -> None:
    """Notification + 5 minutes of business time: the lunch break, a weekend, 海の日
    (Monday 2026-07-20) and the year-end closure (12/29-1/3) do not count. In hours the
    team hears at once; otherwise nothing is posted until the next opening, whose digest
    (「朝のまとめ」, or 「まとめ」 after the lunch break) says the deadline."""
    moment, opened, shown, title = DEADLINES[case]
    at = tokyo(*moment)
    opening = tokyo(*opened) if opened else None
    due = (opening or at) + timedelta(minutes=5 if case != "lunch" else 65)
    clock = FixedClock(at - timedelta(minutes=5))
    async with running(migrated, clock, notify, write_routing(tmp_path, TWO)) as world:
        await world.rep("伊藤 一郎", "ito@example.com")
        clock.set(at)
        cid = await chat(world)
        await world.drain()
        row = await world.handoff(cid)
        assert row.due_at == due
        headers = await api_token(world, "ito@example.com")
        api = (await world.web.get(f"/api/rep/handoffs/{row.id}", headers=headers)).json()
        assert datetime.fromisoformat(api["due_at"]) == due
        if opening is not None:
            assert notify.calls("slack") == [], "nothing is posted outside business hours"
            clock.set(opening - timedelta(minutes=1))
            await world.drain()
            assert notify.calls("slack") == []
            clock.set(opening)
            await world.drain()
        seen = notify.seen("slack")
        assert len(seen) == 1, [s.text for s in seen]
        assert f"初回連絡の期限\n{shown}" in seen[0].text
        assert seen[0].text.startswith(title)


async def test_a_rep_with_own_hours_takes_a_morning_lead_only_when_nobody_else_works(
    migrated: str, notify: NotifyStub, tmp_path: Path
) -> None:
    """A rep working 13:00-18:00 is first in the team's order but does not get a 10:00
    lead while a colleague is on shift; with the colleague away they get it, the team is
    told at once, and their clock starts at 13:00 (due 13:05)."""
    routing = write_routing(
        tmp_path,
        TWO.replace("[ito@example.com, kato@example.com]", "[hiru@example.com, asa@example.com]"),
    )
    clock = FixedClock(tokyo(2026, 11, 24, 9, 50))
    async with running(migrated, clock, notify, routing) as world:
        hiru = await world.rep("昼野 午後", "hiru@example.com", hours="mon-fri 13:00-18:00")
        asa = await world.rep("朝倉 早苗", "asa@example.com")
        clock.set(tokyo(2026, 11, 24, 10, 0))
        first = await world.handoff(await chat(world, name="山田太郎"))
        assert first.owner_id == asa.id
        assert first.due_at == tokyo(2026, 11, 24, 10, 5)
        headers = await api_token(world, asa.email)
        done = await world.web.post(f"/api/rep/handoffs/{first.id}/contacted", headers=headers)
        assert done.status_code == 200, done.text
        async with world.runtime.sessions() as session, session.begin():
            await reps.set_away(session, asa, True)
        second = await world.handoff(await chat(world, name="鈴木花子"))
        assert second.owner_id == hiru.id
        assert second.due_at == tokyo(2026, 11, 24, 13, 5)
        await world.drain()
        seen = notify.seen("slack")
        assert len(seen) == 2, [s.text for s in seen]
        assert "担当\n昼野 午後（インサイドセールス）" in seen[1].text
        assert "初回連絡の期限\n11月24日(火) 13:05" in seen[1].text
        clock.set(tokyo(2026, 11, 24, 13, 0))
        await world.drain()
        assert len(notify.seen("slack")) == 2, "told once: no second notice at 13:00"
        clock.set(tokyo(2026, 11, 24, 13, 14))
        await world.drain()
        assert not [e for e in await world.events(second.id) if e.kind.startswith("escalated")]


# -- after hours: nothing at night, one digest per team at the next opening ---------------

TEAMS = """\
routing:
  teams:
    - id: alpha
      name: 第一営業部
      members: [ito@example.com, kato@example.com]
      notify: {slack: "{stub}/slack/alpha"}
    - id: beta
      name: 第二営業部
      members: [mori@example.com]
      notify: {slack: "{stub}/slack/beta"}
  rules:
    - id: google
      when: {utm_source: [google]}
      team: beta
  fallback: alpha
  on_call:
    tiers: [A]
    notify: {slack: "{stub}/slack/oncall"}
"""


UNDECIDED = ("undecided", "未定・情報収集中")
COLD = "見積もりの返信に時間がかかっています"


async def test_overnight_leads_wait_for_the_opening_after_a_holiday_monday(
    migrated: str, notify: NotifyStub, tmp_path: Path
) -> None:
    """Leads on Saturday night and on 海の日 post nothing to the teams (only Tier A pings
    on-call); at Tuesday 9:00 each team gets one digest, Tier A first, each lead with its
    first line and working links, and each owner an email digest of their own."""
    routing = write_routing(tmp_path, TEAMS, notify)
    clock = FixedClock(tokyo(2026, 7, 18, 22, 0))
    async with running(migrated, clock, notify, routing) as world:
        ito = await world.rep("伊藤 一郎", "ito@example.com", password=PASSWORD)
        kato = await world.rep("加藤 次郎", "kato@example.com")
        mori = await world.rep("森 三郎", "mori@example.com")
        clock.set(tokyo(2026, 7, 18, 23, 0))
        cold = await world.handoff(await chat(world, timing=UNDECIDED, challenge=COLD, book=False))
        await world.drain()
        assert notify.calls("slack") == [], "nothing at 23:00 for a lead that is not Tier A"
        clock.set(tokyo(2026, 7, 20, 10, 0))  # 海の日
        hot = await world.handoff(await chat(world, name="山田太郎"))
        other = await world.handoff(await chat(world, name="佐々木四郎", utm="google"))
        await world.drain()
        assert cold.tier != "A" and hot.tier == "A" and other.tier == "A"
        assert slack_at(notify, "alpha") == [] and slack_at(notify, "beta") == []
        on_call = slack_at(notify, "oncall")
        assert len(on_call) == 2, [s.text for s in on_call]
        assert all("【時間外・Tier A】" in s.text for s in on_call)
        assert (cold.owner_id, hot.owner_id, other.owner_id) == (ito.id, kato.id, mori.id)
        assert cold.due_at == hot.due_at == other.due_at == tokyo(2026, 7, 21, 9, 5)

        clock.set(tokyo(2026, 7, 21, 8, 59))
        await world.drain()
        assert slack_at(notify, "alpha") == []
        clock.set(tokyo(2026, 7, 21, 9, 0))
        await world.drain()
        await world.drain()
        alpha, beta = slack_at(notify, "alpha"), slack_at(notify, "beta")
        assert len(alpha) == 1 and len(beta) == 1, ([s.text for s in alpha], beta)
        digest = alpha[0].text
        assert digest.startswith("【朝のまとめ】営業時間外のお問い合わせ 2件（第一営業部）")
        assert digest.index("山田太郎 様") < digest.index(COLD), "Tier A first"
        assert "お名前未取得の方" in digest
        assert "佐々木四郎" not in digest and "佐々木四郎 様" in beta[0].text
        for record in (hot, cold):
            assert str(record.record["first_line"]).splitlines()[0] in digest
        labels = [label for label, _ in alpha[0].buttons]
        assert labels == ["引き継ぎを開く", "連絡済みにする"] * 2

        # the links work against the app
        await world.login("ito@example.com")
        opened = await world.web.get(path_of(alpha[0].buttons[2][1]))
        assert opened.status_code == 200 and COLD in opened.text
        confirm = await world.web.get(path_of(alpha[0].buttons[3][1]))
        assert confirm.status_code == 200
        assert "伊藤 一郎さんがこのお客様に連絡したことを記録します" in page_text(confirm.text)
        clock.set(tokyo(2026, 7, 21, 9, 2))
        stopped = await world.web.post(
            path_of(alpha[0].buttons[3][1]), data={"csrf_token": _csrf(confirm.text)}
        )
        assert "期限内に連絡済み（営業時間で2分）" in page_text(stopped.text), "from 9:00"

        # each owner gets their own email digest
        for rep, lead in ((ito, COLD), (kato, "山田太郎 様"), (mori, "佐々木四郎 様")):
            mails = [m for row, m in await world.mails(rep.email) if row.kind == "notify_digest"]
            assert len(mails) == 1, rep.email
            assert str(mails[0]["Subject"]).startswith("【朝のまとめ】営業時間外のお問い合わせ 1件")
            body = text_of(mails[0])
            assert lead in body and "最初の一言:" in body
            assert "初回連絡の期限: 7月21日(火) 9:05" in body

        clock.set(tokyo(2026, 7, 22, 9, 0))  # the next opening: nothing is told twice
        await world.drain()
        for name in ("alpha", "beta"):
            digests = [s for s in slack_at(notify, name) if "まとめ】" in s.text]
            assert len(digests) == 1, name


async def test_at_night_only_tier_a_pings_on_call(
    migrated: str, notify: NotifyStub, tmp_path: Path
) -> None:
    """With ``on_call`` for Tier A, a Tier A lead at 23:10 pings the on-call channel once
    (never the team); a Tier C lead pings nobody."""
    routing = write_routing(tmp_path, TEAMS, notify)
    clock = FixedClock(tokyo(2026, 11, 21, 23, 0))
    async with running(migrated, clock, notify, routing) as world:
        await world.rep("伊藤 一郎", "ito@example.com")
        clock.set(tokyo(2026, 11, 21, 23, 10))
        await chat(world, timing=UNDECIDED, challenge=COLD, book=False)
        await world.drain()
        assert notify.calls("slack") == []
        await chat(world, name="山田太郎")
        await world.drain()
        await world.drain()
        on_call = slack_at(notify, "oncall")
        assert len(on_call) == 1 and len(notify.calls("slack")) == 1
        assert on_call[0].text.startswith("【時間外・Tier A】山田太郎 様")
        assert "営業時間外" in on_call[0].text
        assert "初回連絡の期限\n11月24日(火) 9:05" in on_call[0].text


# -- escalation ----------------------------------------------------------------------------

CHAIN = """\
routing:
  teams:
    - id: inside
      name: インサイドセールス
      members: [ito@example.com, yoru@example.com, rusu@example.com, kato@example.com]
      notify: {slack: default, teams: default, chatwork_room: default}
      manager: {slack: "{stub}/slack/manager", email: [boss@example.com]}
  fallback: inside
  reps:
    kato@example.com: {slack: U0KATO}
"""
TUESDAY = tokyo(2026, 11, 24, 10, 0)


async def chain_team(world: World) -> dict[str, Rep]:
    """伊藤 (takes the first lead), 夜間 (works 16:00-18:00: off shift in the morning),
    留守 (away), 加藤 (on shift), and the manager 上田 (not a member, can log in)."""
    found = {
        "ito": await world.rep("伊藤 一郎", "ito@example.com"),
        "yoru": await world.rep("夜間 遅番", "yoru@example.com", hours="mon-fri 16:00-18:00"),
        "rusu": await world.rep("留守 不在", "rusu@example.com"),
        "kato": await world.rep("加藤 次郎", "kato@example.com"),
        "boss": await world.rep("上田 部長", "boss@example.com", role="manager", password=PASSWORD),
    }
    async with world.runtime.sessions() as session, session.begin():
        await reps.set_away(session, found["rusu"], True)
    return found


def chain_world(
    migrated: str, clock: FixedClock, notify: NotifyStub, tmp_path: Path
) -> AbstractAsyncContextManager[World]:
    routing = write_routing(tmp_path, CHAIN, notify)
    return running(migrated, clock, notify, routing)


async def test_a_missed_deadline_goes_to_the_next_rep_on_shift_then_to_the_manager(
    migrated: str, notify: NotifyStub, tmp_path: Path
) -> None:
    """No contact by 10:05 + 10 minutes: at 10:15 the lead passes to 加藤 (not the off-shift
    or away rep), who is emailed, and the team's channels name both reps; the second miss
    (10:20 + 10) goes to the manager's targets. Every step is on the handoff page."""
    clock = FixedClock(TUESDAY - timedelta(minutes=10))
    async with chain_world(migrated, clock, notify, tmp_path) as world:
        team = await chain_team(world)
        clock.set(TUESDAY)
        row = await world.handoff(await chat(world))
        await world.drain()
        assert row.owner_id == team["ito"].id
        assert len(notify.seen("slack")) == 1
        assert len(notify.seen("teams")) == 1 and len(notify.seen("chatwork")) == 1

        clock.set(tokyo(2026, 11, 24, 10, 14, 59))
        await world.drain()
        assert len(notify.seen("slack")) == 1, "not before the deadline + 10 minutes"

        clock.set(tokyo(2026, 11, 24, 10, 15))
        await world.drain()
        row = await world.reload(row)
        assert row.owner_id == team["kato"].id
        assert row.due_at == tokyo(2026, 11, 24, 10, 20)
        slack = notify.seen("slack")
        assert len(slack) == 2, [s.text for s in slack]
        moved = slack[1].text
        assert moved.startswith("【転送】初回連絡の期限を過ぎたリード: 山田太郎 様")
        assert "伊藤 一郎さんの初回連絡の期限を過ぎても連絡の記録がないため" in moved
        assert "担当を加藤 次郎さんへ自動で転送いたしました" in moved
        assert "11月24日(火) 10:20までにご連絡をお願いいたします" in moved
        assert slack[1].mentions == ["U0KATO"]
        for target in ("teams", "chatwork"):
            seen = notify.seen(target)
            assert len(seen) == 2 and "加藤 次郎さんへ自動で転送" in seen[1].text, target
        mails = [
            m for r, m in await world.mails("kato@example.com") if r.kind.endswith("escalation")
        ]
        assert len(mails) == 1
        assert str(mails[0]["Subject"]).startswith("【転送】")
        assert "初回連絡の期限: 11月24日(火) 10:20" in text_of(mails[0])
        assert await world.mails("yoru@example.com") == []
        assert await world.mails("rusu@example.com") == []

        clock.set(tokyo(2026, 11, 24, 10, 30))
        await world.drain()
        boss = slack_at(notify, "manager")
        assert len(boss) == 1
        assert boss[0].text.startswith("【要対応】2度目の期限超過: 山田太郎 様")
        assert "転送後も期限までに連絡の記録がありません" in boss[0].text
        assert len(notify.seen("slack")) == 4, "the team's channel is told too"
        boss_mails = [m for r, m in await world.mails("boss@example.com")]
        assert len(boss_mails) == 1 and str(boss_mails[0]["Subject"]).startswith("【要対応】")

        clock.set(tokyo(2026, 11, 24, 12, 0))
        await world.drain()
        assert len(notify.seen("slack")) == 4 and len(slack_at(notify, "manager")) == 1

        kinds = [e.kind for e in await world.events(row.id)]
        assert kinds == ["assigned", "notified", "escalated", "escalated_to_manager"], kinds
        await world.login("boss@example.com")
        page = await world.web.get(f"/rep/handoffs/{row.id}")
        history = steps_text(page.text)
        assert "経緯（4件）" in history
        assert "割り当て 伊藤 一郎" in history
        assert "期限超過のため転送 加藤 次郎さんへ" in history
        assert "マネージャーへ通知 2度目の期限超過" in history
        assert "期限超過" in page_text(page.text)


async def test_a_lead_contacted_in_time_is_not_escalated(
    migrated: str, notify: NotifyStub, tmp_path: Path
) -> None:
    """Contacted at 10:03 (JSON API): the escalation timer at 10:15 does nothing, and the
    page says the clock stopped inside the SLA."""
    clock = FixedClock(TUESDAY - timedelta(minutes=10))
    async with chain_world(migrated, clock, notify, tmp_path) as world:
        team = await chain_team(world)
        clock.set(TUESDAY)
        row = await world.handoff(await chat(world))
        await world.drain()
        clock.set(tokyo(2026, 11, 24, 10, 3))
        headers = await api_token(world, "ito@example.com")
        done = await world.web.post(f"/api/rep/handoffs/{row.id}/contacted", headers=headers)
        assert done.status_code == 200
        for moment in (tokyo(2026, 11, 24, 10, 15), tokyo(2026, 11, 24, 11, 0)):
            clock.set(moment)
            await world.drain()
        assert len(notify.seen("slack")) == 1
        assert slack_at(notify, "manager") == []
        assert [e.kind for e in await world.events(row.id)] == ["assigned", "notified", "contacted"]
        row = await world.reload(row)
        assert row.owner_id == team["ito"].id
        await world.login("boss@example.com")
        page = page_text((await world.web.get(f"/rep/handoffs/{row.id}")).text)
        assert "期限内に連絡済み（営業時間で3分）" in page


async def test_a_deadline_passing_while_the_service_is_down_escalates_once_after_restart(
    migrated: str, notify: NotifyStub, tmp_path: Path
) -> None:
    """The app stops with the escalation timer pending; the clock passes it; a new app on
    the same database escalates once (and a third start does nothing more)."""
    clock = FixedClock(TUESDAY - timedelta(minutes=10))
    async with chain_world(migrated, clock, notify, tmp_path) as world:
        team = await chain_team(world)
        clock.set(TUESDAY)
        cid = await chat(world)
        await world.drain()
    clock.set(tokyo(2026, 11, 24, 10, 25))
    for _ in range(2):
        async with chain_world(migrated, clock, notify, tmp_path) as world:
            await world.drain()
            row = await world.handoff(cid)
            assert row.owner_id == team["kato"].id
            kinds = [e.kind for e in await world.events(row.id)]
            assert kinds.count("escalated") == 1, kinds
            moved = [s for s in notify.seen("slack") if s.text.startswith("【転送】")]
            assert len(moved) == 1
            assert len(await world.mails("kato@example.com")) == 1


async def test_two_workers_escalate_once(migrated: str, notify: NotifyStub, tmp_path: Path) -> None:
    """Two apps (two engines) on one database run their schedulers at the same moment after
    the deadline: one escalation event, one notification per target, each posted once."""
    clock = FixedClock(TUESDAY - timedelta(minutes=10))
    async with (
        chain_world(migrated, clock, notify, tmp_path) as one,
        chain_world(migrated, clock, notify, tmp_path) as two,
    ):
        team = await chain_team(one)
        clock.set(TUESDAY)
        cid = await chat(one)
        await one.drain()
        clock.set(tokyo(2026, 11, 24, 10, 16))
        fired = await asyncio.gather(
            one.runtime.scheduler.run_once(), two.runtime.scheduler.run_once()
        )
        assert sum(fired) == 1, fired
        await asyncio.gather(one.drain(), two.drain())
        row = await one.handoff(cid)
        assert row.owner_id == team["kato"].id
        kinds = [e.kind for e in await one.events(row.id)]
        assert kinds.count("escalated") == 1, kinds
        async with one.runtime.sessions() as session:
            queued = list(
                await session.scalars(
                    select(OutboxRow).where(OutboxRow.kind == "notify_escalation")
                )
            )
        assert sorted(r.channel for r in queued) == ["chatwork", "email", "slack", "teams"]
        for target in ("slack", "teams", "chatwork"):
            assert len(notify.seen(target)) == 2, target


# -- when a target answers badly -----------------------------------------------------------


async def test_slack_rate_limit_is_waited_out_and_posted_once(
    migrated: str, notify: NotifyStub, tmp_path: Path
) -> None:
    """Slack answers 429 with Retry-After: 30: nothing is sent again before 30 seconds,
    then the message is posted, once."""
    notify.fail("slack", 429, headers={"Retry-After": "30"})
    clock = FixedClock(TUESDAY - timedelta(minutes=10))
    async with chain_world(migrated, clock, notify, tmp_path) as world:
        await chain_team(world)
        clock.set(TUESDAY)
        await chat(world)
        await world.drain()
        assert len(notify.calls("slack")) == 1 and notify.seen("slack") == []
        clock.set(TUESDAY + timedelta(seconds=29))
        await world.drain()
        assert len(notify.calls("slack")) == 1
        clock.set(TUESDAY + timedelta(seconds=30))
        await world.drain()
        clock.set(TUESDAY + timedelta(minutes=2))
        await world.drain()
        assert len(notify.calls("slack")) == 2
        seen = notify.seen("slack")
        assert len(seen) == 1 and seen[0].text.startswith("【Tier A】新しいリード")


@pytest.mark.parametrize(("status", "words"), [(400, "invalid_payload"), (403, "invalid_token")])
async def test_a_refused_notification_fails_and_the_manager_sees_why(
    migrated: str, notify: NotifyStub, tmp_path: Path, status: int, words: str
) -> None:
    """Slack refuses for good (400/403): the row is failed at once, never retried, and
    /rep/notifications shows it to managers with Slack's words; Teams and Chatwork are
    unaffected."""
    notify.fail("slack", status)
    clock = FixedClock(TUESDAY - timedelta(minutes=10))
    async with chain_world(migrated, clock, notify, tmp_path) as world:
        await chain_team(world)
        await world.rep("伊東 閲覧", "viewer@example.com", password=PASSWORD)
        clock.set(TUESDAY)
        await chat(world)
        await world.drain()
        clock.set(TUESDAY + timedelta(minutes=4))
        await world.drain()
        assert len(notify.calls("slack")) == 1 and notify.seen("slack") == []
        assert len(notify.seen("teams")) == 1 and len(notify.seen("chatwork")) == 1
        await world.login("viewer@example.com")
        assert (await world.web.get("/rep/notifications")).status_code == 404
        await world.web.post(
            "/rep/logout", data={"csrf_token": _csrf((await world.web.get("/rep/handoffs")).text)}
        )
        await world.login("boss@example.com")
        page = await world.web.get("/rep/notifications")
        assert page.status_code == 200
        text = page_text(page.text)
        assert "Slack 失敗 1回" in text, text
        assert f"slack: {status} {words}" in text
        assert notify.url not in page.text, "the webhook URL is a secret"


# -- what reps do --------------------------------------------------------------------------


async def test_reassigning_from_the_page_is_recorded_and_tells_the_new_owner(
    migrated: str, notify: NotifyStub, tmp_path: Path
) -> None:
    """The manager gives 伊藤's lead to 加藤 at 10:08 (after the deadline): the history
    says who changed it, 加藤 is emailed with a fresh deadline (10:13), the JSON API shows
    the new owner, team, rule and deadline, and the old escalation does not fire at
    10:15: it moved to 10:23, where (伊藤 having had it) the manager is told."""
    clock = FixedClock(TUESDAY - timedelta(minutes=10))
    async with chain_world(migrated, clock, notify, tmp_path) as world:
        team = await chain_team(world)
        clock.set(TUESDAY)
        row = await world.handoff(await chat(world))
        await world.drain()
        await world.login("boss@example.com")
        clock.set(tokyo(2026, 11, 24, 10, 8))
        page = await world.web.get(f"/rep/handoffs/{row.id}")
        done = await world.web.post(
            f"/rep/handoffs/{row.id}/owner",
            data={"owner": str(team["kato"].id), "csrf_token": _csrf(page.text)},
        )
        assert done.status_code == 303
        refused = await world.web.post(
            f"/rep/handoffs/{row.id}/owner", data={"owner": str(team["ito"].id)}
        )
        assert refused.status_code == 403, "no CSRF token, no change"
        page = await world.web.get(f"/rep/handoffs/{row.id}")
        history = steps_text(page.text)
        assert "担当変更 上田 部長さんが加藤 次郎さんに変更" in history
        assert "担当 加藤 次郎（インサイドセールス）" in page_text(page.text)

        mails = [m for r, m in await world.mails("kato@example.com") if r.kind == "notify_assigned"]
        assert len(mails) == 1
        assert str(mails[0]["Subject"]) == "【担当変更】山田太郎 様（株式会社サンプル）"
        body = text_of(mails[0])
        assert "上田 部長さんが、このリードの担当を加藤 次郎さんに変更しました。" in body
        assert "11月24日(火) 10:13までにご連絡をお願いいたします。" in body

        headers = await api_token(world, "kato@example.com")
        api = (await world.web.get(f"/api/rep/handoffs/{row.id}", headers=headers)).json()
        assert api["owner_id"] == team["kato"].id
        assert api["team"] == "inside"
        assert api["routed_by"] == "該当ルールなし（既定のチーム）"
        assert datetime.fromisoformat(api["due_at"]) == tokyo(2026, 11, 24, 10, 13)

        clock.set(tokyo(2026, 11, 24, 10, 15))
        await world.drain()
        assert "escalated" not in [e.kind for e in await world.events(row.id)]
        clock.set(tokyo(2026, 11, 24, 10, 23))
        await world.drain()
        events = await world.events(row.id)
        assert [e.kind for e in events][-1] == "escalated_to_manager"
        assert events[-1].detail["why"] == "nobody_else_on_shift", "伊藤 had it already"
        assert len(slack_at(notify, "manager")) == 1


async def test_a_rep_who_is_away_is_never_picked(
    migrated: str, notify: NotifyStub, tmp_path: Path
) -> None:
    """伊藤 marks himself away on the page: the next lead goes to 加藤, and when 加藤
    misses it the escalation skips 伊藤 (nobody else is on shift: the manager is told)."""
    routing = write_routing(tmp_path, CHAIN, notify)
    clock = FixedClock(TUESDAY - timedelta(minutes=10))
    async with running(migrated, clock, notify, routing) as world:
        await world.rep("伊藤 一郎", "ito@example.com", password=PASSWORD)
        kato = await world.rep("加藤 次郎", "kato@example.com")
        await world.login("ito@example.com")
        page = await world.web.get("/rep/handoffs")
        done = await world.web.post(
            "/rep/away", data={"away": "true", "csrf_token": _csrf(page.text)}
        )
        assert done.status_code == 303
        assert "不在を解除" in (await world.web.get("/rep/handoffs")).text
        clock.set(TUESDAY)
        row = await world.handoff(await chat(world))
        assert row.owner_id == kato.id
        clock.set(tokyo(2026, 11, 24, 10, 15))
        await world.drain()
        row = await world.reload(row)
        assert row.owner_id == kato.id
        events = await world.events(row.id)
        assert events[-1].kind == "escalated_to_manager"
        assert events[-1].detail["why"] == "nobody_else_on_shift"
        boss = slack_at(notify, "manager")
        assert len(boss) == 1
        assert boss[0].text.startswith("【要対応】初回連絡の期限超過: 山田太郎 様")
        assert "ほかに対応できる担当者がいないため転送できませんでした" in boss[0].text


async def test_the_away_command_keeps_a_rep_out_until_the_date(
    migrated: str, notify: NotifyStub, tmp_path: Path
) -> None:
    """`autoreply reps away EMAIL --until 2026-11-25` on the same database: 加藤 gets no
    lead on 11/24; on 11/25 he is back by himself and takes the next one."""
    routing = write_routing(
        tmp_path,
        TWO.replace("[ito@example.com, kato@example.com]", "[kato@example.com, ito@example.com]"),
    )
    clock = FixedClock(TUESDAY - timedelta(minutes=10))
    async with running(migrated, clock, notify, routing) as world:
        ito = await world.rep("伊藤 一郎", "ito@example.com")
        kato = await world.rep("加藤 次郎", "kato@example.com")
        env = {"AUTOREPLY_DATABASE_URL": migrated}
        result = run(
            "reps", "away", "KATO@example.com", "--until", "2026-11-25", cwd=tmp_path, env=env
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "KATO@example.com: away until 2026-11-25T00:00:00+09:00"
        listed = run("reps", "list", cwd=tmp_path, env=env)
        assert "kato@example.com\t(business hours)\taway" in listed.stdout
        clock.set(TUESDAY)
        first = await world.handoff(await chat(world))
        assert first.owner_id == ito.id
        clock.set(tokyo(2026, 11, 25, 10, 0))
        second = await world.handoff(await chat(world, name="鈴木花子"))
        assert second.owner_id == kato.id
