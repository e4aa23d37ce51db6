"""The CRM side of the use cases: the events of leads and handoffs (queued through
``service.events.emit`` in the caller's transaction), and the handoff CSV export.

Each ``*`` function below is one line at the place where its fact happens (the lead
created or changed, the handoff written, its owner changed, the lead contacted, the
handoff escalated). With no webhook wanting the event type, they return at once: no query.
The ``key`` of each event names the fact, so emitting it twice queues it once.

The export streams: handoffs are read ``PAGE`` at a time in id order (each page its own
short read), so a hundred thousand rows never sit in memory at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autoreply.domain.crm_export import csv_lines, flat_source
from autoreply.errors import BadRequestError
from autoreply.links import absolute_url
from autoreply.service import events
from autoreply.service.content import Content
from autoreply.store import repos
from autoreply.store.models import HandoffRow, Lead, Rep

__all__ = [
    "PAGE",
    "contacted",
    "escalated",
    "export_csv",
    "export_values",
    "handoff_created",
    "lead_seen",
    "lead_updated",
    "owner_changed",
]

PAGE = 1000
STATUSES = ("waiting", "contacted", "all")
CHANNELS = ("web", "line", "form", "email", "cli", "all")


def _wanted(content: Content, event_type: str) -> bool:
    return any(hook.wants(event_type) for hook in content.webhooks)


# -- events ----------------------------------------------------------------------------------


async def lead_seen(
    session: AsyncSession, content: Content, lead: Lead, changed: Sequence[str], now: datetime
) -> None:
    """A lead was found for a chat, a LINE follow or a form: ``lead.created`` if this
    transaction made it (key: the lead's id), else ``lead.updated`` if ``changed``."""
    if lead.created_at != now:
        await lead_updated(session, content, lead, changed, now)
        return
    if not _wanted(content, "lead.created"):
        return
    known = [name for name in repos.LEAD_FIELDS if getattr(lead, name)]
    await events.emit(
        session,
        content,
        "lead.created",
        lead_id=lead.id,
        key=str(lead.id),
        at=now,
        data={"changed": known},
    )


async def lead_updated(
    session: AsyncSession, content: Content, lead: Lead, changed: Sequence[str], now: datetime
) -> None:
    """Facts of the lead changed (name, company, email …): ``lead.updated`` with their
    names (key: the lead, the moment and the fields)."""
    if not changed or not _wanted(content, "lead.updated"):
        return
    names = sorted(set(changed))
    await events.emit(
        session,
        content,
        "lead.updated",
        lead_id=lead.id,
        key=f"{lead.id}:{now.isoformat()}:{','.join(names)}",
        at=now,
        data={"changed": names},
    )


async def handoff_created(
    session: AsyncSession, content: Content, row: HandoffRow, now: datetime
) -> None:
    """A handoff row was first written (with its owner and deadline): ``handoff.created``."""
    if not _wanted(content, "handoff.created"):
        return
    part = await events.handoff_part(session, content, row)
    await events.emit(
        session,
        content,
        "handoff.created",
        lead_id=row.lead_id,
        key=str(row.id),
        at=now,
        data={"handoff": part},
    )


async def owner_changed(
    session: AsyncSession,
    content: Content,
    row: HandoffRow,
    previous_id: int | None,
    by: Rep | None,
    now: datetime,
) -> None:
    """The handoff has a new owner (reassigned, or passed on by an escalation)."""
    if previous_id == row.owner_id or not _wanted(content, "handoff.owner_changed"):
        return
    previous = await repos.get_rep(session, previous_id) if previous_id is not None else None
    await events.emit(
        session,
        content,
        "handoff.owner_changed",
        lead_id=row.lead_id,
        key=f"{row.id}:{row.owner_id}:{now.isoformat()}",
        at=now,
        data={
            "handoff": await events.handoff_part(session, content, row),
            "previous_owner": events.rep_ref(previous),
            "by": events.rep_ref(by),
        },
    )


async def contacted(
    session: AsyncSession,
    content: Content,
    row: HandoffRow,
    by: Rep,
    business_minutes: float | None,
    now: datetime,
) -> None:
    """The lead was first reached on this handoff (the first contact stands: key the id)."""
    if not _wanted(content, "handoff.contacted"):
        return
    await events.emit(
        session,
        content,
        "handoff.contacted",
        lead_id=row.lead_id,
        key=str(row.id),
        at=now,
        data={
            "handoff": await events.handoff_part(session, content, row),
            "by": events.rep_ref(by),
            "business_minutes": business_minutes,
        },
    )


async def escalated(
    session: AsyncSession,
    content: Content,
    row: HandoffRow,
    level: int,
    to: Sequence[Rep],
    now: datetime,
) -> None:
    """A first-contact deadline was missed: level 1 passed to ``to``, level 2 the manager."""
    if not _wanted(content, "handoff.escalated"):
        return
    await events.emit(
        session,
        content,
        "handoff.escalated",
        lead_id=row.lead_id,
        key=f"{row.id}:{level}",
        at=now,
        data={
            "handoff": await events.handoff_part(session, content, row),
            "level": level,
            "to": [events.rep_ref(rep) for rep in to],
        },
    )


# -- the CSV export ------------------------------------------------------------------------


def export_values(found: Mapping[str, Any], content: Content) -> dict[str, Any]:
    """One handoff's CSV values by column key (see ``domain.crm_export.COLUMNS``), from a
    row of ``repos.handoff_export_page``."""
    values = dict(found)
    timing = found["record.timing"] or {}
    values.update(
        {
            "handoff_url": absolute_url(
                content.settings.public_url, f"/rep/handoffs/{found['handoff_id']}"
            ),
            "opted_out": found["opted_out_at"] is not None,
            "bot_first_response_seconds": found["record.first_response_seconds"],
            "timing": timing.get("bucket"),
            "timing_said": timing.get("text") or None,
            "challenge": found["record.challenge"],
            "topics": [str(t) for t in found["record.topics"] or ()],
            "first_line": found["record.first_line"] or None,
            "followups": found["followups"] or 0,
            "followups_open": found["followups_open"] or 0,
        }
    )
    for key, value in flat_source(found["record.source"]).items():
        values[f"source.{key}"] = value
    for key, value in (found["qualification"] or {}).items():
        values[f"qualification.{key}"] = value
    if found["qualified"] is not None and values.get("qualification.qualified") is None:
        values["qualification.qualified"] = found["qualified"]
    return values


def export_csv(
    readers: async_sessionmaker[AsyncSession],
    content: Content,
    *,
    status: str = "all",
    channel: str = "all",
    owner_id: int | None = None,
    page: int = PAGE,
) -> AsyncIterator[str]:
    """The handoffs as CSV text chunks (BOM and header first, then one chunk per page);
    ``owner_id``: only that rep's. The filters are checked now (``BadRequestError``), before
    anything is sent."""
    if status not in STATUSES:
        raise BadRequestError(f"status must be one of {', '.join(STATUSES)}")
    if channel not in CHANNELS:
        raise BadRequestError(f"channel must be one of {', '.join(CHANNELS)}")
    return _chunks(readers, content, status, channel, owner_id, page)


async def _chunks(
    readers: async_sessionmaker[AsyncSession],
    content: Content,
    status: str,
    channel: str,
    owner_id: int | None,
    page: int,
) -> AsyncIterator[str]:
    tz = content.calendar.tz
    yield csv_lines((), tz, first=True)
    after = 0
    while True:
        async with readers() as session:
            found = await repos.handoff_export_page(
                session,
                status=status,
                channel=channel,
                owner_id=owner_id,
                after_id=after,
                limit=page,
            )
            text = csv_lines((export_values(f, content) for f in found), tz, first=False)
        if not found:
            return
        yield text
        after = found[-1]["handoff_id"]
        if len(found) < page:
            return
