"""The dashboard in real Chromium with real data (eight weeks of a busy inside-sales team,
written by ``tests/dashboard_data.py``): the charts are inline SVG images with titles, the
figures are there, the CSV downloads, and nothing is wider than a 390 px phone."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from autoreply.bootstrap import build_content, open_session
from autoreply.clock import FixedClock
from autoreply.service import reps
from autoreply.store.db import create_engine, upgrade
from tests.conftest import make_settings, tokyo
from tests.dashboard_data import fill
from tests.e2e.conftest import loopback_socket, require_playwright, screenshot, serving

require_playwright()

from playwright.sync_api import Page, ViewportSize, expect  # noqa: E402

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
NOW = tokyo(2026, 11, 27, 16, 30)  # a Friday afternoon
MANAGER = ("部長 田中", "manager@example.com", "e2e-manager-password-1")


async def _seed(database: str) -> None:
    settings = make_settings(database_url=database)
    await upgrade(database)
    async with open_session(settings) as session:
        await reps.create_rep(
            session, MANAGER[0], MANAGER[1], now=NOW, password=MANAGER[2], role="manager"
        )
    engine = create_engine(database)
    try:
        calendar = build_content(settings, FixedClock(NOW)).calendar
        await fill(engine, calendar, NOW, handoffs=900, messages=6000, days=56, first_rep_id=2)
    finally:
        await engine.dispose()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    database = f"sqlite+aiosqlite:///{tmp_path}/dashboard.db"
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API owns this thread's loop
        pool.submit(asyncio.run, _seed(database)).result(timeout=300)
    sock, base = loopback_socket()
    settings = make_settings(database_url=database, public_url=base, mail_dir=tmp_path / "mail")
    with serving(settings, FixedClock(NOW), sock):
        yield base


def _too_wide(page: Page) -> float:
    return float(
        page.evaluate(
            "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
            " - window.innerWidth"
        )
    )


def test_the_manager_sees_the_charts_on_a_desktop_and_a_phone(site: str, page: Page) -> None:
    page.set_viewport_size(DESKTOP)
    page.goto(site + "/rep/login")
    page.get_by_label("メールアドレス").fill(MANAGER[1])
    page.get_by_label("パスワード").fill(MANAGER[2])
    page.get_by_role("button", name="ログイン").click()
    page.get_by_role("link", name="ダッシュボード").click()
    expect(page.get_by_role("heading", name="ダッシュボード", level=1)).to_be_visible()

    charts = page.locator("svg.chart")
    expect(charts).to_have_count(4)
    for name in ("週ごとの5分以内対応率（%）", "ファネル（件数と前の段階からの転換率）"):
        expect(page.get_by_role("img", name=name)).to_be_visible()
    assert page.locator("#chart-within5 rect").count() == 8  # one bar per week
    assert page.locator("#chart-funnel rect").count() == 7
    expect(page.locator("#kpis")).to_contain_text("5分以内対応率")
    expect(page.locator("#leaderboard tr")).to_have_count(11)  # header + the top 10
    for chart in charts.all():
        box = chart.bounding_box()
        assert box is not None and box["width"] > 400  # two charts a row on a desktop
    screenshot(page, "dashboard.png")
    assert _too_wide(page) <= 0

    page.set_viewport_size(PHONE)
    page.reload()
    for chart in charts.all():
        box = chart.bounding_box()
        assert box is not None and 300 <= box["width"] <= 390 and box["x"] >= 0
    screenshot(page, "dashboard-phone.png")
    for name, selector in (("charts", "section.charts"), ("tables", "#leaderboard")):
        bottom = page.locator(selector).evaluate(
            "e => e.getBoundingClientRect().bottom + window.scrollY"
        )
        top = 0.0 if name == "charts" else bottom - 1400
        clip = {"x": 0, "y": top, "width": 390, "height": bottom - top + 16}
        screenshot(page, f"dashboard-phone-{name}.png", clip=clip)  # type: ignore[arg-type]
    assert _too_wide(page) <= 0, "the dashboard scrolls sideways on a phone"

    with page.expect_download() as download:
        page.get_by_role("link", name="週ごとの推移").click()
    path = download.value.path()
    assert download.value.suggested_filename == "dashboard-weekly-2026-10-05_2026-11-27.csv"
    assert Path(path).read_bytes().startswith("\ufeff週（月曜日）".encode())
