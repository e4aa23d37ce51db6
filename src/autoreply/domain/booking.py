"""Meeting slots: when a lead can meet a free rep, which few slots to offer, and who takes one."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from autoreply.domain.calendar import BusinessCalendar, WeeklyHours
from autoreply.errors import ConfigError

__all__ = [
    "PREP_AFTER_CLOSED",
    "Busy",
    "RepAvailability",
    "Slot",
    "SlotRules",
    "free_slots",
    "offer_slots",
    "pick_rep",
    "reps_free_for",
]

PREP_AFTER_CLOSED = timedelta(hours=8)
"""A rep unavailable at least this long before a stretch starts gets ``prep_buffer`` first."""

_ID = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})([+-])(\d{2})(\d{2})-(\d{1,4})", re.ASCII)
_MINUTE = timedelta(minutes=1)

Interval = tuple[datetime, datetime]


def _require_aware(t: datetime, what: str) -> None:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime, got {t.isoformat()}")


@dataclass(frozen=True)
class RepAvailability:
    """A rep who takes meetings; ``hours=None`` means the business calendar's own hours."""

    rep_id: str
    hours: WeeklyHours | None = None


@dataclass(frozen=True)
class Busy:
    """Time a rep cannot meet (an existing booking etc.), ``start`` inclusive, ``end`` exclusive."""

    rep_id: str
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        _require_aware(self.start, "Busy.start")
        _require_aware(self.end, "Busy.end")


@dataclass(frozen=True)
class Slot:
    """A meeting time and the reps (sorted ids) free for all of it."""

    start: datetime
    end: datetime
    rep_ids: tuple[str, ...]

    @property
    def id(self) -> str:
        """Short stable id for postbacks: local start, UTC offset, minutes, e.g.
        ``"20261124T0900+0900-30"`` (21-23 characters)."""
        minutes = (self.end - self.start) // _MINUTE
        return f"{self.start:%Y%m%dT%H%M%z}-{minutes}"

    @classmethod
    def parse_id(cls, text: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """(start, end) in ``tz`` from an ``id``; ``ValueError`` if the text is not a slot id."""
        m = _ID.fullmatch(text)
        if m is None:
            raise ValueError(f"bad slot id {text!r}")
        year, month, day, hour, minute = (int(m[i]) for i in range(1, 6))
        off_h, off_m, minutes = int(m[7]), int(m[8]), int(m[9])
        if off_h > 23 or off_m > 59 or minutes == 0:
            raise ValueError(f"bad slot id {text!r}")
        offset = timedelta(hours=off_h, minutes=off_m) * (1 if m[6] == "+" else -1)
        try:
            start = datetime(year, month, day, hour, minute, tzinfo=timezone(offset))
            return start.astimezone(tz), (start + minutes * _MINUTE).astimezone(tz)
        except (ValueError, OverflowError) as exc:  # no such day, or past year 1 or 9999
            raise ValueError(f"bad slot id {text!r}") from exc


@dataclass(frozen=True)
class SlotRules:
    """How slots are cut.

    ``days_ahead``: slots lie on the first ``days_ahead`` business days counted from now's date
    (today counts if it is a business day), so a lead writing before a long closure still gets
    choices. ``min_lead``: a slot starts at least this long after now. ``step``: starts lie on a
    grid of this size from local midnight. ``prep_buffer``: for each rep, a stretch of availability
    (business hours intersected with the rep's own hours) that begins after the rep has been
    unavailable for at least ``PREP_AFTER_CLOSED`` (8 h: overnight, weekends, holidays, a late
    start) gets no slot starting before its start + ``prep_buffer``; a lunch break does not count.
    """

    duration: timedelta = timedelta(minutes=30)
    days_ahead: int = 7
    count: int = 6
    min_lead: timedelta = timedelta(hours=2)
    prep_buffer: timedelta = timedelta(minutes=60)
    step: timedelta = timedelta(minutes=30)

    def __post_init__(self) -> None:
        for name, value in (("duration", self.duration), ("step", self.step)):
            if value <= timedelta(0) or value % _MINUTE:
                raise ConfigError(f"slot {name} must be a positive whole number of minutes")
        if self.min_lead < timedelta(0) or self.prep_buffer < timedelta(0):
            raise ConfigError("slot min_lead and prep_buffer must not be negative")
        if self.days_ahead < 0 or self.count < 0:
            raise ConfigError("slot days_ahead and count must not be negative")


def _window(calendar: BusinessCalendar, today: date, days_ahead: int) -> list[date]:
    days = [today] if calendar.is_business_day(today) else []
    day = today
    while len(days) < days_ahead:
        day = calendar.next_business_day(day)
        days.append(day)
    return days[:days_ahead]


def _rep_periods(calendar: BusinessCalendar, rep: RepAvailability, day: date) -> list[Interval]:
    """The rep's open time on ``day``: calendar periods, cut to the rep's own hours if any."""
    periods = calendar.periods_on(day)
    if rep.hours is None or not periods:
        return periods
    own = [
        (datetime.combine(day, p.start, calendar.tz), datetime.combine(day, p.end, calendar.tz))
        for p in rep.hours.days[day.weekday()]
    ]
    cut = [(max(a, c), min(b, d)) for a, b in periods for c, d in own]
    return [(s, e) for s, e in cut if s < e]


def _bookable(
    calendar: BusinessCalendar, rep: RepAvailability, day: date, prep: timedelta
) -> list[Interval]:
    """The rep's periods on ``day`` with the prep buffer applied after long unavailability."""
    out: list[Interval] = []
    for start, end in _rep_periods(calendar, rep, day):
        since = start - PREP_AFTER_CLOSED
        before = [
            p
            for offset in range((day - since.date()).days + 1)
            for p in _rep_periods(calendar, rep, since.date() + timedelta(days=offset))
        ]
        if not any(a < start and b > since for a, b in before):
            start += prep
        if start < end:
            out.append((start, end))
    return out


def _grid(day: date, start: datetime, end: datetime, rules: SlotRules) -> Iterator[datetime]:
    """Slot starts on the ``step`` grid (from local midnight) whose slot fits in [start, end)."""
    midnight = datetime.combine(day, time(0), start.tzinfo)
    t = midnight + -((midnight - start) // rules.step) * rules.step
    while t + rules.duration <= end:
        yield t
        t += rules.step


def free_slots(
    calendar: BusinessCalendar,
    reps: Sequence[RepAvailability],
    busy: Sequence[Busy],
    now: datetime,
    rules: SlotRules,
) -> list[Slot]:
    """Every bookable slot, sorted by start, each with the reps free for all of it.

    A slot lies on the ``rules.step`` grid, inside one business-calendar open period and one of
    a rep's own periods on a business day (rep hours never open a closed day), starts at or after
    ``now + min_lead`` and after the prep buffer (see ``SlotRules``), within ``days_ahead``
    business days, and overlaps none of that rep's ``busy`` times (``start < b.end and b.start <
    end``). A slot with no free rep is dropped. ``now`` must be aware.
    """
    _require_aware(now, "now")
    earliest = now + rules.min_lead
    busy_by_rep: dict[str, list[Busy]] = {}
    for entry in busy:
        busy_by_rep.setdefault(entry.rep_id, []).append(entry)
    slots: list[Slot] = []
    for day in _window(calendar, now.astimezone(calendar.tz).date(), rules.days_ahead):
        free: dict[datetime, set[str]] = {}
        for rep in reps:
            taken = busy_by_rep.get(rep.rep_id, [])
            for open_, close in _bookable(calendar, rep, day, rules.prep_buffer):
                near = [x for x in taken if x.start < close and open_ < x.end]
                for start in _grid(day, open_, close, rules):
                    end = start + rules.duration
                    if start >= earliest and not any(start < x.end and x.start < end for x in near):
                        free.setdefault(start, set()).add(rep.rep_id)
        slots.extend(
            Slot(start, start + rules.duration, tuple(sorted(ids)))
            for start, ids in sorted(free.items())
        )
    return slots


def reps_free_for(
    calendar: BusinessCalendar,
    reps: Sequence[RepAvailability],
    busy: Sequence[Busy],
    now: datetime,
    start: datetime,
    end: datetime,
    rules: SlotRules,
) -> tuple[str, ...]:
    """The reps who can take exactly this slot now, by the same rules as ``free_slots``.

    Checking one picked slot this way costs one day of one rep's hours, instead of
    generating every slot of the window (what booking a pick needs on every turn).
    """
    _require_aware(now, "now")
    _require_aware(start, "start")
    if start < now + rules.min_lead:
        return ()
    day = start.astimezone(calendar.tz).date()
    free = []
    for rep in reps:
        inside = any(
            open_ <= start and end <= close
            for open_, close in _bookable(calendar, rep, day, rules.prep_buffer)
        )
        clash = any(start < b.end and b.start < end for b in busy if b.rep_id == rep.rep_id)
        if inside and not clash:
            free.append(rep.rep_id)
    return tuple(sorted(free))


def _farthest(candidates: list[Slot], taken: list[Slot]) -> Slot:
    """The candidate farthest from every taken slot (ties and nothing taken: the earliest)."""

    def key(s: Slot) -> tuple[float, datetime]:
        gaps = [abs((s.start - t.start).total_seconds()) for t in taken]
        return (-min(gaps, default=math.inf), s.start)

    return min(candidates, key=key)


def offer_slots(
    calendar: BusinessCalendar,
    reps: Sequence[RepAvailability],
    busy: Sequence[Busy],
    now: datetime,
    rules: SlotRules,
) -> list[Slot]:
    """At most ``rules.count`` slots from ``free_slots`` that give the lead a real choice.

    Spreading rule: free slots are put in buckets by (local date, morning = start before 12:00
    or afternoon), ordered day 1 morning, day 1 afternoon, day 2 morning, ... Rounds then walk
    the buckets in that order, taking one slot per non-empty bucket until ``count`` are taken.
    Within a bucket the first pick is its earliest slot; later picks take the slot farthest from
    those already taken in that bucket (ties: earliest). So with 6 slots and enough days the lead
    sees the earliest morning and afternoon slot of each of the first three days that have any,
    and the earliest free slot is always offered. Deterministic; the result is sorted by start.
    """
    buckets: dict[tuple[date, bool], list[Slot]] = {}
    for slot in free_slots(calendar, reps, busy, now, rules):
        local = slot.start.astimezone(calendar.tz)
        buckets.setdefault((local.date(), local.hour >= 12), []).append(slot)
    order = sorted(buckets)
    taken: dict[tuple[date, bool], list[Slot]] = {key: [] for key in order}
    total = 0
    while total < rules.count:
        before = total
        for key in order:
            left = [s for s in buckets[key] if s not in taken[key]]
            if total < rules.count and left:
                taken[key].append(_farthest(left, taken[key]))
                total += 1
        if total == before:
            break
    return sorted((s for chosen in taken.values() for s in chosen), key=lambda s: s.start)


def pick_rep(slot: Slot, rep_load: Mapping[str, int]) -> str:
    """The free rep with the fewest bookings (missing = 0), ties by rep id: a fair round robin.

    Example: ``pick_rep(slot, {"a": 2, "b": 1})`` is ``"b"`` when both are free.
    Raises ``ValueError`` if the slot has no free rep.
    """
    if not slot.rep_ids:
        raise ValueError("slot has no free rep")
    return min(slot.rep_ids, key=lambda rep: (rep_load.get(rep, 0), rep))
