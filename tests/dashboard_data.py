"""A realistic history for the dashboard, written in bulk: reps and teams, leads arriving on
every channel over weeks or a year (more in business hours, some at night and at weekends),
handoffs contacted fast, slowly or never, SLA deadlines, bookings held or missed, 0.5次商談,
case studies sent and opened, and every conversation's messages.

Used by the Chromium screenshot test (a few hundred handoffs) and by ``bench/dashboard.py``
(100,000 handoffs and 1,000,000 messages). Rows are inserted with explicit ids in chunks
(one executemany each), into an empty, migrated database.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from autoreply.domain.calendar import BusinessCalendar
from autoreply.domain.promise import after_business_time
from autoreply.store.models import Booking, Conversation, HandoffRow, Lead, Message, Rep

__all__ = ["Filled", "fill"]

TEAMS = ("インサイドセールス", "フィールドセールス", "パートナー")
REP_NAMES = (
    "佐藤 花子", "鈴木 一郎", "高橋 美咲", "田中 健太", "伊藤 由美", "渡辺 翔",
    "山本 彩", "中村 大輔", "小林 直子", "加藤 拓海", "吉田 真央",
)  # fmt: skip
CHANNELS = (("web", 0.5), ("line", 0.25), ("form", 0.2), ("email", 0.05))
CAMPAIGNS = ("autumn_sale", "webinar_1120", "retargeting", "brand_search", "dx_seminar")
CASES = ("case-manufacturing", "case-saas", "case-retail", "case-logistics")
LINES = (
    "料金について知りたいです",
    "導入時期は来月を考えています",
    "夜間の問い合わせ対応が遅れています",
    "ありがとうございます。ご案内いたします。",
    "ご都合のよい日時をお選びください。",
    "担当者からご連絡いたします。",
)
CHUNK = 2000


@dataclass(frozen=True)
class Filled:
    """What was written."""

    reps: int
    leads: int
    conversations: int
    handoffs: int
    messages: int
    bookings: int


def _channel(rng: random.Random) -> str:
    roll, total = rng.random(), 0.0
    for name, share in CHANNELS:
        total += share
        if roll < total:
            return name
    return "web"


def _arrival(rng: random.Random, calendar: BusinessCalendar, now: datetime, days: int) -> datetime:
    """A moment in the last ``days``: three in four on a weekday in business hours."""
    while True:
        day = (now - timedelta(days=rng.uniform(0, days))).astimezone(calendar.tz)
        if rng.random() < 0.75:
            if not calendar.is_business_day(day.date()):
                continue
            minutes = rng.uniform(9 * 60, 17 * 60 + 59)
            if 12 * 60 <= minutes < 13 * 60:
                continue
        else:
            minutes = rng.uniform(0, 24 * 60)
        moment = day.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(minutes=minutes)
        if moment < now - timedelta(minutes=20):
            return moment


async def _insert(engine: AsyncEngine, table: Any, rows: Sequence[dict[str, Any]]) -> None:
    async with engine.begin() as conn:
        for i in range(0, len(rows), CHUNK):
            await conn.execute(insert(table), list(rows[i : i + CHUNK]))


async def fill(
    engine: AsyncEngine,
    calendar: BusinessCalendar,
    now: datetime,
    *,
    handoffs: int,
    messages: int,
    days: int = 365,
    seed: int = 13,
    first_rep_id: int = 1,
) -> Filled:
    """Write the history into a migrated database whose business tables are empty (reps
    may exist below ``first_rep_id``: they get handoffs too)."""
    rng = random.Random(seed)
    utc_now = now
    reps = [
        {
            "id": first_rep_id + i,
            "name": name,
            "email": f"rep{first_rep_id + i}@example.com",
            "active": True,
            "created_at": utc_now - timedelta(days=days + 30),
            "role": "rep",
            "away": False,
        }
        for i, name in enumerate(REP_NAMES)
    ]
    await _insert(engine, Rep.__table__, reps)
    rep_ids = list(range(1, first_rep_id + len(REP_NAMES)))
    team_of = {rep: TEAMS[i % len(TEAMS)] for i, rep in enumerate(rep_ids)}
    conversations = int(handoffs * 1.25)
    per_conversation = max(1, messages // conversations)
    extra = messages - per_conversation * conversations
    leads_rows, conv_rows, handoff_rows, booking_rows, message_rows = [], [], [], [], []
    message_id = 0
    booked_slots: set[tuple[int, datetime]] = set()
    written_messages = 0

    async def flush_messages() -> None:
        nonlocal message_rows
        if message_rows:
            await _insert(engine, Message.__table__, message_rows)
            message_rows = []

    for n in range(1, conversations + 1):
        channel = _channel(rng)
        started = _arrival(rng, calendar, now, days)
        campaign = rng.choice(CAMPAIGNS) if rng.random() < 0.4 else None
        source: dict[str, Any] = {"url": "https://example.com/pricing", "title": "料金"}
        if campaign:
            source["utm"] = {"source": "google", "medium": "cpc", "campaign": campaign}
        bot = rng.uniform(40, 150) if channel in ("form", "email") else rng.lognormvariate(0.6, 0.5)
        first_response = started + timedelta(seconds=bot)
        leads_rows.append({"id": n, "created_at": started, "updated_at": started})
        count = per_conversation + (1 if n <= extra else 0)
        transcript = []
        for i in range(count):
            message_id += 1
            at = started + timedelta(seconds=bot * (i % 2) + 40 * i)
            line = LINES[(n + i) % len(LINES)]
            message_rows.append(
                {
                    "id": message_id,
                    "conversation_id": n,
                    "direction": "in" if i % 2 == 0 else "out",
                    "kind": "text",
                    "text": line,
                    "payload": {},
                    "created_at": at,
                }
            )
            if i < 8:
                transcript.append({"direction": "in" if i % 2 == 0 else "out", "text": line})
        written_messages += count
        has_handoff = n <= handoffs
        conv_rows.append(
            {
                "id": n,
                "public_id": f"bench-{n:08d}",
                "lead_id": n,
                "channel": channel,
                "flow_id": "demo-ja",
                "flow_version": 1,
                "status": "handed_off" if has_handoff else "closed",
                "state": {},
                "source": source,
                "created_at": started,
                "updated_at": started,
                "first_response_at": first_response,
                "version": 1,
            }
        )
        if len(message_rows) >= CHUNK * 5:
            await _insert(engine, Lead.__table__, leads_rows)
            await _insert(engine, Conversation.__table__, conv_rows)
            leads_rows, conv_rows = [], []
            await flush_messages()
        if not has_handoff:
            continue
        created = started + timedelta(minutes=rng.uniform(1, 8))
        owner = rng.choice(rep_ids)
        tier = rng.choices("ABC", weights=(2, 3, 5))[0]
        due = None
        if tier != "C":
            due = after_business_time(
                calendar, created, timedelta(minutes=5 if tier == "A" else 30)
            )
        contacted_at = contacted_by = None
        if created < now - timedelta(hours=1) and rng.random() < 0.86:
            delay = timedelta(minutes=rng.expovariate(1 / (4 if tier == "A" else 15)))
            contacted_at = after_business_time(calendar, created, delay)
            if contacted_at > now:
                contacted_at = None
            else:
                contacted_by = owner if rng.random() < 0.9 else rng.choice(rep_ids)
        sent = rng.sample(CASES, rng.choice((0, 0, 1, 2, 3)))
        clicked = {
            c: (created + timedelta(hours=1)).isoformat() for c in sent if rng.random() < 0.45
        }
        viewed = {
            c: (created + timedelta(hours=1)).isoformat() for c in clicked if rng.random() < 0.7
        }
        record: dict[str, Any] = {
            "reason": "booked",
            "channel": channel,
            "source": source,
            "first_response_seconds": bot,
            "cases_sent": [{"id": c, "title": c} for c in sent],
            "cases_clicked": clicked,
            "cases_viewed": viewed,
            "tier": tier,
            "transcript": transcript,
        }
        booking = None
        if contacted_at is not None and rng.random() < 0.3:
            start = after_business_time(
                calendar, created, timedelta(hours=rng.uniform(8, 40))
            ).replace(minute=0, second=0, microsecond=0)
            rep = owner
            while (rep, start) in booked_slots:
                start += timedelta(hours=1)
            booked_slots.add((rep, start))
            status = "cancelled" if rng.random() < 0.12 else "confirmed"
            outcome = None
            if status == "confirmed" and start < now:
                outcome = rng.choices(("held", "no_show", None), weights=(75, 15, 10))[0]
            booking = {
                "id": len(booking_rows) + 1,
                "rep_id": rep,
                "lead_id": n,
                "conversation_id": n,
                "start_at": start,
                "end_at": start + timedelta(minutes=30),
                "status": status,
                "created_at": created,
                "sequence": 0,
                "outcome": outcome,
                "outcome_at": start + timedelta(minutes=30) if outcome else None,
            }
            booking_rows.append(booking)
            sent_at = start - timedelta(hours=20)
            if sent_at < now:
                record["pre_meeting"] = {
                    "scheduled_at": sent_at.isoformat(),
                    "sent_at": sent_at.isoformat(),
                }
                if rng.random() < 0.55:
                    record["cases_viewed"] = {
                        **viewed,
                        "case-saas": (sent_at + timedelta(hours=2)).isoformat(),
                    }
        qualified_at = qualified = None
        if booking is not None and booking["outcome"] == "held" and rng.random() < 0.7:
            qualified_at = booking["start_at"] + timedelta(hours=1)
            qualified = rng.random() < 0.6
        handoff_rows.append(
            {
                "id": n,
                "conversation_id": n,
                "lead_id": n,
                "reason": "booked" if booking else "no_booking",
                "tier": tier,
                "score": {"A": 70, "B": 40, "C": 10}[tier],
                "status": "contacted" if contacted_at else "waiting",
                "record": record,
                "created_at": created,
                "updated_at": contacted_at or created,
                "contacted_at": contacted_at,
                "contacted_by": contacted_by,
                "owner_id": owner,
                "team": team_of[owner],
                "due_at": due,
                "escalation_level": 0,
                "qualified_at": qualified_at,
                "qualified": qualified,
            }
        )
    await _insert(engine, Lead.__table__, leads_rows)
    await _insert(engine, Conversation.__table__, conv_rows)
    await flush_messages()
    await _insert(engine, HandoffRow.__table__, handoff_rows)
    await _insert(engine, Booking.__table__, booking_rows)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            for table in ("reps", "leads", "conversations", "messages", "handoffs", "bookings"):
                await conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
                    )
                )
    return Filled(
        reps=len(rep_ids),
        leads=conversations,
        conversations=conversations,
        handoffs=handoffs,
        messages=written_messages,
        bookings=len(booking_rows),
    )
