"""The manager's speed-to-lead dashboard: its filters, its figures, its charts, its CSVs.

One use case, ``dashboard``: bring the ``handoff_facts`` of the date range up to date (only
the handoffs created, updated or contacted since they were last counted), read the range
as flat facts, and compute every figure with ``domain.kpis``. Definitions: docs/dashboard.md.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from autoreply.domain import charts, kpis, routing
from autoreply.domain.calendar import BusinessCalendar
from autoreply.domain.promise import business_time_between
from autoreply.store import repos
from autoreply.store.db import read_session_factory
from autoreply.store.models import Rep

__all__ = [
    "CHANNELS",
    "TABLES",
    "Dashboard",
    "Filters",
    "csv_table",
    "dashboard",
    "fact_values",
    "filters",
    "refresh_facts",
]

CHANNELS = ("web", "line", "form", "email")
CHANNEL_LABELS = routing.CHANNELS  # one Japanese name per channel (cli too)
STEP_LABELS = {
    "leads": "リード",
    "handoffs": "引き継ぎ",
    "contacted": "初回接触",
    "booked": "商談予約",
    "held": "商談実施",
    "qualified_done": "0.5次商談完了",
    "qualified": "商談化",
}
#: The CSV downloads (``/rep/dashboard.csv?table=…``).
TABLES = ("speed", "leaderboard", "funnel", "content", "weekly")
DEFAULT_WEEKS = 8
MAX_DAYS = 731
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# -- the filters ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """The dashboard's date range (business-time dates, both included) and filters."""

    start: date
    end: date
    channel: str | None = None
    team: str | None = None
    rep_id: int | None = None

    def query(self, **changes: Any) -> dict[str, str]:
        """The filters as query parameters (for links: the CSVs, the same view)."""
        values = {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "channel": self.channel or "",
            "team": self.team or "",
            "rep": str(self.rep_id) if self.rep_id else "",
        }
        values.update({k: str(v) for k, v in changes.items()})
        return {k: v for k, v in values.items() if v}


def _day(text: str) -> date | None:
    if not _DATE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def filters(
    today: date, *, start: str = "", end: str = "", channel: str = "", team: str = "", rep: str = ""
) -> Filters:
    """The filters from what the request gave; anything unreadable is the default (the last
    8 weeks, Monday of 7 weeks ago through ``today``; every channel, team and rep). A range
    given backwards is turned round; one longer than two years is cut to its last two."""
    last = _day(end) or today
    first = _day(start) or kpis.week_of(last) - timedelta(weeks=DEFAULT_WEEKS - 1)
    if first > last:
        first, last = last, first
    first = max(first, last - timedelta(days=MAX_DAYS - 1))
    team = team.strip()[:100]
    return Filters(
        start=first,
        end=last,
        channel=channel if channel in CHANNELS else None,
        team=team or None,
        rep_id=int(rep) if rep.isdigit() and 0 < int(rep) < 2**31 else None,
    )


# -- the facts --------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _times(value: Any) -> dict[str, str]:
    return {str(k): v if isinstance(v, str) else "" for k, v in _mapping(value).items()}


def fact_values(row: Any, calendar: BusinessCalendar) -> dict[str, Any]:
    """The ``handoff_facts`` row of one handoff (a ``repos.handoffs_for_facts`` row).

    Human first contact is the business time from the handoff's creation (when a person
    was needed) to ``contacted_at``; the lead's arrival (in or after hours) is the start of
    the conversation; the bot's first response is the record's ``first_response_seconds``
    (else the conversation's ``first_response_at`` minus its start)."""
    record = _mapping(row.record)
    bot = _number(record.get("first_response_seconds"))
    if bot is None and row.first_response_at is not None:
        bot = max(0.0, (row.first_response_at - row.started_at).total_seconds())
    contact = None
    if row.contacted_at is not None:
        contact = business_time_between(calendar, row.created_at, row.contacted_at)
    utm = _mapping(_mapping(record.get("source")).get("utm"))
    campaign = utm.get("campaign")
    sent = [
        str(c["id"])
        for c in record.get("cases_sent") or []
        if isinstance(c, Mapping) and c.get("id") is not None
    ]
    clicked, viewed = _times(record.get("cases_clicked")), _times(record.get("cases_viewed"))
    pre = _mapping(record.get("pre_meeting"))
    sent_at = pre.get("sent_at") if isinstance(pre.get("sent_at"), str) else None
    return {
        "handoff_id": row.id,
        "computed_from": row.updated_at,
        "created_at": row.created_at,
        "conversation_id": row.conversation_id,
        "contacted_at": row.contacted_at,
        "contacted_by": row.contacted_by,
        "owner_id": row.owner_id,
        "team": row.team,
        "due_at": row.due_at,
        "qualified_at": row.qualified_at,
        "qualified": row.qualified,
        "week": kpis.week_of(row.created_at.astimezone(calendar.tz).date()),
        "channel": str(row.channel)[:20],
        "campaign": campaign[:300] if isinstance(campaign, str) else "",
        "in_hours": calendar.is_open(row.started_at),
        "bot_seconds": bot,
        "contact_seconds": None if contact is None else contact.total_seconds(),
        "cases_sent": len(set(sent)),
        "cases_opened": kpis.cases_opened(sent, clicked, viewed),
        "pre_meeting_sent": bool(sent_at),
        "pre_meeting_viewed": kpis.pre_meeting_viewed(sent_at, clicked, viewed),
    }


async def refresh_facts(
    session: AsyncSession,
    calendar: BusinessCalendar,
    stale: Sequence[int],
    gone: Sequence[int] = (),
) -> int:
    """Recompute the facts of the handoffs ``stale`` and forget those of ``gone`` (both from
    ``repos.stale_facts``); how many were computed."""
    rows = await repos.handoffs_for_facts(session, stale)
    await repos.save_facts(session, [fact_values(row, calendar) for row in rows])
    await repos.delete_facts(session, gone)
    return len(rows)


def _facts(rows: Iterable[Any], bookings: Mapping[int, int]) -> list[kpis.Fact]:
    """``repos.dashboard_rows`` as facts (positional: a range holds thousands of rows),
    with what became of each conversation's bookings (``repos.booking_states``)."""
    fact = kpis.Fact
    weeks: dict[Any, date] = {}
    out = []
    for (
        hid, week, channel, campaign, team, owner, by, in_hours, bot, contact, sla,
        conversation, done, qualified, sent, opened, pre, seen,
    ) in rows:  # fmt: skip
        monday = weeks.get(week)
        if monday is None:
            monday = weeks[week] = week if isinstance(week, date) else date.fromisoformat(week)
        booking = bookings.get(conversation, 0)
        out.append(
            fact(
                hid,
                monday,
                channel,
                campaign or "",
                team or "",
                owner,
                by,
                bool(in_hours),
                bot,
                contact,
                None if sla is None else bool(sla),
                booking >= 1,
                booking == 3,
                booking == 2,
                bool(done),
                bool(qualified),
                sent,
                opened,
                bool(pre),
                bool(seen),
            )
        )
    return out


# -- the dashboard ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Dashboard:
    """Everything the page and the CSVs show."""

    filters: Filters
    own_only: bool  # a rep (not a manager): only the handoffs they own or contacted
    now: datetime
    speed: kpis.Speed
    splits: list[tuple[str, str, kpis.Speed]]  # (split, value label, figures)
    leaders: list[tuple[kpis.Leader, str]]
    funnel: list[kpis.FunnelStep]
    no_show: tuple[int, int, float | None]
    funnel_sources: list[tuple[str, str, list[kpis.FunnelStep]]]  # (kind, label, steps)
    content: kpis.ContentFigures
    weeks: list[kpis.Week]
    reps: dict[int, str]
    teams: list[str]
    charts: dict[str, str] = field(default_factory=dict)


def _moment(day: date, calendar: BusinessCalendar) -> datetime:
    return datetime.combine(day, time(), calendar.tz)


async def dashboard(
    sessions: async_sessionmaker[AsyncSession],
    reader: AsyncEngine,
    calendar: BusinessCalendar,
    viewer: Rep,
    chosen: Filters,
    now: datetime,
) -> Dashboard:
    """The dashboard of ``chosen`` as ``viewer`` sees it (a manager: everyone; a rep: only
    the handoffs they own or contacted). Stale facts are found on ``reader`` (on SQLite,
    without the write lock) and written in a transaction of ``sessions`` only when there
    are any; the figures are read on ``reader``."""
    start, end = _moment(chosen.start, calendar), _moment(chosen.end + timedelta(days=1), calendar)
    reads = read_session_factory(reader)
    async with reads() as session:
        stale, gone = await repos.stale_facts(session, start, end)
    if stale or gone:
        async with sessions() as session, session.begin():
            await refresh_facts(session, calendar, stale, gone)
    own_only = viewer.role != "manager"
    scoped = own_only or chosen.team is not None or chosen.rep_id is not None
    async with reads() as session:
        rows = await repos.dashboard_rows(
            session,
            start,
            end,
            now,
            channel=chosen.channel,
            team=chosen.team,
            rep_id=chosen.rep_id,
            viewer_id=viewer.id if own_only else None,
        )
        conversations = [row.conversation_id for row in rows]
        bookings = (
            await repos.booking_states(session, min(conversations), max(conversations))
            if conversations
            else {}
        )
        everyone = {r.id: r.name for r in await repos.all_reps(session)}
        if chosen.team is not None:
            teams = await repos.handoff_teams(session, start, end)
        else:
            teams = sorted({str(row.team) for row in rows if row.team})
        leads_total, leads_by = 0, dict[str, int]()
        if not scoped:
            leads_total, leads_by = await repos.lead_counts(
                session, start, end, channel=chosen.channel
            )
    facts = _facts(rows, bookings)
    if scoped:  # the leads of these handoffs: a bot conversation without one is nobody's
        leads_total = len(facts)
        leads_by = _count_by(facts)
    names = everyone  # a rep sees who else contacted their handoffs by name
    built = Dashboard(
        filters=chosen,
        own_only=own_only,
        now=now,
        speed=kpis.speed(facts),
        splits=_splits(facts, names),
        leaders=[(x, names.get(x.rep_id, f"#{x.rep_id}")) for x in kpis.leaderboard(facts)],
        funnel=kpis.funnel(leads_total, facts),
        no_show=kpis.no_show_rate(facts),
        funnel_sources=_funnel_sources(facts, leads_by),
        content=kpis.content(facts),
        weeks=kpis.weekly(facts, kpis.weeks_between(chosen.start, chosen.end)),
        reps=everyone if not own_only else {viewer.id: viewer.name},
        teams=teams,
    )
    return Dashboard(**{**built.__dict__, "charts": _charts(built)})


def _count_by(facts: Iterable[kpis.Fact]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for fact in facts:
        counts[fact.channel] += 1
    return counts


def _splits(
    facts: Sequence[kpis.Fact], names: Mapping[int, str]
) -> list[tuple[str, str, kpis.Speed]]:
    """The speed figures by arrival (in or after hours), channel, team and rep, the facts
    grouped in one pass."""
    hours: dict[bool, list[kpis.Fact]] = defaultdict(list)
    channels: dict[str, list[kpis.Fact]] = defaultdict(list)
    teams: dict[str, list[kpis.Fact]] = defaultdict(list)
    people: dict[int | None, list[kpis.Fact]] = defaultdict(list)
    for fact in facts:
        hours[fact.in_hours].append(fact)
        channels[fact.channel].append(fact)
        teams[fact.team].append(fact)
        people[fact.contacted_by if fact.contacted_by is not None else fact.owner_id].append(fact)
    out: list[tuple[str, str, kpis.Speed]] = []
    for key, label in ((True, "営業時間内"), (False, "営業時間外")):
        if key in hours:
            out.append(("到着", label, kpis.speed(hours[key])))
    for code in sorted(channels, key=lambda c: (CHANNELS.index(c) if c in CHANNELS else 9, c)):
        out.append(("チャネル", CHANNEL_LABELS.get(code, code), kpis.speed(channels[code])))
    for team in sorted(teams):
        out.append(("チーム", team or "（未設定）", kpis.speed(teams[team])))
    for rep in sorted(people, key=lambda r: (r is None, names.get(r or 0, ""), r or 0)):
        label = "（担当なし）" if rep is None else names.get(rep, f"#{rep}")
        out.append(("担当者", label, kpis.speed(people[rep])))
    return out


def _funnel_sources(
    facts: Sequence[kpis.Fact], leads: Mapping[str, int]
) -> list[tuple[str, str, list[kpis.FunnelStep]]]:
    """The funnel per channel (its leads: who started a conversation there) and per UTM
    campaign (its leads: the handoffs of the campaign, as the campaign is known from the
    handoff record)."""
    by_channel: dict[str, list[kpis.Fact]] = defaultdict(list)
    by_campaign: dict[str, list[kpis.Fact]] = defaultdict(list)
    for fact in facts:
        by_channel[fact.channel].append(fact)
        if fact.campaign:
            by_campaign[fact.campaign].append(fact)
    out = []
    channels = set(by_channel) | set(leads)
    for code in sorted(channels, key=lambda c: (CHANNELS.index(c) if c in CHANNELS else 9, c)):
        items = by_channel.get(code, [])
        out.append(
            ("チャネル", CHANNEL_LABELS.get(code, code), kpis.funnel(leads.get(code, 0), items))
        )
    campaigns = sorted(by_campaign, key=lambda c: (-len(by_campaign[c]), c))
    for campaign in campaigns[:20]:
        items = by_campaign[campaign]
        out.append(("キャンペーン", campaign, kpis.funnel(len(items), items)))
    return out


# -- formatting (the page, the charts and the CSVs say the same) --------------------------------


def pct(value: float | None) -> str:
    """A rate as a percentage with one decimal (62.5%), or 「—」."""
    return "—" if value is None else f"{value * 100:.1f}%"


def minutes(value: float | None) -> str:
    """Business minutes with one decimal (3.5分), or 「—」."""
    return "—" if value is None else f"{value:.1f}分"


def seconds(value: float | None) -> str:
    """Seconds with one decimal (1.2秒), or 「—」."""
    return "—" if value is None else f"{value:.1f}秒"


def week_label(day: date) -> str:
    """A week by its Monday: 11/2."""
    return f"{day.month}/{day.day}"


def _described(points: Sequence[charts.Point]) -> str:
    return "、".join(f"{p.label}の週 {p.text or '—'}" for p in points)


def _charts(d: Dashboard) -> dict[str, str]:
    rate_points = [
        charts.Point(
            week_label(w.start),
            None if w.speed.within_5_rate is None else w.speed.within_5_rate * 100,
            "" if w.speed.within_5_rate is None else f"{w.speed.within_5_rate * 100:.0f}%",
        )
        for w in d.weeks
    ]
    median_points = [
        charts.Point(
            week_label(w.start),
            w.speed.contact_median,
            "" if w.speed.contact_median is None else f"{w.speed.contact_median:.1f}",
        )
        for w in d.weeks
    ]
    volume_points = [
        charts.Point(week_label(w.start), float(w.speed.handoffs), f"{w.speed.handoffs:,}")
        for w in d.weeks
    ]
    steps = [
        charts.Point(
            STEP_LABELS[s.code],
            float(s.count),
            f"{s.count:,}" + ("" if s.conversion is None else f"（{pct(s.conversion)}）"),
        )
        for s in d.funnel
    ]
    return {
        "within5": charts.bar_chart(
            "chart-within5",
            "週ごとの5分以内対応率（%）",
            "5分以内対応率: " + _described(rate_points),
            rate_points,
            top=100,
            unit="%",
        ),
        "median": charts.line_chart(
            "chart-median",
            "週ごとの初回接触までの時間（中央値・営業時間の分）",
            "初回接触までの中央値（分）: " + _described(median_points),
            median_points,
            unit="分",
        ),
        "volume": charts.bar_chart(
            "chart-volume",
            "週ごとの引き継ぎ件数",
            "引き継ぎ件数: " + _described(volume_points),
            volume_points,
        ),
        "funnel": charts.funnel_chart(
            "chart-funnel",
            "ファネル（件数と前の段階からの転換率）",
            "、".join(f"{p.label} {p.text}" for p in steps),
            steps,
        ),
    }


# -- the CSVs -----------------------------------------------------------------------------------


def _n(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}"


_SPEED_HEADER = [
    "引き継ぎ数",
    "Bot初回応答 p50（秒）",
    "Bot初回応答 p90（秒）",
    "初回接触数",
    "初回接触 平均（営業分）",
    "初回接触 中央値（営業分）",
    "初回接触 p90（営業分）",
    "5分以内対応数",
    "5分以内対応率（%）",
    "SLA遵守数",
    "SLA判定数",
    "SLA遵守率（%）",
    "初回接触率（%）",
]


def _speed_cells(s: kpis.Speed) -> list[str]:
    return [
        str(s.handoffs),
        _n(s.bot_p50),
        _n(s.bot_p90),
        str(s.contacted),
        _n(s.contact_mean),
        _n(s.contact_median),
        _n(s.contact_p90),
        str(s.within_5),
        _p(s.within_5_rate),
        str(s.sla_met),
        str(s.sla_decided),
        _p(s.sla_rate),
        _p(s.contact_rate),
    ]


def _rows(d: Dashboard, table: str) -> tuple[list[str], list[list[str]]]:
    if table == "speed":
        rows = [["全体", "", *_speed_cells(d.speed)]]
        rows += [[kind, label, *_speed_cells(s)] for kind, label, s in d.splits]
        return ["区分", "値", *_SPEED_HEADER], rows
    if table == "leaderboard":
        header = ["順位", "担当者", "初回接触数", "初回接触 中央値（営業分）", "5分以内対応率（%）"]
        return header, [
            [str(i), name, str(x.contacted), _n(x.median), _p(x.within_5_rate)]
            for i, (x, name) in enumerate(d.leaders, 1)
        ]
    if table == "funnel":
        header = ["区分", "値", "段階", "件数", "前段からの転換率（%）"]
        sources = [("全体", "", d.funnel), *d.funnel_sources]
        return header, [
            [kind, label, STEP_LABELS[s.code], str(s.count), _p(s.conversion)]
            for kind, label, steps in sources
            for s in steps
        ]
    if table == "content":
        c, (no_show, outcomes, no_show_rate) = d.content, d.no_show
        return ["指標", "値"], [
            ["事例を送った引き継ぎ数", str(c.handoffs_with_cases)],
            ["送った事例の数", str(c.cases_sent)],
            ["開かれた事例の数", str(c.cases_opened)],
            ["事例の開封率（%）", _p(c.open_rate)],
            ["事前資料メールの送信数", str(c.pre_meeting_sent)],
            ["送信後に事例が閲覧された数", str(c.pre_meeting_viewed)],
            ["事前資料閲覧率（%）", _p(c.pre_meeting_rate)],
            ["結果が記録された商談数", str(outcomes)],
            ["no-show数", str(no_show)],
            ["no-show率（%）", _p(no_show_rate)],
        ]
    header = ["週（月曜日）", *_SPEED_HEADER, "商談予約", "商談実施", "0.5次商談完了"]
    return header, [
        [
            w.start.isoformat(),
            *_speed_cells(w.speed),
            str(w.booked),
            str(w.held),
            str(w.qualified_done),
        ]
        for w in d.weeks
    ]


def csv_table(d: Dashboard, table: str) -> str:
    """One of ``TABLES`` as CSV text for Excel: a BOM first (UTF-8), CRLF line ends."""
    header, rows = _rows(d, table if table in TABLES else "speed")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return "\ufeff" + out.getvalue()
