"""The chat widget in real Chromium: one visitor's Saturday-night journey, and how it holds up."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.e2e.conftest import require_playwright, set_password
from tests.e2e.conftest import screenshot as _screenshot

require_playwright()

from playwright.sync_api import Browser, CDPSession, Locator, Page, expect  # noqa: E402

GREETING = "お問い合わせありがとうございます"
CHALLENGE = "夜間の問い合わせ対応が遅れています"
DEMO_REP_EMAIL = "demo-rep@example.com"
REP_PASSWORD = "e2e-rep-password-1"


def _widget(page: Page) -> Locator:
    return page.locator("#autoreply-widget")


def _open(page: Page) -> Locator:
    widget = _widget(page)
    launcher = widget.get_by_role("button", name="チャットで相談する")
    expect(launcher).to_be_visible()
    launcher.click()
    expect(widget.get_by_role("dialog", name="チャットでご相談")).to_be_visible()
    return widget


def _user_bubbles(widget: Locator) -> Locator:
    return widget.locator(".row.in .bubble")


def _type_and_send(widget: Locator, text: str) -> None:
    sent = _user_bubbles(widget).count()
    box = widget.get_by_role("textbox", name="メッセージ")
    box.fill(text)
    box.press("Enter")
    expect(_user_bubbles(widget)).to_have_count(sent + 1)
    expect(_user_bubbles(widget).last).to_contain_text(text)


def _compose_with_ime(cdp: CDPSession, text: str) -> None:
    """What a Japanese IME does while the visitor converts: an open composition, not yet text."""
    for state in ("やかん", "夜間の", text):
        cdp.send(
            "Input.imeSetComposition",
            {"text": state, "selectionStart": len(state), "selectionEnd": len(state)},
        )


def test_a_visitor_books_a_meeting_on_saturday_night_and_finds_it_after_a_reload(
    site: str, page: Page, tmp_path: Path
) -> None:
    """Greeting and honest banner, a choice, IME-safe typing, case cards, slots, booking, resume;
    then the rep logs in, reads the handoff's first line and marks it contacted."""
    page.goto(site + "/")

    # 1. The launcher opens the panel: greeting and the off-hours promise.
    widget = _open(page)
    expect(widget.locator(".banner")).to_contain_text("担当者の対応開始：11月24日(火) 9:00")
    expect(widget.get_by_role("log")).to_contain_text(GREETING)
    expect(widget.get_by_role("log")).to_contain_text(
        "担当者の対応は11月24日(火) 9:00以降になります"
    )

    # 2. Timing, by tapping a button; the tapped set is then spent.
    within_a_month = widget.get_by_role("button", name="1か月以内")
    within_a_month.click()
    expect(_user_bubbles(widget).last).to_contain_text("1か月以内")
    expect(widget.get_by_role("log")).to_contain_text("課題")
    expect(within_a_month).to_be_disabled()
    expect(widget.get_by_role("button", name="3か月以内")).to_be_disabled()

    # 3. The challenge, through an IME: Enter while converting must not send.
    box = widget.get_by_role("textbox", name="メッセージ")
    box.focus()
    cdp = page.context.new_cdp_session(page)
    _compose_with_ime(cdp, CHALLENGE)
    box.press("Enter")
    page.wait_for_timeout(300)  # a wrongly sent message would show up by now
    expect(_user_bubbles(widget)).to_have_count(1)
    expect(box).to_have_value(re.compile(CHALLENGE))
    cdp.send("Input.insertText", {"text": CHALLENGE})  # the visitor confirms the conversion
    box.press("Enter")
    expect(_user_bubbles(widget)).to_have_count(2)
    expect(_user_bubbles(widget).last).to_have_text(re.compile(CHALLENGE + "$"))
    expect(box).to_have_value("")

    # 4. Case-study cards; the link opens the story in a new tab through the tracking redirect.
    cards = widget.locator(".card")
    expect(cards.first).to_be_visible()
    expect(cards.first.get_by_role("heading")).not_to_be_empty()
    link = cards.first.get_by_role("link", name=re.compile("事例を見る"))
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener")
    expect(link).to_have_attribute("href", re.compile(re.escape(site) + "/r/"))
    # The story is the demo's own case page, served by the app after the tracking redirect.
    case_title = cards.first.get_by_role("heading").inner_text()
    to_case = re.compile(re.escape(site) + r"/cases/[\w-]+\?c=")
    with (
        page.context.expect_page() as opened,
        page.context.expect_event("request", lambda r: bool(to_case.match(r.url))) as hop,
    ):
        link.click()
    story = opened.value
    assert hop.value.frame.page == story and hop.value.is_navigation_request()
    assert hop.value.redirected_from is not None
    assert hop.value.redirected_from.url == link.get_attribute("href")
    assert hop.value.redirected_from.response().status == 302  # type: ignore[union-attr]
    assert hop.value.response().status == 200  # type: ignore[union-attr]
    expect(story.get_by_role("heading", level=1)).to_have_text(case_title)
    expect(story.locator("article.case")).to_contain_text("課題と導入の成果")
    expect(story).to_have_url(re.compile(re.escape(site) + r"/cases/[\w-]+$"))  # signature gone
    _screenshot(story, "case-page.png")
    assert page.evaluate("window.opener === null") and story.evaluate("window.opener") is None
    story.close()

    # 5. The slot picker, grouped by day; the first time; then name, company and email.
    picker = widget.locator(".slots")
    expect(picker.get_by_role("heading", name="11月24日(火)")).to_be_visible()
    expect(picker.get_by_role("button", name="11月24日(火) 10:00")).to_have_text("10:00")
    expect(picker.get_by_role("button", name="今回は予約しない")).to_be_visible()
    picker.scroll_into_view_if_needed()
    _screenshot(page, "widget-slots.png")
    picker.get_by_role("button").first.click()
    expect(_user_bubbles(widget).last).to_contain_text("11月24日(火) 10:00")
    expect(widget.get_by_role("log")).to_contain_text("11月24日(火) 10:00の枠を仮予約いたしました")
    expect(widget.get_by_role("log")).to_contain_text("お名前")
    expect(picker.get_by_role("button").first).to_be_disabled()
    _type_and_send(widget, "山田太郎")
    expect(widget.locator(".row.out").last).to_contain_text("貴社名")
    _type_and_send(widget, "株式会社サンプル")
    expect(widget.locator(".row.out").last).to_contain_text("メールアドレス")
    _type_and_send(widget, "taro@example.com")
    expect(widget.get_by_role("log")).to_contain_text("打ち合わせを承りました")
    cancel = widget.get_by_role("link", name=re.compile(r"\/b\/c"))
    expect(cancel).to_have_attribute("href", re.compile(re.escape(site) + r"/b/c\w+\.\w+\.\w+$"))
    _screenshot(page, "widget-booked.png")
    rows = widget.locator(".row").count()

    # 6. A reload continues the same conversation (and reports the page view).
    with page.expect_response(lambda r: r.url.endswith("/pages")) as page_view:
        page.reload()
    assert page_view.value.status == 204
    widget = _open(page)
    expect(widget.get_by_role("log")).to_contain_text("打ち合わせを承りました")
    expect(widget.locator(".row")).to_have_count(rows)
    expect(widget.locator(".bubble", has_text=GREETING)).to_have_count(1)
    expect(widget.locator(".banner")).to_contain_text("11月24日(火) 9:00")
    expect(widget.get_by_role("button", name="1か月以内")).to_be_disabled()

    # 7. Monday morning: the rep logs in, reads the handoff and its first line, marks it done.
    database = f"sqlite+aiosqlite:///{tmp_path}/e2e.db"
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API owns this thread's loop
        pool.submit(asyncio.run, set_password(database, DEMO_REP_EMAIL, REP_PASSWORD)).result()
    rep = page.context.new_page()
    rep.goto(site + "/rep/login")
    rep.get_by_label("メールアドレス").fill(DEMO_REP_EMAIL)
    rep.get_by_label("パスワード").fill(REP_PASSWORD)
    rep.get_by_role("button", name="ログイン").click()
    expect(rep).to_have_url(re.compile(r"/rep/handoffs"))
    first_row = rep.locator("tr.handoff").first
    expect(first_row).to_contain_text("A")
    first_row.get_by_role("link", name=re.compile("株式会社サンプル 山田太郎")).click()
    first_line = rep.locator("#first-line")
    expect(first_line).to_contain_text("株式会社サンプル 山田太郎様")
    expect(first_line).to_contain_text("11月24日(火) 10:00のお打ち合わせ")
    expect(first_line).to_contain_text("夜間の問い合わせ対応が遅れています")
    cases_row = rep.locator("tr", has_text=case_title)
    expect(cases_row.locator("td.case-link")).to_contain_text("閲覧済み")
    expect(cases_row.locator("td.case-link")).not_to_contain_text("クリック済み")
    _screenshot(rep, "handoff.png")
    rep.get_by_role("button", name="対応済みにする").click()
    expect(rep.locator(".status-contacted")).to_contain_text("対応済み")
    expect(rep.get_by_role("button", name="対応済みにする")).to_have_count(0)
    _screenshot(rep, "handoff-contacted.png")


def test_the_host_pages_css_cannot_restyle_the_widget(site: str, page: Page) -> None:
    """Hostile page rules (buttons, divs, everything in body, a big root font) change nothing."""
    page.goto(site + "/")
    widget = _open(page)
    expect(widget.get_by_role("button", name="1か月以内")).to_be_visible()
    page.add_style_tag(
        content="button { background: red !important; font-size: 50px !important }"
        " div, section { display: none !important }"
        " body > * { display: none !important; opacity: 0 !important }"
        " html { font-size: 40px !important; line-height: 3 !important }"
    )
    expect(page.locator("main")).to_be_hidden()  # the page itself did obey
    choice = widget.get_by_role("button", name="1か月以内")
    expect(choice).to_be_visible()
    style = choice.evaluate(
        "b => { const s = getComputedStyle(b); return [s.backgroundColor, s.fontSize]; }"
    )
    assert style == ["rgb(255, 255, 255)", "14px"]
    send = widget.get_by_role("button", name="送信")
    assert send.evaluate("b => getComputedStyle(b).backgroundColor") == "rgb(11, 61, 145)"


def test_on_a_phone_the_panel_fills_the_screen(site: str, page: Page) -> None:
    """At 375x667 the open panel is full-width and full-height; the close button remains."""
    page.set_viewport_size({"width": 375, "height": 667})
    page.goto(site + "/")
    widget = _open(page)
    box = widget.get_by_role("dialog").bounding_box()
    assert box == {"x": 0, "y": 0, "width": 375, "height": 667}
    expect(widget.get_by_role("button", name="チャットで相談する")).to_be_hidden()
    expect(widget.get_by_role("button", name="1か月以内")).to_be_visible()
    _screenshot(page, "widget-mobile.png", full_page=False)  # the phone's screen
    widget.get_by_role("button", name="チャットを閉じる").click()
    expect(widget.get_by_role("dialog")).to_be_hidden()


def test_escape_closes_the_panel_and_gives_focus_back_to_the_launcher(
    site: str, page: Page
) -> None:
    """Keyboard only: Escape from the input closes the chat; the launcher has focus again."""
    page.goto(site + "/")
    widget = _open(page)
    box = widget.get_by_role("textbox", name="メッセージ")
    expect(box).to_be_focused()
    box.press("Escape")
    expect(widget.get_by_role("dialog")).to_be_hidden()
    launcher = widget.get_by_role("button", name="チャットで相談する")
    expect(launcher).to_be_focused()
    expect(launcher).to_have_attribute("aria-expanded", "false")


def test_a_network_failure_is_explained_and_the_typed_text_is_kept(site: str, page: Page) -> None:
    """When sending fails the visitor reads why, keeps the text, and can simply send again."""
    page.goto(site + "/")
    widget = _open(page)
    expect(widget.get_by_role("button", name="1か月以内")).to_be_visible()
    page.context.route("**/messages", lambda route: route.abort("internetdisconnected"))
    box = widget.get_by_role("textbox", name="メッセージ")
    box.fill("来月中に導入したいです")
    box.press("Enter")
    expect(widget.get_by_role("alert")).to_have_text(
        "通信エラーが発生しました。もう一度お試しください。"
    )
    expect(box).to_have_value("来月中に導入したいです")
    expect(_user_bubbles(widget)).to_have_count(0)
    expect(widget.get_by_role("button", name="1か月以内")).to_be_enabled()

    page.context.unroute("**/messages")
    box.press("Enter")
    expect(_user_bubbles(widget)).to_contain_text(["来月中に導入したいです"])
    expect(widget.get_by_role("alert")).to_be_hidden()
    expect(widget.get_by_role("log")).to_contain_text("課題")


def test_the_one_line_snippet_works_on_another_site_with_its_options(
    site: str, customer_site: tuple[str, list[str]], page: Page
) -> None:
    """Embedded on another origin: English, on the left, in the site's colour; the API is the
    script's origin; the start call carries the page, its referrer and the utm_* parameters."""
    base, attributes = customer_site
    attributes.extend(['data-locale="en"', 'data-position="left"', 'data-color="#0a7d5a"'])
    page.goto(base + "/landing?utm_source=newsletter&utm_campaign=autumn&ref=1")
    widget = page.locator("#autoreply-widget")
    launcher = widget.get_by_role("button", name="Open chat")
    assert launcher.bounding_box()["x"] < 100  # type: ignore[index]
    with page.expect_request(re.compile(re.escape(site) + "/api/chat/conversations$")) as start:
        launcher.click()
    body = start.value.post_data_json
    assert body["locale"] == "en" and len(body["visitor"]) >= 16
    assert body["page"]["url"] == base + "/landing?utm_source=newsletter&utm_campaign=autumn&ref=1"
    assert body["page"]["title"] == "Acme Inc."
    assert body["utm"] == {"source": "newsletter", "campaign": "autumn"}
    expect(widget.locator(".banner")).to_contain_text("Closed now")
    choice = widget.get_by_role("button", name="Within a month")
    expect(choice).to_be_visible()
    assert choice.evaluate("b => getComputedStyle(b).color") == "rgb(10, 125, 90)"
    choice.click()
    expect(_user_bubbles(widget)).to_contain_text(["Within a month"])


def test_a_stored_conversation_the_server_does_not_know_is_replaced_by_a_new_one(
    site: str, page: Page
) -> None:
    """A stale or foreign conversation in localStorage (404) gets a fresh greeting, no error."""
    page.goto(site + "/")
    page.evaluate(
        """() => localStorage.setItem("autoreply:conversation:default",
             JSON.stringify({conversation_id: "gone", token: "stale"}))"""
    )
    with page.expect_response(re.compile(r"/api/chat/conversations/gone$")) as resume:
        page.reload()
    assert resume.value.status == 404
    widget = _open(page)
    expect(widget.get_by_role("log")).to_contain_text(GREETING)
    expect(widget.get_by_role("alert")).to_be_hidden()
    stored = page.evaluate("JSON.parse(localStorage.getItem('autoreply:conversation:default'))")
    assert stored["conversation_id"] != "gone" and stored["token"] != "stale"


def test_a_form_then_continue_in_the_chat_without_being_asked_again(site: str, page: Page) -> None:
    """The 資料請求 form on the demo site, the thank-you page, and "チャットで続ける": the
    widget opens on the same conversation, skips what the form said, and offers slots; the
    secret in the address bar is gone."""
    page.goto(f"{site}/forms/document-request")
    page.get_by_label("ご希望の資料").select_option("service-overview")
    page.get_by_label("貴社名").fill("株式会社サンプル")
    page.get_by_label("お名前").fill("山田太郎")
    page.get_by_label("メールアドレス").fill("taro@example")
    page.get_by_label("ご導入の時期").select_option("within_3_months")
    page.get_by_label("ご相談内容・課題").fill(CHALLENGE)
    page.get_by_label("個人情報の取り扱いに同意する").check()
    page.get_by_role("button", name="送信する").click()
    expect(page.get_by_role("alert")).to_contain_text("入力内容をご確認ください")
    expect(page.locator("#e-email")).to_contain_text("メールアドレスの形式")
    expect(page.get_by_label("貴社名")).to_have_value("株式会社サンプル")  # nothing retyped
    page.get_by_label("メールアドレス").fill("taro@example.com")
    page.get_by_role("button", name="送信する").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("資料請求を受け付けました")
    page.get_by_role("link", name="チャットで続ける").click()
    widget = _widget(page)
    expect(widget.get_by_role("dialog", name="チャットでご相談")).to_be_visible()
    expect(widget.locator(".slots")).to_be_visible()
    # One conversation: what the form said as the bot's summary, the email's cases after
    # the sentence introducing them, a greeting that asks nothing, then the slots.
    expect(_user_bubbles(widget)).to_have_count(0)
    rows = widget.locator(".row")
    expect(rows.nth(0)).to_contain_text("資料請求フォームで、次の内容を承りました。")
    expect(rows.nth(0)).to_contain_text("サービス概要資料")
    expect(rows.nth(0)).to_contain_text("メールでご紹介した導入事例は、こちらです。")
    expect(rows.nth(1).locator(".card").first).to_be_visible()
    expect(rows.nth(2)).to_contain_text("こちらで続けてご案内いたします")
    expect(rows.nth(2)).not_to_contain_text("お伺い")
    expect(widget.locator(".card")).to_have_count(rows.nth(1).locator(".card").count())
    expect(widget.locator(".row.out", has_text="いつ頃をお考え")).to_have_count(0)
    assert "#autoreply" not in page.url and "autoreply=" not in page.url
    _screenshot(page, "widget-from-form.png")


def test_too_many_starts_from_one_address_are_explained_politely(site: str, page: Page) -> None:
    """Once this address has started AUTOREPLY_CHAT_STARTS_PER_MINUTE conversations, the
    widget's start is answered 429 and the visitor reads a polite request to wait, with a
    retry button, never the server's reason."""
    import httpx

    with httpx.Client(base_url=site) as client:
        for _ in range(10):
            started = client.post("/api/chat/conversations", json={"page": {"url": site + "/"}})
            assert started.status_code == 201
    page.goto(site + "/")
    with page.expect_response(re.compile(r"/api/chat/conversations$")) as start:
        widget = _widget(page)
        widget.get_by_role("button", name="チャットで相談する").click()
    assert start.value.status == 429
    alert = widget.get_by_role("alert")
    expect(alert).to_contain_text(
        "ただいま混み合っております。恐れ入りますが、しばらくおいてからもう一度お試しください。"
    )
    expect(alert.get_by_role("button", name="もう一度試す")).to_be_visible()
    expect(widget.get_by_role("log")).not_to_contain_text(GREETING)


def _to_the_slots(widget: Locator) -> Locator:
    widget.get_by_role("button", name="1か月以内").click()
    expect(widget.get_by_role("log")).to_contain_text("課題")
    _type_and_send(widget, CHALLENGE)
    picker = widget.locator(".slots").last
    expect(picker).to_be_visible()
    return picker


def test_declining_asks_how_to_reach_the_lead_before_promising_a_call(
    site: str, page: Page
) -> None:
    """The web chat knows no way to reach a lead: declining the meeting asks for an email
    address or phone number, and only then promises the call; 「連絡先を伝えない」 is there."""
    page.goto(site + "/")
    widget = _open(page)
    expect(widget.get_by_role("log")).not_to_contain_text("ご連絡いたします")
    picker = _to_the_slots(widget)
    picker.get_by_role("button", name="今回は予約しない").click()
    ask = widget.locator(".row.out").last
    expect(ask).to_contain_text("メールアドレスまたはお電話番号を教えていただけますか")
    expect(ask.get_by_role("button", name="連絡先を伝えない")).to_be_visible()
    expect(widget.get_by_role("log")).not_to_contain_text("ご連絡いたします")
    _type_and_send(widget, "090-1234-5678 です")
    expect(widget.get_by_role("log")).to_contain_text(
        "ありがとうございます。いただいた内容は担当者に引き継ぎ、"
        "11月24日(火) 9:00以降にご連絡いたします。"
    )
    _screenshot(page, "widget-contact-before-promise.png")


def test_a_tapped_slot_is_held_for_the_lead_not_booked(
    site: str, page: Page, browser: Browser
) -> None:
    """Tapping a slot holds it: the lead reads 仮予約, another visitor is not offered it; it
    is booked once name, company and email are in."""
    page.goto(site + "/")
    widget = _open(page)
    picker = _to_the_slots(widget)
    picker.get_by_role("button", name="11月24日(火) 10:00").click()
    expect(widget.get_by_role("log")).to_contain_text("仮予約いたしました")
    other = browser.new_context(locale="ja-JP", viewport={"width": 390, "height": 844})
    try:
        rival = other.new_page()
        rival.goto(site + "/")
        rival_picker = _to_the_slots(_open(rival))
        expect(rival_picker.get_by_role("button", name="11月24日(火) 13:00")).to_be_visible()
        expect(rival_picker.get_by_role("button", name="11月24日(火) 10:00")).to_have_count(0)
        _screenshot(rival, "widget-held-slot-not-offered-phone.png")
    finally:
        other.close()
    for answer in ("山田太郎", "株式会社サンプル", "taro@example.com"):
        _type_and_send(widget, answer)
    expect(widget.get_by_role("log")).to_contain_text(
        "11月24日(火) 10:00からのお打ち合わせを承りました"
    )


def test_a_second_tab_brings_itself_up_to_date(site: str, page: Page) -> None:
    """Two tabs on one conversation: when one taps a slot, the other redraws from the server
    and offers nothing that is gone; a tap on a stale button there catches up, too."""
    page.goto(site + "/")
    first = _open(page)
    _to_the_slots(first)
    second_tab = page.context.new_page()
    second_tab.goto(site + "/")
    second = _open(second_tab)
    expect(second.locator(".slots")).to_be_visible()  # the same conversation, resumed
    second.get_by_role("button", name="11月24日(火) 10:00").click()
    expect(second.get_by_role("log")).to_contain_text("仮予約いたしました")
    # The first tab hears of it (storage event) and redraws: the slots are spent there too.
    expect(first.get_by_role("log")).to_contain_text("仮予約いたしました")
    expect(first.locator(".slots button:enabled")).to_have_count(0)
    _screenshot(page, "widget-second-tab-updated.png")


def test_a_stale_tap_brings_the_tab_up_to_date(site: str, page: Page, browser: Browser) -> None:
    """A window that heard nothing (another browser profile answered) and taps a slot that
    is no longer on offer is brought up to date and told so, instead of only refused."""
    page.goto(site + "/")
    mine = _open(page)
    _to_the_slots(mine)
    stored = page.evaluate("localStorage.getItem('autoreply:conversation:default')")
    other = browser.new_context(locale="ja-JP")
    try:
        elsewhere = other.new_page()
        elsewhere.goto(site + "/")
        elsewhere.evaluate("s => localStorage.setItem('autoreply:conversation:default', s)", stored)
        elsewhere.reload()
        there = _open(elsewhere)
        there.get_by_role("button", name="11月24日(火) 13:00").click()
        expect(there.get_by_role("log")).to_contain_text("仮予約いたしました")
    finally:
        other.close()
    mine.get_by_role("button", name="11月24日(火) 10:00").click()  # stale here
    expect(mine.get_by_role("alert")).to_contain_text("最新の状態に更新いたしました")
    expect(mine.get_by_role("log")).to_contain_text("11月24日(火) 13:00の枠を仮予約いたしました")
    expect(mine.locator(".slots button:enabled")).to_have_count(0)
