"""The dashboard on SQLite and PostgreSQL with real rows: every figure of a small, hand-made
week (exact numbers), the rep-only view, the facts kept up to date, and the CSVs."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from autoreply.clock import FixedClock
from autoreply.service import reps
from autoreply.store.models import Booking, Conversation, HandoffRow, Lead, Rep
from tests.conftest import tokyo
from tests.integration.conftest import EMAIL, PASSWORD, _login

NOW = tokyo(2026, 11, 27, 15, 0)  # Friday; the default range is 10/5 .. 11/27
MANAGER = ("manager@example.com", "manager password 12345")
OTHER = ("suzuki@example.com", "suzuki password 12345")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


async def _lead(session: Any, when: datetime) -> Lead:
    lead = Lead(created_at=when, updated_at=when)
    session.add(lead)
    await session.flush()
    return lead


async def _conversation(
    session: Any,
    channel: str,
    started: datetime,
    *,
    campaign: str | None = None,
    first_response: datetime | None = None,
) -> Conversation:
    lead = await _lead(session, started)
    source: dict[str, Any] = {"url": "https://example.com/"}
    if campaign:
        source["utm"] = {"campaign": campaign, "source": "ads"}
    conversation = Conversation(
        public_id=uuid.uuid4().hex,
        lead_id=lead.id,
        channel=channel,
        flow_id="demo-ja",
        flow_version=1,
        status="handed_off",
        state={},
        source=source,
        created_at=started,
        updated_at=started,
        first_response_at=first_response,
    )
    session.add(conversation)
    await session.flush()
    return conversation


async def _handoff(
    session: Any,
    conversation: Conversation,
    created: datetime,
    *,
    owner: Rep,
    team: str,
    record: dict[str, Any],
    contacted: tuple[datetime, Rep] | None = None,
    due: datetime | None = None,
    booking: tuple[str, str | None] | None = None,
    qualified: bool | None = None,
) -> HandoffRow:
    row = HandoffRow(
        conversation_id=conversation.id,
        lead_id=conversation.lead_id,
        reason="booked",
        tier="A",
        score=50,
        status="contacted" if contacted else "waiting",
        record={"source": conversation.source, **record},
        created_at=created,
        updated_at=contacted[0] if contacted else created,
        contacted_at=contacted[0] if contacted else None,
        contacted_by=contacted[1].id if contacted else None,
        owner_id=owner.id,
        team=team,
        due_at=due,
        qualified_at=created + timedelta(days=2) if qualified is not None else None,
        qualified=qualified,
    )
    session.add(row)
    if booking is not None:
        start = created + timedelta(days=3)
        session.add(
            Booking(
                rep_id=owner.id,
                lead_id=conversation.lead_id,
                conversation_id=conversation.id,
                start_at=start,
                end_at=start + timedelta(minutes=30),
                status=booking[0],
                outcome=booking[1],
                created_at=created,
            )
        )
    await session.flush()
    return row


async def _week(app: FastAPI, rep: Rep) -> dict[str, Any]:
    """Three reps and four handoffs (see the figures in the tests), plus a lead whose chat
    never became a handoff."""
    async with app.state.runtime.sessions() as session, session.begin():
        manager = await reps.create_rep(
            session, "部長 田中", MANAGER[0], now=NOW, password=MANAGER[1], role="manager"
        )
        other = await reps.create_rep(session, "鈴木 一郎", OTHER[0], now=NOW, password=OTHER[1])
        sato = await session.get(Rep, rep.id)
        # H1: web, Tue 11/17 10:00, contacted 10:03 by 佐藤 (3 business minutes, SLA met)
        c1 = await _conversation(
            session,
            "web",
            tokyo(2026, 11, 17, 9, 59, 50),
            campaign="autumn",
            first_response=tokyo(2026, 11, 17, 9, 59, 52),
        )
        h1 = await _handoff(
            session,
            c1,
            tokyo(2026, 11, 17, 10, 0),
            owner=sato,
            team="inside",
            record={
                "first_response_seconds": 2.0,
                "cases_sent": [{"id": "c1"}, {"id": "c2"}],
                "cases_clicked": {"c1": "2026-11-17T10:00:05+09:00"},
                "cases_viewed": {"c2": "2026-11-18T10:00:00+09:00"},
                "pre_meeting": {"scheduled_at": "x", "sent_at": "2026-11-18T09:00:00+09:00"},
            },
            contacted=(tokyo(2026, 11, 17, 10, 3), sato),
            due=tokyo(2026, 11, 17, 10, 5),
            booking=("confirmed", "held"),
            qualified=True,
        )
        # H2: LINE, Fri 11/20 17:50, contacted Tue 11/24 9:20 by 鈴木 (Mon 11/23 is a
        # holiday: 10 + 20 = 30 business minutes; SLA missed); a no-show
        c2 = await _conversation(session, "line", tokyo(2026, 11, 20, 17, 49))
        h2 = await _handoff(
            session,
            c2,
            tokyo(2026, 11, 20, 17, 50),
            owner=other,
            team="inside",
            record={
                "first_response_seconds": 4.0,
                "pre_meeting": {"sent_at": "2026-11-19T09:00:00+09:00"},
            },
            contacted=(tokyo(2026, 11, 24, 9, 20), other),
            due=tokyo(2026, 11, 20, 17, 55),
            booking=("confirmed", "no_show"),
            qualified=False,
        )
        # H3: form, Saturday night (after hours), never contacted, the deadline passed
        c3 = await _conversation(session, "form", tokyo(2026, 11, 21, 23, 10), campaign="autumn")
        h3 = await _handoff(
            session,
            c3,
            tokyo(2026, 11, 21, 23, 10),
            owner=sato,
            team="field",
            record={"first_response_seconds": 60.0, "cases_sent": [{"id": "c3"}]},
            due=tokyo(2026, 11, 24, 9, 5),
        )
        # H4: web, Wed 11/25 10:00, contacted in 1 minute by 佐藤; no deadline; booked
        c4 = await _conversation(session, "web", tokyo(2026, 11, 25, 9, 58))
        h4 = await _handoff(
            session,
            c4,
            tokyo(2026, 11, 25, 10, 0),
            owner=sato,
            team="inside",
            record={},
            contacted=(tokyo(2026, 11, 25, 10, 1), sato),
            booking=("confirmed", None),
        )
        # a lead who chatted and left (no handoff), and one handoff outside the range
        await _conversation(session, "web", tokyo(2026, 11, 25, 11, 0), campaign="autumn")
        old = await _conversation(session, "web", tokyo(2026, 9, 1, 10, 0))
        await _handoff(session, old, tokyo(2026, 9, 1, 10, 0), owner=sato, team="inside", record={})
        return {"manager": manager, "other": other, "h": [h1.id, h2.id, h3.id, h4.id]}


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _csv(response: httpx.Response) -> list[list[str]]:
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in response.content
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


async def test_logged_out_goes_to_login(client: httpx.AsyncClient) -> None:
    for path in ("/rep/dashboard", "/rep/dashboard.csv?table=speed"):
        response = await client.get(path)
        assert response.status_code == 303
        assert response.headers["location"] == "/rep/login"


async def test_manager_sees_every_figure(app: FastAPI, client: httpx.AsyncClient, rep: Rep) -> None:
    """The exact figures of the hand-made week, on the page and in every CSV."""
    await _week(app, rep)
    await _login(client, *MANAGER)
    page = await client.get("/rep/dashboard")
    assert page.status_code == 200
    html = page.text
    assert 'href="/rep/dashboard"' in html  # the nav link
    assert html.count("<svg") == 4 and '<title id="chart-within5-t">' in html
    text = _text(html)
    assert "2026-10-05 〜 2026-11-27" in text
    assert "引き継ぎ 4件 初回接触 3件" in text
    assert "初回接触まで（中央値） 3.0分 平均 11.3分・p90 24.6分" in text
    assert "5分以内対応率 50.0%" in text
    assert "SLA遵守率 33.3% 1 / 3件" in text
    assert "初回接触率 75.0%" in text
    assert "Bot初回応答（p50） 4.0秒 p90 48.8秒" in text
    assert "事例の開封率 66.7% 送った事例 3件のうち開封 2件" in text
    assert "事前資料閲覧率 50.0% 事前メール 2件のうち閲覧 1件" in text
    assert "no-show率は 50.0%" in text

    speed = _csv(await client.get("/rep/dashboard.csv?table=speed"))
    assert speed[0][:3] == ["区分", "値", "引き継ぎ数"]
    assert speed[1] == [
        "全体", "", "4", "4.0", "48.8", "3", "11.3", "3.0", "24.6", "2", "50.0", "1", "3",
        "33.3", "75.0",
    ]  # fmt: skip
    rows = {(r[0], r[1]): r for r in speed[2:]}
    assert rows[("到着", "営業時間内")][2] == "3" and rows[("到着", "営業時間外")][2] == "1"
    assert rows[("到着", "営業時間外")][11:13] == ["0", "1"]  # 0 of 1 decided met
    assert rows[("チャネル", "LINE")][7] == "30.0"
    assert rows[("チーム", "field")][14] == "0.0"
    assert rows[("担当者", "佐藤 花子")][2] == "3"  # H1, H4 contacted by her, H3 owned

    leaders = _csv(await client.get("/rep/dashboard.csv?table=leaderboard"))
    assert leaders[1:] == [
        ["1", "佐藤 花子", "2", "2.0", "100.0"],
        ["2", "鈴木 一郎", "1", "30.0", "0.0"],
    ]

    funnel = _csv(await client.get("/rep/dashboard.csv?table=funnel"))
    overall = [(r[2], r[3], r[4]) for r in funnel[1:] if r[0] == "全体"]
    assert overall == [
        ("リード", "5", ""),
        ("引き継ぎ", "4", "80.0"),
        ("初回接触", "3", "75.0"),
        ("商談予約", "3", "100.0"),
        ("商談実施", "1", "33.3"),
        ("0.5次商談完了", "2", "200.0"),
        ("商談化", "1", "50.0"),
    ]
    autumn = [(r[2], r[3]) for r in funnel[1:] if r[:2] == ["キャンペーン", "autumn"]]
    assert autumn[:3] == [("リード", "2"), ("引き継ぎ", "2"), ("初回接触", "1")]  # from handoffs
    web = [(r[2], r[3]) for r in funnel[1:] if r[:2] == ["チャネル", "Webチャット"]]
    assert web[:2] == [("リード", "3"), ("引き継ぎ", "2")]

    content = dict(_csv(await client.get("/rep/dashboard.csv?table=content"))[1:])
    assert content["送った事例の数"] == "3" and content["事例の開封率（%）"] == "66.7"
    assert content["事前資料閲覧率（%）"] == "50.0" and content["no-show率（%）"] == "50.0"

    weekly = _csv(await client.get("/rep/dashboard.csv?table=weekly"))
    assert weekly[1][0] == "2026-10-05" and len(weekly) == 9
    by_week = {r[0]: r for r in weekly[1:]}
    assert by_week["2026-11-16"][1] == "3" and by_week["2026-11-23"][1] == "1"
    assert by_week["2026-11-02"][1] == "0"


async def test_a_rep_sees_only_their_own(app: FastAPI, client: httpx.AsyncClient, rep: Rep) -> None:
    """佐藤 (role rep) sees H1, H3, H4; 鈴木 only H2; a rep filter can't widen it."""
    made = await _week(app, rep)
    await _login(client, EMAIL, PASSWORD)
    html = (await client.get(f"/rep/dashboard?rep={made['other'].id}")).text
    assert "あなたが担当または対応した引き継ぎのみ" in html
    assert "鈴木" not in html
    speed = _csv(await client.get(f"/rep/dashboard.csv?table=speed&rep={made['other'].id}"))
    assert speed[1][2] == "0"  # her own AND 鈴木's: nothing
    speed = _csv(await client.get("/rep/dashboard.csv?table=speed"))
    assert speed[1][2:4] == ["3", "31.0"]  # bot p50 of 2 and 60 seconds
    await client.post(
        "/rep/logout",
        data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)},
    )  # type: ignore[union-attr]
    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    async with other:
        await _login(other, *OTHER)
        speed = _csv(await other.get("/rep/dashboard.csv?table=speed"))
        assert speed[1][2] == "1" and speed[1][7] == "30.0"


async def test_filters_and_fresh_facts(
    app: FastAPI, client: httpx.AsyncClient, rep: Rep, clock: FixedClock
) -> None:
    """Channel, team and rep filters; a contact recorded after a view is counted at the next."""
    made = await _week(app, rep)
    await _login(client, *MANAGER)
    line = _csv(await client.get("/rep/dashboard.csv?table=speed&channel=line"))
    assert line[1][2] == "1"
    team = _csv(await client.get("/rep/dashboard.csv?table=speed&team=field"))
    assert team[1][2] == "1"
    who = _csv(await client.get(f"/rep/dashboard.csv?table=speed&rep={made['other'].id}"))
    assert who[1][2] == "1"
    window = _csv(await client.get("/rep/dashboard.csv?table=speed&from=2026-11-23&to=2026-11-27"))
    assert window[1][2] == "1"

    # H3 is contacted now (Friday 15:00): Tue 9:00 .. Fri 15:00 = 3 days x 8h + 6h - 1h lunch
    h3 = made["h"][2]
    async with app.state.runtime.sessions() as session, session.begin():
        row = await session.get(HandoffRow, h3)
        assert row is not None
        row.contacted_at, row.contacted_by, row.updated_at = NOW, rep.id, NOW
    team = _csv(await client.get("/rep/dashboard.csv?table=speed&team=field"))
    assert team[1][5:8] == ["1", str(f"{(3 * 8 + 5) * 60:.1f}"), str(f"{(3 * 8 + 5) * 60:.1f}")]

    # H4 qualified by code that leaves updated_at alone; H3 deleted (a lead's data erased)
    async with app.state.runtime.sessions() as session, session.begin():
        row = await session.get(HandoffRow, made["h"][3])
        assert row is not None
        row.qualified_at, row.qualified = NOW, True
        await session.delete(await session.get(HandoffRow, h3))
    funnel = _csv(await client.get("/rep/dashboard.csv?table=funnel"))
    overall = {r[2]: r[3] for r in funnel[1:] if r[0] == "全体"}
    assert overall["引き継ぎ"] == "3" and overall["0.5次商談完了"] == "3"
    assert overall["商談化"] == "2"
    team = _csv(await client.get("/rep/dashboard.csv?table=speed&team=field"))
    assert team[1][2] == "0"


@pytest.mark.parametrize(
    "query",
    [
        "from=2026-13-45&to=x",
        "from=2027-01-01&to=2026-01-01",
        "from=1900-01-01",
        "channel=%00&team=" + "t" * 500 + "&rep=-1",
        "rep=99999999999999999999",
        "table=../../etc/passwd",
    ],
)
async def test_malformed_filters_fall_back(
    app: FastAPI, client: httpx.AsyncClient, rep: Rep, query: str
) -> None:
    await _login(client, EMAIL, PASSWORD)
    assert (await client.get(f"/rep/dashboard?{query}")).status_code == 200
    assert _csv(await client.get(f"/rep/dashboard.csv?{query}"))[0][0] == "区分"
