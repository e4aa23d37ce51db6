"""What the service sends besides the chat: opening hours from the settings, the API docs
from its own files, compressed text, the product icon."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from html.parser import HTMLParser

import httpx
import pytest
from fastapi import FastAPI

from autoreply.clock import FixedClock
from autoreply.web.app import GZIP_MINIMUM_BYTES, create_app
from autoreply.web.routes.site import FAVICON_ICO, FAVICON_SVG, WIDGET
from tests.conftest import make_settings
from tests.integration.conftest import SATURDAY_NIGHT

DEFAULT_HOURS_JA = "平日 9:00〜12:00、13:00〜18:00（土日祝・年末年始・夏季休業を除く）"
DEFAULT_HOURS_EN = (
    "Weekdays 9:00–12:00, 13:00–18:00 (JST), except weekends, public holidays, "
    "the year-end and New Year holidays and the summer holidays"
)


class _Links(HTMLParser):
    """Every URL an HTML page makes the browser load or link (src, href)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls.extend(v for k, v in attrs if k in ("src", "href") and v)


def _urls(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.urls


async def _raw(client: httpx.AsyncClient, path: str, encoding: str) -> tuple[httpx.Response, bytes]:
    """The answer's headers and its bytes as sent (not decoded by httpx)."""
    async with client.stream("GET", path, headers={"Accept-Encoding": encoding}) as response:
        return response, b"".join([chunk async for chunk in response.aiter_raw()])


async def test_pages_state_the_configured_opening_hours(client: httpx.AsyncClient) -> None:
    """The footer, the privacy desk and the documents say the hours of the settings, the
    lunch break included; no page keeps the old fixed 「平日 9:00〜18:00」."""
    for path in ("/", "/pricing", "/cases", "/privacy", "/documents/case-book"):
        text = (await client.get(path)).text
        assert DEFAULT_HOURS_JA in text, path
        assert "9:00〜18:00" not in text, path
    assert f"営業時間：{DEFAULT_HOURS_JA}" in (await client.get("/")).text
    for path in ("/privacy/en", "/documents/case-book-en", "/documents/service-overview-en"):
        text = (await client.get(path)).text
        assert DEFAULT_HOURS_EN in text, path
        assert "9:00-18:00" not in text, path


@pytest.fixture
async def saturday_shop(migrated: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app of a company open on Saturdays too, closed only at New Year, no holidays."""
    settings = make_settings(
        database_url=migrated,
        business_hours="mon-fri 10:00-19:00; sat 10:00-15:00",
        closures="12-31..01-02",
        holidays_country="",
    )
    app = create_app(settings, clock=FixedClock(SATURDAY_NIGHT), migrate=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def test_other_hours_are_stated_as_configured(saturday_shop: httpx.AsyncClient) -> None:
    page = (await saturday_shop.get("/")).text
    assert "営業時間：平日 10:00〜19:00／土 10:00〜15:00（日曜・年末年始を除く）" in page
    english = (await saturday_shop.get("/privacy/en")).text
    assert "Weekdays 10:00–19:00; Sat 10:00–15:00 (JST), except Sun and the year-end" in english


@pytest.mark.parametrize(("path", "asset"), [("/docs", ".js"), ("/redoc", ".js")])
async def test_api_docs_load_only_their_own_files(
    client: httpx.AsyncClient, path: str, asset: str
) -> None:
    """/docs and /redoc reference same-origin files only (no CDN, no Google Fonts), and
    each of them answers; the OpenAPI document they load answers too."""
    page = await client.get(path)
    assert page.status_code == 200
    assert "cdn." not in page.text and "fonts.googleapis" not in page.text
    urls = _urls(page.text)
    assert any(u.endswith(asset) for u in urls), urls
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), f"{path} loads {url}"
        answer = await client.get(url)
        assert answer.status_code == 200, url
        assert len(answer.content) > 0
    assert "'/openapi.json'" in page.text or '"/openapi.json"' in page.text
    if path == "/redoc":  # its menu's logo is on its maker's CDN: images from here only
        assert page.headers["content-security-policy"] == "img-src 'self' data:"
    assert (await client.get("/openapi.json")).json()["info"]["title"] == "autoreply"


@pytest.mark.parametrize("path", ["/widget.js", "/", "/openapi.json"])
async def test_text_is_compressed_when_asked(client: httpx.AsyncClient, path: str) -> None:
    """Asked with Accept-Encoding: gzip, the answer is gzip and decodes to the same bytes
    as the plain one; asked for identity (or nothing), it is sent as is."""
    zipped, packed = await _raw(client, path, "gzip")
    plain, body = await _raw(client, path, "identity")
    assert zipped.status_code == plain.status_code == 200
    assert zipped.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in zipped.headers["vary"].lower()
    assert "content-encoding" not in plain.headers
    assert gzip.decompress(packed) == body
    assert len(packed) < len(body) / 2
    if path == "/widget.js":
        assert body == WIDGET.read_bytes()
    bare, _ = await _raw(client, path, "")
    assert "content-encoding" not in bare.headers


async def test_small_answers_and_images_are_not_compressed(client: httpx.AsyncClient) -> None:
    """Below the minimum size gzip costs more than it saves; an icon is compressed already."""
    for path in ("/favicon.svg", "/favicon.ico"):
        response, _ = await _raw(client, path, "gzip")
        assert "content-encoding" not in response.headers, path
    assert FAVICON_SVG.stat().st_size < GZIP_MINIMUM_BYTES < FAVICON_ICO.stat().st_size


async def test_the_product_icon_is_served_and_linked(client: httpx.AsyncClient) -> None:
    """/favicon.ico is a real ICO, cached for a day; pages link the SVG icon."""
    ico = await client.get("/favicon.ico")
    assert ico.status_code == 200 and ico.headers["content-type"] == "image/x-icon"
    assert ico.content[:4] == b"\x00\x00\x01\x00"  # ICO header: reserved 0, type 1 (icon)
    assert int.from_bytes(ico.content[4:6], "little") >= 2  # several sizes
    assert "max-age=86400" in ico.headers["cache-control"]
    svg = await client.get("/favicon.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.startswith("<svg") and "max-age" in svg.headers["cache-control"]
    for path in ("/", "/rep/login", "/documents/pricing", "/docs"):
        html = (await client.get(path)).text
        assert "/favicon.svg" in _urls(html), path


async def test_the_docs_pages_are_not_api_operations(app: FastAPI) -> None:
    """The docs pages are not part of the OpenAPI document (nothing to call there)."""
    schema = app.openapi()
    assert "/docs" not in schema["paths"] and "/favicon.ico" not in schema["paths"]
