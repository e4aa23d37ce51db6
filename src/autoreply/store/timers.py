"""The scheduler: fires the timers that transactions set, once, whichever process looks.

A timer is a row (``repos.schedule``), so it survives restarts, and each one is fired in
**one transaction** that claims it, runs its handler in that same session and marks it
``done``: what the handler writes (outbox rows, a handoff's escalation, the next timer)
commits together with ``done``, or not at all. The claim is ``SELECT … FOR UPDATE SKIP
LOCKED`` on PostgreSQL, so schedulers in other processes take other timers meanwhile; on
SQLite every write transaction begins ``IMMEDIATE`` (``store.db``), so the claim holds
the database's write lock until the commit. Handlers therefore only write rows: sending
is the outbox's job (``on_queued`` wakes it after the commit).

A handler that raises is rolled back whole; a new transaction then counts the attempt,
keeps the error and moves the timer on by ``outbox.backoff``; after ``max_attempts`` it is
``failed``, as is a timer of a kind nobody handles. A scheduler that stops mid-way (the
process dies, its task is cancelled) leaves its timer pending and unchanged: the next
scheduler fires it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autoreply.clock import Clock
from autoreply.store.models import Timer
from autoreply.store.outbox import FAILING_POLL_SECONDS, backoff, wait_or_wake
from autoreply.store.repos.queue import queued_in

__all__ = ["Handler", "Scheduler", "TimerItem"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TimerItem:
    """One due timer as its handler sees it (``attempts``: the failed ones before this)."""

    id: int
    kind: str
    key: str
    due_at: datetime
    payload: Mapping[str, Any]
    attempts: int


Handler = Callable[[AsyncSession, TimerItem, datetime], Awaitable[None]]
"""Does what a timer is for, in the session of the transaction that fires it (now): it
writes rows (outbox, handoff, the next timer) and never commits; raising rolls it all back."""


class Scheduler:
    """Fires due timers by kind, each through its handler, exactly once."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        handlers: Mapping[str, Handler],
        *,
        postgres: bool,
        readers: async_sessionmaker[AsyncSession] | None = None,
        poll_seconds: float = 5.0,
        batch: int = 20,
        max_attempts: int = 10,
        retry_seconds: float = 30.0,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.readers = readers or sessions
        self.clock = clock
        self.handlers = dict(handlers)
        self.postgres = postgres
        self.poll_seconds = poll_seconds
        self.batch = batch
        self.max_attempts = max_attempts
        self.retry_seconds = retry_seconds  # the first retry; doubling, at most an hour
        self.on_queued = on_queued
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """A timer was set that may be due already: look now instead of at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Fire timers until cancelled; a failing database only delays the next round."""
        failing = False
        while True:
            self._wake.clear()
            try:
                while await self.run_once():
                    pass  # a full batch: more may be due
                if failing:
                    log.info("timers reachable again")
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # e.g. the database is down or not migrated yet
                if not failing:
                    log.warning("timers unavailable, retrying: %s: %s", type(exc).__name__, exc)
                failing = True
            await wait_or_wake(self._wake, FAILING_POLL_SECONDS if failing else self.poll_seconds)

    async def run_once(self) -> int:
        """Fire up to ``batch`` due timers, soonest first; returns how many were fired
        (their handler ran, whether it succeeded or the timer waits for a retry)."""
        async with self.readers() as session:  # most rounds find nothing: no write lock
            if await session.scalar(self._due(self.clock.now(), Timer.id)) is None:
                return 0
        fired = 0
        while fired < self.batch and await self._fire_next():
            fired += 1
        return fired

    def _due(self, now: datetime, *columns: Any) -> Select[Any]:
        return (
            select(*columns)
            .where(Timer.status == "pending", Timer.due_at <= now)
            .order_by(Timer.due_at, Timer.id)
            .limit(1)
        )

    async def _fire_next(self) -> bool:
        """Claim the soonest due timer and fire it in one transaction; False if none is due."""
        now = self.clock.now()
        claim = self._due(now, Timer)
        if self.postgres:
            claim = claim.with_for_update(skip_locked=True)
        item: TimerItem | None = None
        try:
            async with self.sessions() as session:
                async with session.begin():
                    row = await session.scalar(claim)
                    if row is None:
                        return False
                    item = TimerItem(
                        id=row.id,
                        kind=row.kind,
                        key=row.key,
                        due_at=row.due_at,
                        payload=dict(row.payload),
                        attempts=row.attempts,
                    )
                    handler = self.handlers.get(item.kind)
                    if handler is None:
                        error = f"no handler for timers of kind {item.kind!r}"
                        log.error("timer %s failed: %s", item.key, error, extra=_extra(item))
                        await self._settle(session, item, "failed", now, error)
                        return True
                    await handler(session, item, now)
                    await self._settle(session, item, "done", now, None)
                if queued_in(session) and self.on_queued is not None:
                    self.on_queued()
        except Exception as exc:
            if item is None:
                raise  # the claim itself failed: the database, not the timer
            await self._retry_or_fail(item, exc)
            return True
        log.info("timer %s fired", item.key, extra=_extra(item))
        return True

    async def _retry_or_fail(self, item: TimerItem, exc: Exception) -> None:
        """Count a failed attempt (its writes are rolled back already): the timer waits for
        a retry, or after ``max_attempts`` is failed for good."""
        now = self.clock.now()
        attempts = item.attempts + 1
        error = f"{type(exc).__name__}: {exc}"[:2000]
        values: dict[str, Any] = {"attempts": attempts, "last_error": error}
        if attempts >= self.max_attempts:
            log.error(
                "timer %s failed after %d attempts: %s",
                item.key,
                attempts,
                error,
                extra=_extra(item),
            )
            values.update(status="failed", done_at=now)
        else:
            wait = backoff(attempts, self.retry_seconds)
            log.warning(
                "timer %s: its handler failed (%s), retry in %ds",
                item.key,
                error,
                int(wait.total_seconds()),
                extra=_extra(item),
            )
            values["due_at"] = now + wait
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(Timer)
                .where(
                    Timer.id == item.id,
                    Timer.status == "pending",
                    Timer.attempts == item.attempts,  # unless another scheduler took it since
                )
                .values(**values)
            )

    @staticmethod
    async def _settle(
        session: AsyncSession, item: TimerItem, status: str, now: datetime, error: str | None
    ) -> None:
        await session.execute(
            update(Timer)
            .where(Timer.id == item.id)
            .values(status=status, attempts=item.attempts + 1, done_at=now, last_error=error)
        )


def _extra(item: TimerItem) -> dict[str, Any]:
    return {"timer": item.id, "kind": item.kind}
