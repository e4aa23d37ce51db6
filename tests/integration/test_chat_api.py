"""The chat API as the widget uses it, on SQLite and PostgreSQL: tokens, 4xx reasons, tracking."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from autoreply.clock import FixedClock
from tests.conftest import tokyo

PAGE = {"url": "https://example.com/", "title": "サンプル株式会社"}


async def _start(client: httpx.AsyncClient, **extra: Any) -> tuple[str, dict[str, str], Any]:
    response = await client.post("/api/chat/conversations", json={"page": PAGE, **extra})
    assert response.status_code == 201, response.text
    body = response.json()
    return body["conversation_id"], {"Authorization": f"Bearer {body['token']}"}, body


async def test_start_greets_with_the_honest_off_hours_banner(client: httpx.AsyncClient) -> None:
    """A new conversation answers with the greeting, the first question and the banner; no
    call is promised yet, as the web chat does not know how to reach the visitor."""
    _, _, body = await _start(client, utm={"source": "google", "campaign": "night"})
    assert body["banner"] == {
        "open": False,
        "text": "営業時間外・自動応答中（担当者の対応開始：11月24日(火) 9:00）",
    }
    # the greeting says it in a sentence; the banner is a status line, not the same sentence
    greeting = body["replies"][0]["text"]
    assert "担当者の対応は11月24日(火) 9:00以降になります。" in greeting
    sentences = {s.strip() for s in re.split(r"[。\n]", greeting) if s.strip()}
    assert not any(s in body["banner"]["text"] for s in sentences)
    kinds = [r["kind"] for r in body["replies"]]
    assert kinds == ["text", "choices"]
    assert body["replies"][1]["options"][0] == {"label": "1か月以内", "value": "within_1_month"}


async def test_in_hours_the_banner_and_greeting_promise_today(
    client: httpx.AsyncClient, clock: FixedClock
) -> None:
    """Wednesday 17:02: open, and a person follows up today (never "17:02以降")."""
    clock.set(tokyo(2026, 12, 2, 17, 2))
    _, _, body = await _start(client)
    assert body["banner"] == {
        "open": True,
        "text": "営業時間内です。担当者が順次ご対応いたします。",
    }
    assert "担当者の対応は本日中になります" in body["replies"][0]["text"]
    assert "以降" not in body["replies"][0]["text"]
    assert "ご連絡いたします" not in body["replies"][0]["text"]  # nobody to call yet


async def test_english_widget_gets_the_english_flow(client: httpx.AsyncClient) -> None:
    """data-locale="en" without a flow picks the English flow."""
    _, _, body = await _start(client, locale="en")
    assert body["banner"]["text"].startswith("Closed now · automated replies (our team is back")
    assert body["replies"][1]["options"][0]["label"] == "Within a month"


async def test_a_whole_chat_turn_by_turn(client: httpx.AsyncClient, app: FastAPI) -> None:
    """Choices, free text, case cards with tracked links, slots grouped by day, booking."""
    cid, auth, _ = await _start(client)
    url = f"/api/chat/conversations/{cid}/messages"
    first = await client.post(
        url, json={"choice": "within_1_month", "label": "1か月以内"}, headers=auth
    )
    assert first.status_code == 200 and "課題" in first.json()["replies"][0]["text"]
    second = (
        await client.post(url, json={"text": "夜間の問い合わせ対応が遅れています"}, headers=auth)
    ).json()
    cards = next(r for r in second["replies"] if r["kind"] == "cards")["cards"]
    slots = next(r for r in second["replies"] if r["kind"] == "slots")
    assert slots["days"][0]["day"] == "11月24日(火)"
    assert [s["time"] for s in slots["days"][0]["slots"]] == ["10:00", "13:00"]
    clicked = await client.get(cards[0]["url"])
    assert clicked.status_code == 302
    target = clicked.headers["location"]  # the demo's own case page, signed to confirm a view
    assert target.startswith("http://127.0.0.1:8000/cases/" + cards[0]["id"] + "?c=")
    story = await client.get(target)
    assert story.status_code == 200 and cards[0]["title"] in story.text
    pick = slots["days"][0]["slots"][0]
    booked = await client.post(url, json={"slot": pick["id"], "label": pick["label"]}, headers=auth)
    assert "お名前" in booked.json()["replies"][0]["text"]
    for text in ("山田太郎", "株式会社サンプル", "taro@example.com"):
        last = await client.post(url, json={"text": text}, headers=auth)
    assert last.json()["status"] == "ended"
    record = await app.state.runtime.service.handoff_record(cid)
    assert list(record["cases_clicked"]) == [cards[0]["id"]]
    assert list(record["cases_viewed"]) == [cards[0]["id"]]
    assert record["booking"]["start_text"] == "11月24日(火) 10:00"


async def test_the_confirming_question_s_buttons_are_taps_the_api_accepts(
    client: httpx.AsyncClient,
) -> None:
    """「Q1で」 can be the calendar or the fiscal quarter: the bot asks once, and a tap on the
    other reading (a button of the confirming question, not of the timing question) is taken."""
    cid, auth, _ = await _start(client)
    url = f"/api/chat/conversations/{cid}/messages"
    asked = (await client.post(url, json={"text": "Q1で考えています"}, headers=auth)).json()
    options = asked["replies"][-1]["options"]
    assert [o["value"] for o in options] == ["confirm:yes", "confirm:alt:0", "confirm:undecided"]
    assert options[1]["label"] == "2027年4月〜6月"
    other = await client.post(
        url, json={"choice": "confirm:alt:0", "label": options[1]["label"]}, headers=auth
    )
    assert other.status_code == 200, other.text
    assert "課題" in other.json()["replies"][0]["text"]
    stale = await client.post(url, json={"choice": "confirm:yes", "label": "はい"}, headers=auth)
    assert stale.status_code == 400  # the question is answered: its buttons are no longer on offer


async def test_reload_reads_the_same_conversation_back(client: httpx.AsyncClient) -> None:
    """The transcript comes back rendered like live replies, in order, both directions."""
    cid, auth, _ = await _start(client)
    await client.post(
        f"/api/chat/conversations/{cid}/messages",
        json={"choice": "within_3_months", "label": "3か月以内"},
        headers=auth,
    )
    body = (await client.get(f"/api/chat/conversations/{cid}", headers=auth)).json()
    directions = [m["direction"] for m in body["messages"]]
    assert directions == ["out", "out", "in", "out"]
    assert body["messages"][1]["reply"]["kind"] == "choices"
    assert body["messages"][2]["text"] == "3か月以内"


async def test_pricing_views_raise_the_score_on_the_handoff(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Viewing /pricing twice is recorded and scored; the handoff shows it."""
    cid, auth, _ = await _start(client)
    for path in ("/pricing", "/cases", "/pricing/enterprise"):
        response = await client.post(
            f"/api/chat/conversations/{cid}/pages",
            json={"url": f"https://example.com{path}", "title": path},
            headers=auth,
        )
        assert response.status_code == 204
    await client.post(
        f"/api/chat/conversations/{cid}/messages", json={"text": "担当者と話したい"}, headers=auth
    )
    record = await app.state.runtime.service.handoff_record(cid)
    assert record["source"]["pricing_views"] == 2
    assert len(record["source"]["pages"]) == 4
    assert {"code": "pricing_views", "points": 20, "detail": "2"} in record["reasons"]


async def test_one_visitor_cannot_touch_another_visitors_conversation(
    client: httpx.AsyncClient,
) -> None:
    """Another conversation's token is refused for reading, writing and page views."""
    mine, _, _ = await _start(client, visitor="visitor-aaaaaaaa")
    _, theirs, _ = await _start(client, visitor="visitor-bbbbbbbb")
    for method, path, body in (
        ("GET", f"/api/chat/conversations/{mine}", None),
        ("POST", f"/api/chat/conversations/{mine}/messages", {"text": "hi"}),
        ("POST", f"/api/chat/conversations/{mine}/pages", {"url": "https://example.com/x"}),
    ):
        response = await client.request(method, path, json=body, headers=theirs)
        assert response.status_code == 403, path
        assert response.json()["detail"] == "wrong conversation token"


@pytest.mark.parametrize(
    ("body", "headers", "status", "reason"),
    [
        ({"text": "hi"}, {}, 401, "Authorization: Bearer"),
        ({"choice": "tomorrow"}, None, 400, "unknown choice 'tomorrow'"),
        ({"slot": "20261124T1000+0900-30"}, None, 400, "is not on offer"),
        ({"text": "x" * 2001}, None, 422, "at most 2000 characters"),
        ({"text": "a", "choice": "b"}, None, 422, "exactly one of text, choice or slot"),
        ({}, None, 422, "exactly one of text, choice or slot"),
        ({"text": "hi", "extra": 1}, None, 422, "Extra inputs are not permitted"),
    ],
)
async def test_bad_messages_get_a_4xx_with_a_reason(
    client: httpx.AsyncClient,
    body: dict[str, Any],
    headers: dict[str, str] | None,
    status: int,
    reason: str,
) -> None:
    """Nothing a visitor sends produces a 500; each refusal says why."""
    cid, auth, _ = await _start(client)
    response = await client.post(
        f"/api/chat/conversations/{cid}/messages",
        json=body,
        headers=auth if headers is None else headers,
    )
    assert response.status_code == status
    assert reason in response.text


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"page": {"url": "not a url"}}, 422, "URL"),
        ({"page": PAGE, "flow": "nope"}, 400, "unknown flow 'nope'"),
        ({"page": PAGE, "locale": "fr"}, 422, "'ja' or 'en'"),
        ({"page": PAGE, "visitor": "bad visitor id!"}, 422, "pattern"),
    ],
)
async def test_bad_starts_get_a_4xx_with_a_reason(
    client: httpx.AsyncClient, body: dict[str, Any], status: int, reason: str
) -> None:
    """Starting with a broken page context or an unknown flow is refused with the reason."""
    response = await client.post("/api/chat/conversations", json=body)
    assert response.status_code == status
    assert reason in response.text


async def test_unknown_conversation_and_forged_links(client: httpx.AsyncClient) -> None:
    """Made-up ids are 404; a case link with a wrong signature records nothing."""
    response = await client.post(
        "/api/chat/conversations/nope/messages",
        json={"text": "hi"},
        headers={"Authorization": "Bearer x"},
    )
    assert response.status_code == 404 and "no conversation" in response.json()["detail"]
    cid, _, _ = await _start(client)
    forged = await client.get(f"/r/{cid}/maker-night-inquiries?s=0000")
    assert forged.status_code == 404


async def test_the_demo_site_and_widget_are_served(client: httpx.AsyncClient) -> None:
    """`/` is the demo company page with the widget embedded in one line."""
    page = await client.get("/")
    assert page.status_code == 200
    assert '<script src="/widget.js" async' in page.text
    for path in ("/pricing", "/cases"):
        assert (await client.get(path)).status_code == 200
    widget = await client.get("/widget.js")
    assert widget.status_code == 200 and widget.headers["content-type"].startswith(
        "text/javascript"
    )


async def test_a_lead_cancels_from_the_link_and_the_slot_is_free_again(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """The confirmation keeps its lines and carries a short signed link to the cancel page;
    confirming there frees the slot for others."""
    cid, auth, _ = await _start(client)
    url = f"/api/chat/conversations/{cid}/messages"
    await client.post(url, json={"choice": "within_1_month"}, headers=auth)
    offer = (await client.post(url, json={"text": "人手不足です"}, headers=auth)).json()
    first = offer["replies"][-1]["days"][0]["slots"][0]
    await client.post(url, json={"slot": first["id"]}, headers=auth)
    for text in ("山田太郎", "株式会社サンプル"):
        await client.post(url, json={"text": text}, headers=auth)
    done = (await client.post(url, json={"text": "taro@example.com"}, headers=auth)).json()
    confirmation = done["replies"][0]["text"]
    lines = confirmation.splitlines()
    assert len(lines) == 3, confirmation  # thanks / where the email goes / how to cancel
    assert "taro@example.com" in lines[1] and "キャンセル" in lines[2]
    short = re.findall(r"https?://\S+", confirmation)
    assert len(short) == 1 and re.fullmatch(
        r"http://127\.0\.0\.1:8000/b/c[0-9a-z]+\.[0-9a-z]+\.[0-9a-f]{20}", short[0]
    )
    assert len(short[0].removeprefix("http://127.0.0.1:8000")) <= 40
    opened = await client.get(short[0].removeprefix("http://127.0.0.1:8000"))
    assert opened.status_code == 303
    link = opened.headers["location"]
    assert link.startswith(f"http://127.0.0.1:8000/bookings/{cid}/cancel?s=")
    path = link.removeprefix("http://127.0.0.1:8000")

    page = await client.get(path)
    assert (
        page.status_code == 200
        and "11月24日(火) 10:00からのお打ち合わせをキャンセルしてよろしいですか" in (page.text)
    )
    assert (await client.get(path.split("?")[0] + "?s=forged")).status_code == 404
    signature = path.split("s=", 1)[1]
    cancelled = await client.post(path.split("?")[0], data={"s": signature})
    assert cancelled.status_code == 200 and "キャンセルいたしました" in cancelled.text
    again = await client.post(path.split("?")[0], data={"s": signature})
    assert "キャンセルいただけるお打ち合わせはございません" in again.text

    record = await app.state.runtime.service.handoff_record(cid)
    assert record["booking"] is None and "booking_cancelled" in record["tags"]
    other, other_auth, _ = await _start(client, visitor="visitor-cccccccc")
    other_url = f"/api/chat/conversations/{other}/messages"
    await client.post(other_url, json={"choice": "within_1_month"}, headers=other_auth)
    again_offer = (
        await client.post(other_url, json={"text": "人手不足です"}, headers=other_auth)
    ).json()
    assert again_offer["replies"][-1]["days"][0]["slots"][0]["id"] == first["id"]


@pytest.mark.parametrize("signature", ["ü", "署名", "%F0%9F%98%80", "0" * 200])
async def test_signed_links_with_any_text_as_signature_are_refused_not_a_500(
    client: httpx.AsyncClient, signature: str
) -> None:
    """A case link or cancel link whose ``s=`` is not ASCII (or just wrong) is refused with
    a 4xx; comparing it never raises."""
    cid, _, _ = await _start(client)
    case = await client.get(f"/r/{cid}/maker-night-inquiries?s={signature}")
    assert case.status_code == 404
    page = await client.get(f"/bookings/{cid}/cancel?s={signature}")
    assert 400 <= page.status_code < 500
    cancel = await client.post(f"/bookings/{cid}/cancel?s={signature}")
    assert 400 <= cancel.status_code < 500


@pytest.mark.parametrize(
    "body",
    [
        b'{"text": "\\ud800"}',
        b'{"text": "ok", "bogus": "\\udfff"}',
        b'{"text": NaN}',
        b'{"text": Infinity}',
        b'{"text": "ok", "extra": -Infinity}',
    ],
)
async def test_lone_surrogates_and_nan_in_json_are_a_4xx_not_a_500(
    client: httpx.AsyncClient, body: bytes
) -> None:
    """JSON a browser would never send (a lone surrogate, NaN, Infinity) is refused with a
    reason, also when the 422 would echo the bad value back."""
    cid, auth, _ = await _start(client)
    response = await client.post(
        f"/api/chat/conversations/{cid}/messages",
        content=body,
        headers={**auth, "Content-Type": "application/json"},
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["detail"]
