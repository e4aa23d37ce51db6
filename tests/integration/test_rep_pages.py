"""The rep's side on SQLite and PostgreSQL: login, CSRF, the handoff pages, the JSON API, CLI."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from autoreply.clock import FixedClock
from autoreply.flows.turns import Inbound, SlotPicker
from autoreply.service import reps
from autoreply.store.db import create_engine, session_factory
from autoreply.store.models import Booking, Conversation, HandoffRow, Rep
from tests.conftest import tokyo
from tests.integration.conftest import EMAIL, PASSWORD, _csrf, _login
from tests.integration.test_cli import run

SCRIPT = "<script>alert(1)</script>"


async def _handoff_id(app: FastAPI, conversation_id: str) -> int:
    async with app.state.runtime.sessions() as session:
        found = await session.scalar(
            select(HandoffRow.id)
            .join(Conversation, HandoffRow.conversation_id == Conversation.id)
            .where(Conversation.public_id == conversation_id)
        )
    assert found is not None
    return int(found)


async def _asks_for_human(app: FastAPI, external_id: str, channel: str = "web") -> int:
    """A lead who only asks for a person: a Tier C handoff, reason asked_for_human."""
    service = app.state.runtime.service
    started = await service.start(
        channel=channel,
        identities=[(channel, external_id)],
        source={"url": "https://example.com/pricing", "title": "料金"},
    )
    result = await service.handle(started.conversation_id, Inbound("text", text="担当者と話したい"))
    assert result.handoff is not None and result.handoff.reason == "asked_for_human"
    return await _handoff_id(app, started.conversation_id)


async def _books(app: FastAPI, external_id: str, challenge: str) -> int:
    """A lead who gives a timing and a challenge, books the first slot: Tier A 'booked'."""
    service = app.state.runtime.service
    started = await service.start(
        channel="web",
        identities=[("web", external_id)],
        source={"url": "https://example.com/pricing", "title": "料金", "utm": {"source": "ads"}},
    )
    cid = started.conversation_id
    for path in ("/pricing", "/pricing/enterprise", "/cases"):
        await service.record_page(cid, f"https://example.com{path}", path)
    await service.handle(cid, Inbound("text", text="来月中旬"))
    offered = await service.handle(cid, Inbound("text", text=challenge))
    picker = next(r for r in offered.replies if isinstance(r, SlotPicker))
    await service.handle(cid, Inbound("slot", text=picker.slots[0].label, value=picker.slots[0].id))
    for text in ("山田太郎", "株式会社<b>サンプル</b>", "taro@example.com"):
        last = await service.handle(cid, Inbound("text", text=text))
    assert last.handoff is not None and last.handoff.tier == "A"
    return await _handoff_id(app, cid)


def _row_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr class="handoff" data-id="(\d+)"', html)]


# -- login, sessions, CSRF ----------------------------------------------------------------------


async def test_pages_redirect_to_login_when_logged_out(client: httpx.AsyncClient) -> None:
    """Without a session every rep page sends the browser to the login page."""
    for path in ("/rep/handoffs", "/rep/handoffs/1", "/rep"):
        response = await client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].endswith("/rep/login") or path == "/rep"
    posted = await client.post("/rep/handoffs/1/contacted", data={"csrf_token": "x"})
    assert posted.status_code == 303 and posted.headers["location"] == "/rep/login"


async def test_login_success_and_failure(client: httpx.AsyncClient, rep: Rep) -> None:
    """A wrong password shows the Japanese error (400); the right one opens the list."""
    wrong = await _login(client, password="not the password")
    assert wrong.status_code == 400
    assert "メールアドレスまたはパスワードが正しくありません" in wrong.text
    unknown = await _login(client, email="nobody@example.com")
    assert unknown.status_code == 400
    ok = await _login(client, email="Sato@Example.com")
    assert ok.status_code == 303 and ok.headers["location"] == "/rep/handoffs"
    cookie = ok.headers["set-cookie"]
    assert cookie.startswith("autoreply_session=")
    for flag in ("httponly", "samesite=lax", "path=/rep", "Max-Age=43200"):
        assert flag in cookie
    listing = await client.get("/rep/handoffs")
    assert listing.status_code == 200 and "佐藤 花子" in listing.text
    assert listing.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in listing.headers["content-security-policy"]


async def test_list_header_says_in_hours_or_the_next_opening(
    client: httpx.AsyncClient, rep: Rep, clock: FixedClock
) -> None:
    """Inside business hours the list says 「営業時間内（…まで）」, never "next opening: now";
    outside, and in the lunch break, the next opening."""
    clock.set(tokyo(2026, 12, 2, 16, 57))  # a session lasts 12 hours of the clock
    assert (await _login(client)).status_code == 303
    inside = (await client.get("/rep/handoffs")).text
    assert "営業時間内（18:00まで）" in inside and "次の営業開始" not in inside
    clock.set(tokyo(2026, 12, 2, 12, 20))
    assert "次の営業開始: 12月2日(水) 13:00" in (await client.get("/rep/handoffs")).text
    clock.set(tokyo(2026, 12, 2, 18, 0))
    assert "次の営業開始: 12月3日(木) 9:00" in (await client.get("/rep/handoffs")).text


async def test_five_failures_lock_the_address_for_15_minutes(
    client: httpx.AsyncClient, rep: Rep, clock: FixedClock
) -> None:
    """After 5 wrong passwords even the right one is refused, until 15 minutes pass."""
    for _ in range(5):
        assert (await _login(client, password="guess-guess")).status_code == 400
    locked = await _login(client)
    assert locked.status_code == 429 and "15分ほど待って" in locked.text
    clock.advance(timedelta(minutes=14))
    assert (await _login(client)).status_code == 429
    clock.advance(timedelta(minutes=2))
    assert (await _login(client)).status_code == 303


async def test_forms_without_the_right_csrf_token_are_refused(
    client: httpx.AsyncClient, app: FastAPI, rep: Rep
) -> None:
    """Login, contacted and logout need the session's CSRF token: else 403 with a clear page."""
    await client.get("/rep/login")
    missing = await client.post("/rep/login", data={"email": EMAIL, "password": PASSWORD})
    assert missing.status_code == 403 and "CSRF" in missing.text
    wrong = await client.post(
        "/rep/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": "forged"}
    )
    assert wrong.status_code == 403
    assert (await _login(client)).status_code == 303
    handoff = await _asks_for_human(app, "v1")
    forged = await client.post(f"/rep/handoffs/{handoff}/contacted", data={"csrf_token": "x"})
    assert forged.status_code == 403 and "送信を受け付けられませんでした" in forged.text
    assert (await client.post(f"/rep/handoffs/{handoff}/contacted")).status_code == 403
    assert (await client.post("/rep/logout", data={"csrf_token": "x"})).status_code == 403
    still = await client.get(f"/rep/handoffs/{handoff}")
    assert still.status_code == 200 and "対応済みにする" in still.text


async def test_logout_ends_the_session(client: httpx.AsyncClient, rep: Rep) -> None:
    """After logging out the pages redirect to the login page again."""
    await _login(client)
    page = await client.get("/rep/handoffs")
    out = await client.post("/rep/logout", data={"csrf_token": _csrf(page.text)})
    assert out.status_code == 303 and out.headers["location"] == "/rep/login"
    assert (await client.get("/rep/handoffs")).status_code == 303


async def test_a_deactivated_rep_is_logged_out(
    client: httpx.AsyncClient, app: FastAPI, rep: Rep
) -> None:
    """A session of a rep who was deactivated stops working at the next request."""
    await _login(client)
    async with app.state.runtime.sessions() as session, session.begin():
        (await session.get(Rep, rep.id)).active = False  # type: ignore[union-attr]
    assert (await client.get("/rep/handoffs")).status_code == 303
    assert (await _login(client)).status_code == 400


# -- the pages -----------------------------------------------------------------------------------


async def test_list_is_tier_a_first_then_newest_and_filters(
    client: httpx.AsyncClient, app: FastAPI, rep: Rep, clock: FixedClock
) -> None:
    """Tier A comes first, then the newest; status and channel filters narrow the list."""
    older = await _asks_for_human(app, "v1")
    clock.advance(timedelta(minutes=5))
    tier_a = await _books(app, "v2", "夜間の問い合わせ対応が遅れています")
    clock.advance(timedelta(minutes=5))
    newer = await _asks_for_human(app, "v3")
    clock.advance(timedelta(minutes=5))
    on_line = await _asks_for_human(app, "U123", channel="line")
    await _login(client)
    listing = await client.get("/rep/handoffs")
    assert _row_ids(listing.text) == [tier_a, on_line, newer, older]
    assert "担当者との会話を希望" in listing.text and "1か月以内" in listing.text
    assert "11月21日(土) 23:20" in listing.text  # created time in Asia/Tokyo
    line_only = await client.get("/rep/handoffs", params={"channel": "line"})
    assert _row_ids(line_only.text) == [on_line]
    web_only = await client.get("/rep/handoffs", params={"channel": "web", "status": "all"})
    assert _row_ids(web_only.text) == [tier_a, newer, older]
    none_yet = await client.get("/rep/handoffs", params={"status": "contacted"})
    assert _row_ids(none_yet.text) == [] and "該当する引き継ぎはありません" in none_yet.text


async def test_detail_shows_what_the_rep_needs_and_escapes_the_leads_words(
    client: httpx.AsyncClient, app: FastAPI, rep: Rep
) -> None:
    """First line, timing in their words, booking, pages, cases; a lead's <script> is text."""
    handoff = await _books(app, "v1", f"{SCRIPT} 夜間の問い合わせ対応が遅れています")
    await _login(client)
    page = await client.get(f"/rep/handoffs/{handoff}")
    assert page.status_code == 200
    html = page.text
    assert "山田太郎様、サンプル株式会社の" in html and "でございます。" in html
    assert "お問い合わせいただき、ありがとうございました。" in html
    assert 'id="copy-first-line"' in html and "navigator.clipboard" in html
    assert "ご本人の言葉:「来月中旬」" in html and "2026年12月11日〜2026年12月20日" in html
    assert "11月24日(火) 10:00（担当: デモ担当 山田）" in html
    assert "料金ページを2回閲覧" in html and "source=ads" in html
    assert "未クリック" in html and "夜間" in html
    assert "商談予約あり" in html and "+40" in html
    assert "taro@example.com" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert SCRIPT not in html
    assert "株式会社&lt;b&gt;サンプル&lt;/b&gt;" in html and "<b>サンプル" not in html
    missing = await client.get("/rep/handoffs/99999")
    assert missing.status_code == 404 and "見つかりません" in missing.text


async def test_contacted_records_the_time_and_the_rep(
    client: httpx.AsyncClient, app: FastAPI, rep: Rep, clock: FixedClock
) -> None:
    """「対応済みにする」 stores who and when, shows the time to first contact, moves the row."""
    handoff = await _asks_for_human(app, "v1")
    clock.set(tokyo(2026, 11, 24, 9, 35))  # the rep logs in on Tuesday morning
    await _login(client)
    page = await client.get(f"/rep/handoffs/{handoff}")
    done = await client.post(
        f"/rep/handoffs/{handoff}/contacted", data={"csrf_token": _csrf(page.text)}
    )
    assert done.status_code == 303 and done.headers["location"] == f"/rep/handoffs/{handoff}"
    shown = (await client.get(f"/rep/handoffs/{handoff}")).text
    assert "対応済み: 11月24日(火) 9:35（佐藤 花子）" in shown
    assert "初回対応まで: 58時間25分" in shown and "対応済みにする" not in shown
    async with app.state.runtime.sessions() as session:
        row = await session.get(HandoffRow, handoff)
    assert row is not None and row.status == "contacted" and row.contacted_by == rep.id
    assert row.contacted_at == tokyo(2026, 11, 24, 9, 35)
    contacted = await client.get("/rep/handoffs", params={"status": "contacted"})
    assert _row_ids(contacted.text) == [handoff]
    assert _row_ids((await client.get("/rep/handoffs")).text) == []


# -- the JSON API -------------------------------------------------------------------------------


async def _token(app: FastAPI, email: str = EMAIL) -> str:
    async with app.state.runtime.sessions() as session, session.begin():
        return await reps.issue_token(session, email)


async def test_api_lists_reads_and_marks_contacted_with_a_token(
    client: httpx.AsyncClient, app: FastAPI, rep: Rep, clock: FixedClock
) -> None:
    """The same queue as JSON: list in order, one record in full, contacted by the token's rep."""
    older = await _asks_for_human(app, "v1")
    clock.advance(timedelta(minutes=1))
    tier_a = await _books(app, "v2", "夜間の問い合わせ対応が遅れています")
    auth = {"Authorization": f"Bearer {await _token(app)}"}
    listed = await client.get("/api/rep/handoffs", headers=auth)
    assert listed.status_code == 200
    items = listed.json()
    assert [i["id"] for i in items] == [tier_a, older]
    assert items[0]["tier"] == "A" and items[0]["channel"] == "web"
    assert items[0]["lead"] == {"name": "山田太郎", "company": "株式会社<b>サンプル</b>"}
    assert items[0]["first_line"].startswith("株式会社<b>サンプル</b> 山田太郎様")
    detail = (await client.get(f"/api/rep/handoffs/{tier_a}", headers=auth)).json()
    assert detail["record"]["timing"]["text"] == "来月中旬"
    assert detail["record"]["booking"]["start_text"] == "11月24日(火) 10:00"
    assert detail["status"] == "waiting" and detail["contacted_at"] is None
    clock.set(tokyo(2026, 11, 24, 9, 5))
    done = await client.post(f"/api/rep/handoffs/{older}/contacted", headers=auth)
    assert done.status_code == 200
    body = done.json()
    assert body["status"] == "contacted" and body["contacted_by"] == rep.id
    assert body["contacted_at"].startswith("2026-11-24T00:05:00")
    contacted = await client.get("/api/rep/handoffs?status=contacted", headers=auth)
    assert [i["id"] for i in contacted.json()] == [older]
    assert (await client.get("/api/rep/handoffs?channel=line", headers=auth)).json() == []
    assert (await client.get("/api/rep/handoffs/99999", headers=auth)).status_code == 404
    assert (await client.post("/api/rep/handoffs/99999/contacted", headers=auth)).status_code == 404
    assert (await client.get("/api/rep/handoffs?status=bogus", headers=auth)).status_code == 422


async def test_api_refuses_missing_wrong_and_replaced_tokens(
    client: httpx.AsyncClient, app: FastAPI, rep: Rep
) -> None:
    """401 with a reason for no token, a wrong one, and the one a new token replaced."""
    missing = await client.get("/api/rep/handoffs")
    assert missing.status_code == 401 and "Bearer" in missing.json()["detail"]
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = await client.get("/api/rep/handoffs", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "unknown" in wrong.json()["detail"]
    old = await _token(app)
    new = await _token(app)
    replaced = await client.get("/api/rep/handoffs", headers={"Authorization": f"Bearer {old}"})
    assert replaced.status_code == 401
    ok = await client.get("/api/rep/handoffs", headers={"Authorization": f"Bearer {new}"})
    assert ok.status_code == 200
    session_only = await _login(client)
    assert session_only.status_code == 303
    assert (await client.get("/api/rep/handoffs")).status_code == 401  # cookies do not count


async def test_the_api_is_in_openapi_and_the_pages_are_not(client: httpx.AsyncClient) -> None:
    """/api/rep/* is documented under the "rep" tag with its bearer scheme."""
    schema = (await client.get("/openapi.json")).json()
    paths = schema["paths"]
    assert paths["/api/rep/handoffs"]["get"]["tags"] == ["rep"]
    assert "401" in paths["/api/rep/handoffs/{handoff_id}/contacted"]["post"]["responses"]
    assert schema["components"]["securitySchemes"]["RepToken"]["scheme"] == "bearer"
    assert not any(p.startswith("/rep") for p in paths)


# -- the command line --------------------------------------------------------------------------


def test_cli_manages_rep_logins_tokens_and_hours(tmp_path: Path) -> None:
    """`reps add/password/token/hours` as an operator runs them, against a SQLite file."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'reps.db'}"
    env = {"AUTOREPLY_DATABASE_URL": url}
    added = run("reps", "add", "鈴木 一郎", "ichiro@example.com", cwd=tmp_path, env=env)
    assert added.returncode == 0, added.stderr
    generated = re.search(r"password \(shown only now\): (\S+)", added.stdout)
    assert generated and len(generated.group(1)) >= reps.MIN_PASSWORD_LENGTH
    assert _check(url, "ichiro@example.com", generated.group(1))

    piped = run(
        "reps",
        "add",
        "高橋 二郎",
        "jiro@example.com",
        "--password-stdin",
        cwd=tmp_path,
        env=env,
        stdin="jiro-secret-123\n",
    )
    assert piped.returncode == 0 and "password" not in piped.stdout.split("\n", 1)[1]
    assert _check(url, "jiro@example.com", "jiro-secret-123")

    changed = run(
        "reps",
        "password",
        "ichiro@example.com",
        "--password-stdin",
        cwd=tmp_path,
        env=env,
        stdin="brand-new-password\n",
    )
    assert changed.returncode == 0, changed.stderr
    assert _check(url, "ichiro@example.com", "brand-new-password")
    assert not _check(url, "ichiro@example.com", generated.group(1))
    short = run(
        "reps", "password", "ichiro@example.com", "--password-stdin", cwd=tmp_path, env=env,
        stdin="short\n",
    )  # fmt: skip
    assert short.returncode == 1 and "at least 10 characters" in short.stderr

    first = run("reps", "token", "ichiro@example.com", cwd=tmp_path, env=env)
    second = run("reps", "token", "ichiro@example.com", cwd=tmp_path, env=env)
    assert first.returncode == second.returncode == 0
    assert "shown only now" in second.stderr
    assert _token_owner(url, second.stdout.strip()) == "ichiro@example.com"
    assert _token_owner(url, first.stdout.strip()) is None

    hours = run("reps", "hours", "ichiro@example.com", "Mon-Fri 10:00-16:00", cwd=tmp_path, env=env)
    assert hours.returncode == 0 and "mon-fri 10:00-16:00" in hours.stdout
    bad = run("reps", "hours", "ichiro@example.com", "mon-fri 25:00-26:00", cwd=tmp_path, env=env)
    assert bad.returncode == 1 and "bad time" in bad.stderr
    nobody = run("reps", "token", "nobody@example.com", cwd=tmp_path, env=env)
    assert nobody.returncode == 1 and "no rep with email" in nobody.stderr
    listed = run("reps", "list", cwd=tmp_path, env=env)
    assert "ichiro@example.com\tmon-fri 10:00-16:00" in listed.stdout


def _check(url: str, email: str, password: str) -> bool:
    async def check() -> bool:
        engine = create_engine(url)
        try:
            async with session_factory(engine)() as session, session.begin():
                return await reps.authenticate(session, email, password) is not None
        finally:
            await engine.dispose()

    return asyncio.run(check())


def _token_owner(url: str, token: str) -> str | None:
    async def owner() -> str | None:
        engine = create_engine(url)
        try:
            async with session_factory(engine)() as session:
                rep = await reps.rep_for_token(session, token)
                return None if rep is None else rep.email
        finally:
            await engine.dispose()

    return asyncio.run(owner())


@pytest.mark.parametrize("bad_id", ["2147483648", "99999999999999999999", "0", "-1"])
async def test_handoff_ids_out_of_range_are_a_422_not_a_500(
    client: httpx.AsyncClient, app: FastAPI, rep: Rep, bad_id: str
) -> None:
    """An id past the database's integer range (PostgreSQL's int4 too) is refused before
    any query, on the JSON API and on the pages alike."""
    auth = {"Authorization": f"Bearer {await _token(app)}"}
    read = await client.get(f"/api/rep/handoffs/{bad_id}", headers=auth)
    assert read.status_code == 422, read.text
    assert read.json()["detail"][0]["loc"] == ["path", "handoff_id"]
    mark = await client.post(f"/api/rep/handoffs/{bad_id}/contacted", headers=auth)
    assert mark.status_code == 422
    await _login(client)
    page = await client.get(f"/rep/handoffs/{bad_id}")
    assert page.status_code == 422


# -- one person, one lead -------------------------------------------------------------------


async def test_one_person_is_one_lead_on_the_rep_pages(
    client: httpx.AsyncClient, app: FastAPI, rep: Rep, clock: FixedClock
) -> None:
    """Two conversations from the same browser (visitor id), one of them booked: one row in
    the list (「お問い合わせ 2件」), both conversations and the meeting on the page, one
    entry per lead in the API; 対応済み on one marks the lead's other waiting handoff."""
    booked = await _books(app, "same-browser", "夜間の問い合わせ対応が遅れています")
    clock.advance(timedelta(hours=1))
    later = await _asks_for_human(app, "same-browser")
    other = await _asks_for_human(app, "someone-else")
    await _login(client)
    page = await client.get("/rep/handoffs")
    assert _row_ids(page.text) == [booked, other]  # the lead once, at its Tier A handoff
    assert "お問い合わせ 2件" in page.text
    assert "（お名前・ご連絡先未取得）" in page.text  # the other lead left no name or contact
    detail = await client.get(f"/rep/handoffs/{booked}")
    history = detail.text.split('id="lead-history"', 1)[1]
    assert f'href="/rep/handoffs/{later}"' in history and "（このページ）" in history
    assert "11月24日(火) 10:00" in history and "予約済み" in history
    auth = {"Authorization": f"Bearer {await _token(app)}"}
    items = (await client.get("/api/rep/handoffs", headers=auth)).json()
    assert [(i["id"], i["lead_handoffs"]) for i in items] == [(booked, 2), (other, 1)]
    unreachable = await client.get(f"/rep/handoffs/{other}")
    assert 'id="no-contact"' in unreachable.text  # the rep sees there is no way to call
    assert 'id="no-contact"' not in detail.text
    full = (await client.get(f"/api/rep/handoffs/{later}", headers=auth)).json()
    assert full["lead_handoffs"] == [later, booked]
    done = await client.post(f"/api/rep/handoffs/{booked}/contacted", headers=auth)
    assert done.status_code == 200
    waiting = (await client.get("/api/rep/handoffs", headers=auth)).json()
    assert [i["id"] for i in waiting] == [other]


async def test_a_second_booking_by_the_same_lead_is_refused_politely(
    app: FastAPI, clock: FixedClock
) -> None:
    """A lead with a meeting booked is not offered slots again in a new conversation: the
    bot names the meeting they have and how to change it; no second booking is made."""
    await _books(app, "same-browser", "夜間の問い合わせ対応が遅れています")
    clock.advance(timedelta(hours=1))
    service = app.state.runtime.service
    started = await service.start(channel="web", identities=[("web", "same-browser")])
    await service.handle(started.conversation_id, Inbound("text", text="来月中旬"))
    result = await service.handle(started.conversation_id, Inbound("text", text="人手不足です"))
    texts = [getattr(r, "text", "") for r in result.replies]
    assert not any(isinstance(r, SlotPicker) for r in result.replies)
    assert any(
        "すでに11月24日(火) 10:00からのお打ち合わせをご予約いただいております" in t for t in texts
    )
    assert result.handoff is not None and result.handoff.reason == "already_booked"
    async with app.state.runtime.sessions() as session:
        bookings = await session.scalar(select(func.count()).select_from(Booking))
    assert bookings == 1


async def test_a_second_booking_found_out_by_the_email_address_is_refused(
    app: FastAPI, clock: FixedClock
) -> None:
    """Another browser, the same person: the slot tapped is held, but the email address
    given names a lead with a meeting booked, so nothing is confirmed; the hold is freed
    and the lead is told which meeting they have."""
    await _books(app, "first-browser", "夜間の問い合わせ対応が遅れています")
    clock.advance(timedelta(hours=1))
    service = app.state.runtime.service
    started = await service.start(channel="web", identities=[("web", "second-browser")])
    cid = started.conversation_id
    await service.handle(cid, Inbound("text", text="来月中旬"))
    offered = await service.handle(cid, Inbound("text", text="人手不足です"))
    picker = next(r for r in offered.replies if isinstance(r, SlotPicker))
    slot = picker.slots[0]
    await service.handle(cid, Inbound("slot", text=slot.label, value=slot.id))
    for text in ("山田太郎", "株式会社サンプル"):
        await service.handle(cid, Inbound("text", text=text))
    last = await service.handle(cid, Inbound("text", text="taro@example.com"))
    texts = " ".join(getattr(r, "text", "") for r in last.replies)
    assert "すでに11月24日(火) 10:00からのお打ち合わせをご予約いただいております" in texts
    assert "承りました" not in texts
    assert last.handoff is not None and last.handoff.reason == "already_booked"
    async with app.state.runtime.sessions() as session:
        statuses = list(await session.scalars(select(Booking.status).order_by(Booking.id)))
    assert statuses == ["confirmed", "released"]


async def _timing_then_human(app: FastAPI, external_id: str, timing: str) -> int:
    service = app.state.runtime.service
    started = await service.start(channel="web", identities=[("web", external_id)], source={})
    await service.handle(started.conversation_id, Inbound("text", text=timing))
    result = await service.handle(started.conversation_id, Inbound("text", text="担当者と話したい"))
    assert result.handoff is not None
    return await _handoff_id(app, started.conversation_id)


async def test_detail_shows_an_uncertain_timing_and_what_an_undecided_lead_waits_for(
    client: httpx.AsyncClient, app: FastAPI, rep: Rep
) -> None:
    """The rep sees the lead's words, the doubt (both readings) and the condition, in Japanese."""
    unsure = await _timing_then_human(app, "t1", "秋")
    waiting = await _timing_then_human(app, "t2", "予算が取れ次第")
    await _login(client)
    html = (await client.get(f"/rep/handoffs/{unsure}")).text
    assert "ご本人の言葉:「秋」" in html
    assert (
        "読み取りに迷いがあります（2026年11月21日〜2026年11月30日／2027年9月1日〜2027年11月30日）"
        in html
    )
    html = (await client.get(f"/rep/handoffs/{waiting}")).text
    assert "ご本人の言葉:「予算が取れ次第」" in html and "お待ちのこと: 予算の確保" in html
    assert "お待ちのこと: budget" not in html and "読み取りに迷い" not in html
