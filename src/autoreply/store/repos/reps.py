"""Rep accounts."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.errors import ConflictError
from autoreply.store.models import Rep

__all__ = [
    "active_reps",
    "add_rep",
    "all_reps",
    "count_reps",
    "get_rep",
    "rep_by_email",
    "rep_by_token",
]


async def add_rep(session: AsyncSession, rep: Rep) -> Rep:
    """Insert a rep; ``ConflictError`` if the address is taken (the caller's transaction
    stays usable)."""
    try:
        async with session.begin_nested():
            session.add(rep)
    except IntegrityError as exc:
        raise ConflictError(f"a rep with email {rep.email} already exists") from exc
    return rep


async def get_rep(session: AsyncSession, rep_id: int) -> Rep | None:
    """A rep by id."""
    return await session.get(Rep, rep_id)


async def rep_by_email(session: AsyncSession, address: str) -> Rep | None:
    """The rep with this (lower-case) address."""
    return await session.scalar(select(Rep).where(Rep.email == address))


async def rep_by_token(session: AsyncSession, hashed: str) -> Rep | None:
    """The rep whose API token has this hash."""
    return await session.scalar(select(Rep).where(Rep.api_token_hash == hashed))


async def active_reps(session: AsyncSession) -> list[Rep]:
    """Reps who take meetings."""
    return list(await session.scalars(select(Rep).where(Rep.active.is_(True)).order_by(Rep.id)))


async def count_reps(session: AsyncSession) -> int:
    """How many reps there are (active or not)."""
    return int(await session.scalar(select(func.count()).select_from(Rep)) or 0)


async def all_reps(session: AsyncSession) -> list[Rep]:
    """Every rep, oldest first."""
    return list(await session.scalars(select(Rep).order_by(Rep.id)))
