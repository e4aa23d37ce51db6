"""A lead's data rights (APPI): export one person's data, delete it, purge the inactive.

Deleting removes rows (nothing is kept anonymised, see docs/privacy.md): the person's
leads (merged ones too), identities, conversations and messages, bookings, handoffs and
their events, follow-ups, form submissions, every outbox row about them (pending ones too,
so nothing more is sent to them or about them), their stored LINE events, the rate
counters keyed by their addresses, and the timers about their rows. One transaction; the
``privacy_log`` row it writes holds the lead's number, who did it and the counts per
table, never a name, an address or a word they wrote.

The daily retention run is a timer (kind ``retention``, key ``retention:<date>``): set
at start and by each run for the next day, so every process sets the same one and it
fires once. It purges leads inactive for ``AUTOREPLY_RETENTION_MONTHS`` in batches (a
batch per transaction, a continuation timer for the rest) and drops rep sessions that
ended long ago.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autoreply.clock import Clock
from autoreply.config import Settings
from autoreply.domain.privacy import Subject, months_before, next_run, run_key
from autoreply.errors import NotFoundError
from autoreply.store import repos
from autoreply.store.models import PrivacyLogEntry
from autoreply.store.repos.privacy import Footprint
from autoreply.store.timers import TimerItem

__all__ = ["PURGE_BATCH", "RETENTION", "Found", "Privacy", "find", "recent_log", "summary"]

log = logging.getLogger(__name__)
RETENTION = "retention"  # the timer kind of the daily run
PURGE_BATCH = 50  # leads per transaction of a retention run
SESSIONS_KEPT = timedelta(days=30)  # ended rep sessions are dropped after this


@dataclass(frozen=True)
class Found:
    """What is stored about one subject: the survivor lead (None: none, only LINE events),
    the counts per table, and a few non-secret facts for the manager to recognise them."""

    subject: Subject
    lead_id: int | None
    counts: dict[str, int]
    merged: list[int]

    @property
    def total(self) -> int:
        """Rows in all."""
        return sum(self.counts.values())


async def _footprint(session: AsyncSession, subject: Subject) -> Footprint:
    if subject.by == "lead":
        ids = [int(subject.value)]
    elif subject.by == "email":
        ids = await repos.lead_ids_by_email(session, subject.value)
    else:
        ids = await repos.lead_ids_by_line_user(session, subject.value)
    people = [await repos.person_of(session, i) for i in ids]
    people = [p for p in people if p]
    survivors = list(dict.fromkeys(p[0] for p in people))
    if len(survivors) > 1:  # one address on two people: take both, the oldest first
        people = sorted(people, key=lambda p: p[0])
    lead_ids = list(dict.fromkeys(i for p in people for i in p))
    found = await repos.footprint(
        session,
        lead_ids,
        line_users=[subject.value] if subject.by == "line_user" else [],
        emails=[subject.value] if subject.by == "email" else [],
    )
    if found.empty:
        raise NotFoundError(f"nothing is stored for {subject.describe()}")
    return found


def summary(subject: Subject, found: Footprint) -> Found:
    """The counts of a footprint, for a page or the command line."""
    leads = found.ids("leads")
    return Found(subject, found.lead_id, found.counts(), leads[1:])


async def recent_log(session: AsyncSession, limit: int = 20) -> list[PrivacyLogEntry]:
    """The latest exports, deletions and purges (ids and counts only), newest first."""
    return await repos.privacy_log(session, limit=limit)


async def find(session: AsyncSession, subject: Subject) -> Found:
    """What is stored about ``subject`` (``NotFoundError`` if nothing)."""
    return summary(subject, await _footprint(session, subject))


class Privacy:
    """Export, delete and the retention run (the settings' retention, the clock)."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock

    async def export(self, session: AsyncSession, subject: Subject, actor: str) -> dict[str, Any]:
        """Everything stored about ``subject`` as one JSON-ready document; the export is
        logged (counts only)."""
        now = self.clock.now()
        found = await _footprint(session, subject)
        repos.add_privacy_log(
            session,
            action="export",
            lead_id=found.lead_id,
            actor=actor,
            counts=found.counts(),
            now=now,
        )
        log.info("lead data exported", extra={"lead": found.lead_id, "actor": actor})
        return {
            "format": "autoreply-lead-export/1",
            "exported_at": now.isoformat(),
            "lead_id": found.lead_id,
            "merged_lead_ids": found.ids("leads")[1:],
            "counts": found.counts(),
            "tables": repos.footprint_rows(found),
        }

    async def delete(self, session: AsyncSession, subject: Subject, actor: str) -> Found:
        """Remove everything stored about ``subject`` in the caller's transaction, and log
        it (counts only)."""
        now = self.clock.now()
        found = await _footprint(session, subject)
        await repos.lock_leads(session, found.ids("leads"))
        found = await _footprint(session, subject)  # again, under the locks
        return await self._remove(session, subject, found, "delete", actor, now)

    async def _remove(
        self,
        session: AsyncSession,
        subject: Subject,
        found: Footprint,
        action: str,
        actor: str,
        now: datetime,
    ) -> Found:
        counts = await repos.delete_footprint(session, found)
        repos.add_privacy_log(
            session, action=action, lead_id=found.lead_id, actor=actor, counts=counts, now=now
        )
        log.info(
            "lead data %s",
            "deleted" if action == "delete" else "purged",
            extra={"lead": found.lead_id, "actor": actor},
        )
        return Found(subject, found.lead_id, counts, found.ids("leads")[1:])

    async def delete_in(
        self, sessions: async_sessionmaker[AsyncSession], subject: Subject, actor: str
    ) -> Found:
        """``delete`` in a transaction of its own, once more if a concurrent write of the
        person (a new message) made a foreign key refuse it."""
        for attempt in range(3):
            try:
                async with sessions() as session, session.begin():
                    return await self.delete(session, subject, actor)
            except IntegrityError:
                if attempt == 2:
                    raise
                log.info("deleting a lead raced a write of theirs; again")
        raise NotFoundError(subject.describe())  # pragma: no cover - the loop returns

    # -- retention -------------------------------------------------------------------------

    def cutoff(self, now: datetime) -> datetime | None:
        """Leads inactive since before this are purged (None: retention is off)."""
        months = self.settings.retention_months
        if months is None:
            return None
        return months_before(now.astimezone(self.settings.tz), months)

    async def purge(self, session: AsyncSession, now: datetime, limit: int = PURGE_BATCH) -> int:
        """Purge up to ``limit`` inactive leads (each a person, merged leads included);
        how many were purged."""
        cutoff = self.cutoff(now)
        if cutoff is None:
            return 0
        purged = 0
        for lead_id in await repos.inactive_leads(session, cutoff, limit):
            subject = Subject("lead", str(lead_id))
            found = await _footprint(session, subject)
            await self._remove(session, subject, found, "purge", "retention", now)
            purged += 1
        return purged

    async def schedule_next(self, session: AsyncSession, now: datetime) -> None:
        """Set the next daily run (a no-op if some process set it already)."""
        due = next_run(now, self.settings.tz)
        await repos.schedule(
            session, kind=RETENTION, key=run_key(due.date()), due_at=due, payload={}, now=now
        )

    async def start(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """At start: make sure the next daily run is set."""
        async with sessions() as session, session.begin():
            await self.schedule_next(session, self.clock.now())

    async def run(self, session: AsyncSession, timer: TimerItem, now: datetime) -> None:
        """The timer handler: one batch of the purge, a continuation timer if more are due,
        the next day's run, and ended rep sessions dropped."""
        purged = await self.purge(session, now)
        if purged >= PURGE_BATCH:
            part = int(timer.payload.get("part", 0)) + 1
            base = timer.key.split(":part", 1)[0]
            await repos.schedule(
                session,
                kind=RETENTION,
                key=f"{base}:part{part}",
                due_at=now,
                payload={"part": part},
                now=now,
            )
        await repos.drop_ended_sessions(session, now - SESSIONS_KEPT)
        await self.schedule_next(session, now)
        if purged:
            log.info("retention: %d inactive leads purged", purged)
