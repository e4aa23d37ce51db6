"""Speed to lead in real Chromium: a Saturday-night chat becomes a handoff, nobody is pinged
at night, the morning digest reaches Slack (the loopback stand-in) at Tuesday's opening
(Monday 11/23 is 勤労感謝の日), the owner stops the clock from the message's link inside the
SLA, and the rep's handoff page shows the owner, why, the deadline and the history.

The served app runs its own outbox worker and timer scheduler (as ``autoreply serve`` does);
the test only moves the clock, so the digest is fired by the scheduler's next look.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from autoreply.clock import FixedClock
from tests.conftest import ROOT, make_settings, tokyo
from tests.e2e.conftest import (
    SATURDAY_NIGHT,
    loopback_socket,
    require_playwright,
    screenshot,
    serving,
    set_password,
)
from tests.notifystub import NotifyStub, Seen

require_playwright()

from playwright.sync_api import FloatRect, Locator, Page, ViewportSize, expect  # noqa: E402

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
TUESDAY_OPENING = tokyo(2026, 11, 24, 9, 0)
DEMO_REP = ("デモ担当 山田", "demo-rep@example.com")
REP_PASSWORD = "e2e-rep-password-1"
CHALLENGE = "夜間の問い合わせ対応が遅れています"


class Site:
    """The served app: its base URL, database and the clock the test moves."""

    def __init__(self, base: str, database: str, clock: FixedClock) -> None:
        self.base, self.database, self.clock = base, database, clock


@pytest.fixture
def site(tmp_path: Path, notify: NotifyStub) -> Iterator[Site]:
    """The app with the shipped routing (the demo rep owns every lead) and the Slack
    target at the stand-in; Saturday 23:10 until the test moves the clock."""
    sock, base = loopback_socket()
    database = f"sqlite+aiosqlite:///{tmp_path}/e2e.db"
    clock = FixedClock(SATURDAY_NIGHT)
    settings = make_settings(
        database_url=database,
        public_url=base,
        mail_dir=tmp_path / "mail",
        routing=ROOT / "flows" / "routing.yaml",
        slack_webhook_url=notify.slack_url(),
    )
    with serving(settings, clock, sock):
        yield Site(base, database, clock)


def _say(widget: Locator, text: str) -> None:
    """Type and send once the bot has answered the last message (the widget is not busy)."""
    expect(widget.get_by_role("log")).to_have_attribute("aria-busy", "false")
    sent = widget.locator(".row.in").count()
    box = widget.get_by_role("textbox", name="メッセージ")
    box.fill(text)
    box.press("Enter")
    expect(widget.locator(".row.in")).to_have_count(sent + 1)


def _chat_to_a_booking(page: Page, base: str) -> None:
    """The visitor: timing, challenge, Tuesday 10:00, name, company, email."""
    page.goto(base + "/")
    widget = page.locator("#autoreply-widget")
    widget.get_by_role("button", name="チャットで相談する").click()
    widget.get_by_role("button", name="1か月以内").click()
    expect(widget.get_by_role("log")).to_contain_text("課題")
    _say(widget, CHALLENGE)
    widget.locator(".slots").get_by_role("button", name="11月24日(火) 10:00").click()
    expect(widget.get_by_role("log")).to_contain_text("仮予約いたしました")
    for answer in ("山田太郎", "株式会社サンプル", "taro@example.com"):
        _say(widget, answer)
    expect(widget.get_by_role("log")).to_contain_text("打ち合わせを承りました")


async def _reps(database: str) -> None:
    """The demo rep's password, and a second rep (who could take the handoff over)."""
    from autoreply.bootstrap import open_session
    from autoreply.service import reps

    await set_password(database, DEMO_REP[1], REP_PASSWORD)
    async with open_session(make_settings(database_url=database)) as session:
        await reps.create_rep(session, "佐藤 花子", "sato@example.com", now=TUESDAY_OPENING)


def _slack_messages(notify: NotifyStub, count: int, *, within: float = 30.0) -> list[Seen]:
    """The Slack messages delivered, once there are ``count`` (the scheduler looks for due
    timers every few seconds, the outbox delivers when woken)."""
    deadline = time.monotonic() + within
    while len(notify.delivered("slack")) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"Slack got {len(notify.delivered('slack'))} messages, not {count}")
        time.sleep(0.1)
    return notify.seen("slack")


def _both_sizes(
    page: Page, name: str, *, fit: tuple[str, ...] = ("html",), upto: str | None = None
) -> None:
    """Screenshots at desktop and phone width (the whole page, or from the top down to the
    ``upto`` element); the page is left at phone width. On the phone, the ``fit`` elements
    (CSS selectors) must fit the screen's width: nothing cut off or scrolled sideways."""
    for size, suffix in ((DESKTOP, ""), (PHONE, "-phone")):
        page.set_viewport_size(size)
        clip: FloatRect | None = None
        if upto:
            bottom = page.locator(upto).evaluate(
                "e => e.getBoundingClientRect().bottom + window.scrollY"
            )
            clip = {"x": 0, "y": 0, "width": size["width"], "height": bottom + 16}
        screenshot(page, f"{name}{suffix}.png", clip=clip)
    for part in fit:
        wide = page.locator(part).evaluate(
            "e => Math.max(e.scrollWidth, e.getBoundingClientRect().right) - window.innerWidth"
        )
        assert wide <= 0, f"{name}: {part} is {wide}px wider than a phone's screen"


def test_a_saturday_night_lead_reaches_the_owner_at_tuesdays_opening_and_is_called_in_time(
    site: Site, notify: NotifyStub, page: Page
) -> None:
    page.set_viewport_size(DESKTOP)

    # 1. Saturday 23:10: the chat ends in a booking and a handoff; nobody is pinged.
    _chat_to_a_booking(page, site.base)
    # (The handoff's history below shows that its only notice is Tuesday's digest.)
    assert notify.requests == [], "nobody may be pinged at 23:10 on a Saturday"

    # 2. Monday is a holiday; at Tuesday 9:00 the morning digest arrives in Slack.
    site.clock.set(TUESDAY_OPENING)
    [digest] = _slack_messages(notify, 1)
    title = "【朝のまとめ】営業時間外のお問い合わせ 1件（インサイドセールス）"
    assert digest.text.startswith(title)
    assert "山田太郎 様（株式会社サンプル）" in digest.text
    assert CHALLENGE in digest.text
    assert "デモ担当 山田（インサイドセールス）" in digest.text
    assert "11月24日(火) 9:05" in digest.text  # the deadline: the opening + 5 minutes
    assert "11月24日(火) 10:00" in digest.text  # the booked meeting
    buttons = dict(digest.buttons)
    assert set(buttons) == {"引き継ぎを開く", "連絡済みにする"}
    link = buttons["連絡済みにする"]
    assert link.startswith(site.base + "/rep/contacted/")

    # 3. At 9:01 the rep logs in: the handoff has its owner, why, a running deadline and
    #    its history so far; another rep could take it over.
    site.clock.set(tokyo(2026, 11, 24, 9, 1))
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API owns this thread's loop
        pool.submit(asyncio.run, _reps(site.database)).result()
    rep = page.context.new_page()
    rep.set_viewport_size(DESKTOP)
    rep.goto(site.base + "/rep/login")
    rep.get_by_label("メールアドレス").fill(DEMO_REP[1])
    rep.get_by_label("パスワード").fill(REP_PASSWORD)
    rep.get_by_role("button", name="ログイン").click()
    row = rep.locator("tr.handoff", has_text="株式会社サンプル 山田太郎")
    expect(row.locator("td.owner")).to_have_text(DEMO_REP[0])
    expect(row.locator("td.due")).to_have_text("11月24日(火) 9:05")
    _both_sizes(rep, "handoffs-owner", fit=("header",))  # the table: issue 15
    rep.set_viewport_size(DESKTOP)
    row.get_by_role("link").click()
    owned = rep.locator("#owner")
    expect(owned.locator("tr", has_text="担当")).to_contain_text(
        "デモ担当 山田（インサイドセールス）"
    )
    expect(owned.locator("tr", has_text="割り当ての理由")).to_contain_text(
        re.compile(r"ルール tier_a（.+）")
    )
    expect(rep.locator("#sla")).to_have_text("11月24日(火) 9:05まで")
    expect(rep.locator("#reassign").get_by_label("担当を変更")).to_have_value(re.compile(r"\d+"))
    steps = rep.locator("#steps")
    steps.locator("summary", has_text="経緯（2件）").click()
    lines = steps.locator("tbody tr")
    expect(lines).to_have_count(2)
    expect(lines.nth(0)).to_contain_text("11月21日(土) 23:")
    expect(lines.nth(0)).to_contain_text("割り当て")
    expect(lines.nth(0)).to_contain_text("デモ担当 山田")
    expect(lines.nth(0)).to_contain_text("ルール tier_a")
    expect(lines.nth(1)).to_contain_text("11月24日(火) 9:00")
    expect(lines.nth(1)).to_contain_text("朝のまとめ")
    parts: tuple[str, ...] = ("header", "#status", "#owner", "#reassign", "#steps")
    _both_sizes(rep, "handoff-owner", fit=parts, upto="#steps")

    # 4. At 9:03 the owner opens the link from the message: one button, nothing recorded yet.
    site.clock.set(tokyo(2026, 11, 24, 9, 3))
    owner = page.context.new_page()
    owner.goto(link)
    confirm = owner.locator("#contacted")
    expect(confirm).to_contain_text("デモ担当 山田さんがこのお客様に連絡したことを記録します。")
    expect(confirm).to_contain_text("11月24日(火) 9:05まで")
    _both_sizes(owner, "contacted-confirm")
    owner.reload()  # opening it again still records nothing
    expect(confirm.get_by_role("button", name="連絡済みにする")).to_be_visible()

    # 5. The button stops the clock inside the SLA (phone width, as from the Slack app).
    confirm.get_by_role("button", name="連絡済みにする").click()
    expect(confirm.locator(".status-contacted")).to_contain_text("連絡済みとして記録しました")
    expect(confirm.locator(".sla-met")).to_have_text("期限内に連絡済み（営業時間で3分）")
    expect(confirm.get_by_role("button")).to_have_count(0)
    _both_sizes(owner, "contacted-done")

    # 6. The rep's page now shows the clock stopped, and the contact in the history.
    rep.set_viewport_size(DESKTOP)
    rep.reload()
    expect(rep.locator("#status .status-contacted")).to_contain_text("11月24日(火) 9:03")
    expect(rep.locator("#sla")).to_have_text("期限内に連絡済み（営業時間で3分）")
    expect(rep.locator("#reassign")).to_have_count(0)
    steps.locator("summary", has_text="経緯（3件）").click()
    expect(lines).to_have_count(3)
    expect(lines.nth(2)).to_contain_text("11月24日(火) 9:03")
    expect(lines.nth(2)).to_contain_text("連絡済み")
    expect(lines.nth(2)).to_contain_text("デモ担当 山田（期限内）")
    parts = ("header", "#status", "#owner", "#steps")
    _both_sizes(rep, "handoff-owner-contacted", fit=parts, upto="#steps")
    assert len(notify.delivered("slack")) == 1  # the digest, once
