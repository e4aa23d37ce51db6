"""Shared fixtures: the shipped content, a fixed clock, and real databases (SQLite, PostgreSQL).

PostgreSQL tests run against ``AUTOREPLY_TEST_POSTGRES_URL`` (default: the local test
server). Where no server answers they are skipped, unless ``AUTOREPLY_TEST_REQUIRE_POSTGRES=1``
(set by ``.ci/run``), where an unreachable server fails them.
"""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import make_url

from autoreply.bootstrap import add_flow, build_content
from autoreply.clock import FixedClock
from autoreply.config import Settings
from autoreply.service.content import Content

ROOT = Path(__file__).resolve().parents[1]
TOKYO = ZoneInfo("Asia/Tokyo")
PG_URL = os.environ.get(
    "AUTOREPLY_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REQUIRE_PG = os.environ.get("AUTOREPLY_TEST_REQUIRE_POSTGRES", "") not in ("", "0", "false")

TEST_MAIL = Path(tempfile.mkdtemp(prefix="autoreply-test-mail-"))

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: object) -> object:
    """Tests may only talk to this machine: anything else is a bug in the test."""
    if isinstance(address, tuple) and self.family in (socket.AF_INET, socket.AF_INET6):
        host = str(address[0])
        if not (host.startswith("127.") or host in ("::1", "localhost")):
            raise AssertionError(f"test tried to reach a non-loopback address: {host}")
    return _real_connect(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


def tokyo(*args: int) -> datetime:
    """An aware Asia/Tokyo datetime."""
    return datetime(*args, tzinfo=TOKYO)  # type: ignore[misc]


def operator_env(**extra: str) -> dict[str, str]:
    """The environment for running ``autoreply`` as a process: no stray AUTOREPLY_* settings,
    the repository's shipped flows and templates, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOREPLY_")}
    env.update(
        {
            "AUTOREPLY_FLOW": str(ROOT / "flows" / "demo.ja.yaml"),
            "AUTOREPLY_CASESTUDIES": str(ROOT / "flows" / "casestudies.yaml"),
            "AUTOREPLY_TOPICS": str(ROOT / "flows" / "topics.yaml"),
            "AUTOREPLY_TEMPLATES_DIR": str(ROOT / "templates"),
            "AUTOREPLY_FORMS": str(ROOT / "flows" / "forms.yaml"),
            **extra,
        }
    )
    return env


def make_settings(**overrides: object) -> Settings:
    """Settings reading the repository's shipped flows and templates, nothing from env."""
    base: dict[str, object] = {
        "flow": ROOT / "flows" / "demo.ja.yaml",
        "casestudies": ROOT / "flows" / "casestudies.yaml",
        "topics": ROOT / "flows" / "topics.yaml",
        "templates_dir": ROOT / "templates",
        "database_url": "sqlite+aiosqlite:///:memory:",
        "secret_key": "test-secret",
        "mail_dir": TEST_MAIL,  # never the checkout's var/mail
    }
    base.update(overrides)
    return Settings(_env_file=None, **base)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def content() -> Content:
    """The shipped demo content, loaded once (the clock is replaced per test where needed)."""
    built = build_content(make_settings(), FixedClock(tokyo(2026, 11, 21, 23, 10)))
    add_flow(built, ROOT / "flows" / "demo.en.yaml")
    built.default_flow = "demo-ja"
    return built


async def _pg_admin(sql: str) -> None:
    import asyncpg

    url = make_url(PG_URL)
    conn = await asyncpg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        database=url.database or "postgres",
        timeout=5,
    )
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _pg_reachable() -> str | None:
    url = make_url(PG_URL)
    try:
        with socket.create_connection((url.host or "127.0.0.1", url.port or 5432), timeout=2):
            return None
    except OSError as exc:
        return f"PostgreSQL at {url.host}:{url.port} unreachable: {exc}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    problem = _pg_reachable()
    if problem:
        if REQUIRE_PG:
            pytest.fail(problem)
        pytest.skip(problem)
    name = f"autoreply_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def migrated(database_url: str) -> AsyncIterator[str]:
    """The database URL after ``autoreply db upgrade``."""
    from autoreply.store.db import upgrade

    await upgrade(database_url)
    yield database_url
