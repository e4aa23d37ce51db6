"""Who of a team takes a lead: the reps on shift (the business calendar within their own
hours), picked round robin or by load, and the next moment someone is at work.

Pure: the service gives the reps as ``Candidate`` s (their hours, away flag, open handoffs
and last assignment, read from the database) and the moment.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from autoreply.domain.calendar import BusinessCalendar, WeeklyHours
from autoreply.domain.routing_spec import Team

__all__ = ["Candidate", "next_on_shift", "on_shift", "pick_rep", "shift_calendar"]

_SEARCH_DAYS = 14  # how far next_on_shift looks for someone at work


@dataclass(frozen=True)
class Candidate:
    """A rep who may take a lead: own hours (None: the business hours), away, open handoffs
    and when they were last given one."""

    rep_id: int
    email: str
    name: str
    hours: WeeklyHours | None = None
    away: bool = False
    open_handoffs: int = 0
    last_assigned_at: datetime | None = None


def shift_calendar(calendar: BusinessCalendar, hours: WeeklyHours | None) -> BusinessCalendar:
    """The business calendar within a rep's own weekly hours (same zone, closures and
    holidays), so an SLA clock runs in the owner's working time (``after_business_time``).
    ``None`` hours: the business calendar itself."""
    if hours is None:
        return calendar
    return calendar.with_hours(calendar.hours.intersection(hours))


def on_shift(candidate: Candidate, calendar: BusinessCalendar, at: datetime) -> bool:
    """Whether the rep is at work at ``at``: the company is open and, if the rep has own
    hours, ``at`` is within them (read in the calendar's zone). Away is not looked at."""
    return shift_calendar(calendar, candidate.hours).is_open(at)


def _eligible(
    team: Team, candidates: Iterable[Candidate], exclude: Collection[int]
) -> list[tuple[int, Candidate]]:
    """Members who are not away nor excluded, with their position in the team's order."""
    order = {email: index for index, email in enumerate(team.members)}
    found = []
    for candidate in candidates:
        index = order.get(candidate.email.strip().lower())
        if index is not None and not candidate.away and candidate.rep_id not in exclude:
            found.append((index, candidate))
    return found


def pick_rep(
    team: Team,
    candidates: Iterable[Candidate],
    calendar: BusinessCalendar,
    at: datetime,
    *,
    exclude: Collection[int] = (),
) -> Candidate | None:
    """The rep of ``team`` who takes a lead at ``at``; None when no member is on shift.

    Eligible: a member of the team (by email address), not away, not in ``exclude`` (reps
    an escalation already tried) and on shift at ``at``. Round robin takes the one assigned
    least recently (never assigned first, then in the team's order); least loaded the one
    with fewest open handoffs, ties by round robin.
    """

    def key(item: tuple[int, Candidate]) -> tuple[int, bool, datetime, int]:
        index, candidate = item
        load = candidate.open_handoffs if team.pick == "least_loaded" else 0
        last = candidate.last_assigned_at
        return (load, last is not None, last or at, index)

    working = [
        item for item in _eligible(team, candidates, exclude) if on_shift(item[1], calendar, at)
    ]
    return min(working, key=key)[1] if working else None


def next_on_shift(
    team: Team,
    candidates: Iterable[Candidate],
    calendar: BusinessCalendar,
    after: datetime,
    *,
    exclude: Collection[int] = (),
) -> datetime | None:
    """The first moment from ``after`` (in the calendar's zone) at which a member who is
    not away is on shift, e.g. where an after-hours lead waits for the next opening; None
    when nobody works within two weeks."""
    local = after.astimezone(calendar.tz)
    shifts = [
        shift_calendar(calendar, c.hours) for _index, c in _eligible(team, candidates, exclude)
    ]
    for offset in range(_SEARCH_DAYS + 1):
        day = local.date() + timedelta(days=offset)
        starts = [
            max(start, local)
            for shift in shifts
            for start, end in shift.periods_on(day)
            if end > local
        ]
        if starts:
            return min(starts)
    return None
