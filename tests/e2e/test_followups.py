"""Follow-ups in real Chromium: a rep reaches a lead, the handoff page shows the tasks the
cadence made and the 0.5次商談 form (課題 and 検討時期 filled in from the chat), the rep
records it and adds a task, and the follow-up list shows overdue, today and later, at
desktop and phone width (screenshots in test-artifacts/)."""

from __future__ import annotations

import asyncio
import re
import uuid
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
from tests.e2e.test_speed_to_lead import DESKTOP, PHONE, _both_sizes

require_playwright()

from playwright.sync_api import FloatRect, Page, expect  # noqa: E402

DEMO_REP = "demo-rep@example.com"
PASSWORD = "e2e-rep-password-1"
TUESDAY = tokyo(2026, 12, 1, 10, 0)


class Site:
    def __init__(self, base: str, database: str, clock: FixedClock) -> None:
        self.base, self.database, self.clock = base, database, clock


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The app with the shipped routing (the demo rep owns every lead), Tuesday 10:00."""
    sock, base = loopback_socket()
    database = f"sqlite+aiosqlite:///{tmp_path}/e2e.db"
    clock = FixedClock(TUESDAY)
    settings = make_settings(
        database_url=database,
        public_url=base,
        mail_dir=tmp_path / "mail",
        routing=ROOT / "flows" / "routing.yaml",
    )
    with serving(settings, clock, sock):
        yield Site(base, database, clock)


def _chat(base: str, name: str) -> None:
    """A lead chats (timing, challenge), declines a meeting and leaves name and address."""
    with httpx.Client(base_url=base) as client:
        start = client.post(
            "/api/chat/conversations", json={"page": {"url": base + "/", "title": "サンプル"}}
        ).json()
        auth = {"Authorization": f"Bearer {start['token']}"}
        url = f"/api/chat/conversations/{start['conversation_id']}/messages"
        client.post(url, json={"choice": "within_1_month", "label": "1か月以内"}, headers=auth)
        offer = client.post(
            url, json={"text": "夜間の問い合わせ対応が遅れています"}, headers=auth
        ).json()
        decline = next(r for r in offer["replies"] if r["kind"] == "slots")["decline"]
        client.post(url, json={"slot": decline["value"], "label": decline["label"]}, headers=auth)
        client.post(url, json={"text": f"{name}@example.com"}, headers=auth)


def _follow_up_part(page: Page, name: str) -> None:
    """Screenshots of the handoff page's 0.5次商談 and follow-up part at desktop and phone
    width; on the phone it fits the screen (nothing cut off or scrolled sideways)."""
    for size, suffix in ((DESKTOP, ""), (PHONE, "-phone")):
        page.set_viewport_size(size)
        top, bottom = page.evaluate(
            """() => [document.getElementById("qualification"),
                      document.querySelector("form.fu-add").closest("details")]
                .map((e, i) => (i ? e.getBoundingClientRect().bottom
                                  : e.getBoundingClientRect().top) + window.scrollY)"""
        )
        clip: FloatRect = {
            "x": 0,
            "y": top - 12,
            "width": size["width"],
            "height": bottom - top + 24,
        }
        screenshot(page, f"{name}{suffix}.png", clip=clip)
    for part in ("#qualification + section", "#followups + ul.tasks", "details:has(form.fu-add)"):
        wide = page.locator(part).evaluate(
            "e => Math.max(e.scrollWidth, e.getBoundingClientRect().right) - window.innerWidth"
        )
        assert wide <= 0, f"{name}: {part} is {wide}px wider than a phone's screen"


def _password(database: str) -> None:
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API owns this thread's loop
        pool.submit(asyncio.run, set_password(database, DEMO_REP, PASSWORD)).result()


def _log_in(site: Site, page: Page) -> None:
    page.goto(site.base + "/rep/login")
    page.get_by_label("メールアドレス").fill(DEMO_REP)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_role("button", name="ログアウト")).to_be_visible()


def test_the_rep_works_follow_ups_on_the_handoff_page_and_the_list(site: Site, page: Page) -> None:
    for n in range(2):
        _chat(site.base, f"lead-{n}-{uuid.uuid4().hex[:6]}")
    _password(site.database)
    _log_in(site, page)
    links = page.locator("table.handoffs a")
    expect(links).to_have_count(2)
    hrefs = [links.nth(i).get_attribute("href") for i in range(2)]
    for href in hrefs:
        page.goto(site.base + str(href))
        page.get_by_role("button", name="対応済みにする").click()
        expect(page.locator("#status")).to_contain_text("対応済み")
    tasks = page.locator("#followups + ul.tasks > li")
    expect(tasks).to_have_count(3)
    expect(tasks.first).to_contain_text("リマインドメール")
    form = page.locator("form.q-form")
    expect(form.get_by_label("課題")).to_have_value("夜間の問い合わせ対応が遅れています")
    expect(form.get_by_label("検討時期")).to_have_value(re.compile(r"^1か月以内（.+〜.+）$"))
    page.set_viewport_size(DESKTOP)
    _follow_up_part(page, "followups-handoff-form")

    page.set_viewport_size(DESKTOP)
    form.get_by_label("意思決定者").fill("情報システム部 部長")
    form.get_by_label("予算感").fill("予算確保済み（月10万円程度）")
    form.get_by_label("懸念点").fill("既存の CRM との連携、社内の承認フロー")
    form.get_by_label("次アクション", exact=True).fill("見積提示")
    form.get_by_label("次アクションの期日").fill("2026-12-03")
    form.get_by_label("する", exact=True).check()
    form.get_by_role("button", name="0.5次商談完了として記録").click()
    expect(page.locator("#qualification + section")).to_contain_text("0.5次商談完了")
    expect(page.locator("#qualification + section")).to_contain_text("商談化する")
    expect(tasks).to_have_count(4)
    # A task by hand, due later today.
    page.locator("summary", has_text="フォローアップを追加").click()
    add = page.locator("form.fu-add")
    add.get_by_label("種類").select_option("follow_call")
    add.get_by_label("期日").fill("2026-12-02")
    add.get_by_label("時刻").fill("17:00")
    add.get_by_label("メモ").fill("決裁者の同席を確認")
    add.get_by_role("button", name="追加する").click()
    expect(tasks).to_have_count(5)
    _follow_up_part(page, "followups-handoff-done")

    site.clock.set(tokyo(2026, 12, 2, 11, 0))  # リマインドメール (12/2 10:00) is overdue
    _log_in(site, page)  # a session lasts a working day of the product's clock
    page.set_viewport_size(DESKTOP)
    page.goto(site.base + "/rep/followups")
    expect(page.get_by_role("heading", name="期限超過 2件")).to_be_visible()
    headings = page.locator("main h2").all_inner_texts()
    assert [h.split()[0] for h in headings] == ["期限超過", "今日が期限", "今後"]
    expect(page.locator("main")).not_to_contain_text("reminder_mail")
    _both_sizes(page, "followups-list", fit=("main",))
    page.set_viewport_size(PHONE)
    first = page.locator("ul.tasks > li").first
    first.get_by_placeholder("メモ（任意）").fill("メールを送りました")
    first.get_by_role("button", name="完了").click()
    expect(page.get_by_role("heading", name="期限超過 1件")).to_be_visible()
