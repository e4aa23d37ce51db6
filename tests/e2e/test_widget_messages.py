"""What the widget shows a lead, at 1280x800 and on a 390x844 phone: the count and the limit
of a long paste (never a silent cut), a placeholder without a Shift+Enter hint on a phone, a
banner that does not repeat the greeting, and the booked message with its lines and a short
link. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import LOOPBACK, require_playwright, screenshot

require_playwright()

from playwright.sync_api import Browser, Locator, Page, expect  # noqa: E402

VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2,
    },
}


@pytest.fixture(params=list(VIEWPORTS))
def device(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def tab(browser: Browser, device: str) -> Iterator[Page]:
    """A fresh profile at the device's size that may only reach loopback; script errors fail."""
    ctx = browser.new_context(locale="ja-JP", **VIEWPORTS[device])  # type: ignore[arg-type]
    escaped: list[str] = []

    def guard(route):  # type: ignore[no-untyped-def]
        escaped.append(route.request.url)
        route.abort()

    ctx.route(lambda url: not LOOPBACK.match(url), guard)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        ctx.close()
    assert not escaped, f"the browser tried to leave the machine: {escaped}"
    assert not errors, f"JavaScript errors on the page: {errors}"


def _open(page: Page, site: str) -> Locator:
    page.goto(site + "/")
    widget = page.locator("#autoreply-widget")
    widget.get_by_role("button", name="チャットで相談する").click()
    expect(widget.get_by_role("dialog", name="チャットでご相談")).to_be_visible()
    expect(widget.get_by_role("button", name="1か月以内")).to_be_visible()  # greeted
    return widget


def _sentences(text: str) -> set[str]:
    return {s.strip() for s in re.split(r"[。\n]", text) if len(s.strip()) >= 6}


def test_the_banner_and_the_greeting_never_say_the_same_sentence(
    site: str, tab: Page, device: str
) -> None:
    widget = _open(tab, site)
    banner = widget.locator(".banner")
    expect(banner).to_be_visible()
    greeting = widget.locator(".row.out .bubble").first.inner_text()
    shown = banner.inner_text()
    assert "担当者の対応は11月24日(火) 9:00以降になります" in greeting
    assert "11月24日(火) 9:00" in shown  # the banner still says when someone is back
    repeated = [s for s in _sentences(greeting) if s in shown] + [
        s for s in _sentences(shown) if s in greeting
    ]
    assert not repeated, repeated
    screenshot(tab, f"widget-greeting-{device}.png", full_page=False)


def test_the_placeholder_of_a_phone_has_no_shift_enter(site: str, tab: Page, device: str) -> None:
    widget = _open(tab, site)
    box = widget.get_by_role("textbox", name="メッセージ")
    placeholder = box.get_attribute("placeholder") or ""
    assert placeholder.startswith("メッセージを入力")
    if device == "phone":
        assert "Shift" not in placeholder
        assert "Shift" not in widget.locator("#ar-hint").inner_text()
    else:
        assert "Shift+Enterで改行" in placeholder


def test_a_long_paste_shows_the_count_and_the_limit_and_is_not_cut(
    site: str, tab: Page, device: str
) -> None:
    widget = _open(tab, site)
    box = widget.get_by_role("textbox", name="メッセージ")
    count = widget.locator(".count")
    expect(count).to_be_hidden()  # a short message has no counter in the way
    box.focus()
    pasted = "夜間の問い合わせ対応が遅れています。" * 138 + "以上です。"  # 2,489 characters
    pasted += "あ" * (2500 - len(pasted))
    tab.keyboard.insert_text(pasted)  # as a paste arrives: one insertion, no key presses
    assert box.input_value() == pasted  # all 2,500 characters are still there
    expect(count).to_be_visible()
    expect(count).to_have_text("2,500 / 2,000文字")
    error = widget.get_by_role("alert")
    expect(error).to_contain_text("2,000文字以内")
    expect(error).to_contain_text("現在2,500文字")
    send = widget.get_by_role("button", name="送信")
    expect(send).to_be_disabled()
    box.press("Enter")  # Enter does not send it either
    expect(widget.locator(".row.in")).to_have_count(0)
    screenshot(tab, f"widget-long-paste-{device}.png", full_page=False)

    box.fill("あ" * 1999)  # within the limit: the count stays, the error goes
    expect(count).to_have_text("1,999 / 2,000文字")
    expect(count).not_to_have_class(re.compile("over"))
    expect(error).to_be_hidden()
    expect(send).to_be_enabled()
    box.fill("家族👨‍👩‍👧‍👦" * 400)  # 2,000 characters of the server's count... and emoji
    expect(count).to_contain_text(" / 2,000文字")


def _send(widget: Locator, text: str) -> None:
    sent = widget.locator(".row.in").count()
    box = widget.get_by_role("textbox", name="メッセージ")
    box.fill(text)
    widget.get_by_role("button", name="送信").click()
    expect(widget.locator(".row.in")).to_have_count(sent + 1)


def test_the_booked_message_keeps_its_lines_and_shows_a_short_link(
    site: str, tab: Page, device: str
) -> None:
    widget = _open(tab, site)
    widget.get_by_role("button", name="1か月以内").click()
    expect(widget.get_by_role("log")).to_contain_text("課題")
    _send(widget, "夜間の問い合わせ対応が遅れています")
    widget.locator(".slots").get_by_role("button").first.click()
    expect(widget.get_by_role("log")).to_contain_text("お名前")
    _send(widget, "山田太郎")
    expect(widget.locator(".row.out").last).to_contain_text("貴社名")
    _send(widget, "株式会社サンプル")
    expect(widget.locator(".row.out").last).to_contain_text("メールアドレス")
    _send(widget, "taro@example.com")
    booked = widget.locator(".row.out .bubble", has_text="承りました")
    expect(booked).to_be_visible()
    said = booked.inner_text().removeprefix("自動応答：").strip()  # the screen reader's label
    lines = [line for line in said.splitlines() if line.strip()]
    assert len(lines) == 3, lines  # thanks and time / the email / how to cancel
    assert "承りました" in lines[0] and "taro@example.com" in lines[1]
    assert "キャンセル" in lines[2]
    link = booked.get_by_role("link")
    expect(link).to_have_count(1)
    href = link.get_attribute("href") or ""
    assert re.fullmatch(re.escape(site) + r"/b/c[0-9a-z]+\.[0-9a-z]+\.[0-9a-f]{20}", href)
    assert link.inner_text() == href and len(href) - len(site) <= 40
    # The bubble fits the screen: the link wraps, it does not push the panel wider.
    box = booked.bounding_box()
    assert box is not None and box["x"] + box["width"] <= VIEWPORTS[device]["viewport"]["width"]  # type: ignore[index]
    booked.scroll_into_view_if_needed()
    screenshot(tab, f"widget-booked-{device}.png", full_page=False)

    # The short link opens the cancel page (nothing is cancelled until the button is pressed).
    with tab.context.expect_page() as opened:
        link.click()
    cancel = opened.value
    cancel.wait_for_load_state()
    assert re.search(r"/bookings/[^/]+/cancel\?s=", cancel.url)
    expect(cancel.locator("body")).to_contain_text("11月24日(火) 10:00")
    screenshot(cancel, f"booking-cancel-{device}.png")
    cancel.close()
