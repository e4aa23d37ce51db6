"""A running product: settings + domain + database + service, opened and closed together."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from autoreply.bootstrap import Domain, build_domain
from autoreply.clock import Clock, SystemClock
from autoreply.config import Settings
from autoreply.domain.calendar import WeeklyHours
from autoreply.domain.leads import clean_email
from autoreply.errors import ConfigError, ConflictError
from autoreply.service import ConversationService
from autoreply.store.db import create_engine, migration_status, session_factory, upgrade
from autoreply.store.models import Rep

__all__ = ["Runtime", "add_rep", "list_reps", "open_runtime", "seed_demo"]

log = logging.getLogger(__name__)
DEMO_REP = ("デモ担当 山田", "demo-rep@example.com")


@dataclass
class Runtime:
    """What a process needs to hold conversations."""

    settings: Settings
    domain: Domain
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    service: ConversationService
    secret: str


@asynccontextmanager
async def open_runtime(
    settings: Settings, *, clock: Clock | None = None, migrate: bool = True
) -> AsyncIterator[Runtime]:
    """Load and check everything, migrate the database, seed the demo, and clean up after."""
    domain = build_domain(settings, clock or SystemClock())
    if migrate:
        await upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    try:
        current, head = await migration_status(engine)
        if current != head:
            log.warning(
                "database schema is %s, code expects %s: run `autoreply db upgrade`", current, head
            )
        elif settings.demo:
            await seed_demo(sessions, domain)
        yield Runtime(
            settings,
            domain,
            engine,
            sessions,
            ConversationService(domain, sessions),
            secret=resolve_secret(settings),
        )
    finally:
        await engine.dispose()


def resolve_secret(settings: Settings) -> str:
    """AUTOREPLY_SECRET_KEY, else a key generated once into var/secret.key (readable by the
    owner only), so sessions and signed links survive a restart."""
    if settings.secret_key:
        return settings.secret_key
    path = Path("var") / "secret.key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret)
    log.info("generated a secret key in %s", path)
    return secret


async def seed_demo(sessions: async_sessionmaker[AsyncSession], domain: Domain) -> None:
    """With no reps at all, add one demo rep so meetings can be offered right away."""
    async with sessions() as session, session.begin():
        if await session.scalar(select(func.count()).select_from(Rep)):
            return
        session.add(
            Rep(
                name=DEMO_REP[0],
                email=DEMO_REP[1],
                hours=None,
                active=True,
                created_at=domain.clock.now(),
            )
        )
    log.info("demo rep added")


async def add_rep(settings: Settings, name: str, email: str, hours: str | None) -> int:
    """Add a rep (``autoreply reps add``)."""
    address = clean_email(email)
    if address is None:
        raise ConfigError(f"not an email address: {email!r}")
    if hours is not None:
        hours = str(WeeklyHours.parse(hours))
    await upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            rep = Rep(
                name=name.strip(),
                email=address.lower(),
                hours=hours,
                active=True,
                created_at=SystemClock().now(),
            )
            session.add(rep)
            try:
                await session.flush()
            except IntegrityError as exc:
                raise ConflictError(f"a rep with email {address} already exists") from exc
            return rep.id
    finally:
        await engine.dispose()


async def list_reps(settings: Settings) -> list[dict[str, Any]]:
    """All reps, for ``autoreply reps list``."""
    await upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session:
            reps = await session.scalars(select(Rep).order_by(Rep.id))
            return [{"id": r.id, "name": r.name, "email": r.email, "hours": r.hours} for r in reps]
    finally:
        await engine.dispose()
