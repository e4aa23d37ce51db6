"""Business calendar: opening hours, company closures and public holidays, and how dates read."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays

from autoreply.errors import ConfigError

__all__ = [
    "BusinessCalendar",
    "Closure",
    "Period",
    "WeeklyHours",
    "describe_hours",
    "format_date",
    "format_when",
]

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_JA_WEEKDAYS = "月火水木金土日"
_EN_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SEARCH_DAYS = 400  # how far next_opening / next_business_day look before giving up
_LEAP_YEAR = 2000  # yearly closures keep month/day in a leap year so 02-29 is representable
_GROUP = re.compile(r"(?P<days>[^\d]+?)\s+(?P<periods>\d.*)", re.DOTALL)
_TIME = re.compile(r"(\d{1,2}):(\d{2})")
_YMD = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_MD = re.compile(r"(\d{1,2})-(\d{1,2})")


@dataclass(frozen=True)
class Period:
    """One opening period within a day: ``start`` inclusive, ``end`` exclusive, whole minutes."""

    start: time
    end: time

    def __post_init__(self) -> None:
        for t in (self.start, self.end):
            if t.tzinfo is not None or t.second or t.microsecond:
                raise ConfigError(f"period times must be naive whole minutes, got {t.isoformat()}")
        if self.end <= self.start:
            raise ConfigError(f"period {self} does not end after it starts")

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def _parse_time(text: str, where: str) -> time:
    m = _TIME.fullmatch(text)
    if m is None or int(m[1]) > 23 or int(m[2]) > 59:
        raise ConfigError(f"bad time {text!r} in {where!r} (expected HH:MM, 00:00-23:59)")
    return time(int(m[1]), int(m[2]))


def _parse_days(spec: str, where: str) -> list[int]:
    """``"mon-fri"``, ``"mon,wed"``, ``"fri-mon"`` (ranges wrap the week) -> weekday indexes."""
    found: set[int] = set()
    for item in spec.split(","):
        ends = [part.strip().lower() for part in item.split("-")]
        if len(ends) > 2 or any(e not in _DAY_NAMES for e in ends):
            raise ConfigError(f"unknown day {item.strip()!r} in {where!r} (use mon..sun, mon-fri)")
        first, last = _DAY_NAMES.index(ends[0]), _DAY_NAMES.index(ends[-1])
        found.update((first + i) % 7 for i in range((last - first) % 7 + 1))
    return sorted(found)


def _normalise(day: str, periods: Iterable[Period]) -> tuple[Period, ...]:
    """Sort one day's periods, merge touching ones, reject overlaps."""
    merged: list[Period] = []
    for p in sorted(periods, key=lambda p: p.start):
        if merged and p.start < merged[-1].end:
            raise ConfigError(f"overlapping periods on {day}: {merged[-1]} and {p}")
        if merged and p.start == merged[-1].end:
            merged[-1] = Period(merged[-1].start, p.end)
        else:
            merged.append(p)
    return tuple(merged)


def _overlap(a: Sequence[Period], b: Sequence[Period]) -> tuple[Period, ...]:
    """The parts of one day's sorted periods ``a`` that ``b`` also covers."""
    return tuple(
        Period(max(p.start, q.start), min(p.end, q.end))
        for p in a
        for q in b
        if max(p.start, q.start) < min(p.end, q.end)
    )


def _format_days(days: list[int]) -> str:
    runs: list[list[int]] = []
    for d in days:
        if runs and runs[-1][-1] == d - 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    return ",".join(
        _DAY_NAMES[r[0]] if len(r) == 1 else f"{_DAY_NAMES[r[0]]}-{_DAY_NAMES[r[-1]]}" for r in runs
    )


@dataclass(frozen=True)
class WeeklyHours:
    """Opening periods for each weekday; ``days[0]`` is Monday, an empty tuple means closed."""

    days: tuple[tuple[Period, ...], ...]

    def __post_init__(self) -> None:
        if len(self.days) != 7:
            raise ConfigError(f"weekly hours need 7 days (Monday first), got {len(self.days)}")
        normal = tuple(_normalise(_DAY_NAMES[i], ps) for i, ps in enumerate(self.days))
        object.__setattr__(self, "days", normal)

    @classmethod
    def parse(cls, text: str) -> WeeklyHours:
        """Read the operator format, e.g. ``"mon-fri 09:00-12:00,13:00-18:00; sat 10:00-15:00"``.

        Groups are separated by ``;``; each names days (``mon``..``sun``, case-insensitive; ranges
        ``mon-fri`` that may wrap like ``fri-mon``; lists ``mon,wed``) and then comma-separated
        ``HH:MM-HH:MM`` periods. A day named in several groups gets all their periods; touching
        periods are merged. Days never named are closed, so ``""`` is a calendar that never opens.
        Raises ``ConfigError`` naming the bad part.
        """
        per_day: list[list[Period]] = [[] for _ in _DAY_NAMES]
        for raw in text.split(";"):
            group = raw.strip()
            if not group:
                continue
            m = _GROUP.fullmatch(group)
            if m is None:
                raise ConfigError(f"bad hours group {group!r} (e.g. 'mon-fri 09:00-18:00')")
            periods: list[Period] = []
            for item in m["periods"].split(","):
                bounds = [b.strip() for b in item.split("-")]
                if len(bounds) != 2:
                    raise ConfigError(f"bad period {item.strip()!r} in {group!r} (HH:MM-HH:MM)")
                start, end = (_parse_time(b, group) for b in bounds)
                if end <= start:
                    raise ConfigError(f"period {item.strip()!r} in {group!r} ends before it starts")
                periods.append(Period(start, end))
            for d in _parse_days(m["days"], group):
                per_day[d].extend(periods)
        return cls(tuple(tuple(ps) for ps in per_day))

    def intersection(self, other: WeeklyHours) -> WeeklyHours:
        """The periods open in both, day by day (a rep's own hours within the company's).

        >>> str(WeeklyHours.parse("mon-fri 09:00-12:00,13:00-18:00").intersection(
        ...     WeeklyHours.parse("mon,tue 11:00-15:00")))
        'mon-tue 11:00-12:00,13:00-15:00'
        """
        return WeeklyHours(
            tuple(_overlap(a, b) for a, b in zip(self.days, other.days, strict=True))
        )

    def __str__(self) -> str:
        """Canonical text: days with equal periods grouped, e.g. ``"mon-fri 09:00-18:00"``."""
        groups: dict[tuple[Period, ...], list[int]] = {}
        for i, periods in enumerate(self.days):
            if periods:
                groups.setdefault(periods, []).append(i)
        return "; ".join(
            f"{_format_days(days)} {','.join(str(p) for p in periods)}"
            for periods, days in groups.items()
        )


def _parse_closure_day(text: str, where: str) -> tuple[date, bool]:
    """``"2026-10-01"`` -> (date, False); ``"12-29"`` -> (date in year 2000, True)."""
    try:
        if m := _YMD.fullmatch(text):
            return date(int(m[1]), int(m[2]), int(m[3])), False
        if m := _MD.fullmatch(text):
            return date(_LEAP_YEAR, int(m[1]), int(m[2])), True
    except ValueError:
        pass
    raise ConfigError(f"bad closure date {text!r} in {where!r} (expected MM-DD or YYYY-MM-DD)")


@dataclass(frozen=True)
class Closure:
    """Days the company is closed, ``first`` to ``last`` inclusive.

    ``yearly`` closures repeat every year and only their month/day count (they are stored in year
    2000); they may wrap the year end, e.g. ``12-29..01-03``. Others are absolute date ranges.
    """

    first: date
    last: date
    yearly: bool = False

    def __post_init__(self) -> None:
        if self.yearly:
            object.__setattr__(self, "first", self.first.replace(year=_LEAP_YEAR))
            object.__setattr__(self, "last", self.last.replace(year=_LEAP_YEAR))
        elif self.last < self.first:
            raise ConfigError(f"closure {self} ends before it starts")

    @classmethod
    def parse_many(cls, text: str) -> tuple[Closure, ...]:
        """Read ``"12-29..01-03, 08-13..08-16, 2026-10-01..2026-10-02, 05-01"``.

        Items are separated by commas or newlines; each is one day or ``first..last``, both ends
        ``MM-DD`` (yearly) or both ``YYYY-MM-DD`` (absolute). Raises ``ConfigError`` on bad text.
        """
        closures: list[Closure] = []
        for raw in re.split(r"[,\n]", text):
            item = raw.strip()
            if not item:
                continue
            ends = [_parse_closure_day(part.strip(), item) for part in item.split("..")]
            if len(ends) > 2:
                raise ConfigError(f"bad closure {item!r} (expected first..last)")
            (first, yearly), (last, last_yearly) = ends[0], ends[-1]
            if yearly != last_yearly:
                raise ConfigError(f"closure {item!r} mixes MM-DD and YYYY-MM-DD")
            closures.append(cls(first, last, yearly))
        return tuple(closures)

    def covers(self, d: date) -> bool:
        """Whether the company is closed on ``d`` because of this closure."""
        if not self.yearly:
            return self.first <= d <= self.last
        md = (d.month, d.day)
        first = (self.first.month, self.first.day)
        last = (self.last.month, self.last.day)
        if first <= last:
            return first <= md <= last
        return md >= first or md <= last  # wraps the year end

    def __str__(self) -> str:
        fmt = "%m-%d" if self.yearly else "%Y-%m-%d"
        if self.first == self.last:
            return self.first.strftime(fmt)
        return f"{self.first.strftime(fmt)}..{self.last.strftime(fmt)}"


class BusinessCalendar:
    """When the company is open: weekly hours minus closures and public holidays, in ``tz``.

    Day verdicts are cached per date, so ``is_open`` is cheap to call in loops.
    Example: ``cal.next_opening(friday_22h)`` is when a person can first reply.
    """

    def __init__(
        self,
        tz: ZoneInfo,
        hours: WeeklyHours,
        closures: Sequence[Closure] = (),
        holidays_country: str | None = "JP",
    ) -> None:
        self.tz = tz
        self.hours = hours
        self.closures = tuple(closures)
        self._holidays: Any = None
        if holidays_country is not None:
            try:  # years are filled in lazily by the holidays package on first lookup
                self._holidays = holidays.country_holidays(holidays_country, language="ja")
            except NotImplementedError as exc:
                raise ConfigError(f"unknown holidays country {holidays_country!r}") from exc
        self._reasons: dict[date, str | None] = {}

    @property
    def has_public_holidays(self) -> bool:
        """Whether a country's public holidays close the company (``holidays_country``)."""
        return self._holidays is not None

    def with_hours(self, hours: WeeklyHours) -> BusinessCalendar:
        """The same calendar (zone, closures, holidays) open only during ``hours``, e.g. the
        company's hours intersected with one rep's shift (``WeeklyHours.intersection``)."""
        other = copy.copy(self)
        other.hours = hours
        other._reasons = {}  # a day's verdict depends on the hours ("weekly")
        return other

    def closed_reason(self, d: date) -> str | None:
        """Why ``d`` is closed: the holiday's (Japanese) name, ``"closure"`` or ``"weekly"``.

        ``None`` means a business day. A holiday wins over a closure, which wins over "weekly".
        """
        if isinstance(d, datetime):
            raise TypeError("closed_reason takes a date, not a datetime")
        if d in self._reasons:
            return self._reasons[d]
        reason: str | None = None
        name = self._holidays.get(d) if self._holidays is not None else None
        if name is not None:
            reason = str(name)
        elif any(c.covers(d) for c in self.closures):
            reason = "closure"
        elif not self.hours.days[d.weekday()]:
            reason = "weekly"
        self._reasons[d] = reason
        return reason

    def is_business_day(self, d: date) -> bool:
        """Whether the company opens at all on ``d``."""
        return self.closed_reason(d) is None

    def periods_on(self, d: date) -> list[tuple[datetime, datetime]]:
        """The open periods of ``d`` as aware datetimes in ``tz``; ``[]`` on a closed day."""
        if not self.is_business_day(d):
            return []
        return [
            (datetime.combine(d, p.start, self.tz), datetime.combine(d, p.end, self.tz))
            for p in self.hours.days[d.weekday()]
        ]

    def is_open(self, t: datetime) -> bool:
        """Whether the company is open at ``t`` (aware, any zone; naive raises ``ValueError``)."""
        local = self._local(t)
        if not self.is_business_day(local.date()):
            return False
        now = local.time()
        return any(p.start <= now < p.end for p in self.hours.days[local.weekday()])

    def next_opening(self, t: datetime) -> datetime:
        """``t`` in ``tz`` if open then, else the start of the next open period.

        This is the honest "a person will reply from ..." moment. Raises ``ConfigError`` if the
        calendar does not open within about 400 days.
        """
        local = self._local(t)
        if self.is_open(local):
            return local
        for offset in range(_SEARCH_DAYS + 1):
            for start, _end in self.periods_on(local.date() + timedelta(days=offset)):
                if start > local:
                    return start
        raise ConfigError("calendar never opens")

    def next_business_day(self, d: date) -> date:
        """The first business day strictly after ``d``; ``ConfigError`` if none within ~400 days."""
        for offset in range(1, _SEARCH_DAYS + 1):
            candidate = d + timedelta(days=offset)
            if self.is_business_day(candidate):
                return candidate
        raise ConfigError("calendar never opens")

    def previous_business_day(self, d: date) -> date:
        """The last business day strictly before ``d``; ``ConfigError`` if none within ~400
        days."""
        for offset in range(1, _SEARCH_DAYS + 1):
            candidate = d - timedelta(days=offset)
            if self.is_business_day(candidate):
                return candidate
        raise ConfigError("calendar never opens")

    def _local(self, t: datetime) -> datetime:
        if t.tzinfo is None or t.utcoffset() is None:
            raise ValueError(f"naive datetime {t.isoformat()}: pass an aware datetime")
        return t.astimezone(self.tz)


def _is_ja(locale: str) -> bool:
    return locale.replace("_", "-").lower().split("-")[0] == "ja"


def format_date(d: date, locale: str) -> str:
    """A date as a lead reads it: ja ``"11月24日(火)"``, otherwise en ``"Tue, Nov 24"``."""
    if _is_ja(locale):
        return f"{d.month}月{d.day}日({_JA_WEEKDAYS[d.weekday()]})"
    return f"{_EN_WEEKDAYS[d.weekday()]}, {_EN_MONTHS[d.month - 1]} {d.day}"


def format_when(t: datetime, locale: str) -> str:
    """A moment as a lead reads it, in ``t``'s own zone: ja ``"11月24日(火) 9:00"``, en
    ``"Tue, Nov 24, 9:00"``. Unknown locales get en; naive ``t`` raises ``ValueError``.
    """
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"naive datetime {t.isoformat()}: pass an aware datetime")
    clock = f"{t.hour}:{t.minute:02d}"
    if _is_ja(locale):
        return f"{format_date(t.date(), locale)} {clock}"
    return f"{format_date(t.date(), locale)}, {clock}"


_WEEKDAYS = frozenset(range(5))
_WEEKEND = frozenset({5, 6})
_EVERY_DAY = frozenset(range(7))
_NEW_YEAR = date(_LEAP_YEAR, 1, 1)
_OBON = tuple(date(_LEAP_YEAR, 8, day) for day in range(13, 17))
# A closure is dates only: what a reader calls it is read from when it falls (ja, en).
_NEW_YEAR_BREAK = ("年末年始", "the year-end and New Year holidays")
_SUMMER_BREAK = ("夏季休業", "the summer holidays")
_COMPANY_HOLIDAYS = ("当社休業日", "company holidays")


def _closure_name(closure: Closure) -> tuple[str, str]:
    if closure.yearly and closure.covers(_NEW_YEAR):
        return _NEW_YEAR_BREAK
    if closure.yearly and any(closure.covers(d) for d in _OBON):
        return _SUMMER_BREAK
    return _COMPANY_HOLIDAYS


def _days_label(days: frozenset[int], ja: bool, *, closed: bool = False) -> str:
    """ja 「平日」「土日」「毎日」「月〜木」「月・水」; en "Weekdays", "Mon–Thu", "Mon, Wed".
    ``closed`` days read as days of the week in ja: 「日曜」「火曜・金〜日曜」."""
    if days == _WEEKDAYS:
        return "平日" if ja else "Weekdays"
    if days == _WEEKEND:
        return "土日" if ja else "Weekends"
    if days == _EVERY_DAY:
        return "毎日" if ja else "Every day"
    names = [f"{n}曜" if closed else n for n in _JA_WEEKDAYS] if ja else list(_EN_WEEKDAYS)
    runs: list[list[int]] = []
    for d in sorted(days):
        if runs and runs[-1][-1] == d - 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    parts: list[str] = []
    for run in runs:  # three days or more in a row are a range
        if len(run) >= 3:
            first = names[run[0]].removesuffix("曜")
            parts.append(f"{first}{'〜' if ja else '–'}{names[run[-1]]}")
        else:
            parts.extend(names[d] for d in run)
    return ("・" if ja else ", ").join(parts)


def _clock(t: time) -> str:
    return f"{t.hour}:{t.minute:02d}"


def _zone_name(tz: ZoneInfo) -> str:
    """The zone's abbreviation: "JST"; "CET/CEST" where it changes over the year."""
    names = dict.fromkeys(datetime(2026, month, 15, 12, tzinfo=tz).tzname() for month in (1, 7))
    return "/".join(name for name in names if name)


def describe_hours(calendar: BusinessCalendar, locale: str) -> str:
    """The opening hours as a page states them, from the calendar's own settings.

    ja 「平日 9:00〜12:00、13:00〜18:00（土日祝・年末年始・夏季休業を除く）」; en "Weekdays
    9:00–12:00, 13:00–18:00 (JST), except weekends, public holidays, the year-end and New
    Year holidays and the summer holidays". Days with the same periods form one group
    (groups separated by 「／」 / "; "); the exceptions are the weekdays that never open, the
    public holidays (when a country is set) and the closures, named by when they fall (a
    yearly one over 1 January: 年末年始; over 13-16 August: 夏季休業; else 当社休業日).
    """
    ja = _is_ja(locale)
    groups: dict[tuple[Period, ...], set[int]] = {}
    for day, periods in enumerate(calendar.hours.days):
        if periods:
            groups.setdefault(periods, set()).add(day)
    if not groups:
        return "休業中" if ja else "Closed"
    dash, comma = ("〜", "、") if ja else ("–", ", ")
    text = ("／" if ja else "; ").join(
        f"{_days_label(frozenset(days), ja)} "
        + comma.join(f"{_clock(p.start)}{dash}{_clock(p.end)}" for p in periods)
        for periods, days in groups.items()
    )
    closed = _EVERY_DAY - set().union(*groups.values())
    holidays = calendar.has_public_holidays
    excepted: list[str] = []
    if closed:
        excepted.append(
            _days_label(closed, ja, closed=True) if ja or closed != _WEEKEND else "weekends"
        )
    if holidays:
        if ja and closed in (_WEEKEND, {6}):
            excepted[-1] = f"{excepted[-1].removesuffix('曜')}祝"  # 「土日祝」「日祝」
        else:
            excepted.append("祝日" if ja else "public holidays")
    names = dict.fromkeys(_closure_name(c) for c in calendar.closures)
    excepted.extend(name[0] if ja else name[1] for name in names)
    if ja:
        return f"{text}（{'・'.join(excepted)}を除く）" if excepted else text
    text = f"{text} ({_zone_name(calendar.tz)})"
    if not excepted:
        return text
    listed = excepted[0] if len(excepted) == 1 else f"{', '.join(excepted[:-1])} and {excepted[-1]}"
    return f"{text}, except {listed}"
