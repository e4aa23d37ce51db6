"""Owners and the SLA clock: who takes a handoff, by when they must reach the lead, and
what happens when nobody does.

- **Assigning** (``assign``, when a handoff is written): the routing file's first matching
  rule names a team; a lead keeps the owner it had (if they are still on the team and not
  away); otherwise the team picks the next rep **on shift** (round robin or least loaded).
  After hours the rep on shift at the next opening is picked, and that moment is when the
  clock starts.
- **The clock**: the first contact is due ``first_contact_minutes`` of the owner's business
  time (the business calendar within their own hours) after the notice; an escalation
  timer waits ``escalate_after_minutes`` more. Both are rows (``timers``), so they survive
  restarts and fire once across processes.
- **Telling**: in hours at once (owner by email, the team's channels); after hours nothing
  pings anyone (except an on-call target for the tiers named) and the morning digest
  timer of the next opening tells each team and owner.
- **Escalating**: the first miss passes the handoff to the next rep on shift who has not
  had it (the new owner and the team are told), the second goes to the team's manager
  target. Every step is a ``handoff_events`` row.
- **Reassigning** (a rep or manager): the new owner is emailed and, until the lead is
  reached, gets a fresh deadline in their own working time; the escalation moves with it.
- **Promising** (``assigned``): what the lead may be told once the handoff is written (the
  owner's name, the clock, whether anyone was told), for ``domain.promise.follow_up``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.domain.calendar import BusinessCalendar, WeeklyHours
from autoreply.domain.notices import NoticeKind
from autoreply.domain.promise import Assigned, after_business_time, business_time_between
from autoreply.domain.routing import (
    Candidate,
    Deadlines,
    LeadFacts,
    Routing,
    next_on_shift,
    pick_rep,
    region_of,
    shift_calendar,
)
from autoreply.domain.routing_spec import Notify, Team
from autoreply.errors import BadRequestError, NotFoundError
from autoreply.service import crm
from autoreply.service.content import Content
from autoreply.service.first_line import refresh_first_line
from autoreply.service.notifications import About, Notifications, Target
from autoreply.store import repos
from autoreply.store.models import Conversation, HandoffRow, Lead, Rep
from autoreply.store.timers import TimerItem

if TYPE_CHECKING:
    from autoreply.service.followups import FollowUps

__all__ = ["Owners", "Ownership", "SlaState", "Step", "ownership", "sla_state"]

log = logging.getLogger(__name__)


class SlaState:
    """Where a handoff's clock stands, for the pages: ``running`` (due at ``due_at``),
    ``overdue``, ``met`` / ``missed`` (contacted within or after the deadline, after
    ``business_minutes`` of business time), or ``none`` (no clock)."""

    def __init__(
        self, state: str, due_at: datetime | None, business_minutes: float | None = None
    ) -> None:
        self.state = state
        self.due_at = due_at
        self.business_minutes = business_minutes

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "business_minutes": self.business_minutes,
        }


def sla_state(row: HandoffRow, calendar: BusinessCalendar, now: datetime) -> SlaState:
    """The clock of one handoff at ``now``."""
    if row.due_at is None:
        return SlaState("none", None)
    if row.contacted_at is not None:
        start = row.notify_at or row.created_at
        minutes = business_time_between(calendar, start, row.contacted_at) / timedelta(minutes=1)
        met = row.contacted_at <= row.due_at
        return SlaState("met" if met else "missed", row.due_at, round(minutes, 1))
    return SlaState("running" if now <= row.due_at else "overdue", row.due_at)


class Owners:
    """Assigns handoffs, runs their SLA clock, and tells the people concerned."""

    def __init__(self, content: Content, routing: Routing, notifications: Notifications) -> None:
        self.content = content
        self.routing = routing
        self.notifications = notifications
        self.followups: FollowUps | None = None  # the cadence's tasks at first contact

    @property
    def calendar(self) -> BusinessCalendar:
        return self.content.calendar

    # -- policy ------------------------------------------------------------------------

    def minutes(self, team: Team) -> tuple[timedelta, timedelta]:
        """(first contact, escalate after) of a team: its own, the file's, the settings'."""
        settings = self.content.settings
        deadlines = self.routing.deadlines(
            team,
            Deadlines(
                timedelta(minutes=settings.sla_first_contact_minutes),
                timedelta(minutes=settings.sla_escalate_after_minutes),
            ),
        )
        return deadlines.first_contact, deadlines.escalate_after

    def shift(self, rep: Rep | None) -> BusinessCalendar:
        """The calendar a rep's clock runs on: business time within their own hours."""
        if rep is None or not rep.hours:
            return self.calendar
        return _shift(self.calendar, rep.hours)

    def team(self, team_id: str | None) -> Team:
        """A stored team id's team (the fallback if the file no longer has it)."""
        return self.routing.team(team_id) or self.routing.fallback

    @staticmethod
    def away(rep: Rep, now: datetime) -> bool:
        return rep.away and (rep.away_until is None or rep.away_until > now)

    async def candidates(
        self, session: AsyncSession, team: Team, now: datetime
    ) -> tuple[Team, list[Candidate], dict[int, Rep]]:
        """The team (a team without members, the default routing, made of every active
        rep), its active reps as the picking rule sees them, and the rows by id."""
        # A team without members (the default routing, no file) is every active rep.
        reps = (
            await repos.reps_by_emails(session, team.members)
            if team.members
            else await repos.active_reps(session)
        )
        ids = [r.id for r in reps]
        loads = await repos.open_handoff_counts(session, ids)
        last = await repos.last_assigned(session, ids)
        candidates = [
            Candidate(
                rep_id=r.id,
                email=r.email,
                name=r.name,
                hours=WeeklyHours.parse(r.hours) if r.hours else None,
                away=self.away(r, now),
                open_handoffs=loads.get(r.id, 0),
                last_assigned_at=last.get(r.id),
            )
            for r in reps
        ]
        if not team.members:
            team = team.model_copy(update={"members": tuple(r.email for r in reps)})
        return team, candidates, {r.id: r for r in reps}

    # -- targets -----------------------------------------------------------------------

    def _mention(self, rep: Rep | None, channel: str) -> str | None:
        if rep is None:
            return None
        info = self.routing.contact(rep.email)
        if info is None:
            return None
        return (
            info.slack if channel == "slack" else info.chatwork if channel == "chatwork" else None
        )

    def targets(self, spec: Notify | None, mention: Rep | None = None) -> list[Target]:
        """The places a ``notify`` block names ("default": the settings' target)."""
        if spec is None:
            return []
        settings = self.content.settings
        found: list[Target] = []
        for channel, value, default in (
            ("slack", spec.slack, settings.slack_webhook_url),
            ("teams", spec.teams, settings.teams_webhook_url),
            ("chatwork", spec.chatwork_room, settings.chatwork_room_id),
        ):
            recipient = default if value == "default" else value
            if recipient:
                found.append(Target(channel, recipient, self._mention(mention, channel)))
        found.extend(Target("email", address) for address in spec.email)
        return found

    def owner_targets(self, rep: Rep | None) -> list[Target]:
        """The owner's own inbox (``AUTOREPLY_NOTIFY_OWNER_EMAIL``)."""
        if rep is None or not self.content.settings.notify_owner_email:
            return []
        return [Target("email", rep.email)]

    async def tell(
        self,
        session: AsyncSession,
        kind: NoticeKind,
        abouts: Sequence[About],
        targets: Sequence[Target],
        *,
        event: str,
        now: datetime,
        **values: Any,
    ) -> int:
        """Write one notice about ``abouts`` and queue it for ``targets`` once per event."""
        if not abouts or not targets:
            return 0
        locale = str(abouts[0].row.record.get("locale") or "ja")
        notice = self.notifications.notice(
            kind, abouts, now, locale=locale, team_name=abouts[0].team_name, **values
        )
        lead_id = abouts[0].row.lead_id if len(abouts) == 1 else None
        return await self.notifications.send(
            session, notice, targets, event=event, now=now, lead_id=lead_id
        )

    async def assigned(self, session: AsyncSession, row: HandoffRow) -> Assigned | None:
        """What the lead may be promised about a written handoff (``domain.promise``): its
        owner's name, its clock, and whether anyone was told (a notice went to a target
        that is configured); None without a clock or once the lead was reached."""
        if row.notify_at is None or row.due_at is None or row.contacted_at is not None:
            return None
        owner = await repos.get_rep(session, row.owner_id) if row.owner_id else None
        team = self.team(row.team)
        first, _ = self.minutes(team)
        told = row.notified_at is not None and bool(
            self.owner_targets(owner) or self.targets(team.notify, owner)
        )
        return Assigned(owner.name if owner else None, row.notify_at, row.due_at, first, told)

    # -- assigning ---------------------------------------------------------------------

    def facts(self, row: HandoffRow, lead: Lead, conversation: Conversation) -> LeadFacts:
        source = conversation.source or {}
        slots = row.record.get("slots") or {}
        explicit = next(
            (str(v) for k, v in slots.items() if k in ("region", "prefecture", "都道府県", "地域")),
            None,
        )
        utm = source.get("utm") or {}
        return LeadFacts(
            tier=row.tier,
            score=row.score,
            channel=conversation.channel,
            industry=lead.industry,
            region=region_of(lead.phone, explicit),
            form=source.get("form"),
            flow=conversation.flow_id,
            utm_source=utm.get("source") if isinstance(utm, dict) else None,
        )

    async def assign(
        self,
        session: AsyncSession,
        row: HandoffRow,
        lead: Lead,
        conversation: Conversation,
        now: datetime,
    ) -> Rep | None:
        """Give a new handoff its owner and clock, and tell whoever must know now."""
        route = self.routing.route(self.facts(row, lead, conversation))
        team = route.team
        team, candidates, by_id = await self.candidates(session, team, now)
        chosen, at = None, now
        how: str = team.pick
        kept = next((c for c in candidates if c.rep_id == lead.owner_id and not c.away), None)
        if kept is not None:
            chosen, how = kept, "kept"
            if pick_rep(team, [kept], self.calendar, now) is None:
                at = next_on_shift(team, [kept], self.calendar, now) or now
        else:
            chosen = pick_rep(team, candidates, self.calendar, now)
            if chosen is None:
                later = next_on_shift(team, candidates, self.calendar, now)
                if later is not None:
                    at, chosen = later, pick_rep(team, candidates, self.calendar, later)
        owner = by_id.get(chosen.rep_id) if chosen is not None else None
        if owner is None:
            at = self.calendar.next_opening(now)
            how = "nobody"
            log.warning("handoff %d: nobody on team %r is ever on shift", row.id, team.id)
        why = route.why + ("・前回と同じ担当" if how == "kept" else "")
        row.owner_id = owner.id if owner else None
        refresh_first_line(self.content, row, owner.name if owner else None, now)
        row.team, row.routed_by = team.id, why[:200]
        lead.owner_id, lead.team = row.owner_id, team.id
        first, after = self.minutes(team)
        shift = self.shift(owner)
        row.notify_at = at
        row.due_at = after_business_time(shift, at, first)
        repos.add_event(
            session,
            handoff_id=row.id,
            kind="assigned",
            at=now,
            rep_id=row.owner_id,
            detail={"team": team.id, "rule": route.rule_id, "why": why, "how": how},
        )
        await self._schedule_escalation(session, row, shift, after, now)
        # In business hours the team hears at once, even when the owner's own shift (and
        # so the clock) starts later that day; the digest is for what came in while closed.
        if at <= now or self.calendar.is_open(now):
            await self._announce(session, row, conversation.channel, owner, team, "hot_lead", now)
        else:
            await self._tell_at_opening(session, row, conversation.channel, owner, team, at, now)
        return owner

    async def _tell_at_opening(
        self,
        session: AsyncSession,
        row: HandoffRow,
        channel: str,
        owner: Rep | None,
        team: Team,
        opening: datetime,
        now: datetime,
    ) -> None:
        """After hours: the digest timer of ``opening`` tells the team (one per opening,
        however many handoffs wait for it); on-call hears now for the tiers it names."""
        await repos.schedule(
            session,
            kind="digest",
            key=f"digest:{opening.isoformat()}",
            due_at=opening,
            payload={},
            now=now,
        )
        await self._on_call(session, row, channel, owner, team, now)

    async def _schedule_escalation(
        self,
        session: AsyncSession,
        row: HandoffRow,
        shift: BusinessCalendar,
        after: timedelta,
        now: datetime,
    ) -> None:
        if row.due_at is None:
            return
        level = row.escalation_level
        await repos.schedule(
            session,
            kind="escalate",
            key=f"escalate:{row.id}:{level}",
            due_at=after_business_time(shift, row.due_at, after),
            payload={"handoff": row.id, "level": level},
            now=now,
        )

    async def _announce(
        self,
        session: AsyncSession,
        row: HandoffRow,
        channel: str,
        owner: Rep | None,
        team: Team,
        kind: NoticeKind,
        now: datetime,
        trigger: str | None = None,
    ) -> None:
        about = About(row, channel, owner, team.name, trigger)
        targets = [*self.owner_targets(owner), *self.targets(team.notify, owner)]
        event = f"{kind}:{row.id}" if kind == "hot_lead" else f"{kind}:{row.id}:{row.score}"
        await self.tell(session, kind, [about], targets, event=event, now=now)
        row.notified_at = row.notified_at or now
        repos.add_event(
            session,
            handoff_id=row.id,
            kind="notified",
            at=now,
            rep_id=row.owner_id,
            detail={"notice": kind, "targets": sorted({t.channel for t in targets})},
        )

    async def _on_call(
        self,
        session: AsyncSession,
        row: HandoffRow,
        channel: str,
        owner: Rep | None,
        team: Team,
        now: datetime,
    ) -> None:
        target = self.routing.on_call_target(row.tier)
        if target is None:
            return
        about = About(row, channel, owner, team.name)
        await self.tell(
            session,
            "on_call",
            [about],
            self.targets(target),
            event=f"on_call:{row.id}",
            now=now,
        )

    # -- behaviour ---------------------------------------------------------------------

    def trigger_text(self, before: Sequence[Any], after: Sequence[Any], locale: str) -> str | None:
        """What raised the score between two records' reasons (「料金ページ閲覧」), if any."""
        old = {x.get("code"): x.get("points", 0) for x in before if isinstance(x, dict)}
        codes = [
            x["code"]
            for x in after
            if isinstance(x, dict) and x.get("points", 0) > old.get(x.get("code"), 0)
        ]
        if not codes:
            return None
        return self.notifications.text("trigger", locale, codes=codes) or None

    async def tier_changed(
        self,
        session: AsyncSession,
        row: HandoffRow,
        channel: str,
        before: str,
        trigger: str | None,
        now: datetime,
    ) -> None:
        """A refreshed handoff crossed into Tier A: its owner hears at once in hours; after
        hours it goes into the next morning digest (and to on-call)."""
        if before == "A" or row.tier != "A" or row.status != "waiting" or row.owner_id is None:
            return
        owner = await repos.get_rep(session, row.owner_id)
        team = self.team(row.team)
        repos.add_event(
            session,
            handoff_id=row.id,
            kind="tier_a",
            at=now,
            rep_id=row.owner_id,
            detail={"from": before, "trigger": trigger},
        )
        if row.notified_at is None:
            return  # not told yet: the digest will, Tier A first
        if self.calendar.is_open(now):
            await self._announce(session, row, channel, owner, team, "tier_a", now, trigger)
            return
        opening = self.calendar.next_opening(now)
        row.notified_at, row.notify_at = None, opening
        if owner is not None:  # told again at the opening: the clock starts again there
            await self._restart_clock(session, row, owner, now)
        await self._tell_at_opening(session, row, channel, owner, team, opening, now)

    # -- timers ------------------------------------------------------------------------

    async def digest(self, session: AsyncSession, timer: TimerItem, now: datetime) -> None:
        """At an opening: every handoff waiting to be told, one digest per team and one
        per owner (Tier A first)."""
        rows = await repos.lock_handoffs_to_announce(session, now)
        if not rows:
            return
        owners: dict[int, Rep] = {}
        for row, _ in rows:
            if row.owner_id is not None and row.owner_id not in owners:
                rep = await repos.get_rep(session, row.owner_id)
                if rep is not None:
                    owners[row.owner_id] = rep
        by_team: dict[str, list[About]] = {}
        by_owner: dict[int, list[About]] = {}
        for row, channel in rows:
            team = self.team(row.team)
            about = About(row, channel, owners.get(row.owner_id or 0), team.name)
            by_team.setdefault(team.id, []).append(about)
            if row.owner_id in owners:
                by_owner.setdefault(row.owner_id, []).append(about)
        morning = self._first_opening_of_day(timer.due_at)
        for team_id, abouts in by_team.items():
            team = self.team(team_id)
            await self.tell(
                session,
                "digest",
                abouts,
                self.targets(team.notify),
                event=f"{timer.key}:team:{team_id}",
                now=now,
                morning=morning,
            )
        for rep_id, abouts in by_owner.items():
            await self.tell(
                session,
                "digest",
                abouts,
                self.owner_targets(owners[rep_id]),
                event=f"{timer.key}:owner:{rep_id}",
                now=now,
                morning=morning,
            )
        for row, _ in rows:
            row.notified_at = now
            repos.add_event(
                session,
                handoff_id=row.id,
                kind="notified",
                at=now,
                rep_id=row.owner_id,
                detail={"notice": "digest"},
            )
        log.info("morning digest: %d handoffs to %d teams", len(rows), len(by_team))

    def _first_opening_of_day(self, at: datetime) -> bool:
        """Whether ``at`` is the day's first opening (the digest then reads 「朝のまとめ」,
        not after the lunch break or at a rep's afternoon start)."""
        local = at.astimezone(self.calendar.tz)
        periods = self.calendar.periods_on(local.date())
        return not periods or local <= periods[0][0]

    async def escalate(self, session: AsyncSession, timer: TimerItem, now: datetime) -> None:
        """A deadline passed: the first miss goes to the next rep on shift, the second to
        the manager. Nothing happens if the lead was reached or the clock moved on."""
        row = await repos.lock_handoff(session, int(timer.payload["handoff"]))
        level = int(timer.payload["level"])
        if (
            row is None
            or row.contacted_at is not None
            or row.status != "waiting"
            or row.escalation_level != level
        ):
            return
        found = await repos.handoff_with_channel(session, row.id)
        channel = found[1] if found else ""
        team = self.team(row.team)
        previous = await repos.get_rep(session, row.owner_id) if row.owner_id else None
        if level == 0:
            team, candidates, by_id = await self.candidates(session, team, now)
            tried = await repos.owners_so_far(session, row.id)
            chosen = pick_rep(team, candidates, self.calendar, now, exclude=tried)
            if chosen is not None:
                await self._pass_on(
                    session, row, channel, team, previous, by_id[chosen.rep_id], now
                )
                return
        row.escalation_level = 2
        await crm.escalated(session, self.content, row, 2, [], now)
        why = "second_miss" if level else "nobody_else_on_shift"
        repos.add_event(
            session,
            handoff_id=row.id,
            kind="escalated_to_manager",
            at=now,
            rep_id=row.owner_id,
            detail={"why": why},
        )
        about = About(row, channel, previous, team.name)
        targets = [*self.targets(team.manager), *self.targets(team.notify, previous)]
        await self.tell(
            session, "manager", [about], targets, event=f"manager:{row.id}", now=now, why=why
        )

    async def _pass_on(
        self,
        session: AsyncSession,
        row: HandoffRow,
        channel: str,
        team: Team,
        previous: Rep | None,
        owner: Rep,
        now: datetime,
    ) -> None:
        first, after = self.minutes(team)
        shift = self.shift(owner)
        row.escalation_level = 1
        row.due_at = after_business_time(shift, now, first)
        await self._give(
            session,
            row,
            owner,
            "escalated",
            now,
            detail={"from": previous.id if previous else None, "why": "deadline_missed"},
        )
        await self._schedule_escalation(session, row, shift, after, now)
        await crm.escalated(session, self.content, row, 1, [owner], now)
        about = About(row, channel, owner, team.name)
        targets = [*self.owner_targets(owner), *self.targets(team.notify, owner)]
        await self.tell(
            session,
            "escalation",
            [about],
            targets,
            event=f"escalation:{row.id}",
            now=now,
            previous=previous.name if previous else None,
        )

    # -- what reps do ------------------------------------------------------------------

    async def reassign(
        self, session: AsyncSession, handoff_id: int, to_rep_id: int, by: Rep, now: datetime
    ) -> HandoffRow:
        """A rep or manager gives a handoff to someone else: recorded, and the new owner told."""
        row = await repos.lock_handoff(session, handoff_id)
        if row is None:
            raise NotFoundError(f"no handoff {handoff_id}")
        owner = await repos.get_rep(session, to_rep_id)
        if owner is None or not owner.active:
            raise BadRequestError(f"no active rep {to_rep_id}")
        if owner.id == row.owner_id:
            return row
        if row.contacted_at is None:
            await self._restart_clock(session, row, owner, now)
        await self._give(
            session, row, owner, "reassigned", now, actor=by, detail={"from": row.owner_id}
        )
        if row.contacted_at is None:
            found = await repos.handoff_with_channel(session, row.id)
            about = About(row, found[1] if found else "", owner, self.team(row.team).name)
            await self.tell(
                session,
                "assigned",
                [about],
                self.owner_targets(owner),
                event=f"assigned:{row.id}:{owner.id}:{int(now.timestamp())}",
                now=now,
                by=by.name,
            )
        return row

    async def _give(
        self,
        session: AsyncSession,
        row: HandoffRow,
        owner: Rep,
        kind: str,
        now: datetime,
        *,
        detail: dict[str, Any],
        actor: Rep | None = None,
    ) -> None:
        """Make ``owner`` the owner of the handoff and its lead, on the record."""
        previous = row.owner_id
        row.owner_id, row.updated_at = owner.id, now
        refresh_first_line(self.content, row, owner.name, now)
        lead = await repos.get_lead(session, row.lead_id)
        if lead is not None:
            lead.owner_id = owner.id
        repos.add_event(
            session,
            handoff_id=row.id,
            kind=kind,
            at=now,
            actor_id=actor.id if actor else None,
            rep_id=owner.id,
            detail=detail,
        )
        await crm.owner_changed(session, self.content, row, previous, actor, now)

    async def _restart_clock(
        self, session: AsyncSession, row: HandoffRow, owner: Rep, now: datetime
    ) -> None:
        """A reassigned handoff's new owner gets the full first-contact time in their own
        working time (from now, or from the opening if it is not told yet), and the
        pending escalation moves with it, so a lead handed over late is not escalated
        away from its new owner minutes later."""
        first, after = self.minutes(self.team(row.team))
        shift = self.shift(owner)
        start = max(now, row.notify_at or now)
        row.due_at = after_business_time(shift, start, first)
        await repos.reschedule(
            session,
            f"escalate:{row.id}:{row.escalation_level}",
            after_business_time(shift, row.due_at, after),
        )

    async def contacted(
        self, session: AsyncSession, rows: Sequence[HandoffRow], rep: Rep, now: datetime
    ) -> None:
        """The clock stops: record it on each handoff just marked contacted."""
        for row in rows:
            state = sla_state(row, self.shift(rep), now)
            repos.add_event(
                session,
                handoff_id=row.id,
                kind="contacted",
                at=now,
                actor_id=rep.id,
                rep_id=row.owner_id,
                detail=state.to_dict(),
            )
            await crm.contacted(session, self.content, row, rep, state.business_minutes, now)
        if self.followups is not None:
            await self.followups.contacted(session, rows, rep, now)


@dataclass(frozen=True)
class Step:
    """One handoff event as the page shows it: who did it and who owns it after."""

    at: datetime
    kind: str
    actor: str | None  # None: the system
    rep: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class Ownership:
    """A handoff's owner, team, clock and history, for the rep pages and the JSON API."""

    owner: Rep | None
    team: Team | None
    sla: SlaState
    steps: list[Step]


async def ownership(
    session: AsyncSession, owners: Owners | None, row: HandoffRow, now: datetime
) -> Ownership:
    """Everything the pages show about who has a handoff and how its clock stands."""
    names = {r.id: r.name for r in await repos.all_reps(session)}
    owner = await repos.get_rep(session, row.owner_id) if row.owner_id else None
    steps = [
        Step(
            e.at,
            e.kind,
            names.get(e.actor_id) if e.actor_id else None,
            names.get(e.rep_id) if e.rep_id else None,
            dict(e.detail or {}),
        )
        for e in await repos.events_of(session, row.id)
    ]
    if owners is None:
        return Ownership(owner, None, SlaState("none", None), steps)
    team = owners.routing.teams.get(row.team or "")
    return Ownership(owner, team, sla_state(row, owners.shift(owner), now), steps)


@cache
def _shift(calendar: BusinessCalendar, hours: str) -> BusinessCalendar:
    return shift_calendar(calendar, WeeklyHours.parse(hours))
