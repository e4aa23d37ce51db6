"""The dashboard's queries: the handoffs of a date range as flat facts, the leads of the
funnel, and the ``handoff_facts`` rows that cache what is costly to work out per view.

The figures are computed in ``domain/kpis.py``; here the database does the filtering and
joining (covering indexes of the date range), the booking outcomes of the range's
conversations (``ix_bookings_dashboard``) and the distinct lead counts, and returns narrow
rows (no JSON on the hot path).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, and_, case, delete, func, or_, select, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.store.models import Booking, Conversation, HandoffFact, HandoffRow

__all__ = [
    "BOOKED_STATUSES",
    "booking_states",
    "dashboard_rows",
    "delete_facts",
    "handoff_teams",
    "handoffs_for_facts",
    "lead_counts",
    "save_facts",
    "stale_facts",
]

#: A booking counts as a meeting booked once confirmed, whatever became of it later
#: (a hold that was never confirmed ends ``released`` or ``expired`` and does not count).
BOOKED_STATUSES = ("confirmed", "cancelled", "rescheduled")

_CHUNK = 500


def _range(start: datetime, end: datetime) -> Any:
    return and_(HandoffRow.created_at >= start, HandoffRow.created_at < end)


async def stale_facts(
    session: AsyncSession, start: datetime, end: datetime
) -> tuple[list[int], list[int]]:
    """The handoffs created in ``[start, end)`` whose fact row is missing or out of date
    (updated, contacted or qualified since; read from ``ix_handoffs_dashboard`` alone), and
    the fact rows of that range whose handoff is gone (deleted). The second is looked
    for only when the counts say there is one (more facts than handoffs that have one)."""
    connection = await session.connection()
    stale = (
        await connection.execute(
            select(HandoffRow.id, HandoffFact.handoff_id.is_(None))
            .outerjoin(HandoffFact, HandoffFact.handoff_id == HandoffRow.id)
            .where(
                _range(start, end),
                or_(
                    HandoffFact.handoff_id.is_(None),
                    HandoffFact.computed_from != HandoffRow.updated_at,
                    HandoffFact.contacted_at.is_distinct_from(HandoffRow.contacted_at),
                    HandoffFact.qualified_at.is_distinct_from(HandoffRow.qualified_at),
                    HandoffFact.qualified.is_distinct_from(HandoffRow.qualified),
                ),
            )
        )
    ).all()
    missing = sum(1 for _, absent in stale if absent)
    in_range = HandoffFact.created_at >= start, HandoffFact.created_at < end
    handoffs = await session.scalar(select(func.count()).where(_range(start, end)))
    facts = await session.scalar(select(func.count()).where(*in_range))
    gone: list[int] = []
    if (facts or 0) > (handoffs or 0) - missing:
        found = await session.scalars(
            select(HandoffFact.handoff_id).where(
                *in_range,
                ~select(HandoffRow.id).where(HandoffRow.id == HandoffFact.handoff_id).exists(),
            )
        )
        gone = list(found)
    return [int(i) for i, _ in stale], gone


async def handoffs_for_facts(session: AsyncSession, ids: Sequence[int]) -> list[Row[Any]]:
    """What a fact row is computed from, for the handoffs ``ids``: the handoff's columns
    and record, and its conversation's channel, start (``started_at``) and
    ``first_response_at``."""
    found: list[Row[Any]] = []
    for i in range(0, len(ids), _CHUNK):
        query = (
            select(
                HandoffRow.id,
                HandoffRow.conversation_id,
                HandoffRow.created_at,
                HandoffRow.updated_at,
                HandoffRow.contacted_at,
                HandoffRow.contacted_by,
                HandoffRow.owner_id,
                HandoffRow.team,
                HandoffRow.due_at,
                HandoffRow.qualified_at,
                HandoffRow.qualified,
                HandoffRow.record,
                Conversation.channel,
                Conversation.created_at.label("started_at"),
                Conversation.first_response_at,
            )
            .join(Conversation, Conversation.id == HandoffRow.conversation_id)
            .where(HandoffRow.id.in_(ids[i : i + _CHUNK]))
        )
        result: Any = await session.execute(query)
        found.extend(result.all())
    return found


async def delete_facts(session: AsyncSession, ids: Sequence[int]) -> None:
    """Forget the fact rows of handoffs that are gone."""
    for i in range(0, len(ids), _CHUNK):
        await session.execute(
            delete(HandoffFact).where(HandoffFact.handoff_id.in_(ids[i : i + _CHUNK]))
        )


async def save_facts(session: AsyncSession, facts: Sequence[Mapping[str, Any]]) -> None:
    """Insert or replace fact rows (keyed by ``handoff_id``); a concurrent view writing the
    same rows is harmless (the last one wins, with the same values)."""
    if not facts:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    columns = [c.name for c in HandoffFact.__table__.columns if c.name != "handoff_id"]
    statement = insert(HandoffFact)
    statement = statement.on_conflict_do_update(
        index_elements=["handoff_id"],
        set_={name: getattr(statement.excluded, name) for name in columns},
    )
    for i in range(0, len(facts), _CHUNK):  # executemany: one statement, compiled once
        await session.execute(statement, [dict(f) for f in facts[i : i + _CHUNK]])


async def booking_states(session: AsyncSession, low: int, high: int) -> dict[int, int]:
    """Conversation id -> what became of its bookings, for the conversations ``low`` to
    ``high`` (read from ``ix_bookings_dashboard`` alone): 3 a meeting held, 2 a no-show
    (and none held), 1 booked, 0 none that counts."""
    rank = case(
        (Booking.outcome == "held", 3),
        (Booking.outcome == "no_show", 2),
        (or_(Booking.status.in_(BOOKED_STATUSES), Booking.outcome.is_not(None)), 1),
        else_=0,
    )
    connection = await session.connection()
    found = await connection.execute(
        select(Booking.conversation_id, func.max(rank))
        .where(Booking.conversation_id >= low, Booking.conversation_id <= high)
        .group_by(Booking.conversation_id)
    )
    return {c: r or 0 for c, r in found.all()}


async def dashboard_rows(
    session: AsyncSession,
    start: datetime,
    end: datetime,
    now: datetime,
    *,
    channel: str | None = None,
    team: str | None = None,
    rep_id: int | None = None,
    viewer_id: int | None = None,
) -> list[Row[Any]]:
    """One narrow row per handoff created in ``[start, end)`` (from ``handoff_facts``
    alone, brought up to date first), no datetimes to parse (the week is ISO text on
    SQLite, a date on PostgreSQL; flags are 0/1 or booleans): handoff_id, week, channel,
    campaign, team, owner_id, contacted_by, in_hours, bot_seconds, contact_seconds, sla
    (1 met, 0 missed, NULL no deadline or still running at ``now``), booking (see
    ``_booking_state``), qualified_done (1/0), qualified, cases_sent, cases_opened,
    pre_meeting_sent, pre_meeting_viewed.

    ``rep_id`` and ``viewer_id`` (a rep who sees only their own) keep the handoffs that rep
    owns or contacted."""
    f = HandoffFact
    query = select(
        f.handoff_id,
        type_coerce(f.week, String).label("week"),  # SQLite: the ISO text, not parsed here
        f.channel,
        f.campaign,
        f.team,
        f.owner_id,
        f.contacted_by,
        type_coerce(f.in_hours, Integer).label("in_hours"),
        f.bot_seconds,
        f.contact_seconds,
        case(
            (f.due_at.is_(None), None),
            (f.contacted_at.is_not(None), case((f.contacted_at <= f.due_at, 1), else_=0)),
            (f.due_at < now, 0),
            else_=None,
        ).label("sla"),
        f.conversation_id,
        case((f.qualified_at.is_not(None), 1), else_=0).label("qualified_done"),
        type_coerce(f.qualified, Integer).label("qualified"),
        f.cases_sent,
        f.cases_opened,
        type_coerce(f.pre_meeting_sent, Integer).label("pre_meeting_sent"),
        type_coerce(f.pre_meeting_viewed, Integer).label("pre_meeting_viewed"),
    ).where(f.created_at >= start, f.created_at < end)
    if channel is not None:
        query = query.where(f.channel == channel)
    if team is not None:
        query = query.where(f.team == team)
    for rep in (rep_id, viewer_id):
        if rep is not None:
            query = query.where(or_(f.owner_id == rep, f.contacted_by == rep))
    connection = await session.connection()  # Core rows: no ORM loading for thousands
    result: Any = await connection.execute(query)
    return list(result.all())


async def lead_counts(
    session: AsyncSession, start: datetime, end: datetime, *, channel: str | None = None
) -> tuple[int, dict[str, int]]:
    """Distinct leads who started a conversation (chat, LINE, form, email) in
    ``[start, end)``: in all, and per channel (read from ``ix_conversations_dashboard``
    alone)."""
    where = [Conversation.created_at >= start, Conversation.created_at < end]
    if channel is not None:
        where.append(Conversation.channel == channel)
    total = await session.scalar(
        select(func.count(func.distinct(Conversation.lead_id))).where(*where)
    )
    grouped = await session.execute(
        select(Conversation.channel, func.count(func.distinct(Conversation.lead_id)))
        .where(*where)
        .group_by(Conversation.channel)
    )
    return int(total or 0), {str(c): int(n) for c, n in grouped.all()}


async def handoff_teams(session: AsyncSession, start: datetime, end: datetime) -> list[str]:
    """The teams handoffs created in ``[start, end)`` were routed to, for the filter."""
    found = await session.scalars(
        select(HandoffFact.team)
        .where(
            HandoffFact.created_at >= start,
            HandoffFact.created_at < end,
            HandoffFact.team.is_not(None),
        )
        .distinct()
    )
    return sorted(str(t) for t in found if t)
