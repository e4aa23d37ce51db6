"""Rep sessions kept on the server: logging in makes one, every request checks it, and
logging out, a new password or a deactivation ends it, for every copy of the cookie.

The cookie (signed, ``web.auth``) holds a random token; the table keeps only its SHA-256
(``rep_sessions.id``), when it ends, and whether it was revoked.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.signing import new_token, token_hash
from autoreply.store import repos
from autoreply.store.models import Rep

__all__ = ["end_all", "end_session", "rep_of_session", "start_session"]


async def start_session(session: AsyncSession, rep: Rep, now: datetime, lifetime: timedelta) -> str:
    """A new session for ``rep``; returns the token for the cookie (shown only now)."""
    token = new_token()
    repos.add_rep_session(session, token_hash(token), rep.id, now, now + lifetime)
    await session.flush()
    return token


async def rep_of_session(session: AsyncSession, token: str, now: datetime) -> Rep | None:
    """The active rep whose live session this token names, else None."""
    if not token or len(token) > 200:
        return None
    return await repos.live_session_rep(session, token_hash(token), now)


async def end_session(session: AsyncSession, token: str, now: datetime) -> None:
    """Log out: the session ends, whoever else holds a copy of the cookie."""
    if token:
        await repos.revoke_rep_session(session, token_hash(token), now)


async def end_all(session: AsyncSession, rep_id: int, now: datetime) -> int:
    """End every session of a rep (a new password, a deactivation); how many."""
    return await repos.revoke_sessions_of(session, rep_id, now)
