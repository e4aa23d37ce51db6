"""The app as the HTTP tests use it: migrated database, fixed clock, lifespan run, ASGI client."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from autoreply.clock import FixedClock
from autoreply.service import reps
from autoreply.store.models import Rep
from autoreply.web.app import create_app
from tests.conftest import make_settings, tokyo
from tests.notifystub import NotifyStub, notify_stub

SATURDAY_NIGHT = tokyo(2026, 11, 21, 23, 10)


@pytest.fixture
def clock() -> FixedClock:
    """Saturday 23:10 in Tokyo, until a test moves it."""
    return FixedClock(SATURDAY_NIGHT)


@pytest.fixture
async def app(migrated: str, clock: FixedClock) -> AsyncIterator[FastAPI]:
    """The whole app on a migrated database (SQLite and PostgreSQL), lifespan running."""
    application = create_app(make_settings(database_url=migrated), clock=clock, migrate=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def notify() -> AsyncIterator[NotifyStub]:
    """The Slack, Teams and Chatwork stand-in on loopback (``tests/notifystub.py``)."""
    async with notify_stub() as stub:
        yield stub


EMAIL = "sato@example.com"
PASSWORD = "correct horse battery staple"


@pytest.fixture
async def rep(app: FastAPI) -> Rep:
    """A rep who can log in (EMAIL / PASSWORD)."""
    async with app.state.runtime.sessions() as session, session.begin():
        return await reps.create_rep(
            session, "佐藤 花子", EMAIL, now=SATURDAY_NIGHT, password=PASSWORD
        )


def _csrf(html: str) -> str:
    """The CSRF token of a rep page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


async def _login(
    client: httpx.AsyncClient, email: str = EMAIL, password: str = PASSWORD
) -> httpx.Response:
    """Log in on the rep pages (the client keeps the session cookie)."""
    page = await client.get("/rep/login")
    assert page.status_code == 200
    return await client.post(
        "/rep/login",
        data={"email": email, "password": password, "csrf_token": _csrf(page.text)},
    )
