"""Browser fixtures: the real app on a loopback port, and Debian's Chromium driven by Playwright.

Without Chromium or the ``playwright`` package these tests are skipped locally, but fail when
``CI`` is set: CI must never skip the browser.
"""

from __future__ import annotations

import http.server
import importlib.util
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from autoreply.clock import FixedClock
from tests.conftest import make_settings, tokyo

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

SATURDAY_NIGHT = tokyo(2026, 11, 21, 23, 10)
CHROMIUM = os.environ.get("AUTOREPLY_TEST_CHROMIUM", "/usr/bin/chromium")
# Chromium phones home (updates, sync, safe browsing) unless told not to: nothing may leave.
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
    "--disable-default-apps",
    "--disable-content-reliability",
    "--no-pings",
    # Belt and braces: no host name resolves, so nothing can be reached by name.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
LOOPBACK = re.compile(r"^https?://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?/")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run in CI: {reason}")
    pytest.skip(reason, allow_module_level=True)


def require_playwright() -> None:
    """Call before importing Playwright in a test module: skip it locally, fail it in CI."""
    if importlib.util.find_spec("playwright") is None:
        _unavailable("the playwright package is not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium (the Debian package; ``playwright install`` cannot download here)."""
    require_playwright()
    from playwright.sync_api import sync_playwright

    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        _unavailable(f"no Chromium at {CHROMIUM} (set AUTOREPLY_TEST_CHROMIUM)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    """The real app (demo site, widget, chat API) on a free loopback port, Saturday 23:10."""
    import uvicorn

    from autoreply.web.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = make_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/e2e.db",
        secret_key="test-secret",
        public_url=base,  # links in messages (cancel a booking) point at this server
        mail_dir=tmp_path / "mail",
    )
    app = create_app(settings, clock=FixedClock(SATURDAY_NIGHT))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the app did not start")
        time.sleep(0.02)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@pytest.fixture
def customer_site(site: str) -> Iterator[tuple[str, list[str]]]:
    """Another origin (``localhost``) embedding the widget with the one-line snippet.

    Yields its base URL and a list to append ``<script>`` attribute strings to: each page
    served is the snippet with the attributes given so far.
    """
    attributes: list[str] = []

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            snippet = f'<script src="{site}/widget.js" async {" ".join(attributes)}></script>'
            body = (
                "<!doctype html><html><head><meta charset='utf-8'><title>Acme Inc.</title>"
                "<meta name='viewport' content='width=device-width, initial-scale=1'></head>"
                f"<body><h1>Acme Inc.</h1>{snippet}</body></html>"
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}", attributes
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile (empty localStorage) that may only reach loopback.

    Any other request is aborted and fails the test; a test that needs an outside page
    (a case study) fulfils it with its own, more specific route.
    """
    ctx = browser.new_context(locale="ja-JP", viewport={"width": 1280, "height": 860})
    escaped: list[str] = []

    def guard(route):  # type: ignore[no-untyped-def]
        escaped.append(route.request.url)
        route.abort()

    ctx.route(lambda url: not LOOPBACK.match(url), guard)
    try:
        yield ctx
    finally:
        ctx.close()
    assert not escaped, f"the browser tried to leave the machine: {escaped}"


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A tab whose script errors fail the test."""
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    assert not errors, f"JavaScript errors on the page: {errors}"
