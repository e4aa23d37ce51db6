"""Speed-to-lead KPIs, the funnel and the content figures of the manager's dashboard (pure).

Every figure is computed here from plain values (``Fact``: one handoff as the dashboard
sees it), so that its definition lives in one place and is tested with exact numbers.
The definitions are in docs/dashboard.md; in short:

- **bot first response**: seconds from the lead's first action to the bot's first reply
  (the handoff record's ``first_response_seconds``), p50 / p90;
- **human first contact**: BUSINESS minutes (the calendar's opening periods only) from the
  handoff's creation (the moment a person is needed) to ``contacted_at``; mean, median and
  p90 over the contacted handoffs;
- **5分以内対応率**: handoffs contacted within 5 business minutes / all handoffs;
- **SLA遵守率**: handoffs contacted by their deadline (``due_at``) / handoffs with a deadline
  that is decided (contacted, or the deadline has passed);
- **初回接触率**: handoffs contacted at all / all handoffs.

Percentiles interpolate linearly between the closest ranks (as PostgreSQL's
``percentile_cont`` and a spreadsheet's PERCENTILE.INC do).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple, TypeVar

__all__ = [
    "FIVE_MINUTES",
    "ContentFigures",
    "Fact",
    "FunnelStep",
    "Leader",
    "Speed",
    "Week",
    "cases_opened",
    "content",
    "funnel",
    "leaderboard",
    "mean",
    "no_show_rate",
    "percentile",
    "pre_meeting_viewed",
    "rate",
    "sla_state",
    "speed",
    "split",
    "week_of",
    "weekly",
    "weeks_between",
]

K = TypeVar("K", bound=Hashable)

#: The 5分以内対応 threshold, in business seconds.
FIVE_MINUTES = 300.0


class Fact(NamedTuple):
    """One handoff as the dashboard counts it (a named tuple: a range holds thousands)."""

    handoff_id: int
    week: date  # the Monday (business time zone) of the week the handoff was created
    channel: str  # web, line, form, email
    campaign: str  # the UTM campaign of the conversation ("" none)
    team: str  # the routed team ("" none)
    owner_id: int | None
    contacted_by: int | None
    in_hours: bool  # the lead arrived while the business was open
    bot_seconds: float | None  # bot first response, wall-clock seconds
    contact_seconds: float | None  # human first contact, BUSINESS seconds; None: not contacted
    sla: bool | None  # True met, False missed, None: no deadline or not yet decided
    booked: bool = False
    held: bool = False
    no_show: bool = False
    qualified_done: bool = False  # 0.5次商談完了 recorded
    qualified: bool = False  # the rep's verdict: a real opportunity
    cases_sent: int = 0
    cases_opened: int = 0
    pre_meeting_sent: bool = False
    pre_meeting_viewed: bool = False

    @property
    def contacted(self) -> bool:
        return self.contact_seconds is not None

    @property
    def rep_id(self) -> int | None:
        """Whose handoff it is in the split by rep: who contacted it, else its owner."""
        return self.contacted_by if self.contacted_by is not None else self.owner_id


def rate(part: int, whole: int) -> float | None:
    """``part / whole``, or None when there is nothing to divide (shown as 「—」).

    >>> rate(1, 4), rate(0, 0)
    (0.25, None)
    """
    return part / whole if whole else None


def mean(values: Sequence[float]) -> float | None:
    """The arithmetic mean, or None for no values."""
    return math.fsum(values) / len(values) if values else None


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) with linear interpolation between closest ranks; None for
    no values.

    >>> percentile([1, 2, 3, 4], 0.5), percentile([1, 2, 3, 4], 0.9), percentile([7], 0.9)
    (2.5, 3.7, 7.0)
    """
    return _quantile(sorted(values), q)


def _quantile(ordered: Sequence[float], q: float) -> float | None:
    """``percentile`` of values already in order."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    fraction = position - low
    return float(ordered[low] + (ordered[high] - ordered[low]) * fraction)


def sla_state(contacted_at: datetime | None, due_at: datetime | None, now: datetime) -> bool | None:
    """Met (contacted at or before the deadline), missed (contacted late, or not contacted
    and the deadline passed), or None (no deadline, or still running)."""
    if due_at is None:
        return None
    if contacted_at is not None:
        return contacted_at <= due_at
    return False if now > due_at else None


def cases_opened(sent: Iterable[str], clicked: Mapping[str, str], viewed: Mapping[str, str]) -> int:
    """How many of the case studies sent were opened (their link clicked or our page seen)."""
    return sum(1 for case_id in set(sent) if case_id in clicked or case_id in viewed)


def pre_meeting_viewed(
    sent_at: str | None, clicked: Mapping[str, str], viewed: Mapping[str, str]
) -> bool:
    """事前資料閲覧: the lead opened a case study (click or page view, ISO times) at or after
    the pre-meeting email was sent (``sent_at``, ISO). Not sent: False."""
    if not sent_at:
        return False
    try:
        sent = datetime.fromisoformat(sent_at)
    except ValueError:
        return False
    for when in (*clicked.values(), *viewed.values()):
        try:
            if when and datetime.fromisoformat(when) >= sent:
                return True
        except (ValueError, TypeError):
            continue
    return False


def week_of(day: date) -> date:
    """The Monday of ``day``'s week."""
    return day - timedelta(days=day.weekday())


def weeks_between(start: date, end: date) -> list[date]:
    """The Mondays of every week from ``start``'s to ``end``'s, in order."""
    first, last = week_of(start), week_of(end)
    weeks = []
    while first <= last:
        weeks.append(first)
        first += timedelta(days=7)
    return weeks


@dataclass(frozen=True)
class Speed:
    """The speed figures of a set of handoffs."""

    handoffs: int
    bot_p50: float | None  # seconds
    bot_p90: float | None
    contacted: int
    contact_mean: float | None  # business minutes
    contact_median: float | None
    contact_p90: float | None
    within_5: int
    sla_met: int
    sla_decided: int

    @property
    def within_5_rate(self) -> float | None:
        return rate(self.within_5, self.handoffs)

    @property
    def sla_rate(self) -> float | None:
        return rate(self.sla_met, self.sla_decided)

    @property
    def contact_rate(self) -> float | None:
        return rate(self.contacted, self.handoffs)


def speed(facts: Iterable[Fact]) -> Speed:
    """The speed figures of ``facts`` (see the module's definitions), in one pass."""
    bots: list[float] = []
    seconds: list[float] = []
    count = within = met = decided = 0
    for fact in facts:
        count += 1
        if fact.bot_seconds is not None:
            bots.append(fact.bot_seconds)
        contact = fact.contact_seconds
        if contact is not None:
            seconds.append(contact)
            within += contact <= FIVE_MINUTES
        if fact.sla is not None:
            decided += 1
            met += fact.sla
    bots.sort()
    seconds.sort()
    median, p90 = _quantile(seconds, 0.5), _quantile(seconds, 0.9)
    return Speed(
        handoffs=count,
        bot_p50=_quantile(bots, 0.5),
        bot_p90=_quantile(bots, 0.9),
        contacted=len(seconds),
        contact_mean=math.fsum(seconds) / 60 / len(seconds) if seconds else None,
        contact_median=None if median is None else median / 60,
        contact_p90=None if p90 is None else p90 / 60,
        within_5=within,
        sla_met=met,
        sla_decided=decided,
    )


def split(facts: Iterable[Fact], key: Callable[[Fact], K]) -> dict[K, Speed]:
    """The speed figures per value of ``key`` (in-hours, channel, team, rep, week …)."""
    groups: dict[K, list[Fact]] = defaultdict(list)
    for fact in facts:
        groups[key(fact)].append(fact)
    return {k: speed(v) for k, v in groups.items()}


@dataclass(frozen=True)
class Leader:
    """One rep on the 「誰が最速対応したか」 board."""

    rep_id: int
    contacted: int
    median: float  # business minutes
    within_5: int

    @property
    def within_5_rate(self) -> float | None:
        return rate(self.within_5, self.contacted)


def leaderboard(facts: Iterable[Fact], *, limit: int = 10) -> list[Leader]:
    """Reps by their median first contact (business minutes), fastest first; ties by more
    handoffs contacted, then rep id. Only handoffs they contacted count."""
    seconds: dict[int, list[float]] = defaultdict(list)
    for fact in facts:
        if fact.contacted_by is not None and fact.contact_seconds is not None:
            seconds[fact.contacted_by].append(fact.contact_seconds)
    leaders = [
        Leader(
            rep_id=rep,
            contacted=len(values),
            median=(percentile(values, 0.5) or 0.0) / 60,
            within_5=sum(1 for v in values if v <= FIVE_MINUTES),
        )
        for rep, values in seconds.items()
    ]
    leaders.sort(key=lambda x: (x.median, -x.contacted, x.rep_id))
    return leaders[:limit]


@dataclass(frozen=True)
class FunnelStep:
    """One step of the funnel: its count and the conversion from the step before."""

    code: str
    count: int
    conversion: float | None  # count / the previous step's count (None for the first)


FUNNEL_CODES = (
    "leads",
    "handoffs",
    "contacted",
    "booked",
    "held",
    "qualified_done",
    "qualified",
)


def funnel(leads: int, facts: Iterable[Fact]) -> list[FunnelStep]:
    """leads -> handoffs -> contacted -> booked -> held -> 0.5次商談完了 -> qualified.

    No-shows are not a step (``no_show_rate`` gives them); each conversion is the step's
    count over the previous step's."""
    handoffs = contacted = booked = held = done = qualified = 0
    for fact in facts:
        handoffs += 1
        contacted += fact.contact_seconds is not None
        booked += fact.booked
        held += fact.held
        done += fact.qualified_done
        qualified += fact.qualified
    counts = [leads, handoffs, contacted, booked, held, done, qualified]
    steps, previous = [], None
    for code, count in zip(FUNNEL_CODES, counts, strict=True):
        steps.append(FunnelStep(code, count, None if previous is None else rate(count, previous)))
        previous = count
    return steps


def no_show_rate(facts: Iterable[Fact]) -> tuple[int, int, float | None]:
    """No-shows, meetings with an outcome (held + no-show), and no-show率 (their ratio)."""
    held = no_show = 0
    for fact in facts:
        held += fact.held
        no_show += fact.no_show and not fact.held
    return no_show, held + no_show, rate(no_show, held + no_show)


@dataclass(frozen=True)
class ContentFigures:
    """Case studies sent and opened, and the pre-meeting email's 事前資料閲覧率."""

    handoffs_with_cases: int
    cases_sent: int
    cases_opened: int
    pre_meeting_sent: int
    pre_meeting_viewed: int

    @property
    def open_rate(self) -> float | None:
        return rate(self.cases_opened, self.cases_sent)

    @property
    def pre_meeting_rate(self) -> float | None:
        return rate(self.pre_meeting_viewed, self.pre_meeting_sent)


def content(facts: Iterable[Fact]) -> ContentFigures:
    """The content figures of ``facts``."""
    with_cases = sent = opened = pre_sent = pre_viewed = 0
    for fact in facts:
        with_cases += fact.cases_sent > 0
        sent += fact.cases_sent
        opened += fact.cases_opened
        pre_sent += fact.pre_meeting_sent
        pre_viewed += fact.pre_meeting_sent and fact.pre_meeting_viewed
    return ContentFigures(with_cases, sent, opened, pre_sent, pre_viewed)


@dataclass(frozen=True)
class Week:
    """One week of the trend charts."""

    start: date
    speed: Speed
    booked: int
    held: int
    qualified_done: int
    extra: Mapping[str, Any] = field(default_factory=dict)


def weekly(facts: Iterable[Fact], weeks: Sequence[date]) -> list[Week]:
    """The figures of each week in ``weeks`` (Mondays), empty weeks included."""
    groups: dict[date, list[Fact]] = {w: [] for w in weeks}
    for fact in facts:
        group = groups.get(fact.week)
        if group is not None:
            group.append(fact)
    out = []
    for start, items in groups.items():
        steps = funnel(0, items)
        out.append(
            Week(
                start=start,
                speed=speed(items),
                booked=steps[3].count,
                held=steps[4].count,
                qualified_done=steps[5].count,
            )
        )
    return out
