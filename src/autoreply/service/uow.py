"""A unit of work: a session and its transaction, and the outbox woken after a commit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autoreply.store import repos

__all__ = ["UnitOfWork"]


class UnitOfWork:
    """Opens the transactions of the use cases.

    ``write()`` is one transaction (committed when the block ends, rolled back on an
    error); if it queued something for the outbox, the worker is woken after the commit,
    so a message is never looked for before it is visible. ``read()`` is a session for
    reads that must not queue behind writes (SQLite's single writer).
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        readers: async_sessionmaker[AsyncSession] | None = None,
        queued: Callable[[], None] = lambda: None,
    ) -> None:
        self.sessions = sessions
        self.readers = readers or sessions
        self.queued = queued

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One transaction; the outbox is woken after it commits, if it queued anything."""
        async with self.sessions() as session:
            async with session.begin():
                yield session
            if repos.queued_in(session):
                self.queued()

    def read(self) -> AsyncSession:
        """A session for reading (``async with uow.read() as session``)."""
        return self.readers()
