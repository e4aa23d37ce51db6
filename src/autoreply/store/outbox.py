"""The outbox worker: sends what transactions queued, retrying until it is delivered once.

A row is *claimed* (status ``sending``, ``claimed_until`` a lease) in one short
transaction, handed to its channel's transport, and marked ``sent`` in another right after
the far end accepted it. If the process dies in between, the lease runs out and the row is
sent again: delivery is at least once, and the window for a second copy is the moment
between the far end's "accepted" and the commit of ``sent`` (milliseconds). Email keeps its
Message-ID across attempts, so a mail client shows such a copy as the same message.

Temporary failures (connection refused, timeouts, SMTP 4xx, HTTP 429/5xx) are retried with
exponential backoff (``outbox_retry_seconds``, doubling, at most an hour, or what the far end
asked for) until the row is ``outbox_max_age_hours`` old; then, or at once on a permanent
failure (SMTP 5xx, HTTP 4xx), the row is ``failed`` and ``on_failed`` is told.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from autoreply.clock import Clock
from autoreply.errors import PermanentDeliveryError, TemporaryDeliveryError
from autoreply.store.models import OutboxRow

__all__ = [
    "Composer",
    "OutboxItem",
    "OutboxWorker",
    "RetryPolicy",
    "Transport",
    "backoff",
    "wait_or_wake",
]

log = logging.getLogger(__name__)
MAX_BACKOFF = timedelta(hours=1)
FAILING_POLL_SECONDS = 15.0


@dataclass(frozen=True)
class OutboxItem:
    """One queued message as a transport sees it."""

    id: int
    channel: str
    kind: str
    recipient: str
    payload: Mapping[str, Any]
    attempts: int  # including this one
    created_at: datetime
    conversation_id: int | None
    lead_id: int | None
    dedupe_key: str


class Transport(Protocol):
    """Hands one message to the far end; raises ``TemporaryDeliveryError`` (try again)
    or ``PermanentDeliveryError`` (give up)."""

    async def send(self, item: OutboxItem, now: datetime) -> None: ...


Hook = Callable[[OutboxItem, datetime, str | None], Awaitable[None]]
Composer = Callable[[AsyncSession, OutboxItem, datetime], Awaitable[str]]
"""Writes the message of a row queued as ``{"compose": ...}`` (read-only session, now)."""


async def wait_or_wake(event: asyncio.Event, seconds: float) -> None:
    """Wait until ``event`` is set or ``seconds`` pass, whichever is first.

    ``asyncio.timeout`` rather than ``asyncio.wait_for``: on Python 3.11, a task cancelled
    inside ``wait_for(event.wait(), ...)`` can be left waiting for ever (seen as a hung
    shutdown), because ``wait_for`` waits on an inner task; this waits in the task itself.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


def backoff(attempts: int, base_seconds: float, jitter: float = 0.1) -> timedelta:
    """The wait after the ``attempts``-th failure: base, 2×base, 4×base... at most an hour,
    spread by ±``jitter`` so that a backlog does not retry all at once."""
    seconds = min(base_seconds * 2 ** max(0, attempts - 1), MAX_BACKOFF.total_seconds())
    return timedelta(seconds=seconds * (1 + random.uniform(-jitter, jitter)))


@dataclass(frozen=True)
class RetryPolicy:
    """How the worker claims and retries: the first retry after a temporary failure
    (doubling each time), when a row is given up, how long a claim lasts, how many rows
    a round takes, and how often an idle worker looks."""

    first_retry_seconds: float = 30
    max_age: timedelta = timedelta(hours=72)
    lease: timedelta = timedelta(minutes=5)
    batch: int = 20
    poll_seconds: float = 2.0


class OutboxWorker:
    """Delivers due outbox rows of the channels it has transports for."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        transports: Mapping[str, Transport],
        clock: Clock,
        policy: RetryPolicy | None = None,
        *,
        postgres: bool = False,
        readers: async_sessionmaker[AsyncSession] | None = None,
        ordered: frozenset[str] = frozenset({"line"}),
    ) -> None:
        self.sessions = sessions
        self.readers = readers or sessions
        self.transports = dict(transports)
        self.clock = clock
        self.policy = policy or RetryPolicy()
        self.postgres = postgres
        self.ordered = ordered  # channels whose messages to one recipient keep their order
        # Set by the composition root once the use cases exist:
        self.composers: dict[str, Composer] = {}  # per channel: rows written when sent
        self.on_sent: Hook | None = None
        self.on_failed: Hook | None = None
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Something was queued: look now instead of at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver until cancelled; a failing database only delays the next round."""
        failing = False
        while True:
            self._wake.clear()
            try:
                while await self.run_once():
                    pass  # more may be due now (the next message of an ordered queue)
                if failing:
                    log.info("outbox reachable again")
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # e.g. the database is down or not migrated yet
                if not failing:
                    log.warning("outbox unavailable, retrying: %s: %s", type(exc).__name__, exc)
                failing = True
            wait = FAILING_POLL_SECONDS if failing else self.policy.poll_seconds
            await wait_or_wake(self._wake, wait)

    async def run_once(self) -> int:
        """Claim and deliver one batch of due rows; returns how many were claimed."""
        items = await self._claim()
        for item in items:
            await self._deliver(item)
        return len(items)

    async def _claim(self) -> list[OutboxItem]:
        if not self.transports:
            return []
        now = self.clock.now()
        earlier = aliased(OutboxRow)
        waits_its_turn = (
            select(earlier.id)
            .where(
                earlier.channel == OutboxRow.channel,
                earlier.recipient == OutboxRow.recipient,
                earlier.status.in_(("pending", "sending")),
                earlier.id < OutboxRow.id,
            )
            .exists()
        )
        due = (
            select(OutboxRow)
            .where(
                OutboxRow.channel.in_(sorted(self.transports)),
                or_(
                    (OutboxRow.status == "pending") & (OutboxRow.next_attempt_at <= now),
                    (OutboxRow.status == "sending") & (OutboxRow.claimed_until < now),
                ),
                # A chat's messages go in order: one waits while an earlier one to the
                # same person is still on its way (or waiting for a retry).
                ~(OutboxRow.channel.in_(sorted(self.ordered)) & waits_its_turn),
            )
            .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
            .limit(self.policy.batch)
        )
        async with self.readers() as session:  # most rounds find nothing: no write lock
            if await session.scalar(due.with_only_columns(OutboxRow.id)) is None:
                return []
        if self.postgres:
            due = due.with_for_update(skip_locked=True)
        async with self.sessions() as session, session.begin():
            rows = list(await session.scalars(due))
            for row in rows:
                if row.status == "sending":
                    log.warning("outbox row %d: its sender did not finish, sending again", row.id)
                row.status = "sending"
                row.attempts += 1
                row.claimed_until = now + self.policy.lease
            return [
                OutboxItem(
                    id=r.id,
                    channel=r.channel,
                    kind=r.kind,
                    recipient=r.recipient,
                    payload=dict(r.payload),
                    attempts=r.attempts,
                    created_at=r.created_at,
                    conversation_id=r.conversation_id,
                    lead_id=r.lead_id,
                    dedupe_key=r.dedupe_key,
                )
                for r in rows
            ]

    async def _deliver(self, item: OutboxItem) -> None:
        transport = self.transports[item.channel]
        extra = {"outbox": item.id, "channel": item.channel, "kind": item.kind}
        try:
            item = await self._composed(item)
            await transport.send(item, self.clock.now())
        except TemporaryDeliveryError as exc:
            now = self.clock.now()
            due = item.payload.get("due")
            since = datetime.fromisoformat(due) if isinstance(due, str) else item.created_at
            if now - since >= self.policy.max_age:
                log.warning(
                    "outbox row %d given up after %d attempts: %s",
                    item.id,
                    item.attempts,
                    exc,
                    extra=extra,
                )
                await self._finish(item, "failed", f"gave up: {exc}", now)
                return
            wait = backoff(item.attempts, self.policy.first_retry_seconds)
            if exc.retry_after is not None:
                wait = max(wait, timedelta(seconds=exc.retry_after))
            log.info(
                "outbox row %d: temporary failure (%s), retry in %ds",
                item.id,
                exc,
                int(wait.total_seconds()),
                extra=extra,
            )
            await self._mark(
                item,
                status="pending",
                next_attempt_at=now + wait,
                claimed_until=None,
                last_error=str(exc)[:2000],
            )
            return
        except PermanentDeliveryError as exc:
            log.warning("outbox row %d failed for good: %s", item.id, exc, extra=extra)
            await self._finish(item, "failed", str(exc), self.clock.now())
            return
        except Exception as exc:  # a bug in a transport must not lose the message
            log.exception("outbox row %d: unexpected error, will retry", item.id, extra=extra)
            now = self.clock.now()
            await self._mark(
                item,
                status="pending",
                next_attempt_at=now + backoff(item.attempts, self.policy.first_retry_seconds),
                claimed_until=None,
                last_error=f"{type(exc).__name__}: {exc}",
            )
            return
        await self._finish(item, "sent", None, self.clock.now())
        log.info("outbox row %d delivered", item.id, extra=extra)

    async def _composed(self, item: OutboxItem) -> OutboxItem:
        """The row with its message written, if it was queued to be written when sent."""
        composer = self.composers.get(item.channel)
        if composer is None or "compose" not in item.payload:
            return item
        async with self.readers() as session:
            message = await composer(session, item, self.clock.now())
        return replace(item, payload={**item.payload, "message": message})

    async def _finish(
        self, item: OutboxItem, status: str, error: str | None, now: datetime
    ) -> None:
        values: dict[str, Any] = {"status": status, "claimed_until": None, "last_error": error}
        if status == "sent":
            values["sent_at"] = now
        await self._mark(item, **values)
        hook = self.on_sent if status == "sent" else self.on_failed
        if hook is not None:
            try:
                await hook(item, now, error)
            except Exception:  # the row is already settled; the note is best effort
                log.exception("outbox row %d: follow-up after %s failed", item.id, status)

    async def _mark(self, item: OutboxItem, **values: Any) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == item.id, OutboxRow.status == "sending")
                .values(**values)
            )
