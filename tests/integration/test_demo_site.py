"""The demo is self-contained: its case pages and documents are served by the app, and a
case link's click is recorded as a click, a view only when our own page was served."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from fastapi import FastAPI
from sqlalchemy import select

from autoreply.clock import FixedClock
from autoreply.domain.handoff import case_clicks
from autoreply.store.models import Conversation, HandoffRow
from tests.conftest import ROOT, make_settings
from tests.integration.conftest import _login

PUBLIC = "http://127.0.0.1:8000"  # make_settings' default AUTOREPLY_PUBLIC_URL
ENGLISH_CASE = {
    "id": "en-night-quotes",
    "title": "Night-time quote requests answered in 3 minutes instead of 14 hours",
    "customer": "Acme Valves Ltd.",
    "industry": "Manufacturing",
    "company_size": "300 employees",
    "topics": ["lead_response"],
    "keywords": ["quote"],
    "summary": "Quote requests from overseas distributors waited until the next morning.",
    "url": "/cases/en-night-quotes",
}


def _path(url: str) -> str:
    """The path (and query) of a URL under the public URL; fails for a URL elsewhere."""
    assert url.startswith(PUBLIC + "/"), f"{url} is not a page of the demo"
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def _chat_with_cards(client: httpx.AsyncClient) -> tuple[str, dict[str, str], list[Any]]:
    """A visitor who gets case cards in the chat: their conversation, auth header and cards."""
    started = await client.post(
        "/api/chat/conversations", json={"page": {"url": PUBLIC + "/", "title": "デモ"}}
    )
    body = started.json()
    cid, auth = body["conversation_id"], {"Authorization": f"Bearer {body['token']}"}
    url = f"/api/chat/conversations/{cid}/messages"
    await client.post(url, json={"choice": "within_1_month", "label": "1か月以内"}, headers=auth)
    reply = await client.post(
        url, json={"text": "夜間の問い合わせ対応が遅れています"}, headers=auth
    )
    cards = next(r for r in reply.json()["replies"] if r["kind"] == "cards")["cards"]
    return cid, auth, cards


async def _hand_off(client: httpx.AsyncClient, cid: str, auth: dict[str, str]) -> None:
    await client.post(
        f"/api/chat/conversations/{cid}/messages", json={"text": "担当者と話したい"}, headers=auth
    )


async def _rep_page(client: httpx.AsyncClient, app: FastAPI, cid: str) -> str:
    """The rep's handoff page of this conversation (logged in)."""
    async with app.state.runtime.sessions() as session:
        handoff_id = await session.scalar(
            select(HandoffRow.id)
            .join(Conversation, HandoffRow.conversation_id == Conversation.id)
            .where(Conversation.public_id == cid)
        )
    assert handoff_id is not None
    if (await client.get("/rep/login")).status_code == 200:  # not logged in yet
        await _login(client)
    page = await client.get(f"/rep/handoffs/{handoff_id}")
    assert page.status_code == 200
    return page.text


def _case_cell(page: str, title: str) -> str:
    """The 送付した導入事例 row of one case on the rep page."""
    row = page[page.index(html.escape(title)) :]
    return row[: row.index("</tr>")]


async def test_every_shipped_case_url_is_a_demo_page_showing_that_case(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Each case study's url is the demo's own page, and it shows the case's own content."""
    library = app.state.runtime.content.library
    assert library.cases
    for case in library.cases:
        assert case.url == f"{PUBLIC}/cases/{case.id}"
        page = await client.get(_path(case.url))
        assert page.status_code == 200, case.url
        for text in (case.title, case.customer, case.industry, case.company_size, case.summary):
            assert html.escape(text) in page.text, (case.id, text)
        assert f'lang="{case.locale}"' in page.text
    index = await client.get("/cases")
    assert index.status_code == 200
    assert all(f'href="/cases/{case.id}"' in index.text for case in library.cases)


async def test_every_shipped_document_url_is_a_page_of_the_demo(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Each document the forms offer is served by the demo, in the form's language."""
    forms = yaml.safe_load((ROOT / "flows" / "forms.yaml").read_text(encoding="utf-8"))["forms"]
    links = app.state.runtime.service.links
    seen = 0
    for spec in forms.values():
        for field in spec["fields"].values():
            for choice in field.get("choices", []):
                if "url" not in choice:
                    continue
                seen += 1
                page = await client.get(_path(links.absolute(choice["url"])))
                assert page.status_code == 200, choice["url"]
                assert f'<html lang="{spec["locale"]}">' in page.text
                assert html.escape(choice["label"]) in page.text or spec["locale"] == "en"
    assert seen == 5


async def test_the_documents_say_what_they_are_in_both_languages(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """The case book lists the library's stories; the English documents are in English."""
    book = await client.get("/documents/case-book")
    assert "導入事例集" in book.text
    for case in app.state.runtime.content.library.cases:
        assert html.escape(case.customer) in book.text and html.escape(case.summary) in book.text
    english = await client.get("/documents/case-book-en")
    assert english.status_code == 200 and "Customer stories" in english.text
    overview = await client.get("/documents/service-overview-en")
    assert "Answer every inquiry, at night and on weekends." in overview.text
    pricing = await client.get("/documents/pricing")
    assert "料金表" in pricing.text and "120,000円" in pricing.text
    for missing in ("/documents/_base", "/documents/nope", "/documents/..%2Fsite%2Fbase"):
        assert (await client.get(missing)).status_code == 404
    assert (await client.get("/cases/no-such-case")).status_code == 404


async def test_a_click_alone_is_clicked_and_the_served_page_makes_it_viewed(
    client: httpx.AsyncClient, app: FastAPI, rep: object
) -> None:
    """The redirect records the click (クリック済み); serving our case page records 閲覧済み."""
    cid, auth, cards = await _chat_with_cards(client)
    first, second = cards[0], cards[1]
    clicked = await client.get(first["url"])
    assert clicked.status_code == 302
    await _hand_off(client, cid, auth)
    record = await app.state.runtime.service.handoff_record(cid)
    assert set(record["cases_clicked"]) == {first["id"]} and record["cases_viewed"] == {}
    assert {"code": "cases_clicked", "points": 5, "detail": "1"} in record["reasons"]
    page = await _rep_page(client, app, cid)
    assert "クリック済み" in _case_cell(page, first["title"])
    assert "ページの表示は未確認" in _case_cell(page, first["title"])
    assert "閲覧済み" not in _case_cell(page, first["title"])
    assert "未クリック" in _case_cell(page, second["title"])
    assert "事例リンクのクリック" in page and "事例の閲覧" not in page

    story = await client.get(_path(clicked.headers["location"]))
    assert story.status_code == 200 and html.escape(first["title"]) in story.text
    again = await client.get(_path(clicked.headers["location"]))  # a reload keeps the first time
    assert again.status_code == 200
    record = await app.state.runtime.service.handoff_record(cid)
    assert set(record["cases_viewed"]) == {first["id"]}
    page = await _rep_page(client, app, cid)
    assert "閲覧済み" in _case_cell(page, first["title"])
    assert "クリック済み" not in _case_cell(page, first["title"])


async def test_a_forged_or_re_aimed_view_link_records_nothing(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """A view signature is for one conversation and one case; a wrong one only shows the page."""
    cid, auth, cards = await _chat_with_cards(client)
    links = app.state.runtime.service.links
    other = cards[1]["id"]
    re_aimed = _path(links.case_view(cid, cards[0]["id"])).replace(cards[0]["id"], other, 1)
    assert (await client.get(re_aimed)).status_code == 200
    forged = f"/cases/{other}?c={cid}&v=0123456789abcdef0123456789abcdef"
    assert (await client.get(forged)).status_code == 200
    assert (await client.get(f"/cases/no-such-case?c={cid}&v=x")).status_code == 404
    await _hand_off(client, cid, auth)
    record = await app.state.runtime.service.handoff_record(cid)
    assert record["cases_viewed"] == {} and record["cases_clicked"] == {}


@pytest.fixture
async def custom_app(
    migrated: str, clock: FixedClock, tmp_path: Path
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app with the shipped cases plus an English one, and one whose url is a broken page."""
    data = yaml.safe_load((ROOT / "flows" / "casestudies.yaml").read_text(encoding="utf-8"))
    broken = next(c for c in data["cases"] if c["id"] == "maker-night-inquiries")
    broken["url"] = "/cases/no-such-page"  # an operator's typo: our own site, but a 404
    data["cases"].append(ENGLISH_CASE)
    path = tmp_path / "casestudies.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    from autoreply.web.app import create_app

    application = create_app(
        make_settings(database_url=migrated, casestudies=path), clock=clock, migrate=False
    )
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield application, c


async def test_an_english_case_page_is_in_english(
    custom_app: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    """A case study written in English gets an English page and is in the English case book."""
    _, client = custom_app
    page = await client.get("/cases/en-night-quotes")
    assert page.status_code == 200
    assert '<article class="case" lang="en">' in page.text
    for text in ("Customer", "Industry", "The challenge and the result", ENGLISH_CASE["summary"]):
        assert text in page.text
    assert "業種" not in page.text
    book = await client.get("/documents/case-book-en")
    assert "Acme Valves Ltd.: Night-time quote requests" in book.text
    assert "Acme Valves" not in (await client.get("/documents/case-book")).text


async def test_a_click_whose_page_fails_is_never_viewed(
    custom_app: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    """A case whose url is a 404 on our own site: the click is kept, the case is not viewed."""
    app, client = custom_app
    cid, auth, cards = await _chat_with_cards(client)
    night = next(c for c in cards if c["id"] == "maker-night-inquiries")
    clicked = await client.get(night["url"])
    assert clicked.headers["location"] == f"{PUBLIC}/cases/no-such-page"
    assert (await client.get(_path(clicked.headers["location"]))).status_code == 404
    await _hand_off(client, cid, auth)
    record = await app.state.runtime.service.handoff_record(cid)
    assert list(record["cases_clicked"]) == ["maker-night-inquiries"]
    assert record["cases_viewed"] == {}


def test_clicks_stored_before_times_were_kept_still_count_as_clicks() -> None:
    """A conversation recorded as cases_opened (older releases) reads as clicked, time unknown."""
    later = "2026-11-21T14:00:00+00:00"
    source = {"cases_opened": ["a"], "case_clicks": {"b": later}}
    assert case_clicks(source) == {"a": "", "b": later}
