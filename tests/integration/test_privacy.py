"""The lead's data rights on SQLite and PostgreSQL: export, delete (no trace left), a
merged lead, the rep pages for managers, the CLI, and the retention purge."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from autoreply.clock import FixedClock
from autoreply.domain.privacy import Subject
from autoreply.flows.turns import Inbound
from autoreply.service import reps
from autoreply.service.privacy import Privacy
from autoreply.store import repos
from autoreply.store.db import create_engine, is_sqlite, session_factory
from autoreply.store.models import (
    Base,
    FollowUp,
    HandoffEvent,
    Lead,
    OutboxRow,
    PrivacyLogEntry,
    RateCounter,
    Timer,
)
from autoreply.store.timers import Scheduler
from autoreply.web.app import create_app
from tests.conftest import make_settings, tokyo
from tests.integration.conftest import SATURDAY_NIGHT, _csrf, _login
from tests.integration.test_cli import run
from tests.integration.test_rep_pages import _asks_for_human, _books

TARO = "taro@example.com"
LINE_USER = "U" + "a1" * 16
CHALLENGE = "夜間の問い合わせに誰も答えられず機会を逃しています"
LINE_TEXT = "LINEからの秘密の相談です"
PHONE = "090-1234-5678"
NEEDLES = (TARO, "山田太郎", "1234-5678", LINE_USER, CHALLENGE, LINE_TEXT, "たろう")
OTHER = "hanako@example.org"
MANAGER = ("鈴木 管理者", "boss@example.com", "correct horse battery staple")


async def _person(app: FastAPI, client: httpx.AsyncClient) -> dict[str, int]:
    """Taro: a chat with a booking, a form with his phone, a LINE account merged into him
    (with a stored LINE event), a follow-up, a pending email, a timer, a rate counter."""
    runtime = app.state.runtime
    handoff = await _books(app, "web-taro", CHALLENGE)
    form = {
        "document": "case-book",
        "company": "株式会社サンプル",
        "name": "山田太郎",
        "email": TARO,
        "phone": PHONE,
        "consent": "yes",
    }
    posted = await client.post("/forms/document-request", data=form)
    assert posted.status_code == 303, posted.text
    now = runtime.content.clock.now()
    async with runtime.sessions() as session, session.begin():
        line_lead = await repos.resolve_lead(
            session, [("line", LINE_USER)], now, {"display_name": "たろう"}
        )
        line_id = line_lead.id
        await repos.record_inbound(
            session,
            "line",
            "evt-taro-1",
            now,
            {
                "type": "message",
                "source": {"type": "user", "userId": LINE_USER},
                "message": {"type": "text", "text": LINE_TEXT},
            },
        )
        survivor = await repos.resolve_lead(session, [("line", LINE_USER), ("email", TARO)], now)
        assert survivor.id != line_id  # the LINE lead was merged into the older one
        session.add(
            FollowUp(
                handoff_id=handoff,
                lead_id=line_id,
                kind="call",
                rule=None,
                due_at=now,
                status="open",
                created_at=now,
                note=f"{CHALLENGE} の件で架電",
            )
        )
        session.add(
            HandoffEvent(handoff_id=handoff, at=now, kind="note", detail={"text": "山田太郎様"})
        )
        await repos.enqueue(
            session,
            channel="email",
            kind="test",
            recipient=TARO,
            payload={"to": TARO},
            dedupe_key="taro-later",
            now=now,
            due=now + timedelta(days=1),
            lead_id=survivor.id,
        )
        await repos.schedule(
            session,
            kind="test",
            key=f"test:{handoff}",
            due_at=now + timedelta(days=1),
            payload={"handoff": handoff},
            now=now,
        )
        session.add(RateCounter(bucket="test", key=TARO, window_start=now, count=1, expires_at=now))
        survivor_id = survivor.id
    return {"lead": survivor_id, "line_lead": line_id, "handoff": handoff}


async def _other(app: FastAPI, client: httpx.AsyncClient) -> int:
    """Hanako: someone else entirely, who must come through untouched."""
    await _asks_for_human(app, "web-hanako")
    form = {
        "company": "別会社",
        "name": "鈴木花子",
        "email": OTHER,
        "message": "別の相談",
        "consent": "yes",
    }
    assert (await client.post("/forms/inquiry", data=form)).status_code == 303
    async with app.state.runtime.sessions() as session:
        found = await session.scalar(select(Lead.id).where(Lead.email == OTHER))
    assert found is not None
    return int(found)


async def _everything(app: FastAPI) -> str:
    """Every row of every table, as text."""
    out = []
    async with app.state.runtime.sessions() as session:
        for table in Base.metadata.sorted_tables:
            rows = (await session.execute(select(table))).mappings().all()
            out.append(json.dumps([dict(r) for r in rows], default=str, ensure_ascii=False))
    return "\n".join(out)


def _privacy(app: FastAPI) -> Privacy:
    runtime = app.state.runtime
    return Privacy(runtime.settings, runtime.content.clock)


async def test_the_export_holds_every_table_of_the_person_and_nothing_of_another(
    app: FastAPI, client: httpx.AsyncClient, rep: Any
) -> None:
    """By email, LINE user id or either lead id: the same person, every table, merged
    rows included, none of Hanako's; the export is logged without personal data."""
    ids = await _person(app, client)
    await _other(app, client)
    privacy = _privacy(app)
    async with app.state.runtime.sessions() as session, session.begin():
        by_email = await privacy.export(session, Subject.of(email=TARO), "test")
        by_line = await privacy.export(session, Subject.of(line_user=LINE_USER), "test")
        by_merged = await privacy.export(session, Subject.of(lead=str(ids["line_lead"])), "test")
    for document in (by_email, by_line, by_merged):
        assert document["lead_id"] == ids["lead"]
        assert document["merged_lead_ids"] == [ids["line_lead"]]
        assert document["counts"] == by_email["counts"]
    tables = by_email["tables"]
    empty = [t for t, rows in tables.items() if not rows]
    assert empty == [], f"no rows exported from {empty}"
    text = json.dumps(by_email, ensure_ascii=False)
    for needle in (TARO, "山田太郎", CHALLENGE, LINE_TEXT, LINE_USER, "たろう", "1234-5678"):
        assert needle in text, needle
    assert OTHER not in text and "鈴木花子" not in text and "別の相談" not in text
    assert {row["id"] for row in tables["leads"]} == {ids["lead"], ids["line_lead"]}
    assert [
        row["external_id"] for row in tables["lead_identities"] if row["channel"] == "line"
    ] == [LINE_USER]
    async with app.state.runtime.sessions() as session:
        logged = list(await session.scalars(select(PrivacyLogEntry)))
    assert [e.action for e in logged] == ["export"] * 3
    assert all(e.lead_id == ids["lead"] and e.counts == by_email["counts"] for e in logged)


async def test_delete_leaves_no_trace_of_the_person_and_keeps_the_other(
    app: FastAPI, client: httpx.AsyncClient, rep: Any
) -> None:
    """After deleting by LINE user id, none of Taro's address, name, phone, LINE id or
    words is anywhere in the database (the log neither); his pending emails and timers
    are gone; Hanako's data is all still there."""
    ids = await _person(app, client)
    other = await _other(app, client)
    before = await _everything(app)
    for needle in NEEDLES:
        assert needle in before, needle  # the search would see it
    found = await _privacy(app).delete_in(
        app.state.runtime.sessions, Subject.of(line_user=LINE_USER), "rep:1"
    )
    assert found.lead_id == ids["lead"] and found.counts["leads"] == 2
    assert found.counts["outbox"] >= 2 and found.counts["inbound_events"] == 1
    assert found.counts["timers"] >= 1 and found.counts["rate_counters"] == 1
    after = await _everything(app)
    for needle in NEEDLES:
        assert needle not in after, f"{needle!r} left in the database"
    assert OTHER in after and "鈴木花子" in after
    async with app.state.runtime.sessions() as session:
        pending = list(
            await session.scalars(select(OutboxRow).where(OutboxRow.status == "pending"))
        )
        timers = list(await session.scalars(select(Timer.key)))
        [entry] = list(await session.scalars(select(PrivacyLogEntry)))
        assert await repos.get_lead(session, other) is not None
    assert all(row.lead_id != ids["lead"] and TARO not in row.recipient for row in pending)
    assert f"test:{ids['handoff']}" not in timers
    assert (entry.action, entry.lead_id, entry.actor) == ("delete", ids["lead"], "rep:1")
    assert entry.counts == found.counts
    logged = json.dumps(
        {"counts": entry.counts, "actor": entry.actor, "action": entry.action}, ensure_ascii=False
    )
    assert not any(needle in logged for needle in NEEDLES)


async def _manager(app: FastAPI) -> None:
    async with app.state.runtime.sessions() as session, session.begin():
        await reps.create_rep(
            session,
            MANAGER[0],
            MANAGER[1],
            now=SATURDAY_NIGHT,
            password=MANAGER[2],
            role="manager",
        )


async def test_the_rep_pages_find_export_and_delete_after_a_confirmation(
    app: FastAPI, client: httpx.AsyncClient, rep: Any
) -> None:
    """A manager searches, sees the counts, downloads the JSON, is asked to confirm,
    then deletes; a rep gets 403; a form without the CSRF token changes nothing."""
    await _person(app, client)
    await _manager(app)
    assert (await _login(client)).status_code == 303  # a plain rep
    assert (await client.get("/rep/privacy")).status_code == 403
    posted = await client.post(
        "/rep/privacy/delete", data={"by": "email", "q": TARO, "confirm": "yes"}
    )
    assert posted.status_code == 403
    await client.post(
        "/rep/logout", data={"csrf_token": _csrf((await client.get("/rep/handoffs")).text)}
    )
    assert (await _login(client, MANAGER[1], MANAGER[2])).status_code == 303
    page = await client.get("/rep/privacy", params={"by": "email", "q": TARO})
    assert page.status_code == 200
    assert re.search(r"リード（統合されたリードを含む）</td><td class=\"n\">2件", page.text)
    token = _csrf(page.text)
    missing = await client.get("/rep/privacy", params={"by": "email", "q": "nobody@example.com"})
    assert missing.status_code == 404 and "保存されていません" in missing.text
    bad = await client.get("/rep/privacy", params={"by": "lead", "q": "abc"})
    assert bad.status_code == 400
    export = await client.post(
        "/rep/privacy/export", data={"by": "email", "q": TARO, "csrf_token": token}
    )
    assert export.status_code == 200
    assert export.headers["content-disposition"].startswith("attachment;")
    assert TARO in export.text and export.json()["counts"]["leads"] == 2
    forged = await client.post(
        "/rep/privacy/delete", data={"by": "email", "q": TARO, "confirm": "yes"}
    )
    assert forged.status_code == 403
    confirm = await client.post(
        "/rep/privacy/delete", data={"by": "email", "q": TARO, "csrf_token": token}
    )
    assert confirm.status_code == 200 and "削除を確定する" in confirm.text
    async with app.state.runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Lead)) >= 2  # not yet
    done = await client.post(
        "/rep/privacy/delete",
        data={"by": "email", "q": TARO, "csrf_token": token, "confirm": "yes"},
    )
    assert done.status_code == 200 and "削除しました" in done.text
    assert TARO not in await _everything(app)
    again = await client.get("/rep/privacy", params={"by": "email", "q": TARO})
    assert again.status_code == 404


async def test_the_cli_exports_to_a_file_and_deletes_only_with_yes(
    app: FastAPI, client: httpx.AsyncClient, rep: Any, tmp_path: Path
) -> None:
    """`leads export --out` writes the JSON (owner-only); `leads delete` without --yes
    only counts; with --yes it deletes."""
    ids = await _person(app, client)
    url = app.state.runtime.settings.database_url
    env = {"AUTOREPLY_DATABASE_URL": url, "AUTOREPLY_SECRET_KEY": "test-secret"}
    out = tmp_path / "taro.json"
    exported = run(
        "leads", "export", "--lead", str(ids["line_lead"]), "--out", str(out), cwd=tmp_path, env=env
    )
    assert exported.returncode == 0, exported.stderr
    assert json.loads(out.read_text(encoding="utf-8"))["lead_id"] == ids["lead"]
    assert out.stat().st_mode & 0o077 == 0
    dry = run("leads", "delete", "--email", TARO, cwd=tmp_path, env=env)
    assert dry.returncode == 1 and "--yes" in dry.stdout and "leads\t2" in dry.stdout
    assert TARO in await _everything(app)
    done = run("leads", "delete", "--email", TARO, "--yes", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert TARO not in await _everything(app)
    gone = run("leads", "export", "--email", TARO, cwd=tmp_path, env=env)
    assert gone.returncode == 1 and "nothing is stored" in gone.stderr
    both = run("leads", "export", "--email", TARO, "--lead", "1", cwd=tmp_path, env=env)
    assert both.returncode == 2


# -- retention ---------------------------------------------------------------------------------


@pytest.fixture
async def kept_app(migrated: str, clock: FixedClock) -> AsyncIterator[FastAPI]:
    """The app with a 6-month retention and no background work (the test fires timers)."""
    settings = make_settings(database_url=migrated, retention_months=6, run_worker=False)
    application = create_app(settings, clock=clock, migrate=False)
    async with application.router.lifespan_context(application):
        yield application


async def test_retention_purges_after_n_months_once_across_two_schedulers(
    kept_app: FastAPI, clock: FixedClock
) -> None:
    """A lead last active 21 Nov is kept on 20 May 03:00 (not yet six months) and purged
    on 22 May 03:00, once, though two schedulers on two engines look; a lead active
    since stays; the run sets the next day's."""
    app = kept_app
    runtime = app.state.runtime
    service = runtime.service
    old = await service.start(channel="web", identities=[("web", "old")], source={})
    await service.handle(old.conversation_id, Inbound("text", text="来月中旬"))
    clock.set(tokyo(2027, 3, 1, 10, 0))
    recent = await service.start(channel="web", identities=[("web", "recent")], source={})
    await service.handle(recent.conversation_id, Inbound("text", text="来月中旬"))
    url = runtime.settings.database_url
    other_engine = create_engine(url)
    try:
        privacy = Privacy(runtime.settings, clock)
        schedulers = [
            runtime.scheduler,
            Scheduler(
                session_factory(other_engine),
                clock,
                {"retention": privacy.run},
                postgres=not is_sqlite(url),
            ),
        ]

        async def drain(scheduler: Scheduler) -> None:
            while await scheduler.run_once():
                pass

        async def fire() -> None:  # both at once, as two processes would
            await asyncio.gather(*(drain(s) for s in schedulers))

        async def leads() -> int:
            async with runtime.sessions() as session:
                return int(await session.scalar(select(func.count()).select_from(Lead)) or 0)

        clock.set(tokyo(2027, 5, 20, 3, 0))
        async with runtime.sessions() as session, session.begin():
            await privacy.schedule_next(session, tokyo(2027, 5, 19, 12, 0))
        await fire()
        assert await leads() == 2
        clock.set(tokyo(2027, 5, 22, 3, 0))
        async with runtime.sessions() as session, session.begin():
            await privacy.schedule_next(session, tokyo(2027, 5, 21, 12, 0))
        await fire()
        assert await leads() == 1
        async with runtime.sessions() as session:
            entries = list(await session.scalars(select(PrivacyLogEntry)))
            done = list(
                await session.scalars(
                    select(Timer.key).where(Timer.kind == "retention", Timer.status == "done")
                )
            )
            pending = list(
                await session.scalars(
                    select(Timer.key).where(Timer.kind == "retention", Timer.status == "pending")
                )
            )
            left = await session.scalar(select(Lead.id))
        assert [(e.action, e.actor) for e in entries] == [("purge", "retention")]
        assert entries[0].counts["messages"] >= 2 and entries[0].lead_id != left
        assert "retention:2027-05-22" in done and "retention:2027-05-20" in done
        assert pending == ["retention:2027-05-23"]
    finally:
        await other_engine.dispose()


# -- consent on forms --------------------------------------------------------------------------

FORM = {
    "document": "service-overview",
    "company": "株式会社サンプル",
    "name": "山田太郎",
    "email": TARO,
}


async def test_a_form_without_consent_is_refused_and_with_it_the_lead_keeps_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The form shows the required 「個人情報の取り扱いに同意する」 with the policy link; a
    post without it (HTML: the form again, 400; JSON: 422 with the reason) stores nothing;
    with it the lead records when and which version was agreed."""
    page = await client.get("/forms/document-request")
    assert "個人情報の取り扱いに同意する" in page.text
    assert re.search(
        r'<input id="f-consent" type="checkbox" name="consent" value="yes" required', page.text
    )
    assert '<a href="/privacy"' in page.text
    english = await client.get("/forms/document-request-en")
    assert '<a href="/privacy/en"' in english.text and "I agree" in english.text
    refused = await client.post("/forms/document-request", data=FORM)
    assert refused.status_code == 400 and "個人情報の取り扱いへの同意が必要です。" in refused.text
    as_json = await client.post("/forms/document-request", json=FORM)
    assert as_json.status_code == 422
    assert as_json.json()["errors"]["consent"]["code"] == "consent_required"
    said_no = await client.post("/forms/document-request", json={**FORM, "consent": False})
    assert said_no.status_code == 422
    async with app.state.runtime.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Lead)) == 0
    accepted = await client.post("/forms/document-request", json={**FORM, "consent": True})
    assert accepted.status_code == 202, accepted.text
    async with app.state.runtime.sessions() as session:
        lead = await session.get(Lead, accepted.json()["lead_id"])
    assert lead is not None
    assert lead.consent_at == SATURDAY_NIGHT
    assert lead.consent_version == app.state.runtime.settings.privacy_policy_version


async def test_the_privacy_notice_pages(client: httpx.AsyncClient) -> None:
    """/privacy is a polite Japanese notice with the version agreed to; /privacy/en too."""
    ja = await client.get("/privacy")
    assert ja.status_code == 200 and "個人情報の取り扱いについて" in ja.text
    assert "開示、訂正、利用停止、消去" in ja.text and "2026-12-01" in ja.text
    en = await client.get("/privacy/en")
    assert en.status_code == 200 and "How we handle your personal information" in en.text
