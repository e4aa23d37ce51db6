"""Timers on the database (SQLite and PostgreSQL): set once, fired once, retried, failed,
and fired exactly once when two processes' schedulers compete or one stops mid-way."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autoreply.clock import FixedClock
from autoreply.store import repos
from autoreply.store.db import (
    create_engine,
    create_read_engine,
    is_sqlite,
    read_session_factory,
    session_factory,
)
from autoreply.store.models import OutboxRow
from autoreply.store.timers import Handler, Scheduler, TimerItem
from tests.conftest import tokyo

NOW = tokyo(2026, 11, 24, 9, 0)


@dataclass
class Process:
    """One process's worth of database connections: a writing and a reading engine."""

    sessions: async_sessionmaker[AsyncSession]
    readers: async_sessionmaker[AsyncSession]
    postgres: bool

    def scheduler(self, clock: FixedClock, handlers: dict[str, Handler], **kw: object) -> Scheduler:
        return Scheduler(
            self.sessions,
            clock,
            handlers,
            postgres=self.postgres,
            readers=self.readers,
            **kw,  # type: ignore[arg-type]
        )


@asynccontextmanager
async def process(url: str) -> AsyncIterator[Process]:
    writer = create_engine(url)
    reader = create_read_engine(url, writer)
    try:
        yield Process(session_factory(writer), read_session_factory(reader), not is_sqlite(url))
    finally:
        if reader is not writer:
            await reader.dispose()
        await writer.dispose()


@pytest.fixture
async def proc(migrated: str) -> AsyncIterator[Process]:
    async with process(migrated) as p:
        yield p


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@dataclass
class Recorder:
    """A handler that queues an outbox row to the timer's key (a fresh dedupe key each
    call, so a second firing would show as a second row) and notes the call."""

    calls: list[str] = field(default_factory=list)

    async def __call__(self, session: AsyncSession, item: TimerItem, now: object) -> None:
        self.calls.append(item.key)
        await asyncio.sleep(0)  # let a competing scheduler run meanwhile
        await repos.enqueue(
            session,
            channel="email",
            kind="timer-test",
            recipient=item.key,
            payload=dict(item.payload),
            dedupe_key=f"{item.key}:{uuid.uuid4().hex}",
            now=NOW,
        )


async def sent_to(proc: Process, key: str) -> int:
    """How many outbox rows the timer under ``key`` queued (committed ones only)."""
    async with proc.sessions() as s:
        query = select(func.count()).select_from(OutboxRow).where(OutboxRow.recipient == key)
        return int(await s.scalar(query) or 0)


async def put(
    proc: Process, key: str, due: timedelta, kind: str = "test", **payload: object
) -> bool:
    async with proc.sessions() as s, s.begin():
        return await repos.schedule(
            s, kind=kind, key=key, due_at=NOW + due, payload=payload, now=NOW
        )


async def status(proc: Process, key: str) -> tuple[str, int, str | None]:
    async with proc.sessions() as s:
        row = await repos.timer(s, key)
        assert row is not None
        return row.status, row.attempts, row.last_error


async def test_a_due_timer_fires_once_and_a_later_one_waits(
    proc: Process, clock: FixedClock
) -> None:
    """A timer due in the past fires once (its outbox row committed, the outbox woken);
    one due in ten minutes fires only once the clock reaches it."""
    woken: list[int] = []
    handler = Recorder()
    scheduler = proc.scheduler(clock, {"test": handler}, on_queued=lambda: woken.append(1))
    await put(proc, "past", -timedelta(minutes=1), note="朝のまとめ")
    await put(proc, "later", timedelta(minutes=10))

    assert await scheduler.run_once() == 1
    assert await scheduler.run_once() == 0
    assert handler.calls == ["past"]
    assert woken == [1]
    assert await sent_to(proc, "past") == 1
    assert await status(proc, "past") == ("done", 1, None)
    async with proc.sessions() as s:
        done = await repos.timer(s, "past")
        assert done is not None and done.done_at == NOW
        assert [t.key for t in await repos.pending_timers(s)] == ["later"]

    clock.advance(timedelta(minutes=9, seconds=59))
    assert await scheduler.run_once() == 0
    clock.advance(timedelta(seconds=1))
    assert await scheduler.run_once() == 1
    assert handler.calls == ["past", "later"]
    assert await sent_to(proc, "later") == 1


async def test_due_timers_fire_soonest_first(proc: Process, clock: FixedClock) -> None:
    """Timers set out of order fire in the order they fell due, the payload handed over."""
    seen: list[tuple[str, object]] = []

    async def note(session: AsyncSession, item: TimerItem, now: object) -> None:
        seen.append((item.key, item.payload["n"]))

    for key, minutes in (("b", -5), ("c", -1), ("a", -30)):
        await put(proc, key, timedelta(minutes=minutes), n=minutes)
    assert await proc.scheduler(clock, {"test": note}).run_once() == 3
    assert seen == [("a", -30), ("b", -5), ("c", -1)]


async def test_the_same_key_twice_is_one_timer(proc: Process, clock: FixedClock) -> None:
    """Scheduling a key again changes nothing: one timer, the first payload, fired once."""
    assert await put(proc, "sla:1:1", -timedelta(minutes=1), level=1)
    assert not await put(proc, "sla:1:1", -timedelta(minutes=2), level=2)
    async with proc.sessions() as s:
        timers = await repos.pending_timers(s)
    assert [(t.key, t.payload) for t in timers] == [("sla:1:1", {"level": 1})]
    handler = Recorder()
    scheduler = proc.scheduler(clock, {"test": handler})
    assert await scheduler.run_once() == 1
    assert not await put(proc, "sla:1:1", timedelta(0))  # a fired key is used up too
    assert await scheduler.run_once() == 0
    assert handler.calls == ["sla:1:1"]


async def test_reschedule_and_cancel(proc: Process, clock: FixedClock) -> None:
    """A pending timer can be moved; cancelling "sla:7" calls off sla:7 and sla:7:2 (not
    sla:70), which then never fire."""
    for key in ("sla:7", "sla:7:2", "sla:70", "digest:rep:1"):
        await put(proc, key, timedelta(minutes=5))
    async with proc.sessions() as s, s.begin():
        assert await repos.reschedule(s, "digest:rep:1", NOW + timedelta(hours=1))
        assert not await repos.reschedule(s, "nothing", NOW)
        assert await repos.cancel_timers(s, "sla:7") == 2
    async with proc.sessions() as s:
        pending = await repos.pending_timers(s)
        assert [(t.key, t.due_at) for t in pending] == [
            ("sla:70", NOW + timedelta(minutes=5)),
            ("digest:rep:1", NOW + timedelta(hours=1)),
        ]
    handler = Recorder()
    clock.advance(timedelta(hours=2))
    assert await proc.scheduler(clock, {"test": handler}).run_once() == 2
    assert handler.calls == ["sla:70", "digest:rep:1"]
    assert (await status(proc, "sla:7:2"))[0] == "cancelled"
    async with proc.sessions() as s, s.begin():
        assert not await repos.reschedule(s, "sla:70", NOW)  # fired: no longer pending
        assert await repos.cancel_timers(s, "sla:") == 0


async def test_a_failing_handler_is_rolled_back_and_retried_later(
    proc: Process, clock: FixedClock
) -> None:
    """A handler that raises after writing leaves nothing behind; the timer waits about
    the first retry interval, then fires once."""
    tries: list[int] = []
    woken: list[int] = []
    record = Recorder()

    async def flaky(session: AsyncSession, item: TimerItem, now: object) -> None:
        await record(session, item, now)  # written, then rolled back on the first try
        tries.append(item.attempts)
        if len(tries) == 1:
            raise RuntimeError("Slack is down")

    scheduler = proc.scheduler(
        clock, {"test": flaky}, retry_seconds=60, on_queued=lambda: woken.append(1)
    )
    await put(proc, "sla:3:1", -timedelta(seconds=1))
    assert await scheduler.run_once() == 1
    assert await sent_to(proc, "sla:3:1") == 0
    assert woken == []
    assert await status(proc, "sla:3:1") == ("pending", 1, "RuntimeError: Slack is down")
    async with proc.sessions() as s:
        row = await repos.timer(s, "sla:3:1")
        assert row is not None
        assert NOW + timedelta(seconds=54) <= row.due_at <= NOW + timedelta(seconds=66)

    clock.advance(timedelta(seconds=50))
    assert await scheduler.run_once() == 0  # backing off
    clock.advance(timedelta(seconds=20))
    assert await scheduler.run_once() == 1
    assert await scheduler.run_once() == 0
    assert tries == [0, 1]
    assert woken == [1]
    assert await sent_to(proc, "sla:3:1") == 1
    assert await status(proc, "sla:3:1") == ("done", 2, None)


async def test_after_max_attempts_a_timer_is_failed(
    proc: Process, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A handler that always raises is tried max_attempts times, then the timer is failed
    with the last error, logged, and never tried again."""
    tries: list[int] = []

    async def broken(session: AsyncSession, item: TimerItem, now: object) -> None:
        tries.append(item.attempts)
        raise ValueError("no such handoff")

    scheduler = proc.scheduler(clock, {"test": broken}, max_attempts=3)
    await put(proc, "sla:9:1", timedelta(0))
    with caplog.at_level(logging.WARNING, logger="autoreply.store.timers"):
        for _ in range(3):
            assert await scheduler.run_once() == 1
            clock.advance(timedelta(hours=2))  # past any backoff
        assert await scheduler.run_once() == 0
    assert tries == [0, 1, 2]
    assert await status(proc, "sla:9:1") == ("failed", 3, "ValueError: no such handoff")
    assert "timer sla:9:1 failed after 3 attempts" in caplog.text


async def test_a_timer_nobody_handles_is_failed(proc: Process, clock: FixedClock) -> None:
    """A timer of an unknown kind is failed at once with a clear error; the others fire."""
    await put(proc, "x:1", -timedelta(minutes=2), kind="mystery")
    await put(proc, "ok:1", -timedelta(minutes=1))
    handler = Recorder()
    assert await proc.scheduler(clock, {"test": handler}).run_once() == 2
    assert await status(proc, "x:1") == ("failed", 1, "no handler for timers of kind 'mystery'")
    assert handler.calls == ["ok:1"]


async def test_a_handler_schedules_the_next_escalation(proc: Process, clock: FixedClock) -> None:
    """Each escalation sets the next one in its own transaction, until the last level."""
    levels: list[int] = []

    async def escalate(session: AsyncSession, item: TimerItem, now: object) -> None:
        level = int(item.payload["level"])
        levels.append(level)
        if level < 3:
            await repos.schedule(
                session,
                kind="sla",
                key=f"sla:5:{level + 1}",
                due_at=item.due_at + timedelta(minutes=30),
                payload={"level": level + 1},
                now=NOW,
            )

    scheduler = proc.scheduler(clock, {"sla": escalate})
    await put(proc, "sla:5:1", timedelta(minutes=15), kind="sla", level=1)
    clock.advance(timedelta(minutes=15))
    assert await scheduler.run_once() == 1
    async with proc.sessions() as s:
        assert [(t.key, t.due_at) for t in await repos.pending_timers(s, "sla")] == [
            ("sla:5:2", NOW + timedelta(minutes=45))
        ]
    clock.advance(timedelta(minutes=40))
    assert await scheduler.run_once() == 1  # level 2; level 3 is due 20 minutes later
    assert await scheduler.run_once() == 0
    clock.advance(timedelta(minutes=20))
    assert await scheduler.run_once() == 1
    assert await scheduler.run_once() == 0
    assert levels == [1, 2, 3]
    async with proc.sessions() as s:
        assert await repos.pending_timers(s) == []


async def test_two_processes_fire_each_of_50_timers_exactly_once(
    migrated: str, clock: FixedClock
) -> None:
    """Two schedulers on two engines (as two `serve` processes) working the same 50 due
    timers at the same time fire each one once between them."""
    async with process(migrated) as one, process(migrated) as two:
        keys = [f"digest:{i}" for i in range(50)]
        for i, key in enumerate(keys):
            await put(one, key, -timedelta(seconds=i))
        handlers = (Recorder(), Recorder())
        schedulers = [
            p.scheduler(clock, {"test": h}, batch=5)
            for p, h in zip((one, two), handlers, strict=True)
        ]

        async def drain(scheduler: Scheduler) -> int:
            total = 0
            while fired := await scheduler.run_once():
                total += fired
            return total

        counts = await asyncio.gather(*(drain(s) for s in schedulers))
        assert sum(counts) == 50
        calls = handlers[0].calls + handlers[1].calls
        assert sorted(calls) == sorted(keys)  # no timer's handler ran twice
        assert all(handler.calls for handler in handlers)  # both really took part
        assert [await sent_to(one, key) for key in keys] == [1] * 50
        async with one.sessions() as s:
            assert await repos.pending_timers(s) == []


async def test_a_scheduler_stopped_mid_way_leaves_the_rest_to_the_next(
    migrated: str, clock: FixedClock
) -> None:
    """A scheduler whose task is cancelled while a handler runs (a restart) commits nothing
    of that timer; a new scheduler in another process later fires it and the rest, once."""
    inside = asyncio.Event()
    record = Recorder()

    async def hangs_on_second(session: AsyncSession, item: TimerItem, now: object) -> None:
        await record(session, item, now)
        if item.key == "t:2":
            inside.set()
            await asyncio.Event().wait()  # never returns: the process goes down here

    for key, minutes in (("t:1", -3), ("t:2", -2), ("t:3", -1)):
        async with process(migrated) as p:
            await put(p, key, timedelta(minutes=minutes))

    async with process(migrated) as first:
        task = asyncio.create_task(first.scheduler(clock, {"test": hangs_on_second}).run())
        await inside.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await sent_to(first, "t:1") == 1
        assert await sent_to(first, "t:2") == 0
        assert await status(first, "t:2") == ("pending", 0, None)

    clock.advance(timedelta(minutes=5))
    async with process(migrated) as second:
        handler = Recorder()
        assert await second.scheduler(clock, {"test": handler}).run_once() == 2
        assert handler.calls == ["t:2", "t:3"]
        assert [await sent_to(second, k) for k in ("t:1", "t:2", "t:3")] == [1, 1, 1]


async def test_the_running_scheduler_fires_what_is_due_and_wakes_when_told(
    proc: Process, clock: FixedClock
) -> None:
    """run() fires what is due at once; a timer set later fires as soon as wake() is called,
    not at the next poll an hour away."""
    fired: list[str] = []
    arrived = asyncio.Event()

    async def note(session: AsyncSession, item: TimerItem, now: object) -> None:
        fired.append(item.key)
        arrived.set()

    await put(proc, "a", -timedelta(minutes=1))
    scheduler = proc.scheduler(clock, {"test": note}, poll_seconds=3600)
    task = asyncio.create_task(scheduler.run())
    try:
        async with asyncio.timeout(30):  # a guard against a hang, not a measurement
            await arrived.wait()
            arrived.clear()
            await put(proc, "b", timedelta(0))
            scheduler.wake()
            await arrived.wait()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert fired == ["a", "b"]
