"""The follow-up promise: when a person will contact the lead, as it can honestly be told now.

One place computes it (``follow_up``); every channel says it with the ``promise`` template
filter (``templates/promise.<locale>.j2``), so the chat, LINE, the emails, the widget banner,
the form's thank-you page and the rep list never disagree.

The rule, in business time (the calendar's opening periods, holidays and closures):

- **today** (本日中に / "today"): the business day has begun (now is inside an opening period
  or between two, e.g. the lunch break) and at least ``window`` (30 minutes) of business time
  is left today;
- **today_or_by** (本日中、遅くとも…までに / "later today, or by … at the latest"): the day
  has begun but less than ``window`` is left: the latest moment is ``window`` of business time
  from now (which falls on the next business day), rounded up to the quarter hour;
- **from** (…以降に / "from …"): before the day's first opening, after its last closing, or
  on a closed day: the start of the next opening period, never "now".

Once a handoff is written, its owner and SLA clock (``Assigned``, from the service) make the
promise exact, and it may name the owner:

- **within** (「担当の○○より5分以内に」 / "… within 5 minutes"): open now, the owner is on
  shift and was notified now (a notice went to someone), and the first-contact deadline is
  at most the SLA's minutes away on the wall clock;
- **today_or_by** with the owner: the same, but the deadline lies beyond a break or the
  closing (notified at 11:58, due 13:03): the deadline itself, rounded up;
- **from** the moment the clock starts when nobody is on shift now (the team works
  afternoons: 「13:00以降に」), never minutes;
- otherwise (nobody told, no owner, the deadline passed, closed now) the calendar's promise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from autoreply.domain.calendar import BusinessCalendar
from autoreply.errors import ConfigError

__all__ = [
    "PROMISE_WINDOW",
    "Assigned",
    "FollowUp",
    "after_business_time",
    "business_time_between",
    "follow_up",
]

#: Business time left today below which "today" alone would be a promise too easily broken.
PROMISE_WINDOW = timedelta(minutes=30)
_ROUND_MINUTES = 15
_SEARCH_DAYS = 400

Kind = Literal["today", "today_or_by", "from", "within"]


@dataclass(frozen=True)
class FollowUp:
    """When a person will follow up, seen at ``now`` (all times in the business timezone).

    ``at`` is the first moment a person is at work (``now`` when open); ``until`` the end of
    the opening period we are in (``None`` when closed); ``by`` the latest moment of a
    ``today_or_by`` or ``within`` promise (``None`` otherwise); ``minutes`` the minutes of a
    ``within`` promise; ``owner`` the name of the person who will call, set only when the
    SLA makes it true (a handoff's owner on shift and notified now).
    """

    kind: Kind
    now: datetime
    at: datetime
    open_now: bool
    until: datetime | None = None
    by: datetime | None = None
    minutes: int | None = None
    owner: str | None = None


@dataclass(frozen=True)
class Assigned:
    """A written handoff's owner and SLA clock, as the service knows them.

    ``owner`` is the owner's name (``None``: nobody); ``notify_at`` the moment the clock
    starts (now when someone was on shift, else the next on-shift moment); ``due_at`` the
    first-contact deadline; ``first_contact`` the SLA's minutes; ``told`` whether a notice
    went (or goes, at ``notify_at``) to a person or channel at all.
    """

    owner: str | None
    notify_at: datetime
    due_at: datetime
    first_contact: timedelta
    told: bool


def after_business_time(calendar: BusinessCalendar, start: datetime, amount: timedelta) -> datetime:
    """The moment ``amount`` of business time after ``start`` (time while closed not counted).

    Example: 30 minutes after Wednesday 17:50 with hours until 18:00 is Thursday 9:20.
    Raises ``ConfigError`` if the calendar does not open within about 400 days.
    """
    local = start.astimezone(calendar.tz)
    left = amount
    for offset in range(_SEARCH_DAYS + 1):
        for begin, end in calendar.periods_on(local.date() + timedelta(days=offset)):
            if end <= local:
                continue
            begin = max(begin, local)
            if end - begin >= left:
                return begin + left
            left -= end - begin
    raise ConfigError("calendar never opens")


def _round_up(t: datetime) -> datetime:
    """``t`` rounded up to the next quarter hour (a promise reads like one a person makes)."""
    exact = t.replace(second=0, microsecond=0)
    if exact < t:
        exact += timedelta(minutes=1)
    return exact + timedelta(minutes=-exact.minute % _ROUND_MINUTES)


def follow_up(
    calendar: BusinessCalendar,
    now: datetime,
    *,
    window: timedelta = PROMISE_WINDOW,
    assigned: Assigned | None = None,
) -> FollowUp:
    """The honest follow-up promise at ``now`` (aware), by the rule in this module's docstring;
    with ``assigned`` (the handoff is written) the SLA's exact promise where it is true.

    >>> # Wednesday 17:02, open until 18:00: follow_up(cal, wed_1702).kind == "today"
    """
    promise = _by_calendar(calendar, now, window)
    if assigned is None:
        return promise
    return _by_sla(promise, assigned, calendar)


def _by_sla(promise: FollowUp, assigned: Assigned, calendar: BusinessCalendar) -> FollowUp:
    """The calendar's ``promise`` made exact by the handoff's owner and clock."""
    now = promise.now
    if assigned.notify_at > now:  # nobody on shift now: the clock starts later
        start = assigned.notify_at.astimezone(calendar.tz)
        return FollowUp("from", now, start, promise.open_now, promise.until)
    if not (assigned.told and assigned.owner and promise.open_now and now < assigned.due_at):
        return promise
    due = assigned.due_at.astimezone(calendar.tz)
    if due - now <= assigned.first_contact:
        minutes = max(1, math.ceil(assigned.first_contact / timedelta(minutes=1)))
        return replace(promise, kind="within", by=due, minutes=minutes, owner=assigned.owner)
    return replace(promise, kind="today_or_by", by=_round_up(due), owner=assigned.owner)


def _by_calendar(calendar: BusinessCalendar, now: datetime, window: timedelta) -> FollowUp:
    """The promise the business calendar alone allows (no handoff written yet)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"naive datetime {now.isoformat()}: pass an aware datetime")
    local = now.astimezone(calendar.tz)
    open_now = calendar.is_open(local)
    periods = calendar.periods_on(local.date())
    until = next((end for begin, end in periods if begin <= local < end), None)
    begun = bool(periods) and periods[0][0] <= local
    left = sum((end - max(begin, local) for begin, end in periods if end > local), timedelta())
    at = calendar.next_opening(local)
    if not begun or left <= timedelta():
        return FollowUp("from", local, at, open_now, until)
    if left >= window:
        return FollowUp("today", local, at, open_now, until)
    by = _round_up(after_business_time(calendar, local, window))
    return FollowUp("today_or_by", local, at, open_now, until, by)


def business_time_between(calendar: BusinessCalendar, start: datetime, end: datetime) -> timedelta:
    """How much business time (open periods only) lies between ``start`` and ``end``; zero
    when ``end`` is not after ``start``. Example: Friday 17:55 to Monday 9:05 is 10 minutes."""
    if end <= start:
        return timedelta()
    local, stop = start.astimezone(calendar.tz), end.astimezone(calendar.tz)
    total = timedelta()
    day = local.date()
    while day <= stop.date():
        for begin, finish in calendar.periods_on(day):
            overlap = min(finish, stop) - max(begin, local)
            if overlap > timedelta():
                total += overlap
        day += timedelta(days=1)
    return total
