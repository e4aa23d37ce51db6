"""Database engine and migrations: SQLite (WAL, immediate transactions) or PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession

from autoreply.errors import StorageError
from autoreply.store import sqlite

__all__ = [
    "AsyncSession",
    "alembic_config",
    "create_engine",
    "create_read_engine",
    "is_sqlite",
    "migration_status",
    "ping",
    "read_session_factory",
    "safe_url",
    "session_factory",
    "upgrade",
]

MIGRATIONS = Path(__file__).with_name("migrations")
_READ_ONLY = "autoreply_read_only"


def is_sqlite(url: str) -> bool:
    """Whether a database URL points at SQLite."""
    return make_url(url).get_backend_name() == "sqlite"


def _prepare_sqlite_dir(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def create_engine(url: str, *, read_only: bool = False, **kwargs: Any) -> AsyncEngine:
    """An async engine; on SQLite, foreign keys on, WAL, and ``BEGIN IMMEDIATE``.

    SQLite's default deferred transactions let two turns read the same conversation and
    then both write; beginning every transaction immediately takes the write lock up
    front, which is what "load and lock the conversation" means there. PostgreSQL locks
    rows with ``SELECT ... FOR UPDATE`` instead.

    SQLite lets one writer in at a time, so a SQLite engine for writing holds a single
    connection: the pool's queue makes concurrent transactions of this process wait
    their turn in order (first come, first served), where several connections would
    poll the file lock with SQLite's growing sleeps and let late comers overtake.
    ``read_only`` engines begin deferred transactions (they never take the write lock)
    and keep a pool of their own. Statements run on the event loop's thread
    (``store.sqlite``).
    """
    if not is_sqlite(url):
        kwargs.setdefault("pool_pre_ping", True)
        return create_async_engine(url, **kwargs)
    _prepare_sqlite_dir(url)
    if not _in_memory(url):
        kwargs.setdefault("async_creator", sqlite.connector(url))
        if not read_only:
            kwargs.setdefault("pool_size", 1)
            kwargs.setdefault("max_overflow", 0)
            kwargs.setdefault("pool_timeout", 120)
    engine = create_async_engine(url, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        if _in_memory(url):
            cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Reads (see ``read_session_factory``) need no write lock: deferred is enough.
        deferred = read_only or connection.get_execution_options().get(_READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")

    return engine


def _in_memory(url: str) -> bool:
    database = make_url(url).database
    return not database or database == ":memory:" or "mode=memory" in database


def create_read_engine(url: str, writer: AsyncEngine) -> AsyncEngine:
    """The engine for reads beside ``writer``: on a SQLite file a second engine with a
    pool of its own (reads never queue behind the single writing connection); else
    ``writer`` itself (PostgreSQL pools both; an in-memory SQLite database is one
    connection)."""
    if is_sqlite(url) and not _in_memory(url):
        return create_engine(url, read_only=True)
    return writer


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (for turns and other writes)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def read_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for reading only: on SQLite they do not take the write lock, so reading a
    transcript or checking a token never waits behind a turn (or makes one wait)."""
    return async_sessionmaker(
        engine.execution_options(**{_READ_ONLY: True}), expire_on_commit=False
    )


def alembic_config(url: str) -> Config:
    """Alembic configuration for the packaged migrations (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision``."""
    if is_sqlite(url):
        _prepare_sqlite_dir(url)
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_upgrade_sync, alembic_config(url), revision)
            await connection.commit()
    except OSError as exc:
        raise StorageError(f"cannot reach the database: {exc}") from exc
    finally:
        await engine.dispose()


def _upgrade_sync(connection: Connection, config: Config, revision: str) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def migration_status(engine: AsyncEngine) -> tuple[str | None, str]:
    """(current revision in the database, head revision of the code)."""
    script = ScriptDirectory.from_config(alembic_config(str(engine.url)))
    head = script.get_current_head() or ""
    async with engine.connect() as connection:
        current = await connection.run_sync(
            lambda c: MigrationContext.configure(c).get_current_revision()
        )
    return current, head


def run(coro: Any) -> Any:
    """Run a coroutine from synchronous code (the CLI)."""
    return asyncio.run(coro)


async def ping(engine: AsyncEngine) -> None:
    """Raise unless the database answers a trivial query."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def safe_url(url: str) -> str:
    """A database URL fit for a log or a terminal: the password masked."""
    return make_url(url).render_as_string(hide_password=True)
