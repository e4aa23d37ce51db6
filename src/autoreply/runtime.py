"""A running product: settings + domain + database + service, opened and closed together."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from autoreply.bootstrap import Domain, build_domain, resolve_secret
from autoreply.channels.line.client import line_api, line_outgoing
from autoreply.channels.line.inbox import LineInbox
from autoreply.clock import Clock, SystemClock
from autoreply.config import Settings
from autoreply.domain.forms import Forms
from autoreply.errors import ConflictError
from autoreply.links import Links
from autoreply.mail import load_checked_forms, mail_renderer, mail_transport, outbox_worker
from autoreply.service import reps
from autoreply.service.conversations import ConversationService
from autoreply.service.deliveries import Followup
from autoreply.service.intake import FormIntake
from autoreply.service.meetings import MeetingMail
from autoreply.store.db import (
    create_engine,
    create_read_engine,
    is_sqlite,
    migration_status,
    read_session_factory,
    session_factory,
    upgrade,
)
from autoreply.store.models import Rep
from autoreply.store.outbox import OutboxWorker, Transport

__all__ = [
    "Runtime",
    "add_rep",
    "list_reps",
    "open_runtime",
    "resolve_secret",
    "run_worker",
    "seed_demo",
]

log = logging.getLogger(__name__)
DEMO_REP = ("デモ担当 山田", "demo-rep@example.com")
DEMO_PASSWORD_FILE = Path("var") / "demo-rep-password.txt"


@dataclass
class Runtime:
    """What a process needs to hold conversations and send what they queue."""

    settings: Settings
    domain: Domain
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    service: ConversationService
    reader: AsyncEngine  # for reads that must not queue behind writes (may be ``engine``)
    forms: Forms
    intake: FormIntake
    followup: Followup
    worker: OutboxWorker
    line: LineInbox | None = None  # None: no LINE channel configured
    line_secret: str | None = field(default=None, repr=False)


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
    reader = create_read_engine(settings.database_url, engine)
    renderer = mail_renderer(domain)
    forms = load_checked_forms(domain, renderer)
    postgres = not is_sqlite(settings.database_url)
    links = Links(domain.secret, settings.public_url, timedelta(days=settings.link_days))
    try:
        async with line_api(domain) as line:
            transports: dict[str, Transport] = {"email": mail_transport(domain)}
            if line is not None:
                transports["line"] = line.transport
            readers = read_session_factory(reader)
            worker = outbox_worker(domain, sessions, transports, postgres=postgres, readers=readers)
            meetings = MeetingMail(domain, renderer, links)
            worker.composers["email"] = meetings.compose
            service = ConversationService(
                domain,
                sessions,
                readers=readers,
                outgoing={"line": line_outgoing(domain, links)} if line else None,
                links=links,
                meetings=meetings,
                queued=worker.wake,
            )
            followup = Followup(service)
            worker.on_sent = followup.delivered
            worker.on_failed = followup.undeliverable
            current, head = await migration_status(engine)
            if current != head:
                log.warning(
                    "database schema is %s, code expects %s: run `autoreply db upgrade`",
                    current,
                    head,
                )
            elif settings.demo:
                await seed_demo(sessions, domain)
            yield Runtime(
                settings,
                domain,
                engine,
                sessions,
                service,
                reader,
                forms,
                FormIntake(service, renderer, queued=worker.wake),
                followup,
                worker,
                LineInbox(service, profile=line.display_name) if line else None,
                line.channel_secret if line else None,
            )
    finally:
        await engine.dispose()
        if reader is not engine:
            await reader.dispose()


async def run_worker(settings: Settings, *, once: bool = False, migrate: bool = True) -> int:
    """``autoreply worker``: the background work without HTTP: deliver the outbox and
    handle stored LINE events (until interrupted, or only what is due now with ``once``).
    Returns how many rows and events it handled with ``once``."""
    async with open_runtime(settings, migrate=migrate) as runtime:
        if once:
            total = 0
            while True:
                count = await runtime.line.process_pending() if runtime.line else 0
                count += await runtime.worker.run_once()
                if not count:
                    return total
                total += count
        log.info(
            "worker running: outbox%s (Ctrl+C stops it)", " and LINE events" * bool(runtime.line)
        )
        jobs = [runtime.worker.run(), *([runtime.line.run()] if runtime.line else [])]
        await asyncio.gather(*jobs)
    return 0  # pragma: no cover - the jobs end only by cancellation


async def seed_demo(sessions: async_sessionmaker[AsyncSession], domain: Domain) -> None:
    """With no reps at all, add one demo rep so meetings can be offered right away.

    The demo rep can log in to the rep pages: its password is generated once into
    ``var/demo-rep-password.txt`` (owner-only) and reused for later fresh databases.
    """
    password, hashed = await asyncio.to_thread(reps.demo_password, DEMO_PASSWORD_FILE)
    try:
        async with sessions() as session, session.begin():
            if await session.scalar(select(func.count()).select_from(Rep)):
                return
            await reps.create_rep(
                session, DEMO_REP[0], DEMO_REP[1], now=domain.clock.now(), password_hash=hashed
            )
    except ConflictError:
        return  # another worker seeded it at the same moment
    # Demo only: the operator needs this login to try the rep pages.
    log.info("demo rep login: %s / %s, also in %s", DEMO_REP[1], password, DEMO_PASSWORD_FILE)


async def add_rep(
    settings: Settings,
    name: str,
    email: str,
    hours: str | None,
    password: str | None = None,
) -> int:
    """Add a rep (``autoreply reps add``); without a password the rep cannot log in yet."""
    now = SystemClock().now()
    async with reps.open_session(settings) as session:
        rep = await reps.create_rep(session, name, email, now=now, hours=hours, password=password)
        return rep.id


async def list_reps(settings: Settings) -> list[dict[str, Any]]:
    """All reps, for ``autoreply reps list``."""
    async with reps.open_session(settings) as session:
        rows = await session.scalars(select(Rep).order_by(Rep.id))
        return [
            {
                "id": r.id,
                "name": r.name,
                "email": r.email,
                "hours": r.hours,
                "active": r.active,
                "login": r.password_hash is not None,
                "api_token": r.api_token_hash is not None,
            }
            for r in rows
        ]
