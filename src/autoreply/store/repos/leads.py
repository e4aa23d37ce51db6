"""Leads and their channel identities: find, create, merge, update."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.store.models import Booking, Conversation, HandoffRow, Lead, LeadIdentity, OutboxRow

__all__ = [
    "LEAD_FIELDS",
    "add_identity",
    "current_lead",
    "get_lead",
    "identities_of",
    "lead_of_identity",
    "resolve_lead",
    "update_lead",
]

LEAD_FIELDS = ("name", "company", "email", "phone", "display_name", "industry")


async def resolve_lead(
    session: AsyncSession,
    identities: Sequence[tuple[str, str]],
    now: datetime,
    facts: Mapping[str, Any] | None = None,
) -> Lead:
    """The one lead these channel identities belong to, created or merged as needed.

    A lead first seen in the web chat and later by email address is one lead: every
    identity given is attached to it. If the identities already belonged to different
    leads, the newer leads are merged into the oldest one (their conversations,
    handoffs, bookings and identities move; the merged rows keep a pointer).

    Two transactions may see the same new identity at once (two workers handling a new
    LINE user's first events, a double-clicked form): the second one's insert meets the
    unique constraint. That attempt is undone in its savepoint and the identities are
    read again, now finding the lead the first transaction made: never an error.
    """
    if not identities:
        raise ValueError("a lead needs at least one identity")
    tries = RESOLVE_TRIES
    while True:
        tries -= 1
        try:
            async with session.begin_nested():
                lead = await _resolve(session, identities, now)
        except IntegrityError:
            if not tries:
                raise
            continue
        if facts:
            update_lead(lead, facts, now)
        return lead


RESOLVE_TRIES = 3  # a race for an identity is lost once; a third try is to spare


async def _resolve(
    session: AsyncSession, identities: Sequence[tuple[str, str]], now: datetime
) -> Lead:
    owners = {
        (channel, external_id): await lead_of_identity(session, channel, external_id)
        for channel, external_id in identities
    }
    found = await _leads_for(session, owners.values())
    if found:
        lead = found[0]
        for other in found[1:]:
            await _merge(session, other, lead, now)
    else:
        lead = Lead(created_at=now, updated_at=now)
        session.add(lead)
        await session.flush()
    for (channel, external_id), owner in owners.items():
        if owner is None:  # new to us: no need to ask again who has it
            _attach(session, lead, channel, external_id, now)
        else:
            await add_identity(session, lead, channel, external_id, now)
    return lead


async def lead_of_identity(session: AsyncSession, channel: str, external_id: str) -> int | None:
    """The id of the lead an identity belongs to, if any (it may have been merged since)."""
    return await session.scalar(
        select(LeadIdentity.lead_id).where(
            LeadIdentity.channel == channel, LeadIdentity.external_id == external_id
        )
    )


def _attach(
    session: AsyncSession, lead: Lead, channel: str, external_id: str, now: datetime
) -> None:
    session.add(
        LeadIdentity(lead_id=lead.id, channel=channel, external_id=external_id, created_at=now)
    )


async def _leads_for(session: AsyncSession, owners: Iterable[int | None]) -> list[Lead]:
    ids = list(dict.fromkeys(o for o in owners if o is not None))
    leads = []
    for lead_id in sorted(ids):
        lead = await session.get(Lead, lead_id, with_for_update=True)
        while lead is not None and lead.merged_into_id is not None:
            lead = await session.get(Lead, lead.merged_into_id)
        if lead is not None and lead not in leads:
            leads.append(lead)
    return sorted(leads, key=lambda lead: lead.id)


async def add_identity(
    session: AsyncSession, lead: Lead, channel: str, external_id: str, now: datetime
) -> Lead:
    """Attach an identity to a lead; if another lead has it, merge that lead into this one."""
    owner_id = await lead_of_identity(session, channel, external_id)
    if owner_id == lead.id:
        return lead
    if owner_id is not None:
        other = await session.get(Lead, owner_id)
        if other is not None:
            keep, gone = (lead, other) if lead.id < other.id else (other, lead)
            await _merge(session, gone, keep, now)
            return keep
    _attach(session, lead, channel, external_id, now)
    await session.flush()
    return lead


async def _merge(session: AsyncSession, gone: Lead, keep: Lead, now: datetime) -> None:
    for table in (LeadIdentity, Conversation, HandoffRow, Booking):
        await session.execute(update(table).where(table.lead_id == gone.id).values(lead_id=keep.id))
    await session.execute(
        update(OutboxRow).where(OutboxRow.lead_id == gone.id).values(lead_id=keep.id)
    )
    for name in LEAD_FIELDS:
        if getattr(keep, name) is None and getattr(gone, name) is not None:
            setattr(keep, name, getattr(gone, name))
    keep.opted_out_at = keep.opted_out_at or gone.opted_out_at
    gone.merged_into_id = keep.id
    gone.updated_at = keep.updated_at = now
    await session.flush()
    await session.refresh(keep, ["identities"])


def update_lead(lead: Lead, facts: Mapping[str, Any], now: datetime) -> list[str]:
    """Fill in what we learnt about the lead (never blanks out a known value); the names
    of the fields whose value changed."""
    changed = []
    for name in LEAD_FIELDS:
        value = facts.get(name)
        if value:
            if getattr(lead, name) != str(value):
                changed.append(name)
            setattr(lead, name, str(value))
    lead.updated_at = now
    return changed


async def get_lead(session: AsyncSession, lead_id: int) -> Lead | None:
    """A lead by id, or the lead it was merged into; None if there is none."""
    lead = await session.get(Lead, lead_id)
    return None if lead is None else await current_lead(session, lead)


async def current_lead(session: AsyncSession, lead: Lead) -> Lead:
    """The lead itself, or the one it was merged into."""
    while lead.merged_into_id is not None:
        merged = await session.get(Lead, lead.merged_into_id)
        if merged is None:  # pragma: no cover - foreign keys forbid it
            break
        lead = merged
    return lead


async def identities_of(session: AsyncSession, lead: Lead) -> list[LeadIdentity]:
    """A lead's identities, oldest first."""
    rows = await session.scalars(
        select(LeadIdentity).where(LeadIdentity.lead_id == lead.id).order_by(LeadIdentity.id)
    )
    return list(rows)
