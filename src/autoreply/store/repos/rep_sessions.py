"""Rep sessions on the server (``rep_sessions``): the cookie only names one, so logging
out, a password change or a deactivation ends it for every copy of the cookie."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.store.models import Rep, RepSession

__all__ = [
    "add_rep_session",
    "drop_ended_sessions",
    "live_session_rep",
    "revoke_rep_session",
    "revoke_sessions_of",
]


def add_rep_session(
    session: AsyncSession, session_id: str, rep_id: int, now: datetime, expires_at: datetime
) -> RepSession:
    """A new session (``session_id`` is the SHA-256 of the cookie's token)."""
    row = RepSession(
        id=session_id, rep_id=rep_id, created_at=now, expires_at=expires_at, revoked_at=None
    )
    session.add(row)
    return row


async def live_session_rep(session: AsyncSession, session_id: str, now: datetime) -> Rep | None:
    """The active rep of a session neither revoked nor expired, else None (one query)."""
    return await session.scalar(
        select(Rep)
        .join(RepSession, RepSession.rep_id == Rep.id)
        .where(
            RepSession.id == session_id,
            RepSession.revoked_at.is_(None),
            RepSession.expires_at > now,
            Rep.active.is_(True),
        )
    )


async def revoke_rep_session(session: AsyncSession, session_id: str, now: datetime) -> int:
    """End one session (logout); how many were ended (0 or 1)."""
    result = await session.execute(
        update(RepSession)
        .where(RepSession.id == session_id, RepSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def revoke_sessions_of(session: AsyncSession, rep_id: int, now: datetime) -> int:
    """End every open session of a rep (new password, deactivated); how many."""
    result = await session.execute(
        update(RepSession)
        .where(RepSession.rep_id == rep_id, RepSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def drop_ended_sessions(session: AsyncSession, before: datetime) -> int:
    """Delete sessions that expired or were revoked before ``before``; how many."""
    result = await session.execute(
        delete(RepSession).where(
            or_(RepSession.expires_at < before, RepSession.revoked_at < before)
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
