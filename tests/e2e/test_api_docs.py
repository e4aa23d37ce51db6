"""The API docs in real Chromium with nothing but loopback reachable: Swagger UI and ReDoc
come from the service itself, render the operations, and the tab shows the product icon."""

from __future__ import annotations

from tests.e2e.conftest import require_playwright, screenshot

require_playwright()

from playwright.sync_api import Page, expect  # noqa: E402


def test_swagger_ui_renders_offline(page: Page, site: str) -> None:
    """Every request stays on this machine (the context aborts and reports any other)."""
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(f"{site}/docs")
    expect(
        page.locator(".opblock-summary-path", has_text="/api/chat/conversations").first
    ).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text("autoreply")
    screenshot(page, "api-docs-1280.png", full_page=False)
    assert any(url.endswith("/docs/assets/swagger-ui-bundle.js") for url in requests)
    assert all(url.startswith(site) for url in requests), requests


def test_redoc_renders_offline(page: Page, site: str) -> None:
    """ReDoc's menu links its maker's logo on a CDN: the page's policy blocks it in the
    browser, so it never goes out (the context would report it)."""
    loaded: list[str] = []
    blocked: list[tuple[str, str | None]] = []
    page.on("requestfinished", lambda request: loaded.append(request.url))
    page.on("requestfailed", lambda request: blocked.append((request.url, request.failure)))
    page.goto(f"{site}/redoc")
    expect(page.get_by_role("heading", name="autoreply").first).to_be_visible(timeout=15_000)
    expect(page.get_by_text("/api/chat/conversations").first).to_be_attached()
    screenshot(page, "api-redoc-1280.png", full_page=False)
    assert f"{site}/docs/assets/redoc.standalone.js" in loaded
    assert all(url.startswith(site) for url in loaded), loaded
    assert all(failure == "csp" for _, failure in blocked), blocked


def test_the_site_shows_its_icon_and_hours(page: Page, site: str) -> None:
    """The tab icon is the SVG the page links; the footer states the configured hours."""
    page.goto(site)
    icon = page.locator('link[rel="icon"]')
    assert icon.get_attribute("href") == "/favicon.svg"
    loaded = page.request.get(f"{site}/favicon.svg")
    assert loaded.ok and loaded.headers["content-type"].startswith("image/svg+xml")
    expect(page.locator("footer")).to_contain_text(
        "営業時間：平日 9:00〜12:00、13:00〜18:00（土日祝・年末年始・夏季休業を除く）"
    )
