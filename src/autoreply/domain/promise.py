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
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from autoreply.domain.calendar import BusinessCalendar
from autoreply.errors import ConfigError

__all__ = [
    "PROMISE_WINDOW",
    "FollowUp",
    "after_business_time",
    "business_time_between",
    "follow_up",
]

#: Business time left today below which "today" alone would be a promise too easily broken.
PROMISE_WINDOW = timedelta(minutes=30)
_ROUND_MINUTES = 15
_SEARCH_DAYS = 400

Kind = Literal["today", "today_or_by", "from"]


@dataclass(frozen=True)
class FollowUp:
    """When a person will follow up, seen at ``now`` (all times in the business timezone).

    ``at`` is the first moment a person is at work (``now`` when open); ``until`` the end of
    the opening period we are in (``None`` when closed); ``by`` the latest moment of a
    ``today_or_by`` promise (``None`` otherwise).
    """

    kind: Kind
    now: datetime
    at: datetime
    open_now: bool
    until: datetime | None = None
    by: datetime | None = None


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
    calendar: BusinessCalendar, now: datetime, *, window: timedelta = PROMISE_WINDOW
) -> FollowUp:
    """The honest follow-up promise at ``now`` (aware), by the rule in this module's docstring.

    >>> # Wednesday 17:02, open until 18:00: follow_up(cal, wed_1702).kind == "today"
    """
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
