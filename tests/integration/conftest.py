"""The app as the HTTP tests use it: migrated database, fixed clock, lifespan run, ASGI client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from autoreply.clock import FixedClock
from autoreply.web.app import create_app
from tests.conftest import make_settings, tokyo

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
