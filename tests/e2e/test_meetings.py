"""Meetings in real Chromium: the lead's reschedule page on a phone (390 px), a pick moves
the meeting; the rep's handoff page shows the meeting block, and once the meeting began the
rep marks it held. Screenshots in test-artifacts/ (meeting-reschedule-phone.png,
meeting-moved-phone.png, meeting-block.png, meeting-block-held.png).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from autoreply.clock import FixedClock
from tests.conftest import make_settings, tokyo
from tests.e2e.conftest import (
    ARTIFACTS,
    SATURDAY_NIGHT,
    loopback_socket,
    require_playwright,
    screenshot,
    serving,
    set_password,
)

require_playwright()

from playwright.sync_api import Page, expect  # noqa: E402

PHONE = {"width": 390, "height": 844}
DEMO_REP = "demo-rep@example.com"
PASSWORD = "e2e-rep-password-1"


class Site:
    def __init__(self, base: str, database: str, clock: FixedClock, app: Any) -> None:
        self.base, self.database, self.clock, self.app = base, database, clock, app


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    sock, base = loopback_socket()
    database = f"sqlite+aiosqlite:///{tmp_path}/e2e.db"
    clock = FixedClock(SATURDAY_NIGHT)
    settings = make_settings(database_url=database, public_url=base, mail_dir=tmp_path / "mail")
    with serving(settings, clock, sock) as app:
        yield Site(base, database, clock, app)


def _book(base: str) -> str:
    """A lead books Tuesday 10:00 through the chat API (over real HTTP)."""
    with httpx.Client(base_url=base, timeout=30) as client:
        started = client.post(
            "/api/chat/conversations", json={"page": {"url": "https://example.com/"}}
        ).json()
        cid = started["conversation_id"]
        auth = {"Authorization": f"Bearer {started['token']}"}
        url = f"/api/chat/conversations/{cid}/messages"
        client.post(url, json={"choice": "within_1_month", "label": "1か月以内"}, headers=auth)
        offer = client.post(url, json={"text": "夜間の問い合わせ対応が遅れています"}, headers=auth)
        slots = next(r for r in offer.json()["replies"] if r["kind"] == "slots")
        pick = slots["days"][0]["slots"][0]
        client.post(url, json={"slot": pick["id"], "label": pick["label"]}, headers=auth)
        for text in ("山田太郎", "株式会社サンプル", "taro@example.com"):
            client.post(url, json={"text": text}, headers=auth)
    return str(cid)


def _log_in(page: Page, base: str) -> None:
    page.goto(base + "/rep/login")
    page.get_by_label("メールアドレス").fill(DEMO_REP)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_role("heading", name=re.compile("引き継ぎ"))).to_be_visible()


def _fits(page: Page) -> None:
    wide = page.evaluate(
        "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - window.innerWidth"
    )
    assert wide <= 0, f"the page is {wide}px wider than a phone's screen"


def test_the_lead_moves_the_meeting_on_a_phone_and_the_rep_marks_it_held(
    site: Site, page: Page
) -> None:
    cid = _book(site.base)
    link = site.app.state.runtime.service.links.reschedule(cid)

    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    page.goto(link)
    expect(page.get_by_role("heading", name="お打ち合わせの日時の変更")).to_be_visible()
    expect(page.locator("p.note")).to_contain_text("現在のご予約：11月24日(火) 10:00〜")
    _fits(page)
    screenshot(page, "meeting-reschedule-phone.png")
    buttons = page.locator("ul.slots button")
    assert buttons.count() > 3
    box = buttons.first.bounding_box()
    assert box is not None and box["height"] >= 40  # a finger can hit it
    target = page.get_by_role("button", name=re.compile(r"11月25日\(水\)")).first
    label = target.get_attribute("aria-label")
    target.click()
    expect(page.get_by_role("status")).to_contain_text("変更いたしました")
    expect(page.get_by_role("status")).to_contain_text(str(label))
    _fits(page)
    screenshot(page, "meeting-moved-phone.png")

    with ThreadPoolExecutor(1) as pool:  # Playwright's loop runs in this thread
        pool.submit(asyncio.run, set_password(site.database, DEMO_REP, PASSWORD)).result()
    page.set_viewport_size({"width": 1280, "height": 900})
    _log_in(page, site.base)
    page.locator("a[href^='/rep/handoffs/']").first.click()
    block = page.locator("#meeting")
    expect(block).to_contain_text("日程変更 1回")
    expect(block).to_contain_text("変更前: 11月24日(火) 10:00")
    block.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    block.screenshot(path=str(ARTIFACTS / "meeting-block.png"))

    handoff = page.url
    site.clock.set(tokyo(2026, 11, 25, 18, 0))  # after the moved meeting's start
    _log_in(page, site.base)  # a rep session does not last from Saturday night to Wednesday
    page.goto(handoff)
    expect(block).to_contain_text("商談の結果を記録してください")
    block.get_by_role("button", name="実施済みにする").click()
    expect(page.locator("#meeting")).to_contain_text("実施済み")
    expect(page.locator("#meeting")).to_contain_text("デモ担当 山田が記録")
    expect(page.locator("#meeting")).to_contain_text("不参加（no-show）に訂正")
    page.locator("#meeting").screenshot(path=str(ARTIFACTS / "meeting-block-held.png"))
    page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    page.locator("#meeting").screenshot(path=str(ARTIFACTS / "meeting-block-held-phone.png"))
