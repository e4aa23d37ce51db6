"""SQLite connections that run statements on the event loop's own thread.

aiosqlite sends every call (cursor, execute, fetch, close) to a worker thread and back:
about 150 µs of CPU and a thread wake-up each, four times a statement, where SQLite
itself answers a typical statement of this service in a few microseconds (WAL, a local
file, ``synchronous=NORMAL``: a commit does not wait for the disk). So statements run
inline here, and only a statement that finds the database locked by another process
(SQLITE_BUSY) is retried on aiosqlite's worker thread with the busy timeout, so the
event loop never sleeps on a file lock. Inside one process, writers never meet at the
file lock: the writing engine has a single connection (see ``store.db``).

The connection is still an ``aiosqlite.Connection``: SQLAlchemy's aiosqlite dialect
drives it unchanged (``create_async_engine(..., async_creator=...)``).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy import make_url

__all__ = ["InlineConnection", "connector"]

_SQLITE_BUSY = 5
_SQLITE_BUSY_SNAPSHOT = 517  # a stale read snapshot: retrying the statement cannot help


def _busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == _SQLITE_BUSY and code != _SQLITE_BUSY_SNAPSHOT


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose calls run inline unless the database is locked.

    The connection's own busy timeout stays 0, so an inline statement fails at once with
    SQLITE_BUSY instead of sleeping; it is then retried on the worker thread, which
    waits up to ``busy_timeout_ms`` as SQLite's busy handler would. While such a retry is
    in flight, later calls queue behind it on the same thread (a connection is never
    used by two threads at once).
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], *, busy_timeout_ms: int) -> None:
        super().__init__(connect, iter_chunk_size=64)
        self._busy_timeout_ms = busy_timeout_ms
        self._threaded = 0
        self._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own connections

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        if not self._threaded:
            try:
                return fn(*args, **kwargs)
            except sqlite3.OperationalError as exc:
                if not _busy(exc):
                    raise
        return await self._in_thread(partial(self._waiting, partial(fn, *args, **kwargs)))

    async def _in_thread(self, call: Callable[[], Any]) -> Any:
        self._threaded += 1
        try:
            return await super()._execute(call)  # type: ignore[no-untyped-call]
        finally:
            self._threaded -= 1

    def _waiting(self, call: Callable[[], Any]) -> Any:
        """Run ``call`` with the busy timeout on (worker thread only)."""
        connection = self._conn
        connection.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
        try:
            return call()
        finally:
            connection.execute("PRAGMA busy_timeout=0")


def connector(url: str, *, busy_timeout_ms: int = 30_000) -> Callable[[], Awaitable[Any]]:
    """An ``async_creator`` for ``create_async_engine``: opens an ``InlineConnection``.

    The file name and options come from the URL as SQLAlchemy's SQLite dialect reads them
    (``?mode=ro&uri=true`` and the like keep working).
    """
    parsed = make_url(url)
    args, kwargs = parsed.get_dialect()().create_connect_args(parsed)
    kwargs = {**kwargs, "timeout": 0, "check_same_thread": False}

    async def connect() -> InlineConnection:
        connection = InlineConnection(
            partial(sqlite3.connect, *args, **kwargs), busy_timeout_ms=busy_timeout_ms
        )
        # A task cancelled while aiosqlite's thread opens the file (shutdown cancels the
        # background work; on a loaded machine the opening is slow) must not walk away from
        # it: nothing would wait for the thread, which then answers a loop that may be closed
        # by then ("RuntimeError: Event loop is closed" in a later test). So the opening runs
        # on, and what it opened is closed, before the cancellation goes on.
        opening = asyncio.ensure_future(_open(connection))
        try:
            return await asyncio.shield(opening)
        except asyncio.CancelledError:
            await _close_once_open(opening)
            raise

    return connect


async def _open(connection: InlineConnection) -> InlineConnection:
    await connection  # starts aiosqlite's worker thread and opens the file there
    return connection


async def _close_once_open(opening: asyncio.Future[InlineConnection]) -> None:
    """Wait for an opening whose caller was cancelled, then close what it opened."""
    try:
        connection = await opening
    except Exception:  # aiosqlite stopped the thread of a failed opening itself
        return
    await connection.close()
