"""The short links of chat and LINE messages (``/b/<token>``) and the limits a lead is told:
on SQLite and PostgreSQL, through the real app."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from autoreply.clock import FixedClock
from autoreply.links import SHORT_DAYS
from autoreply.store import repos
from tests.integration.test_email import FORM


async def _conversation(client: httpx.AsyncClient, app: FastAPI) -> tuple[str, int]:
    started = await client.post(
        "/api/chat/conversations", json={"page": {"url": "https://example.com/"}}
    )
    cid = started.json()["conversation_id"]
    async with app.state.runtime.sessions() as session:
        row = await repos.conversation_by_public_id(session, cid)
    assert row is not None
    return cid, row.id


async def test_a_short_link_opens_its_signed_page(client: httpx.AsyncClient, app: FastAPI) -> None:
    """Cancel and reschedule short links redirect to the full signed pages, which open."""
    cid, row_id = await _conversation(client, app)
    links = app.state.runtime.service.links
    now = app.state.runtime.content.clock.now()
    for kind, full in (("cancel", links.cancel(cid)), ("reschedule", links.reschedule(cid))):
        short = links.short(kind, row_id, now)
        assert len(short) < len(full) - 40, (short, full)
        path = short.removeprefix(links.base)
        assert re.fullmatch(r"/b/[cr][0-9a-z]+\.[0-9a-z]+\.[0-9a-f]{20}", path)
        opened = await client.get(path)
        assert opened.status_code == 303 and opened.headers["location"] == full
        page = await client.get(full.removeprefix(links.base))
        assert page.status_code == 200


def _forgeries(token: str) -> list[str]:
    kind, rest = token[0], token[1:]
    head, signature = token.rsplit(".", 1)
    other = "r" if kind == "c" else "c"
    row, expires = rest.split(".")[:2]
    return [
        f"{head}.{'0' * len(signature)}",  # a made-up signature
        f"{head}.{signature[:-1]}",  # cut short
        f"{other}{rest}",  # the other page, same signature
        f"{kind}{int(row, 36) + 1:x}.{expires}.{signature}",  # another conversation
        f"{kind}{row}.{'z' * 8}.{signature}",  # a later expiry
        token.upper(),
    ]


async def test_forged_and_malformed_short_links_get_a_human_404(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    _, row_id = await _conversation(client, app)
    links = app.state.runtime.service.links
    token = links.short("cancel", row_id, app.state.runtime.content.clock.now()).rsplit("/", 1)[1]
    malformed = ["x", "c", "c1.2", "c1.2.3.4", "c..", "c-1.2.3", "cü.2.3", "c1.2." + "0" * 999]
    for bad in [*_forgeries(token), *malformed, "%F0%9F%98%80", "c" + "z" * 13 + ".1.0"]:
        response = await client.get(f"/b/{bad}")
        assert response.status_code == 404, bad
        assert response.headers["content-type"].startswith("text/html")
        assert "このリンクを確認できませんでした" in response.text
        assert "ご予約確認メール" in response.text  # what to do instead


async def test_an_expired_short_link_says_so(
    client: httpx.AsyncClient, app: FastAPI, clock: FixedClock
) -> None:
    cid, row_id = await _conversation(client, app)
    links = app.state.runtime.service.links
    path = links.short("cancel", row_id, clock.now()).removeprefix(links.base)
    clock.set(clock.now() + timedelta(days=SHORT_DAYS - 1))
    assert (await client.get(path)).status_code == 303
    clock.set(clock.now() + timedelta(days=2))
    expired = await client.get(path)
    assert expired.status_code == 410 and "有効期限が切れています" in expired.text
    # the full link of the confirmation email still works
    assert (await client.get(links.cancel(cid).removeprefix(links.base))).status_code == 200


async def test_a_short_link_of_a_deleted_conversation_is_a_404(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Privacy deletion removes the conversation; its short link then leads nowhere (a
    signed link stores nothing, so there is nothing else to delete)."""
    links = app.state.runtime.service.links
    path = links.short("cancel", 2_000_000_000, app.state.runtime.content.clock.now())
    response = await client.get(path.removeprefix(links.base))
    assert response.status_code == 404 and "このリンクを確認できませんでした" in response.text


@pytest.mark.parametrize(
    ("form_id", "expected"),
    [
        ("document-request", "2,000文字以内でご入力ください（現在2,500文字です）。"),
        ("document-request-en", "Please keep this to 2,000 characters (it is 2,500 now)."),
    ],
)
async def test_a_too_long_form_field_names_the_limit_and_keeps_the_text(
    client: httpx.AsyncClient, form_id: str, expected: str
) -> None:
    """The form page shows each textarea's limit (no maxlength: a browser would cut a paste
    silently); a longer text is refused with the limit and the count, and kept."""
    blank = await client.get(f"/forms/{form_id}")
    assert "maxlength" not in re.search(r"<textarea[^>]*>", blank.text).group(0)  # type: ignore[union-attr]
    assert "2,000" in blank.text
    long_text = "夜間対応" * 625  # 2,500 characters
    data = {**FORM, "message": long_text}
    if form_id.endswith("-en"):
        data = {**data, "company": "Acme", "name": "Taro"}
    refused = await client.post(f"/forms/{form_id}", data=data)
    assert refused.status_code == 400
    page = html.unescape(refused.text)
    assert expected in page
    assert "長すぎます" not in page
    assert long_text in page  # nothing lost: the text is back in the textarea


async def test_a_too_long_json_field_names_the_limit(client: httpx.AsyncClient) -> None:
    refused = await client.post("/forms/document-request", json={**FORM, "message": "あ" * 2001})
    assert refused.status_code == 422
    error = refused.json()["errors"]["message"]
    assert (
        error["code"] == "too_long"
        and "at most 2000 characters (this has 2001)" in error["message"]
    )
