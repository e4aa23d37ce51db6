"""The lead's data rights in real Chromium: the form's consent checkbox (a person cannot
send without ticking it), the privacy notice it links to, and the manager's
/rep/privacy (find, see the counts, confirm, delete), screenshot at 390 and 1280 px."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from autoreply.clock import FixedClock
from tests.conftest import make_settings
from tests.e2e.conftest import (
    SATURDAY_NIGHT,
    loopback_socket,
    require_playwright,
    screenshot,
    serving,
    set_password,
)

require_playwright()

from playwright.sync_api import Page, ViewportSize, expect  # noqa: E402

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
MANAGER = "demo-rep@example.com"  # the demo rep is a manager
PASSWORD = "e2e-manager-password"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    sock, base = loopback_socket()
    database = f"sqlite+aiosqlite:///{tmp_path}/e2e.db"
    settings = make_settings(
        database_url=database, public_url=base, mail_dir=tmp_path / "mail", demo=True
    )
    with serving(settings, FixedClock(SATURDAY_NIGHT), sock):
        yield base, database


def _fill_form(page: Page, base: str) -> None:
    page.goto(f"{base}/forms/document-request")
    page.get_by_label("ご希望の資料").select_option("case-book")
    page.get_by_label("貴社名").fill("株式会社サンプル")
    page.get_by_label("お名前").fill("山田太郎")
    page.get_by_label("メールアドレス").fill("taro@example.com")
    page.get_by_label("電話番号").fill("090-1234-5678")


def test_the_form_needs_consent_and_the_manager_deletes_the_lead(
    page: Page, served: tuple[str, str]
) -> None:
    base, database = served
    for size, suffix in ((PHONE, "390"), (DESKTOP, "1280")):
        page.set_viewport_size(size)
        _fill_form(page, base)
        consent = page.get_by_label("個人情報の取り扱いに同意する")
        expect(consent).not_to_be_checked()
        consent.scroll_into_view_if_needed()
        screenshot(page, f"form-consent-{suffix}.png")
    page.get_by_role("button", name="送信する").click()
    expect(page).to_have_url(f"{base}/forms/document-request")  # the browser refuses
    with page.context.expect_page() as opened:
        page.get_by_role("link", name="個人情報の取り扱い").first.click()
    notice = opened.value
    expect(notice.get_by_role("heading", level=1)).to_have_text("個人情報の取り扱いについて")
    notice.close()
    page.get_by_label("個人情報の取り扱いに同意する").check()
    page.get_by_role("button", name="送信する").click()
    expect(page).to_have_url(re.compile(r"/forms/document-request/thanks\?c="))

    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API owns this thread's loop
        pool.submit(asyncio.run, set_password(database, MANAGER, PASSWORD)).result()
    page.goto(f"{base}/rep/login")
    page.get_by_label("メールアドレス").fill(MANAGER)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.get_by_role("link", name="個人情報の開示・削除").click()
    page.get_by_label("値").fill("taro@example.com")
    page.get_by_role("button", name="検索する").click()
    expect(page.get_by_role("table").first).to_contain_text("フォーム送信")
    for size, suffix in ((PHONE, "390"), (DESKTOP, "1280")):
        page.set_viewport_size(size)
        screenshot(page, f"rep-privacy-{suffix}.png")
    page.get_by_role("button", name="削除する…").click()
    expect(page.get_by_role("alert")).to_contain_text("元に戻すことはできません")
    for size, suffix in ((PHONE, "390"), (DESKTOP, "1280")):
        page.set_viewport_size(size)
        screenshot(page, f"rep-privacy-confirm-{suffix}.png")
    page.get_by_role("button", name="削除を確定する").click()
    expect(page.get_by_role("status")).to_contain_text("削除しました")
    screenshot(page, "rep-privacy-deleted-1280.png")
    page.get_by_label("値").fill("taro@example.com")
    page.get_by_role("button", name="検索する").click()
    expect(page.get_by_role("status")).to_contain_text("保存されていません")
