"""Rate limits shared by every process: chat starts, form posts and rep login failures.

The counters live where all processes and hosts see them: in the database
(``rate_counters``, counted up atomically by ``repos.add_hit``). A limit held in process
memory would let each worker, and each host behind the load balancer, allow its own
share again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autoreply.clock import Clock
from autoreply.config import Settings
from autoreply.domain.ratelimit import Rule, estimate, retry_after, window_start
from autoreply.errors import TooManyRequestsError
from autoreply.store import repos

__all__ = ["Counters", "DatabaseCounters", "LimitPolicy", "RateLimits", "counter_name"]

CHAT_START = "chat-start"
FORM_POST = "form-post"
LOGIN_FAILURES = "login-failures"
LOGIN_LOCK = "login-lock"


def counter_name(bucket: str, rule: Rule) -> str:
    """The counter of one rule of a bucket (a bucket may have a per-minute and an hourly
    rule, whose windows can start at the same moment)."""
    return f"{bucket}/{int(rule.window.total_seconds())}"


class Counters(Protocol):
    """Where the counters live (the database, or Redis); shared by every process."""

    async def hit(self, bucket: str, key: str, rules: Sequence[Rule], now: datetime) -> int | None:
        """Count a hit of ``key`` if every rule allows it (None); else count nothing and
        return the seconds until one would be allowed."""

    async def count(self, bucket: str, key: str, rule: Rule, now: datetime) -> bool:
        """Count a hit whatever the rule says; whether the rule's limit is now reached."""

    async def hold(self, bucket: str, key: str, until: datetime, now: datetime) -> None:
        """Put ``key`` on hold in ``bucket`` until ``until`` (a lockout)."""

    async def held(self, bucket: str, key: str, now: datetime) -> bool:
        """Whether ``key`` is on hold in ``bucket`` at ``now``."""

    async def clear(self, bucket: str, key: str, rule: Rule) -> None:
        """Forget the hits of ``key`` under one rule of ``bucket``."""

    async def prune(self, now: datetime) -> int:
        """Drop counters nothing will read again; how many."""


class DatabaseCounters:
    """Counters in the ``rate_counters`` table, one transaction per check.

    A check of several rules is one transaction: if any refuses, nothing is counted.
    On PostgreSQL the upsert locks the window's row until the commit, so concurrent
    checks of one key queue there and each sees the count the one before it left; on
    SQLite every write transaction holds the database's write lock.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def hit(self, bucket: str, key: str, rules: Sequence[Rule], now: datetime) -> int | None:
        async with self.sessions() as session:
            for rule in rules:
                wait = await self._hit(session, counter_name(bucket, rule), key, rule, now)
                if wait is not None:
                    await session.rollback()
                    return wait
            await session.commit()
        return None

    @staticmethod
    async def _hit(
        session: AsyncSession, name: str, key: str, rule: Rule, now: datetime
    ) -> int | None:
        start = window_start(now, rule.window)
        previous = await repos.counter_value(session, name, key, start - rule.window)
        current = await repos.add_hit(
            session, name, key, start, start + 2 * rule.window, below=rule.limit
        )
        if current is None:
            return retry_after(rule, now, previous, rule.limit)
        if estimate(rule, now, previous, current) > rule.limit:
            return retry_after(rule, now, previous, current - 1)
        return None

    async def count(self, bucket: str, key: str, rule: Rule, now: datetime) -> bool:
        name = counter_name(bucket, rule)
        start = window_start(now, rule.window)
        async with self.sessions() as session, session.begin():
            previous = await repos.counter_value(session, name, key, start - rule.window)
            current = await repos.add_hit(session, name, key, start, start + 2 * rule.window)
        return estimate(rule, now, previous, current or 0) >= rule.limit

    async def hold(self, bucket: str, key: str, until: datetime, now: datetime) -> None:
        async with self.sessions() as session, session.begin():
            await repos.add_hit(session, bucket, key, now, until)

    async def held(self, bucket: str, key: str, now: datetime) -> bool:
        async with self.sessions() as session:
            return await repos.hold_until(session, bucket, key, now) is not None

    async def clear(self, bucket: str, key: str, rule: Rule) -> None:
        async with self.sessions() as session, session.begin():
            await repos.clear_counters(session, counter_name(bucket, rule), key)

    async def prune(self, now: datetime) -> int:
        async with self.sessions() as session, session.begin():
            return await repos.prune_counters(session, now)


@dataclass(frozen=True)
class LimitPolicy:
    """The limits themselves, from the settings."""

    chat_start: tuple[Rule, ...]
    form_post: tuple[Rule, ...]
    login_failures: Rule  # this many wrong passwords for one address within the window ...
    login_lockout: timedelta  # ... refuse every login for it this long

    @classmethod
    def from_settings(cls, settings: Settings) -> LimitPolicy:
        """The policy of ``AUTOREPLY_CHAT_STARTS_PER_*``, ``AUTOREPLY_FORM_RATE_PER_MINUTE``
        and ``AUTOREPLY_LOGIN_*``."""
        minute, hour = timedelta(minutes=1), timedelta(hours=1)
        lockout = timedelta(minutes=settings.login_lockout_minutes)
        return cls(
            chat_start=(
                Rule(settings.chat_starts_per_minute, minute),
                Rule(settings.chat_starts_per_hour, hour),
            ),
            form_post=(Rule(settings.form_rate_per_minute, minute),),
            login_failures=Rule(settings.login_max_failures, lockout),
            login_lockout=lockout,
        )


def _email_key(email: str) -> str:
    return email.strip().lower()[:320]


class RateLimits:
    """The product's rate limits, checked by the web routes before any work is done."""

    def __init__(self, counters: Counters, clock: Clock, policy: LimitPolicy) -> None:
        self.counters = counters
        self.clock = clock
        self.policy = policy

    async def chat_start(self, client: str) -> None:
        """Count a conversation started from ``client`` (an address);
        ``TooManyRequestsError`` above ``AUTOREPLY_CHAT_STARTS_PER_MINUTE`` or ``_PER_HOUR``."""
        wait = await self.counters.hit(CHAT_START, client, self.policy.chat_start, self.clock.now())
        if wait is not None:
            raise TooManyRequestsError(
                f"too many conversations started from this address; try again in {wait} s",
                retry_after=wait,
            )

    async def form_post(self, client: str) -> None:
        """Count a form post from ``client``; ``TooManyRequestsError`` above the limit."""
        wait = await self.counters.hit(FORM_POST, client, self.policy.form_post, self.clock.now())
        if wait is not None:
            raise TooManyRequestsError(
                f"too many submissions from this address; try again in {wait} s",
                retry_after=wait,
            )

    async def login_locked(self, email: str) -> bool:
        """Whether logins for this address are refused now (right password or not)."""
        return await self.counters.held(LOGIN_LOCK, _email_key(email), self.clock.now())

    async def login_failed(self, email: str) -> None:
        """Count a wrong password; the one that reaches the limit starts the lockout."""
        now, key, rule = self.clock.now(), _email_key(email), self.policy.login_failures
        if await self.counters.count(LOGIN_FAILURES, key, rule, now):
            await self.counters.hold(LOGIN_LOCK, key, now + self.policy.login_lockout, now)
            await self.counters.clear(LOGIN_FAILURES, key, rule)  # a fresh start after it

    async def login_succeeded(self, email: str) -> None:
        """A successful login clears the address's failures."""
        await self.counters.clear(LOGIN_FAILURES, _email_key(email), self.policy.login_failures)

    async def prune(self) -> int:
        """Drop expired counters and lockouts (the app does it every minute)."""
        return await self.counters.prune(self.clock.now())
