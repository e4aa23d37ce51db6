"""The handoff list and the human error pages on SQLite and PostgreSQL (issue 15): the list
shows the booked meeting and the challenge and searches name, company, email, LINE name,
challenge and the lead's words (``%`` and ``_`` literal); a rep page's bad address or
missing thing is an HTML page in the rep's language, the API's stays JSON."""

from __future__ import annotations

import html
import re

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from autoreply.flows.turns import Inbound, SlotPicker
from autoreply.store.models import Booking
from autoreply.web.pages import Pages
from tests.integration.conftest import _login
from tests.integration.test_rep_pages import _handoff_id

JA = {"Accept-Language": "ja,en;q=0.8"}
EN = {"Accept-Language": "en-US,en;q=0.9,ja;q=0.5"}


async def _lead(
    app: FastAPI,
    external_id: str,
    *,
    timing: str,
    challenge: str,
    name: str,
    company: str,
    email: str,
    book: bool,
) -> int:
    """A lead on the web chat: timing, challenge, then a booking (name, company, email) or
    no booking (an address); the handoff's id."""
    service = app.state.runtime.service
    started = await service.start(channel="web", identities=[("web", external_id)])
    cid = started.conversation_id
    await service.handle(cid, Inbound("text", text=timing))
    offered = await service.handle(cid, Inbound("text", text=challenge))
    picker = next(r for r in offered.replies if isinstance(r, SlotPicker))
    if book:
        slot = picker.slots[0]
        await service.handle(cid, Inbound("slot", text=slot.label, value=slot.id))
        for text in (name, company, email):
            await service.handle(cid, Inbound("text", text=text))
    else:
        assert picker.decline is not None
        await service.handle(
            cid, Inbound("slot", text=picker.decline.label, value=picker.decline.value)
        )
        await service.handle(cid, Inbound("text", text=email))
    return await _handoff_id(app, cid)


def _ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr class="handoff" data-id="(\d+)"', page)]


@pytest.fixture
async def two(app: FastAPI, client: httpx.AsyncClient, rep: object) -> tuple[int, int]:
    """Yamada books (Tier A); Suzuki (100%_Corp) leaves only an address; the rep is in."""
    yamada = await _lead(
        app,
        "v-yamada",
        timing="来月中旬くらい",
        challenge="夜間の問い合わせ対応が遅れています",
        name="山田太郎",
        company="株式会社サンプル",
        email="Taro@Example.com",
        book=True,
    )
    suzuki = await _lead(
        app,
        "v-suzuki",
        timing="半年以内",
        challenge="Excelで案件を管理していて限界",
        name="",
        company="",
        email="hanako@suzuki-100.example",
        book=False,
    )
    assert (await _login(client)).status_code == 303
    return yamada, suzuki


async def test_the_list_shows_the_meeting_and_the_challenge(
    app: FastAPI, client: httpx.AsyncClient, two: tuple[int, int]
) -> None:
    yamada, suzuki = two
    async with app.state.runtime.sessions() as session:
        start = await session.scalar(select(Booking.start_at).where(Booking.status == "confirmed"))
    assert start is not None
    pages: Pages = app.state.pages
    when = pages.env.filters["jst"](start)
    page = (await client.get("/rep/handoffs?status=all")).text
    assert _ids(page) == [yamada, suzuki]
    rows = page.split('<tr class="handoff"')[1:]
    assert f'<td class="meeting keep" data-label="商談予定"><strong>{when}</strong>' in rows[0]
    assert "夜間の問い合わせ対応が遅れています" in rows[0]
    assert "Excelで案件を管理していて限界" in rows[1]
    assert ">なし</span>" in rows[1].split('class="meeting')[1].split("</td>")[0]


@pytest.mark.parametrize(
    ("q", "who"),
    [
        ("山田", "yamada"),  # name
        ("サンプル", "yamada"),  # company
        ("taro@example", "yamada"),  # email, case-insensitive
        ("TARO@EXAMPLE.COM", "yamada"),
        ("問い合わせ対応", "yamada"),  # challenge
        ("来月中旬", "yamada"),  # what the lead wrote (the timing, in their words)
        ("suzuki-100", "suzuki"),  # email
        ("excel", "suzuki"),  # challenge, case-insensitive
        ("半年以内", "suzuki"),  # the lead's words
        ("%", None),  # wildcards are literal: nobody wrote a percent sign
        ("_", None),
        ("100%", None),
        ("存在しない語", None),
    ],
)
async def test_search_finds_each_field_and_nothing_else(
    client: httpx.AsyncClient, two: tuple[int, int], q: str, who: str | None
) -> None:
    yamada, suzuki = two
    response = await client.get("/rep/handoffs", params={"status": "all", "q": q})
    assert response.status_code == 200
    expected = {"yamada": [yamada], "suzuki": [suzuki], None: []}[who]
    assert _ids(response.text) == expected, q
    shown = html.unescape(response.text)
    assert f'value="{q}"' in shown  # the search box keeps the words
    if who is None:
        assert f"「{q}」に一致する引き継ぎはありません" in shown


async def test_search_respects_the_status_filter_and_the_api_searches_too(
    client: httpx.AsyncClient, two: tuple[int, int], rep: object
) -> None:
    yamada, _ = two
    assert _ids((await client.get("/rep/handoffs", params={"q": "山田"})).text) == [yamada]
    contacted = await client.get("/rep/handoffs", params={"q": "山田", "status": "contacted"})
    assert _ids(contacted.text) == []
    too_long = await client.get("/rep/handoffs", params={"q": "あ" * 201})
    assert too_long.status_code == 422 and "text/html" in too_long.headers["content-type"]


# -- error pages ------------------------------------------------------------------------------


async def test_rep_pages_answer_human_error_pages_in_the_reps_language(
    client: httpx.AsyncClient, rep: object
) -> None:
    assert (await _login(client)).status_code == 303
    cases = [
        ("/rep/handoffs/abc", 422, "URL の指定が正しくありません", "The address is not valid"),
        ("/rep/handoffs/0", 422, "URL の指定が正しくありません", "The address is not valid"),
        ("/rep/handoffs?status=bogus", 422, "URL の指定が正しくありません", "not valid"),
        ("/rep/handoffs?channel=fax", 422, "URL の指定が正しくありません", "not valid"),
        ("/rep/handoffs/99999", 404, "見つかりません", "Not found"),
        ("/rep/no-such-page", 404, "ページが見つかりません", "Page not found"),
    ]
    for path, status, ja, en in cases:
        for headers, words, lang in ((JA, ja, "ja"), (EN, en, "en"), ({}, ja, "ja")):
            response = await client.get(path, headers=headers)
            assert response.status_code == status, path
            assert response.headers["content-type"].startswith("text/html"), path
            assert f'<html lang="{lang}">' in response.text, (path, lang)
            assert words in response.text, (path, lang)
            assert "default-src 'none'" in response.headers["content-security-policy"]
            assert response.headers["cache-control"] == "no-store"
            assert '"detail"' not in response.text
            assert "ログアウト" in response.text  # the logged-in rep keeps their menu
    bogus = (await client.get("/rep/handoffs?status=bogus", headers=EN)).text
    assert "status: 「bogus」" in bogus  # the field by its label, not its code
    japanese = (await client.get("/rep/handoffs/abc", headers=JA)).text
    assert "引き継ぎ番号: 「abc」" in japanese and "handoff_id" not in japanese
    english = (await client.get("/rep/handoffs/abc", headers=EN)).text
    assert "引き継ぎ一覧へ戻る" not in english and "Back to the handoffs" in english
    wrong_method = await client.put("/rep/handoffs", headers=JA)
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "GET"
    assert "リクエストを処理できませんでした（HTTP 405）" in wrong_method.text


async def test_a_logged_out_visitor_gets_the_page_without_the_menu(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/rep/handoffs/abc")
    assert response.status_code == 422 and "URL の指定が正しくありません" in response.text
    assert "ログアウト" not in response.text


async def test_apis_keep_json_errors(client: httpx.AsyncClient, rep: object) -> None:
    for path, status in (
        ("/api/rep/handoffs/abc", (401, 422)),
        ("/api/chat/conversations/x/messages", (401, 404, 405, 422)),
        ("/no-such-page", (404,)),
        ("/bookings/x/cancel", (404, 405, 422)),
    ):
        response = await client.get(path, headers=JA)
        assert response.status_code in status, path
        assert response.headers["content-type"] == "application/json", path
        assert "detail" in response.json()
    # A client of a rep page that asks for JSON alone gets JSON.
    asked = await client.get("/rep/handoffs/abc", headers={"Accept": "application/json"})
    assert asked.status_code == 422 and asked.json()["detail"][0]["loc"] == [
        "path",
        "handoff_id",
    ]
    webhook = await client.post("/line/webhook", content=b"{}")
    assert webhook.headers["content-type"] == "application/json"
