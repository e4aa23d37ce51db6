"""SQLite statements run on the event loop's thread, and a lock held elsewhere never stalls it."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from autoreply.store import sqlite as sqlite_module
from autoreply.store.db import create_engine, create_read_engine
from autoreply.store.sqlite import InlineConnection


async def test_a_write_waits_for_another_process_lock_without_blocking_the_loop(
    tmp_path: Path,
) -> None:
    """While another connection holds the write lock, a turn's BEGIN IMMEDIATE waits for it
    (off the loop), the loop keeps serving other work, and the write lands once it is free."""
    path = tmp_path / "locked.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (v INTEGER)"))
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process is in the middle of a write

    async def write() -> None:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t VALUES (1)"))

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(ticker())
    writing = asyncio.create_task(write())
    await asyncio.sleep(0.3)
    assert not writing.done()  # it waits for the lock...
    assert ticks >= 10  # ...and the loop kept running meanwhile
    other.execute("INSERT INTO t VALUES (0)")
    other.execute("COMMIT")
    await asyncio.wait_for(writing, 5)
    ticking.cancel()
    async with engine.connect() as connection:
        values = (await connection.execute(text("SELECT v FROM t ORDER BY v"))).scalars().all()
    assert values == [0, 1]
    other.close()
    await engine.dispose()


async def test_reads_do_not_queue_behind_a_write_in_progress(tmp_path: Path) -> None:
    """The single writing connection may be busy; a read answers from its own pool."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'rw.db'}"
    writer = create_engine(url)
    reader = create_read_engine(url, writer)
    assert reader is not writer
    async with writer.begin() as connection:
        await connection.execute(text("CREATE TABLE t (v INTEGER)"))
        await connection.execute(text("INSERT INTO t VALUES (1)"))
    async with writer.begin() as held:
        await held.execute(text("INSERT INTO t VALUES (2)"))  # not committed yet
        async with reader.connect() as connection:
            seen = (await connection.execute(text("SELECT count(*) FROM t"))).scalar_one()
        assert seen == 1  # the committed state, at once
    async with writer.connect() as connection:
        raw = await connection.get_raw_connection()
        assert isinstance(raw.driver_connection, InlineConnection)
    await writer.dispose()
    await reader.dispose()


SLOW_OPEN_SECONDS = 0.5


def _aiosqlite_threads() -> set[threading.Thread]:
    return {
        t for t in threading.enumerate() if t.is_alive() and "_connection_worker_thread" in t.name
    }


def _still_running(before: set[threading.Thread]) -> set[threading.Thread]:
    """aiosqlite threads started since ``before`` that are still busy a moment later (a
    stopped one ends right after answering its last call; a leaked one is still opening)."""
    started = _aiosqlite_threads() - before
    for thread in started:
        thread.join(SLOW_OPEN_SECONDS / 2)
    return {t for t in started if t.is_alive()}


async def test_a_connection_cancelled_while_opening_is_closed_before_the_loop_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shutdown cancels a background task while aiosqlite's thread is still opening the file
    (a loaded machine): the connection is closed and its thread ended on this loop, not left
    to report ``RuntimeError: Event loop is closed`` from its thread after the loop is gone."""
    real_connect = sqlite3.connect

    def slow_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        time.sleep(SLOW_OPEN_SECONDS)
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(sqlite_module.sqlite3, "connect", slow_connect)
    before = _aiosqlite_threads()
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'slow.db'}")

    async def use() -> None:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    task = asyncio.create_task(use())
    await asyncio.sleep(0.05)  # the worker thread is inside sqlite3.connect now
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await engine.dispose()
    assert _still_running(before) == set()


async def test_the_app_shutting_down_at_once_leaves_no_sqlite_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The HTTP tests' case: the lifespan ends while the outbox worker and the timers are
    still opening their first connections; every aiosqlite thread has ended when it returns."""
    from autoreply.clock import FixedClock
    from autoreply.store.db import upgrade
    from autoreply.web.app import create_app
    from tests.conftest import make_settings, tokyo

    url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    await upgrade(url)
    real_connect = sqlite3.connect

    def slow_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        time.sleep(SLOW_OPEN_SECONDS)
        return real_connect(*args, **kwargs)

    before = _aiosqlite_threads()
    app = create_app(
        make_settings(database_url=url),
        clock=FixedClock(tokyo(2026, 11, 21, 23, 10)),
        migrate=False,
    )
    async with app.router.lifespan_context(app):
        monkeypatch.setattr(sqlite_module.sqlite3, "connect", slow_connect)
        await asyncio.sleep(0.05)  # the background tasks are opening connections
    assert _still_running(before) == set()
