"""Follow-ups: the 0.5次商談 record, the follow-up tasks of the cadence, and tier aging.

- **Tasks** (``follow_ups``): at a handoff's first contact, the cadence rule of its tier
  (``flows/cadence.yaml``) makes its tasks (二次架電 and the next actions), due in business
  time after the contact, owned by the handoff's owner, unless the lead already has a
  meeting. A booking later cancels the open ones the rules made. Each task's due moment
  is a timer (``followup:<id>``) whose handler emits ``followup.due`` once and records it
  on the handoff; reps see them on ``/rep/followups``. Reps add tasks by hand and mark
  them done with a note.
- **0.5次商談** (``qualify``): the structured fields (``domain.qualification``) stored on the
  handoff, a ``qualified`` step on its record, ``qualification.done`` emitted (a new event
  per revision); a 次アクション with a date becomes a task.
- **Aging**: ``service/aging.py`` (``FollowUps.aging``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.domain.cadence import KIND_LABELS, TASK_KINDS, Cadence, start_of_day
from autoreply.domain.qualification import CHOICES, Qualification, prefill
from autoreply.errors import BadRequestError, NotFoundError
from autoreply.service import events
from autoreply.service.aging import AGING, Aging
from autoreply.service.content import Content
from autoreply.store import repos
from autoreply.store.models import FollowUp, HandoffRow, Rep
from autoreply.store.timers import TimerItem

__all__ = ["AGING", "DUE", "FollowUps", "HandoffFollowUps", "TaskView", "bucket_of"]

log = logging.getLogger(__name__)

DUE = "followup_due"  # the timer kind of a task's due moment
_TIER_ORDER = {"A": 0, "B": 1, "C": 2}


def bucket_of(task: FollowUp, now: datetime, tz: Any) -> str:
    """Where a task stands: ``overdue``, ``today``, ``later``, or its status (done,
    cancelled)."""
    if task.status != "open":
        return task.status
    if task.due_at < now:
        return "overdue"
    if task.due_at.astimezone(tz).date() == now.astimezone(tz).date():
        return "today"
    return "later"


@dataclass(frozen=True)
class TaskView:
    """One task as the pages show it."""

    task: FollowUp
    bucket: str
    owner: str | None
    done_by: str | None
    handoff: HandoffRow | None = None
    rule_name: str | None = None  # the cadence rule's name (None: added by hand)


@dataclass(frozen=True)
class HandoffFollowUps:
    """What the handoff page shows of follow-ups: its tasks, its 0.5次商談 (stored, and
    what the form starts with), who recorded it."""

    tasks: list[TaskView]
    qualification: dict[str, Any] | None
    form: dict[str, Any]
    qualified_by: str | None
    revisions: int
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: CHOICES)
    kinds: tuple[str, ...] = TASK_KINDS


class FollowUps:
    """Tasks, the 0.5次商談 record and aging, on the cadence file's rules."""

    def __init__(self, content: Content, cadence: Cadence) -> None:
        self.content = content
        self.cadence = cadence
        self.aging = Aging(content, cadence)  # the daily timer ``aging`` and its rule

    @property
    def tz(self) -> Any:
        return self.content.calendar.tz

    # -- tasks -------------------------------------------------------------------------

    async def _add(
        self,
        session: AsyncSession,
        row: HandoffRow,
        *,
        kind: str,
        rule: str | None,
        due_at: datetime,
        owner_id: int | None,
        now: datetime,
        note: str | None = None,
    ) -> FollowUp:
        task = await repos.add_follow_up(
            session,
            FollowUp(
                handoff_id=row.id,
                lead_id=row.lead_id,
                kind=kind,
                rule=rule,
                due_at=due_at,
                status="open",
                owner_id=owner_id,
                created_at=now,
                note=note,
            ),
        )
        await repos.schedule(
            session,
            kind=DUE,
            key=f"followup:{task.id}",
            due_at=due_at,
            payload={"follow_up": task.id},
            now=now,
        )
        return task

    async def contacted(
        self, session: AsyncSession, rows: Sequence[HandoffRow], rep: Rep, now: datetime
    ) -> list[FollowUp]:
        """A first contact: the cadence's tasks on the lead's best handoff just contacted
        (Tier A before B, then the newest: one person gets one 二次架電), unless the lead
        has a meeting already."""
        candidates = [r for r in rows if self.cadence.rule_for(r.tier) is not None]
        if not candidates:
            return []
        row = min(candidates, key=lambda r: (_TIER_ORDER.get(r.tier, 9), -r.id))
        if await repos.lead_has_booking(session, row.lead_id):
            return []
        made = [
            await self._add(
                session,
                row,
                kind=planned.kind,
                rule=planned.rule,
                due_at=planned.due_at,
                owner_id=row.owner_id or rep.id,
                now=now,
            )
            for planned in self.cadence.plan(self.content.calendar, row.tier, now)
        ]
        if made:
            repos.add_event(
                session,
                handoff_id=row.id,
                kind="followups_planned",
                at=now,
                rep_id=row.owner_id,
                detail={"rule": made[0].rule, "count": len(made)},
            )
        return made

    async def booked(self, session: AsyncSession, lead_id: int, now: datetime) -> int:
        """The lead booked a meeting: the open tasks the cadence made for it are called
        off (tasks added by hand stay). How many."""
        tasks = await repos.lock_open_follow_ups_of_lead(session, lead_id)
        by_handoff: dict[int, int] = {}
        for task in tasks:
            await self._close(session, task, "cancelled", now)
            by_handoff[task.handoff_id] = by_handoff.get(task.handoff_id, 0) + 1
        for handoff_id, count in by_handoff.items():
            repos.add_event(
                session,
                handoff_id=handoff_id,
                kind="followups_cancelled",
                at=now,
                detail={"why": "booked", "count": count},
            )
        return len(tasks)

    async def _close(
        self,
        session: AsyncSession,
        task: FollowUp,
        status: str,
        now: datetime,
        by: Rep | None = None,
        note: str | None = None,
    ) -> None:
        task.status, task.done_at = status, now
        task.done_by = by.id if by else None
        if note:
            task.note = note
        await repos.cancel_timers(session, f"followup:{task.id}")

    async def add(
        self,
        session: AsyncSession,
        handoff_id: int,
        *,
        kind: str,
        due_at: datetime,
        by: Rep,
        now: datetime,
        note: str | None = None,
    ) -> FollowUp:
        """A task a rep adds by hand (owned by the handoff's owner, else by them)."""
        if kind not in TASK_KINDS:
            raise BadRequestError(f"kind must be one of {', '.join(TASK_KINDS)}")
        if due_at.tzinfo is None:
            raise BadRequestError("due_at needs a timezone")
        if due_at > now + timedelta(days=366):
            raise BadRequestError("due_at is more than a year ahead")
        row = await repos.lock_handoff(session, handoff_id)
        if row is None:
            raise NotFoundError(f"no handoff {handoff_id}")
        task = await self._add(
            session,
            row,
            kind=kind,
            rule=None,
            due_at=due_at,
            owner_id=row.owner_id or by.id,
            now=now,
            note=note,
        )
        repos.add_event(
            session,
            handoff_id=row.id,
            kind="followup_added",
            at=now,
            actor_id=by.id,
            rep_id=row.owner_id,
            detail={"task": task.id, "kind": kind},
        )
        return task

    async def done(
        self, session: AsyncSession, task_id: int, by: Rep, now: datetime, note: str | None = None
    ) -> FollowUp:
        """A rep did the task (with a note); a task already done or cancelled stays as it was."""
        task = await repos.lock_follow_up(session, task_id)
        if task is None:
            raise NotFoundError(f"no follow-up {task_id}")
        if task.status != "open":
            return task
        await self._close(session, task, "done", now, by, note)
        repos.add_event(
            session,
            handoff_id=task.handoff_id,
            kind="followup_done",
            at=now,
            actor_id=by.id,
            detail={"task": task.id, "kind": task.kind},
        )
        return task

    async def due(self, session: AsyncSession, timer: TimerItem, now: datetime) -> None:
        """A task's due moment (the timer handler): ``followup.due`` for the CRM and a step
        on the handoff, once; nothing for a task done or cancelled meanwhile, and a task
        of the cadence whose lead booked since is called off instead."""
        task = await repos.lock_follow_up(session, int(timer.payload["follow_up"]))
        if task is None or task.status != "open":
            return
        found = await repos.handoff_with_channel(session, task.handoff_id)
        if found is None:
            return
        row = found[0]
        if task.rule not in (None, "qualification") and await repos.lead_has_booking(
            session, row.lead_id
        ):
            await self.booked(session, row.lead_id, now)
            return
        owner = await repos.get_rep(session, task.owner_id) if task.owner_id else None
        await events.emit(
            session,
            self.content,
            "followup.due",
            lead_id=row.lead_id,
            key=f"followup:{task.id}:{task.due_at.isoformat()}",
            at=now,
            data={
                "handoff_id": row.id,
                "task": events.task_part(task, KIND_LABELS.get(task.kind, task.kind), owner),
            },
        )
        repos.add_event(
            session,
            handoff_id=row.id,
            kind="followup_due",
            at=now,
            rep_id=task.owner_id,
            detail={"task": task.id, "kind": task.kind},
        )

    # -- what the pages show -----------------------------------------------------------

    def _rule_name(self, task: FollowUp) -> str | None:
        if task.rule is None or task.rule == "qualification":
            return task.rule
        return self.cadence.rule_name(task.rule)

    async def _names(self, session: AsyncSession) -> dict[int, str]:
        return {r.id: r.name for r in await repos.all_reps(session)}

    async def task_list(
        self, session: AsyncSession, rep: Rep, now: datetime, *, everyone: bool = False
    ) -> list[TaskView]:
        """Open tasks, overdue first, then due today, then later: the rep's own, or
        everyone's for a manager who asks."""
        mine = None if everyone and rep.role == "manager" else rep.id
        names = await self._names(session)
        return [
            TaskView(
                task,
                bucket_of(task, now, self.tz),
                names.get(task.owner_id or 0),
                None,
                row,
                self._rule_name(task),
            )
            for task, row in await repos.follow_up_list(session, owner_id=mine)
        ]

    async def of_handoff(
        self, session: AsyncSession, row: HandoffRow, now: datetime
    ) -> HandoffFollowUps:
        """The handoff page's follow-ups: its tasks and its 0.5次商談."""
        names = await self._names(session)
        tasks = [
            TaskView(
                task,
                bucket_of(task, now, self.tz),
                names.get(task.owner_id or 0),
                names.get(task.done_by or 0),
                rule_name=self._rule_name(task),
            )
            for task in await repos.follow_ups_of_handoff(session, row.id)
        ]
        revisions = sum(1 for e in await repos.events_of(session, row.id) if e.kind == "qualified")
        return HandoffFollowUps(
            tasks,
            dict(row.qualification) if row.qualification else None,
            prefill(row.record or {}, row.qualification),
            names.get(row.qualified_by or 0),
            revisions,
        )

    # -- the 0.5次商談 ------------------------------------------------------------------

    async def qualify(
        self, session: AsyncSession, handoff_id: int, fields: Qualification, by: Rep, now: datetime
    ) -> HandoffRow:
        """Record the 0.5次商談 as done (again: the fields are replaced, ``qualified_at``
        keeps the first time); emits ``qualification.done`` with a new key per revision."""
        if fields.is_empty():
            raise BadRequestError("the 0.5次商談 needs at least one field filled in")
        row = await repos.lock_handoff(session, handoff_id)
        if row is None:
            raise NotFoundError(f"no handoff {handoff_id}")
        revision = 1 + sum(
            1 for e in await repos.events_of(session, row.id) if e.kind == "qualified"
        )
        part = fields.to_part()
        row.qualification, row.qualified = part, fields.qualified
        if row.qualified_at is None:
            row.qualified_at, row.qualified_by = now, by.id
        row.updated_at = now
        repos.add_event(
            session,
            handoff_id=row.id,
            kind="qualified",
            at=now,
            actor_id=by.id,
            rep_id=row.owner_id,
            detail={"revision": revision, "qualified": fields.qualified},
        )
        await self._next_action(session, row, fields, by, now)
        await session.flush()
        await events.emit(
            session,
            self.content,
            "qualification.done",
            lead_id=row.lead_id,
            key=f"qualification:{row.id}:{revision}",
            at=now,
            data={
                "handoff": await events.handoff_part(session, self.content, row),
                "qualification": part,
                "by": events.rep_ref(by),
            },
        )
        return row

    async def _next_action(
        self, session: AsyncSession, row: HandoffRow, fields: Qualification, by: Rep, now: datetime
    ) -> None:
        """The 次アクション with a date is a task (due at that day's opening); a new
        revision replaces the open one it made before."""
        existing = [
            t
            for t in await repos.follow_ups_of_handoff(session, row.id)
            if t.rule == "qualification" and t.status == "open"
        ]
        due = (
            start_of_day(self.content.calendar, fields.next_action_due)
            if fields.next_action and fields.next_action_due
            else None
        )
        if len(existing) == 1 and due is not None and existing[0].due_at == due:
            return
        for task in existing:
            await self._close(session, task, "cancelled", now)
        if due is not None:
            await self._add(
                session,
                row,
                kind="next_action",
                rule="qualification",
                due_at=due,
                owner_id=row.owner_id or by.id,
                now=now,
            )

    # -- aging (service/aging.py) ------------------------------------------------------

    async def refreshed(self, session: AsyncSession, row: HandoffRow, now: datetime) -> None:
        """A handoff's record was just rewritten: an aged one keeps Tier C unless the lead
        reacted since (``Aging.refreshed``)."""
        await self.aging.refreshed(session, row, now)
