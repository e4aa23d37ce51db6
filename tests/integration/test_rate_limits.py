"""Rate limits hold across processes: two apps on one database (SQLite and PostgreSQL)
share the counters of chat starts, form posts and login failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from autoreply.clock import FixedClock
from autoreply.domain.ratelimit import Rule
from autoreply.service import reps
from autoreply.service.limits import DatabaseCounters, LimitPolicy, RateLimits
from autoreply.store.db import create_engine, session_factory
from autoreply.store.models import Conversation, RateCounter
from autoreply.web.app import create_app
from tests.conftest import make_settings
from tests.integration.conftest import EMAIL, PASSWORD, SATURDAY_NIGHT, _login
from tests.integration.test_email import FORM

PAGE = {"url": "https://example.com/", "title": "サンプル株式会社"}


@asynccontextmanager
async def serving(migrated: str, clock: FixedClock, **settings: Any) -> AsyncIterator[FastAPI]:
    """One app (one "process" of the service) on the shared database, lifespan running."""
    app = create_app(
        make_settings(database_url=migrated, run_worker=False, **settings),
        clock=clock,
        migrate=False,
    )
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def start(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post("/api/chat/conversations", json={"page": PAGE})


async def count(app: FastAPI, model: Any) -> int:
    async with app.state.runtime.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)))


async def test_a_burst_of_chat_starts_is_refused_after_the_limit(
    migrated: str, clock: FixedClock
) -> None:
    """The 11th conversation started from one address within a minute gets 429 with
    Retry-After and a reason, and nothing is created; two minutes later it may start again."""
    async with serving(migrated, clock) as app, http(app) as client:
        codes = [(await start(client)).status_code for _ in range(10)]
        refused = await start(client)
        assert codes == [201] * 10
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "66"
        assert "too many conversations started from this address" in refused.json()["detail"]
        assert await count(app, Conversation) == 10
        clock.advance(timedelta(minutes=2))
        assert (await start(client)).status_code == 201


async def test_the_hourly_cap_holds_when_the_minutes_are_spread(
    migrated: str, clock: FixedClock
) -> None:
    """AUTOREPLY_CHAT_STARTS_PER_HOUR refuses even when no single minute is over its limit."""
    limits = {"chat_starts_per_minute": 3, "chat_starts_per_hour": 5}
    async with serving(migrated, clock, **limits) as app, http(app) as client:
        first = [(await start(client)).status_code for _ in range(4)]
        clock.advance(timedelta(minutes=5))
        later = [(await start(client)).status_code for _ in range(3)]
        refused = await start(client)
    assert first == [201, 201, 201, 429]
    assert later == [201, 201, 429]
    assert int(refused.headers["retry-after"]) > 60 * 30


async def test_two_processes_share_the_chat_start_limit(migrated: str, clock: FixedClock) -> None:
    """Two apps on one database (two `serve` workers, or two hosts) allow 10 starts a minute
    from one address between them, not 10 each."""
    async with (
        serving(migrated, clock) as one,
        serving(migrated, clock) as two,
        http(one) as a,
        http(two) as b,
    ):
        codes = [(await start(a if i % 2 else b)).status_code for i in range(10)]
        assert codes == [201] * 10
        assert (await start(a)).status_code == 429
        assert (await start(b)).status_code == 429
        assert await count(one, Conversation) == 10


async def test_many_concurrent_starts_never_pass_the_limit(
    migrated: str, clock: FixedClock
) -> None:
    """60 simultaneous starts through two apps on one database: exactly 7 get through (the
    counter is counted up atomically: no two hits read the same count)."""
    async with (
        serving(migrated, clock, chat_starts_per_minute=7) as one,
        serving(migrated, clock, chat_starts_per_minute=7) as two,
        http(one) as a,
        http(two) as b,
    ):
        responses = await asyncio.gather(*(start(a if i % 2 else b) for i in range(60)))
        codes = sorted(r.status_code for r in responses)
        assert codes == [201] * 7 + [429] * 53
        assert await count(one, Conversation) == 7


async def test_concurrent_checks_on_separate_engines_count_exactly(
    migrated: str, clock: FixedClock
) -> None:
    """200 concurrent checks of one key from three engines (three processes' connection
    pools) under 10 a minute and 25 an hour: exactly 10 allowed, and the counters say 10."""
    engines = [create_engine(migrated) for _ in range(3)]
    try:
        counters = [DatabaseCounters(session_factory(e)) for e in engines]
        rules = (Rule(10, timedelta(minutes=1)), Rule(25, timedelta(hours=1)))
        now = clock.now()
        waits = await asyncio.gather(
            *(counters[i % 3].hit("test", "203.0.113.7", rules, now) for i in range(200))
        )
        assert waits.count(None) == 10
        assert all(w is None or w >= 1 for w in waits)
        async with session_factory(engines[0])() as session:
            stored = dict(
                (await session.execute(select(RateCounter.bucket, RateCounter.count))).all()
            )
        assert stored == {"test/60": 10, "test/3600": 10}  # a refused check counts nothing
    finally:
        for engine in engines:
            await engine.dispose()


async def test_two_processes_share_the_form_limit(migrated: str, clock: FixedClock) -> None:
    """Form posts from one address count across apps: 3 a minute between the two of them."""
    async with (
        serving(migrated, clock, form_rate_per_minute=3) as one,
        serving(migrated, clock, form_rate_per_minute=3) as two,
        http(one) as a,
        http(two) as b,
    ):
        codes = []
        for i, client in enumerate((a, b, a, b)):
            posted = await client.post(
                "/forms/document-request", json={**FORM, "email": f"u{i}@example.com"}
            )
            codes.append(posted.status_code)
        refused = await a.post("/forms/document-request", json=FORM)
    assert codes == [202, 202, 202, 429]
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert "too many submissions" in refused.json()["detail"]


async def test_the_login_lockout_holds_in_every_process(migrated: str, clock: FixedClock) -> None:
    """Five wrong passwords spread over two apps lock the address in both, for 15 minutes."""
    async with (
        serving(migrated, clock) as one,
        serving(migrated, clock) as two,
        http(one) as a,
        http(two) as b,
    ):
        async with one.state.runtime.sessions() as session, session.begin():
            await reps.create_rep(
                session, "佐藤 花子", EMAIL, now=SATURDAY_NIGHT, password=PASSWORD
            )
        for client in (a, b, a, b, a):
            assert (await _login(client, password="guess-guess")).status_code == 400
        for client in (a, b):
            locked = await _login(client)
            assert locked.status_code == 429 and "15分ほど待って" in locked.text
        clock.advance(timedelta(minutes=16))
        assert (await _login(b)).status_code == 303


@pytest.fixture
async def limits(migrated: str, clock: FixedClock) -> AsyncIterator[RateLimits]:
    """The rate limits on the database, with the shipped policy."""
    engine = create_engine(migrated)
    try:
        yield RateLimits(
            DatabaseCounters(session_factory(engine)),
            clock,
            LimitPolicy.from_settings(make_settings()),
        )
    finally:
        await engine.dispose()


async def test_five_failures_lock_an_address_for_15_minutes(
    limits: RateLimits, clock: FixedClock
) -> None:
    """The fifth failure within 15 minutes locks that address (only, in any spelling) for
    15 minutes."""
    for _ in range(4):
        await limits.login_failed("sato@example.com")
        clock.advance(timedelta(minutes=1))
    assert not await limits.login_locked("sato@example.com")
    await limits.login_failed("SATO@example.com ")
    clock.advance(timedelta(minutes=1))
    assert await limits.login_locked("sato@example.com")
    assert not await limits.login_locked("suzuki@example.com")
    clock.advance(timedelta(minutes=13))
    assert await limits.login_locked("Sato@Example.com")
    clock.advance(timedelta(minutes=1))
    assert not await limits.login_locked("sato@example.com")


async def test_old_failures_and_a_success_reset_the_count(
    limits: RateLimits, clock: FixedClock
) -> None:
    """Failures long enough ago no longer count; a successful login clears them."""
    for _ in range(4):
        await limits.login_failed("sato@example.com")
    clock.advance(timedelta(minutes=31))  # two windows later: the four are forgotten
    await limits.login_failed("sato@example.com")
    assert not await limits.login_locked("sato@example.com")
    await limits.login_succeeded("sato@example.com")
    for _ in range(4):
        await limits.login_failed("sato@example.com")
    assert not await limits.login_locked("sato@example.com")


async def test_expired_counters_and_lockouts_are_pruned(
    limits: RateLimits, clock: FixedClock
) -> None:
    """Counters stay only while a check can still read them; a lockout until it ends."""
    await limits.chat_start("198.51.100.1")
    await limits.form_post("198.51.100.1")
    for _ in range(5):
        await limits.login_failed("sato@example.com")
    assert await limits.prune() == 0
    clock.advance(timedelta(minutes=3))
    assert await limits.prune() == 2  # the minutes of the chat start and of the form post
    clock.advance(timedelta(hours=2))
    assert await limits.prune() == 2  # the chat start's hour, and the lockout
    assert not await limits.login_locked("sato@example.com")
