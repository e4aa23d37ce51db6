"""Browser fixtures: the real app on a loopback port, and Debian's Chromium driven by Playwright.

Without Chromium or the ``playwright`` package these tests are skipped locally, each with
its reason in pytest's ``-ra`` list and once more in a "browser tests skipped" section at the
end of the run (with the install command), but fail when ``CI`` is set: CI must never skip
the browser.
"""

from __future__ import annotations

import asyncio
import http.server
import importlib.util
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from autoreply.clock import Clock, FixedClock
from autoreply.config import Settings
from tests.conftest import ROOT, make_settings, tokyo
from tests.notifystub import NotifyStub, notify_stub

if TYPE_CHECKING:
    from fastapi import FastAPI
    from playwright.sync_api import Browser, BrowserContext, FloatRect, Page

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
ARTIFACTS = ROOT / "test-artifacts"
LOOPBACK = re.compile(r"^https?://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?/")


INSTALL = "apt-get install chromium fonts-noto-cjk"
_skipped: set[str] = set()  # why browser tests were skipped in this run (for the summary)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run in CI: {reason}")
    _skipped.add(reason)
    pytest.skip(f"browser test not run: {reason}", allow_module_level=True)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say it at the end of the run, not only in the skip list: the browser tests did not
    run here, and how to make them run."""
    if _skipped:
        terminalreporter.section("browser tests skipped", sep="=", yellow=True, bold=True)
        for reason in sorted(_skipped):
            terminalreporter.line(f"{reason}; to run them: {INSTALL}")
        terminalreporter.line("(CI never skips them: .ci/run installs both and sets CI=1)")


def require_playwright() -> None:
    """Call before importing Playwright in a test module: skip it locally, fail it in CI."""
    if importlib.util.find_spec("playwright") is None:
        _unavailable("the playwright package is not installed (pip install -e '.[test]')")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium (the Debian package; ``playwright install`` cannot download here)."""
    require_playwright()
    from playwright.sync_api import sync_playwright

    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        _unavailable(f"no Chromium at {CHROMIUM} (or set AUTOREPLY_TEST_CHROMIUM)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@contextmanager
def serving(settings: Settings, clock: Clock, sock: socket.socket) -> Iterator[FastAPI]:
    """The real app (``create_app``, lifespan and background work) served by uvicorn on
    ``sock`` in a thread, until the block ends; yields the app (its ``state.runtime``)."""
    import uvicorn

    from autoreply.web.app import create_app

    app = create_app(settings, clock=clock)
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
        yield app
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def loopback_socket() -> tuple[socket.socket, str]:
    """A socket bound to a free loopback port, and the base URL it will serve."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    """The real app (demo site, widget, chat API) on a free loopback port, Saturday 23:10."""
    sock, base = loopback_socket()
    settings = make_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/e2e.db",
        secret_key="test-secret",
        public_url=base,  # links in messages (cancel a booking) point at this server
        mail_dir=tmp_path / "mail",
    )
    with serving(settings, FixedClock(SATURDAY_NIGHT), sock):
        yield base


def screenshot(
    page: Page, name: str, *, full_page: bool = True, clip: FloatRect | None = None
) -> None:
    """Save what the page shows (or the ``clip`` of the whole page) as
    ``test-artifacts/<name>`` (kept by CI, looked at by people)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=full_page, clip=clip)


async def set_password(database_url: str, email: str, password: str) -> None:
    """Give a rep a known password in the test's database (as `reps password` does)."""
    from autoreply.bootstrap import open_session
    from autoreply.service import reps

    async with open_session(make_settings(database_url=database_url)) as session:
        await reps.set_password(session, email, password)


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


@pytest.fixture
def notify() -> Iterator[NotifyStub]:
    """The Slack, Teams and Chatwork stand-in (``tests/notifystub.py``) on loopback, served
    by its own event loop in a thread (Playwright's sync API owns the test's thread)."""
    started = threading.Event()
    running: dict[str, Any] = {}

    async def serve() -> None:
        async with notify_stub() as stub:
            running.update(stub=stub, loop=asyncio.get_running_loop(), stop=asyncio.Event())
            started.set()
            await running["stop"].wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    if not started.wait(timeout=15):
        pytest.fail("the notification stand-in did not start")
    try:
        yield running["stub"]
    finally:
        running["loop"].call_soon_threadsafe(running["stop"].set)
        thread.join(timeout=15)
