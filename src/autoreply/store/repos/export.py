"""The handoffs as the CSV export reads them: one page at a time, in id order.

Only the columns the CSV shows are read, of the handoff's JSON record only its small parts
(timing, challenge, topics, first line, source, first-response time), and no ORM objects
are built; a page's ids are picked first, so the joins run for that page only
(``bench/crm.py`` measured each of these).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from autoreply.store.models import Booking, Conversation, FollowUp, HandoffRow, Lead, Rep

__all__ = ["RECORD_PARTS", "handoff_export_page"]

#: The parts of ``handoffs.record`` the export reads (``record.<part>`` in a row).
RECORD_PARTS = ("timing", "challenge", "topics", "first_line", "source", "first_response_seconds")


async def handoff_export_page(
    session: AsyncSession,
    *,
    status: str,
    channel: str,
    owner_id: int | None,
    after_id: int,
    limit: int,
) -> Sequence[Mapping[str, Any]]:
    """Up to ``limit`` handoffs with an id above ``after_id`` (``all`` for any status or
    channel; ``owner_id`` only that rep's), each a mapping of its values: the handoff's and
    lead's columns, the owner, who contacted and qualified it, the conversation's latest
    meeting (not a lapsed hold) and the number of follow-up tasks (and of open ones)."""
    owner = aliased(Rep)
    contacted = aliased(Rep)
    qualified = aliased(Rep)
    booking_rep = aliased(Rep)
    latest = (
        select(Booking.id)
        .where(
            Booking.conversation_id == HandoffRow.conversation_id,
            Booking.status.not_in(("held", "expired")),
        )
        .order_by(Booking.id.desc())
        .limit(1)
        .correlate(HandoffRow)
        .scalar_subquery()
    )
    tasks = select(func.count()).where(FollowUp.handoff_id == HandoffRow.id)
    h, lead = HandoffRow, Lead
    # The page's ids first (the primary key's order, the filters): the joins and the JSON
    # parts below are computed for these rows only, not for every row after ``after_id``.
    ids = (
        select(h.id)
        .join(Conversation, h.conversation_id == Conversation.id)
        .where(h.id > after_id)
        .order_by(h.id)
        .limit(limit)
    )
    if status != "all":
        ids = ids.where(h.status == status)
    if channel != "all":
        ids = ids.where(Conversation.channel == channel)
    if owner_id is not None:
        ids = ids.where(h.owner_id == owner_id)
    page = ids.subquery()
    # SQLite's json_extract reads a part in C, cheaply; PostgreSQL's json ``->`` parses the
    # whole text again for each part, so there the record is read once and split here.
    parts = session.get_bind().dialect.name == "sqlite"
    record_columns = (
        [h.record[part].label(f"record.{part}") for part in RECORD_PARTS] if parts else [h.record]
    )
    query = (
        select(
            h.id.label("handoff_id"),
            h.created_at,
            h.status,
            h.reason,
            Conversation.channel,
            h.lead_id,
            lead.created_at.label("lead_created_at"),
            lead.name,
            lead.company,
            lead.email,
            lead.phone,
            lead.industry,
            lead.display_name,
            lead.opted_out_at,
            lead.consent_at,
            lead.consent_version,
            owner.name.label("owner"),
            owner.email.label("owner_email"),
            h.team,
            h.due_at,
            h.contacted_at,
            contacted.name.label("contacted_by"),
            h.tier,
            h.score,
            *record_columns,
            Booking.start_at.label("meeting_start"),
            Booking.status.label("meeting_status"),
            Booking.outcome.label("meeting_outcome"),
            booking_rep.name.label("meeting_rep"),
            h.qualified_at,
            qualified.name.label("qualified_by"),
            h.qualification,
            h.qualified,
            tasks.scalar_subquery().label("followups"),
            tasks.where(FollowUp.status == "open").scalar_subquery().label("followups_open"),
        )
        .join(page, page.c.id == h.id)
        .join(Conversation, h.conversation_id == Conversation.id)
        .join(lead, h.lead_id == lead.id)
        .outerjoin(owner, h.owner_id == owner.id)
        .outerjoin(contacted, h.contacted_by == contacted.id)
        .outerjoin(qualified, h.qualified_by == qualified.id)
        .outerjoin(Booking, Booking.id == latest)
        .outerjoin(booking_rep, Booking.rep_id == booking_rep.id)
        .order_by(h.id)
    )
    rows = [dict(row) for row in (await session.execute(query)).mappings()]
    if not parts:
        for row in rows:
            record = row.pop("record") or {}
            row.update({f"record.{part}": record.get(part) for part in RECORD_PARTS})
    return rows
