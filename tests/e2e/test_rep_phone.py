"""The rep's list and handoff pages in real Chromium at desktop and phone width (issue 15):
on a 390x844 phone nothing scrolls sideways, the header's words are never broken
(「ログアウト」 on one line), the list shows the booked meeting and the challenge and
searches, and a bad address answers a human error page. Screenshots in test-artifacts/."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from autoreply.clock import FixedClock
from tests.conftest import ROOT, make_settings, tokyo
from tests.e2e.conftest import (
    loopback_socket,
    require_playwright,
    screenshot,
    serving,
    set_password,
)
from tests.e2e.test_speed_to_lead import DESKTOP, PHONE

require_playwright()

from playwright.sync_api import Page, expect  # noqa: E402

DEMO_REP = "demo-rep@example.com"
PASSWORD = "e2e-rep-password-1"
TUESDAY = tokyo(2026, 12, 1, 10, 0)
LONG_CHALLENGE = (
    "夜間と週末の問い合わせ対応が遅れており、翌営業日の朝にまとめて折り返しているため、"
    "商談化率が下がっています。https://example.com/a-very-long-path/without/any/breaks/at-all"
)


class Site:
    def __init__(self, base: str, database: str) -> None:
        self.base, self.database = base, database


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The app with the shipped routing (the demo rep owns every lead), Tuesday 10:00."""
    sock, base = loopback_socket()
    database = f"sqlite+aiosqlite:///{tmp_path}/e2e.db"
    settings = make_settings(
        database_url=database,
        public_url=base,
        mail_dir=tmp_path / "mail",
        routing=ROOT / "flows" / "routing.yaml",
    )
    with serving(settings, FixedClock(TUESDAY), sock):
        yield Site(base, database)


def _chat(base: str, *, book: bool, name: str, company: str, email: str, text: str) -> None:
    """A lead chats (timing, challenge) and books the first slot, or declines and leaves
    an address."""
    with httpx.Client(base_url=base) as client:
        start = client.post(
            "/api/chat/conversations", json={"page": {"url": base + "/", "title": "サンプル"}}
        ).json()
        auth = {"Authorization": f"Bearer {start['token']}"}
        url = f"/api/chat/conversations/{start['conversation_id']}/messages"
        client.post(url, json={"choice": "within_3_months", "label": "3か月以内"}, headers=auth)
        offer = client.post(url, json={"text": text}, headers=auth).json()
        slots = next(r for r in offer["replies"] if r["kind"] == "slots")
        if book:
            pick = slots["days"][0]["slots"][0]
            client.post(url, json={"slot": pick["id"], "label": pick["label"]}, headers=auth)
            for answer in (name, company, email):
                client.post(url, json={"text": answer}, headers=auth)
        else:
            decline = slots["decline"]
            client.post(
                url, json={"slot": decline["value"], "label": decline["label"]}, headers=auth
            )
            client.post(url, json={"text": email}, headers=auth)


def _password(database: str) -> None:
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API owns this thread's loop
        pool.submit(asyncio.run, set_password(database, DEMO_REP, PASSWORD)).result()


def _log_in(site: Site, page: Page) -> None:
    page.goto(site.base + "/rep/login")
    page.get_by_label("メールアドレス").fill(DEMO_REP)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_role("button", name="ログアウト")).to_be_visible()


def _fits_a_phone(page: Page, name: str) -> None:
    """At 1280x800 and 390x844 the page does not scroll sideways; on the phone
    「ログアウト」 sits on one line. Screenshots at both widths."""
    for size, suffix in ((DESKTOP, ""), (PHONE, "-phone")):
        page.set_viewport_size(size)
        screenshot(page, f"{name}{suffix}.png")
        wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert wide <= 0, f"{name}: the page is {wide}px wider than {size['width']}px"
    logout = page.get_by_role("button", name="ログアウト")
    lines = logout.evaluate(
        """e => { const r = document.createRange(); r.selectNodeContents(e);
                  return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; }"""
    )
    assert lines == 1, f"{name}: 「ログアウト」 is broken over {lines} lines"


def test_the_list_and_a_handoff_fit_a_phone(site: Site, page: Page) -> None:
    _chat(
        site.base,
        book=True,
        name="山田太郎",
        company="株式会社サンプルホールディングス",
        email="taro.yamada.with.a.long.address@example-holdings.co.jp",
        text=LONG_CHALLENGE,
    )
    _chat(site.base, book=False, name="", company="", email="hanako@example.com", text="見積")
    _password(site.database)
    _log_in(site, page)
    page.goto(site.base + "/rep/handoffs?status=all")
    expect(page.locator("tr.handoff")).to_have_count(2)
    _fits_a_phone(page, "rep-handoffs")
    page.locator("tr.handoff a").first.click()
    expect(page.locator("h1")).to_contain_text("山田太郎")
    _fits_a_phone(page, "rep-handoff")
    # The list shows the booked meeting and the challenge, and searches.
    page.goto(site.base + "/rep/handoffs?status=all")
    booked = page.locator("tr.handoff", has_text="山田太郎")
    expect(booked.locator("td.meeting")).to_contain_text("12月1日(火)")
    expect(booked.locator("td.challenge")).to_contain_text("夜間と週末の問い合わせ対応")
    page.get_by_label("検索").fill("hanako@")
    page.get_by_role("button", name="絞り込む").click()
    expect(page.locator("tr.handoff")).to_have_count(1)
    expect(page.locator("#search-note")).to_contain_text("「hanako@」の検索結果: 1件")
    _fits_a_phone(page, "rep-handoffs-search")
    # A bad address is a page in the rep's language, not JSON.
    page.goto(site.base + "/rep/handoffs/abc")
    expect(page.get_by_role("heading", name="URL の指定が正しくありません")).to_be_visible()
    _fits_a_phone(page, "rep-error-422")


def test_the_error_page_speaks_english_to_an_english_browser(site: Site, browser: object) -> None:
    from playwright.sync_api import Browser

    assert isinstance(browser, Browser)
    context = browser.new_context(locale="en-US", viewport=PHONE)
    try:
        page = context.new_page()
        page.goto(site.base + "/rep/no-such-page")  # logged out: a 404 page, not the login
        expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        screenshot(page, "rep-error-404-en-phone.png")
        wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert wide <= 0
    finally:
        context.close()
