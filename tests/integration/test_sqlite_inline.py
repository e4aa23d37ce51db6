"""SQLite statements run on the event loop's thread, and a lock held elsewhere never stalls it."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from sqlalchemy import text

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
