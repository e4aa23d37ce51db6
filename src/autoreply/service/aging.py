"""Tier aging: a Tier A/B lead with no reaction for the cadence's days falls to Tier C.

A daily timer on the database (kind ``aging``, key ``aging:<local date>``: however many
processes run, each day's run fires once; each run sets the next) finds the handoffs old
enough, reads when each lead last reacted (a message in any conversation, a booking, what
the handoff record shows: cases clicked, viewed or read, triggers, site pages), and moves
the silent ones to C with an ``aged`` step saying why. No CRM event: the tier is the
handoff's place in the work queue, not a field of the lead (see docs/followups.md).

The aged tier is not undone silently: a refreshed record keeps Tier C unless the lead
reacted after the aging; then the score's tier comes back with a ``revived`` step.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autoreply.domain.cadence import Cadence, last_reaction, next_daily_run
from autoreply.service.content import Content
from autoreply.store import repos
from autoreply.store.models import HandoffRow
from autoreply.store.timers import TimerItem

__all__ = ["AGING", "Aging"]

log = logging.getLogger(__name__)

AGING = "aging"  # the timer kind of the daily run


class Aging:
    """The daily run and the rule for an aged handoff's refreshed record."""

    def __init__(self, content: Content, cadence: Cadence) -> None:
        self.content = content
        self.cadence = cadence

    @property
    def tz(self) -> Any:
        return self.content.calendar.tz

    async def start(self, sessions: async_sessionmaker[AsyncSession], now: datetime) -> None:
        """Make sure the next daily aging run is on the database (once across processes:
        its key is the day)."""
        async with sessions() as session, session.begin():
            await self._schedule_aging(session, now)

    async def _schedule_aging(self, session: AsyncSession, now: datetime) -> None:
        at = self.cadence.aging_at
        if at is None:
            return
        run = next_daily_run(self.tz, now, at)
        await repos.schedule(
            session,
            kind=AGING,
            key=f"aging:{run.date().isoformat()}",
            due_at=run,
            payload={},
            now=now,
        )

    async def age(self, session: AsyncSession, timer: TimerItem, now: datetime) -> None:
        """The daily run (the timer handler): Tier A/B handoffs whose lead has not reacted
        for the cadence's days fall to C, each with an ``aged`` step; the next run is set."""
        await self._schedule_aging(session, max(now, timer.due_at))
        days = {t: self.cadence.aging_days(t) for t in ("A", "B")}
        tiers = {t: d for t, d in days.items() if d is not None}
        if not tiers:
            return
        rows = await repos.handoffs_to_age(
            session, tuple(tiers), now - timedelta(days=min(tiers.values()))
        )
        if not rows:
            return
        leads = {r.lead_id for r in rows}
        inbound = await repos.last_inbound_by_lead(session, leads)
        booked = await repos.last_booking_by_lead(session, leads)
        recorded: dict[int, datetime] = {}
        for row in rows:
            seen = last_reaction(row.record or {}) or row.created_at
            recorded[row.lead_id] = max(seen, recorded.get(row.lead_id, seen))
        aged = 0
        for row in rows:
            booking = booked.get(row.lead_id)
            if booking is not None and booking[1]:
                continue  # a lead with a meeting is not cold
            reacted = max(
                at
                for at in (
                    recorded[row.lead_id],
                    inbound.get(row.lead_id),
                    booking[0] if booking else None,
                )
                if at is not None
            )
            if not self.cadence.aged(row.tier, reacted, now):
                continue
            before = row.tier
            row.tier, row.aged_at = "C", now
            repos.add_event(
                session,
                handoff_id=row.id,
                kind="aged",
                at=now,
                rep_id=row.owner_id,
                detail={
                    "from": before,
                    "days": tiers[before],
                    "last_reaction": reacted.isoformat(),
                },
            )
            aged += 1
        log.info("aging: %d of %d handoffs fell to Tier C", aged, len(rows))

    async def refreshed(self, session: AsyncSession, row: HandoffRow, now: datetime) -> None:
        """A handoff's record was just rewritten (its tier from the score): an aged one
        stays C unless the lead reacted after the aging, which brings the score's tier back
        with a ``revived`` step."""
        if row.aged_at is None or row.tier == "C":
            if row.aged_at is not None:
                row.tier = "C"
            return
        reacted = last_reaction(row.record or {})
        if reacted is None or reacted <= row.aged_at:
            row.tier = "C"
            return
        repos.add_event(
            session,
            handoff_id=row.id,
            kind="revived",
            at=now,
            rep_id=row.owner_id,
            detail={"from": "C", "to": row.tier, "reaction": reacted.isoformat()},
        )
        row.aged_at = None
