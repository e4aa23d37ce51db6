"""Rep sessions end on the server, on SQLite and PostgreSQL, through a real HTTP server:
a copy of the cookie taken before logout, a password change or a deactivation is refused
afterwards."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from autoreply.bootstrap import open_session
from autoreply.clock import FixedClock
from autoreply.config import Settings
from autoreply.service import reps
from autoreply.store.models import RepSession
from autoreply.web.auth import SESSION_COOKIE
from tests.conftest import make_settings, tokyo
from tests.e2e.conftest import loopback_socket, serving

EMAIL = "sato@example.com"
PASSWORD = "correct horse battery staple"
NOW = tokyo(2026, 11, 24, 10, 0)


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    """The real app served by uvicorn on loopback, with one rep who can log in."""
    sock, base = loopback_socket()
    settings = make_settings(database_url=database_url, public_url=base, mail_dir=tmp_path)
    with serving(settings, FixedClock(NOW), sock):
        asyncio.run(_add_rep(settings))
        yield base, settings


async def _add_rep(settings: Settings) -> None:
    async with open_session(settings) as session:
        await reps.create_rep(session, "佐藤 花子", EMAIL, now=NOW, password=PASSWORD)


_OPEN: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def _client(base: str, **options: object) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=10, **options)  # type: ignore[arg-type]
    _OPEN.append(client)
    return client


def _login(base: str) -> httpx.Client:
    client = _client(base)
    page = client.get("/rep/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    done = client.post(
        "/rep/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert done.status_code == 303 and done.headers["location"] == "/rep/handoffs"
    return client


def _copy(base: str, client: httpx.Client) -> httpx.Client:
    """Another client holding a copy of the session cookie (as a thief would)."""
    cookie = client.cookies.get(SESSION_COOKIE)
    assert cookie
    return _client(base, cookies={SESSION_COOKIE: cookie})


def _logged_in(client: httpx.Client) -> bool:
    answer = client.get("/rep/handoffs")
    if answer.status_code == 303:
        assert answer.headers["location"] == "/rep/login"
        return False
    assert answer.status_code == 200
    return True


async def _sessions(settings: Settings) -> list[RepSession]:
    async with open_session(settings) as session:
        return list(await session.scalars(select(RepSession)))


def test_a_copied_cookie_no_longer_works_after_logout(served: tuple[str, Settings]) -> None:
    """Log in, copy the cookie, log out: the copy is refused; the table keeps only the
    token's hash, now revoked."""
    base, settings = served
    client = _login(base)
    thief = _copy(base, client)
    assert _logged_in(client) and _logged_in(thief)
    page = client.get("/rep/handoffs")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None
    out = client.post("/rep/logout", data={"csrf_token": csrf.group(1)})
    assert out.status_code == 303 and out.headers["location"] == "/rep/login"
    assert not _logged_in(thief)
    assert not _logged_in(client)
    [row] = asyncio.run(_sessions(settings))
    assert row.revoked_at is not None and len(row.id) == 64
    assert row.expires_at == NOW + timedelta(hours=12)


def test_deactivation_and_a_new_password_end_every_session(
    served: tuple[str, Settings],
) -> None:
    """A new password ends the rep's sessions (both browsers); so does deactivating the
    rep, and a deactivated rep cannot log in again."""
    base, settings = served
    first, second = _login(base), _login(base)
    assert _logged_in(first) and _logged_in(second)

    async def new_password() -> None:
        async with open_session(settings) as session:
            await reps.set_password(session, EMAIL, PASSWORD, now=NOW)

    asyncio.run(new_password())
    assert not _logged_in(first) and not _logged_in(second)

    client = _login(base)
    thief = _copy(base, client)
    assert _logged_in(thief)

    async def deactivate() -> None:
        async with open_session(settings) as session:
            await reps.set_active(session, EMAIL, False, NOW)

    asyncio.run(deactivate())
    assert not _logged_in(client) and not _logged_in(thief)
    again = _client(base)
    token = re.search(r'name="csrf_token" value="([^"]+)"', again.get("/rep/login").text)
    assert token is not None
    refused = again.post(
        "/rep/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert refused.status_code == 400
    assert all(row.revoked_at is not None for row in asyncio.run(_sessions(settings)))


def test_the_reps_deactivate_command_ends_the_sessions(
    served: tuple[str, Settings], tmp_path: Path
) -> None:
    """`autoreply reps deactivate EMAIL` (another process) logs the rep out everywhere;
    `reps activate` lets them log in again."""
    from tests.integration.test_cli import run

    base, settings = served
    client = _login(base)
    env = {"AUTOREPLY_DATABASE_URL": settings.database_url}
    done = run("reps", "deactivate", EMAIL, cwd=tmp_path, env=env)
    assert done.returncode == 0 and "deactivated" in done.stdout, done.stderr
    assert not _logged_in(client)
    assert run("reps", "activate", EMAIL, cwd=tmp_path, env=env).returncode == 0
    assert _logged_in(_login(base))
