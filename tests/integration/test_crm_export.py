"""The handoff CSV (``GET /rep/handoffs.csv`` and ``autoreply handoffs export --csv``) on
both databases: what Excel in Japan opens, every CRM field, who sees which rows."""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import httpx

from autoreply.clock import FixedClock
from autoreply.domain.crm_export import header
from autoreply.service import crm
from autoreply.store.models import FollowUp, HandoffRow, Lead
from autoreply.web.app import create_app
from tests.conftest import make_settings, tokyo
from tests.integration.conftest import PASSWORD
from tests.integration.test_cli import run
from tests.integration.test_crm import TEAM
from tests.integration.test_sla import World, chat, write_routing

TUESDAY = tokyo(2026, 11, 24, 10, 0)
TRICKY = '株式会社テスト, 営業部\n「至急」と "本人" 談'
EVIL = '=HYPERLINK("http://evil.example/","x")'


@asynccontextmanager
async def world(url: str, clock: FixedClock, tmp_path: Path) -> AsyncIterator[World]:
    settings = make_settings(
        database_url=url, routing=write_routing(tmp_path, TEAM), run_worker=False
    )
    app = create_app(settings, clock=clock, migrate=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as web:
            built = World(app, web)
            for name, address, role in (
                ("伊藤 一郎", "ito@example.com", "rep"),
                ("加藤 次郎", "kato@example.com", "rep"),
                ("上田 部長", "boss@example.com", "manager"),
            ):
                await built.rep(name, address, role=role, password=PASSWORD)
            yield built


def rows_of(data: bytes) -> list[dict[str, str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 with a BOM"
    text = data.decode("utf-8")
    rows = list(csv.reader(io.StringIO(text[1:], newline="")))
    again = io.StringIO()
    csv.writer(again, lineterminator="\r\n").writerows(rows)
    assert again.getvalue() == text[1:], "every row ends CRLF, quoted only where needed"
    assert rows[0] == header()
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


async def two_handoffs(w: World, clock: FixedClock) -> tuple[HandoffRow, HandoffRow]:
    """伊藤's lead (booked, 0.5次商談 recorded, two follow-ups, a tricky company and a
    formula for a name) and 加藤's (declined the meeting)."""
    first = await w.handoff(await chat(w, utm="google"))
    clock.advance(timedelta(minutes=1))
    second = await w.handoff(await chat(w, book=False))
    async with w.runtime.sessions() as session, session.begin():
        lead = await session.get(Lead, first.lead_id)
        row = await session.get(HandoffRow, first.id)
        assert lead is not None and row is not None
        lead.company, lead.name = TRICKY, EVIL
        row.qualification = {
            "challenge": "夜間の一次対応",
            "decision_maker": "営業部長",
            "timeline": "来期",
            "budget": "月10万円",
            "concerns": "既存CRMとの連携",
            "next_action": "資料送付",
            "next_action_due": "2026-11-27",
            "qualified": True,
        }
        row.qualified, row.qualified_at, row.qualified_by = True, clock.now(), row.owner_id
        for kind, status in (("second_call", "open"), ("send_material", "done")):
            session.add(
                FollowUp(
                    handoff_id=row.id,
                    lead_id=row.lead_id,
                    kind=kind,
                    due_at=clock.now() + timedelta(days=1),
                    status=status,
                    owner_id=row.owner_id,
                    created_at=clock.now(),
                )
            )
    return first, second


async def test_the_manager_downloads_every_field_excel_ready(migrated: str, tmp_path: Path) -> None:
    clock = FixedClock(TUESDAY)
    async with world(migrated, clock, tmp_path) as w:
        first, second = await two_handoffs(w, clock)
        await w.login("boss@example.com")
        got = await w.web.get("/rep/handoffs.csv")
        assert got.status_code == 200
        assert got.headers["content-type"] == "text/csv; charset=utf-8"
        assert got.headers["content-disposition"] == 'attachment; filename="handoffs-20261124.csv"'
        assert got.headers["cache-control"] == "no-store"
        rows = rows_of(got.content)
        assert [r["引き継ぎID"] for r in rows] == [str(first.id), str(second.id)]
        one = rows[0]
        assert one["会社名"] == TRICKY and one["氏名"] == "'" + EVIL
        assert one["担当者"] == "伊藤 一郎" and one["担当者メール"] == "ito@example.com"
        assert one["チーム"] == "inside" and one["対応状況"] == "waiting"
        assert one["引き継ぎ日時"] == "2026-11-24 10:00"
        assert one["初回連絡期限"] == "2026-11-24 10:05"
        assert one["導入時期(区分)"] == "within_1_month" and one["導入時期(原文)"] == "1か月以内"
        assert one["課題(会話より)"] == "夜間の問い合わせ対応が遅れています"
        assert one["ティア"] in ("A", "B", "C") and one["スコア"].lstrip("-").isdigit()
        assert float(one["自動応答の初回応答(秒)"]) >= 0
        assert one["流入ページ"] == "https://example.com/" and one["utm_source"] == "google"
        assert one["チャネル"] == "web" and one["引き継ぎURL"].endswith(f"/rep/handoffs/{first.id}")
        assert one["商談日時"].startswith("2026-11-2") and one["商談ステータス"] == "confirmed"
        assert one["商談担当"]  # the rep the slot was booked with
        assert one["メールアドレス"].startswith("lead-")
        expected = {
            "課題": "夜間の一次対応",
            "意思決定者": "営業部長",
            "検討時期": "来期",
            "予算感": "月10万円",
            "懸念点": "既存CRMとの連携",
            "次アクション": "資料送付",
            "次アクション期日": "2026-11-27",
            "商談化": "1",
            "0.5次商談完了日時": "2026-11-24 10:01",
            "0.5次商談記録者": "伊藤 一郎",
            "フォロー件数": "2",
            "未完了フォロー件数": "1",
        }
        assert {k: one[k] for k in expected} == expected
        two = rows[1]
        assert two["担当者"] == "加藤 次郎" and two["商談日時"] == "" and two["課題"] == ""
        assert two["フォロー件数"] == "0" and two["商談化"] == ""

        contacted = await w.web.get("/rep/handoffs.csv?status=contacted")
        assert rows_of(contacted.content) == []
        line = await w.web.get("/rep/handoffs.csv?channel=line")
        assert rows_of(line.content) == []
        bad = await w.web.get("/rep/handoffs.csv?status=bogus")
        assert bad.status_code == 400


async def test_a_rep_gets_their_own_and_nobody_logged_out_gets_any(
    migrated: str, tmp_path: Path
) -> None:
    clock = FixedClock(TUESDAY)
    async with world(migrated, clock, tmp_path) as w:
        _, second = await two_handoffs(w, clock)
        away = await w.web.get("/rep/handoffs.csv")
        assert away.status_code == 303 and away.headers["location"] == "/rep/login"
        await w.login("kato@example.com")
        rows = rows_of((await w.web.get("/rep/handoffs.csv")).content)
        assert [r["引き継ぎID"] for r in rows] == [str(second.id)]
        listing = (await w.web.get("/rep/handoffs?status=all&channel=web")).text
        link = re.search(r'<a id="csv-download" href="([^"]+)"', listing)
        assert link and "（ご自身の担当分のみ）" in listing
        href = html.unescape(link.group(1))
        assert href == "/rep/handoffs.csv?status=all&channel=web"
        assert rows_of((await w.web.get(href)).content) == rows


async def test_pages_stream_the_same_rows_as_one_read(migrated: str, tmp_path: Path) -> None:
    """Read two at a time (each page its own query), the CSV is the same as in one page."""
    clock = FixedClock(TUESDAY)
    async with world(migrated, clock, tmp_path) as w:
        for _ in range(2):
            await two_handoffs(w, clock)
        readers = w.runtime.service.uow.readers

        async def text(page: int) -> tuple[str, int]:
            chunks = [c async for c in crm.export_csv(readers, w.runtime.content, page=page)]
            return "".join(chunks), len(chunks)

        whole, one_chunk = await text(1000)
        paged, chunks = await text(2)
        assert paged == whole and len(rows_of(whole.encode())) == 4
        assert (one_chunk, chunks) == (2, 3)  # header, then each page


async def test_the_command_line_writes_the_same_file(migrated: str, tmp_path: Path) -> None:
    clock = FixedClock(TUESDAY)
    async with world(migrated, clock, tmp_path) as w:
        await two_handoffs(w, clock)
        await w.login("boss@example.com")
        served = (await w.web.get("/rep/handoffs.csv")).content
    out = tmp_path / "handoffs.csv"
    env = {"AUTOREPLY_DATABASE_URL": migrated, "AUTOREPLY_ROUTING": str(tmp_path / "routing.yaml")}
    result = run("handoffs", "export", "--csv", str(out), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote {out}"
    assert out.read_bytes() == served
    bad = run("handoffs", "export", "--csv", str(out), "--status", "x", cwd=tmp_path, env=env)
    assert bad.returncode == 2
