"""A case study read to the end, in real Chromium: the case page opened from the chat's link
tells the server once the lead has scrolled to the end of the story, and the rep's handoff
then says 事例を最後まで閲覧, with when."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.conftest import make_settings
from tests.e2e.conftest import require_playwright

require_playwright()

from playwright.sync_api import Browser, Locator, Page, expect  # noqa: E402

CHALLENGE = "夜間の問い合わせ対応が遅れています"
DEMO_REP_EMAIL = "demo-rep@example.com"
REP_PASSWORD = "e2e-rep-password-1"


async def _set_password(tmp_path: Path, email: str, password: str) -> None:
    """Give the demo rep a known password in this test's database (as `reps password` does)."""
    from autoreply.bootstrap import open_session
    from autoreply.service import reps

    settings = make_settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/e2e.db")
    async with open_session(settings) as session:
        await reps.set_password(session, email, password)


def _send(widget: Locator, text: str) -> None:
    sent = widget.locator(".row.in .bubble").count()
    box = widget.get_by_role("textbox", name="メッセージ")
    box.fill(text)
    box.press("Enter")
    expect(widget.locator(".row.in .bubble")).to_have_count(sent + 1)


def test_scrolling_a_case_story_to_the_end_shows_on_the_handoff(
    site: str, page: Page, tmp_path: Path
) -> None:
    # 1. A lead chats, gets case cards, declines a meeting and leaves an address: handed off.
    page.goto(site + "/")
    widget = page.locator("#autoreply-widget")
    widget.get_by_role("button", name="チャットで相談する").click()
    widget.get_by_role("button", name="未定・情報収集中").click()
    expect(widget.get_by_role("log")).to_contain_text("課題")
    _send(widget, CHALLENGE)
    card = widget.locator(".card").first
    expect(card).to_be_visible()
    case_title = card.get_by_role("heading").inner_text()
    widget.locator(".slots").last.get_by_role("button", name="今回は予約しない").click()
    expect(widget.locator(".row.out").last).to_contain_text("メールアドレスまたはお電話番号")
    _send(widget, "taro@example.com")
    expect(widget.get_by_role("log")).to_contain_text("担当者に引き継ぎ")

    # 2. The case link from the chat opens our own case page in a new tab.
    with page.context.expect_page() as opened:
        card.get_by_role("link", name=re.compile("事例を見る")).click()
    story = opened.value
    expect(story.get_by_role("heading", level=1)).to_have_text(case_title)
    expect(story).to_have_url(re.compile(re.escape(site) + r"/cases/[\w-]+$"))  # signature gone
    story.set_viewport_size({"width": 1280, "height": 320})  # the end is below the fold
    story.evaluate("window.scrollTo(0, 0)")
    end = story.locator("#case-end")
    assert story.evaluate(
        "document.getElementById('case-end').getBoundingClientRect().top > innerHeight"
    )

    # 3. Reading down to the end of the story sends one report, answered 204.
    reports: list[str] = []
    story.on("request", lambda r: reports.append(r.method) if r.url.endswith("/read") else None)
    with story.expect_response(lambda r: r.url.endswith("/read")) as answer:
        for _ in range(40):
            story.mouse.wheel(0, 120)
            story.wait_for_timeout(50)
            if reports:
                break
    assert answer.value.status == 204
    expect(end).to_be_in_viewport()
    story.mouse.wheel(0, -600)
    story.mouse.wheel(0, 600)  # back to the end again: told once is enough
    story.wait_for_timeout(300)
    assert reports == ["POST"]
    story.close()

    # 4. The rep's handoff shows the case read to the end, when, and the trigger.
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API owns this thread's loop
        pool.submit(asyncio.run, _set_password(tmp_path, DEMO_REP_EMAIL, REP_PASSWORD)).result()
    rep = page.context.new_page()
    rep.goto(site + "/rep/login")
    rep.get_by_label("メールアドレス").fill(DEMO_REP_EMAIL)
    rep.get_by_label("パスワード").fill(REP_PASSWORD)
    rep.get_by_role("button", name="ログイン").click()
    expect(rep).to_have_url(re.compile(r"/rep/handoffs"))
    rep.locator("tr.handoff").first.get_by_role("link").first.click()
    cell = rep.locator("tr", has_text=case_title).locator("td.case-link")
    expect(cell).to_contain_text("事例を最後まで閲覧")
    expect(cell).to_contain_text("11月21日(土) 23:10")
    triggers = rep.locator("table.triggers")
    expect(triggers).to_contain_text("事例を最後まで閲覧")
    expect(triggers).to_contain_text(case_title)


def test_a_short_story_left_visible_long_enough_counts_as_read(
    site: str, page: Page, browser: Browser
) -> None:
    """Where the whole story fits on the screen, opening it is not reading it: the report
    comes once the page has been visible for 20 seconds (the page's clock, run forward)."""
    page.goto(site + "/")
    widget = page.locator("#autoreply-widget")
    widget.get_by_role("button", name="チャットで相談する").click()
    widget.get_by_role("button", name="未定・情報収集中").click()
    expect(widget.get_by_role("log")).to_contain_text("課題")
    _send(widget, CHALLENGE)
    link = widget.locator(".card").first.get_by_role("link", name=re.compile("事例を見る"))
    href = link.get_attribute("href")
    assert href and href.startswith(site + "/r/")

    # The lead opens the link on a tall screen (e.g. forwarded to their desktop).
    tall = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 2400})
    try:
        tall.route(lambda url: not url.startswith(site), lambda route: route.abort())
        tall.clock.install()
        reports: list[str] = []
        tall.on("request", lambda r: reports.append(r.url) if r.url.endswith("/read") else None)
        story = tall.new_page()
        story.goto(href)
        expect(story.locator("#case-end")).to_be_in_viewport()  # nothing to scroll
        story.clock.run_for("00:15")
        story.wait_for_timeout(200)
        assert reports == []  # fifteen seconds: not yet
        with story.expect_response(lambda r: r.url.endswith("/read")) as answer:
            story.clock.run_for("00:06")
        assert answer.value.status == 204
        assert answer.value.request.post_data_json["how"] == "time"
    finally:
        tall.close()
