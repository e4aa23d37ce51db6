"""The handoffs as the CSV export reads them: one page at a time, in id order."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from autoreply.store.models import Booking, Conversation, FollowUp, HandoffRow, Lead, Rep

__all__ = ["ExportRow", "handoff_export_page"]


@dataclass(frozen=True)
class ExportRow:
    """One handoff with everything its CSV row shows."""

    handoff: HandoffRow
    lead: Lead
    channel: str
    owner: Rep | None
    contacted_by: str | None
    qualified_by: str | None
    booking: Booking | None
    booking_rep: str | None
    followups: int
    followups_open: int


async def handoff_export_page(
    session: AsyncSession,
    *,
    status: str,
    channel: str,
    owner_id: int | None,
    after_id: int,
    limit: int,
) -> list[ExportRow]:
    """Up to ``limit`` handoffs with an id above ``after_id`` (``all`` for any status or
    channel; ``owner_id`` only that rep's), with their lead, owner, the conversation's
    latest meeting (not a lapsed hold) and the number of follow-up tasks."""
    owner = aliased(Rep)
    contacted = aliased(Rep)
    qualified = aliased(Rep)
    booking_rep = aliased(Rep)
    latest = (
        select(Booking.id.label("id"))
        .where(
            Booking.conversation_id == HandoffRow.conversation_id,
            Booking.status.not_in(("held", "expired")),
        )
        .order_by(Booking.id.desc())
        .limit(1)
        .correlate(HandoffRow)
        .scalar_subquery()
    )
    followups = select(func.count()).where(FollowUp.handoff_id == HandoffRow.id).scalar_subquery()
    still_open = (
        select(func.count())
        .where(FollowUp.handoff_id == HandoffRow.id, FollowUp.status == "open")
        .scalar_subquery()
    )
    query = (
        select(
            HandoffRow,
            Lead,
            Conversation.channel,
            owner,
            contacted.name,
            qualified.name,
            Booking,
            booking_rep.name,
            followups,
            still_open,
        )
        .join(Conversation, HandoffRow.conversation_id == Conversation.id)
        .join(Lead, HandoffRow.lead_id == Lead.id)
        .outerjoin(owner, HandoffRow.owner_id == owner.id)
        .outerjoin(contacted, HandoffRow.contacted_by == contacted.id)
        .outerjoin(qualified, HandoffRow.qualified_by == qualified.id)
        .outerjoin(Booking, Booking.id == latest)
        .outerjoin(booking_rep, Booking.rep_id == booking_rep.id)
        .where(HandoffRow.id > after_id)
        .order_by(HandoffRow.id)
        .limit(limit)
    )
    if status != "all":
        query = query.where(HandoffRow.status == status)
    if channel != "all":
        query = query.where(Conversation.channel == channel)
    if owner_id is not None:
        query = query.where(HandoffRow.owner_id == owner_id)
    result = await session.execute(query)
    return [
        ExportRow(h, lead, str(ch), o, c, q, b, br, int(n or 0), int(m or 0))
        for h, lead, ch, o, c, q, b, br, n, m in result.all()
    ]
