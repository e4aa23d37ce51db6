"""The dashboard's queries: the handoffs of a date range as flat facts, the leads of the
funnel, and the ``handoff_facts`` rows that cache what is costly to work out per view.

The figures are computed in ``domain/kpis.py``; here the database does the filtering and
joining (indexes on ``handoffs.created_at`` and ``conversations.created_at``), the booking
outcome per handoff (one correlated subquery on ``ix_bookings_conversation_status``) and the
distinct lead counts, and returns narrow rows (no JSON on the hot path).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.store.models import Booking, Conversation, HandoffFact, HandoffRow

__all__ = [
    "BOOKED_STATUSES",
    "dashboard_rows",
    "handoff_teams",
    "lead_counts",
    "save_facts",
    "stale_handoffs",
]

#: A booking counts as a meeting booked once confirmed, whatever became of it later
#: (a hold that was never confirmed ends ``released`` or ``expired`` and does not count).
BOOKED_STATUSES = ("confirmed", "cancelled", "rescheduled")

_CHUNK = 500


def _range(start: datetime, end: datetime) -> Any:
    return and_(HandoffRow.created_at >= start, HandoffRow.created_at < end)


async def stale_handoffs(session: AsyncSession, start: datetime, end: datetime) -> list[Row[Any]]:
    """Handoffs created in ``[start, end)`` whose fact row is missing or out of date (the
    handoff was updated or contacted since): id, created_at, updated_at, contacted_at,
    record, and their conversation's channel, created_at and first_response_at."""
    query = (
        select(
            HandoffRow.id,
            HandoffRow.created_at,
            HandoffRow.updated_at,
            HandoffRow.contacted_at,
            HandoffRow.record,
            Conversation.channel,
            Conversation.created_at.label("started_at"),
            Conversation.first_response_at,
        )
        .join(Conversation, Conversation.id == HandoffRow.conversation_id)
        .outerjoin(HandoffFact, HandoffFact.handoff_id == HandoffRow.id)
        .where(
            _range(start, end),
            or_(
                HandoffFact.handoff_id.is_(None),
                HandoffFact.computed_from != HandoffRow.updated_at,
                HandoffFact.contacted_at.is_distinct_from(HandoffRow.contacted_at),
            ),
        )
    )
    return list((await session.execute(query)).all())


async def save_facts(session: AsyncSession, facts: Sequence[Mapping[str, Any]]) -> None:
    """Insert or replace fact rows (keyed by ``handoff_id``); a concurrent view writing the
    same rows is harmless (the last one wins, with the same values)."""
    if not facts:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    columns = [c.name for c in HandoffFact.__table__.columns if c.name != "handoff_id"]
    for i in range(0, len(facts), _CHUNK):
        statement = insert(HandoffFact).values([dict(f) for f in facts[i : i + _CHUNK]])
        statement = statement.on_conflict_do_update(
            index_elements=["handoff_id"],
            set_={name: getattr(statement.excluded, name) for name in columns},
        )
        await session.execute(statement)


def _booking_state() -> Any:
    """3: a meeting held, 2: a no-show (and none held), 1: booked, 0 or NULL: none."""
    rank = case(
        (Booking.outcome == "held", 3),
        (Booking.outcome == "no_show", 2),
        (or_(Booking.status.in_(BOOKED_STATUSES), Booking.outcome.is_not(None)), 1),
        else_=0,
    )
    return (
        select(func.max(rank))
        .where(Booking.conversation_id == HandoffRow.conversation_id)
        .scalar_subquery()
    )


async def dashboard_rows(
    session: AsyncSession,
    start: datetime,
    end: datetime,
    *,
    channel: str | None = None,
    team: str | None = None,
    rep_id: int | None = None,
    viewer_id: int | None = None,
) -> list[Row[Any]]:
    """One narrow row per handoff created in ``[start, end)`` that has its facts:
    id, week, channel, campaign, team, owner_id, contacted_by, in_hours, bot_seconds,
    contact_seconds, contacted_at, due_at, booking (see ``_booking_state``), qualified_done,
    qualified, cases_sent, cases_opened, pre_meeting_sent, pre_meeting_viewed.

    ``rep_id`` and ``viewer_id`` (a rep who sees only their own) keep the handoffs that rep
    owns or contacted."""
    query = (
        select(
            HandoffRow.id,
            HandoffFact.week,
            HandoffFact.channel,
            HandoffFact.campaign,
            HandoffRow.team,
            HandoffRow.owner_id,
            HandoffRow.contacted_by,
            HandoffFact.in_hours,
            HandoffFact.bot_seconds,
            HandoffFact.contact_seconds,
            HandoffRow.contacted_at,
            HandoffRow.due_at,
            _booking_state().label("booking"),
            HandoffRow.qualified_at.is_not(None).label("qualified_done"),
            HandoffRow.qualified,
            HandoffFact.cases_sent,
            HandoffFact.cases_opened,
            HandoffFact.pre_meeting_sent,
            HandoffFact.pre_meeting_viewed,
        )
        .join(HandoffFact, HandoffFact.handoff_id == HandoffRow.id)
        .where(_range(start, end))
    )
    if channel is not None:
        query = query.where(HandoffFact.channel == channel)
    if team is not None:
        query = query.where(HandoffRow.team == team)
    for rep in (rep_id, viewer_id):
        if rep is not None:
            query = query.where(or_(HandoffRow.owner_id == rep, HandoffRow.contacted_by == rep))
    found: list[Row[Any]] = list((await session.execute(query)).all())  # type: ignore[arg-type]
    return found


async def lead_counts(
    session: AsyncSession, start: datetime, end: datetime, *, channel: str | None = None
) -> tuple[int, dict[tuple[str, str], int]]:
    """Distinct leads who started a conversation (chat, LINE, form) in ``[start, end)``:
    in all, and per (channel, UTM campaign) (a lead may count in several)."""
    campaign = func.coalesce(Conversation.source[("utm", "campaign")].as_string(), literal(""))
    where = [Conversation.created_at >= start, Conversation.created_at < end]
    if channel is not None:
        where.append(Conversation.channel == channel)
    total = await session.scalar(
        select(func.count(func.distinct(Conversation.lead_id))).where(*where)
    )
    grouped = await session.execute(
        select(Conversation.channel, campaign, func.count(func.distinct(Conversation.lead_id)))
        .where(*where)
        .group_by(Conversation.channel, campaign)
    )
    return int(total or 0), {(str(c), str(k or "")): int(n) for c, k, n in grouped.all()}


async def handoff_teams(session: AsyncSession, start: datetime, end: datetime) -> list[str]:
    """The teams handoffs created in ``[start, end)`` were routed to, for the filter."""
    found = await session.scalars(
        select(HandoffRow.team).where(_range(start, end), HandoffRow.team.is_not(None)).distinct()
    )
    return sorted(str(t) for t in found if t)
