"""Events for the CRM: written in the transaction of what happened, sent by the outbox.

``emit`` builds the envelope (``domain.crm_events.Event``), checks it against its type's
model, and queues one outbox row per configured webhook (``Content.webhooks``) on the
channel ``crm``: recipient ``<webhook>:lead:<id>``, so that one lead's events reach each
endpoint in order; dedupe key ``crm:<webhook>:<event id>``, so an event emitted twice is
queued once. The event id is a UUID derived from the type and ``key`` (what happened,
e.g. the handoff's id), so the same fact always has the same id and a retry carries it.

The ``*_part`` helpers turn rows into the event's parts; use cases call
``await emit(session, content, "meeting.held", lead_id=..., key=..., at=now, data={...})``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.domain.crm_events import DATA, Event, LeadPart, Webhook
from autoreply.domain.crm_export import flat_source
from autoreply.links import absolute_url
from autoreply.service.content import Content
from autoreply.store import repos
from autoreply.store.models import Booking, FollowUp, HandoffRow, Lead, Rep

__all__ = [
    "CHANNEL",
    "emit",
    "event_id",
    "handoff_part",
    "lead_part",
    "meeting_part",
    "rep_ref",
    "task_part",
]

CHANNEL = "crm"
_NAMESPACE = uuid.UUID("6f3a1c52-9d0e-4b7a-8a55-1e2f3c4d5e6f")


def event_id(event_type: str, key: str) -> str:
    """The stable id of one event: the same type and key give the same id."""
    return str(uuid.uuid5(_NAMESPACE, f"{event_type}:{key}"))


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def rep_ref(rep: Rep | None) -> dict[str, Any] | None:
    if rep is None:
        return None
    return {"id": rep.id, "name": rep.name, "email": rep.email}


async def _rep(session: AsyncSession, rep_id: int | None) -> Rep | None:
    return await repos.get_rep(session, rep_id) if rep_id is not None else None


async def lead_part(session: AsyncSession, lead: Lead) -> dict[str, Any]:
    """The lead as the event carries it (its owner, its LINE user id if any)."""
    line_user = next(
        (i.external_id for i in await repos.identities_of(session, lead) if i.channel == "line"),
        None,
    )
    return {
        "id": lead.id,
        "name": lead.name,
        "company": lead.company,
        "email": lead.email,
        "phone": lead.phone,
        "industry": lead.industry,
        "display_name": lead.display_name,
        "line_user_id": line_user,
        "owner": rep_ref(await _rep(session, lead.owner_id)),
        "team": lead.team,
        "opted_out": lead.opted_out_at is not None,
        "consent_at": _iso(lead.consent_at),
        "consent_version": lead.consent_version,
        "created_at": lead.created_at.isoformat(),
    }


async def handoff_part(session: AsyncSession, content: Content, row: HandoffRow) -> dict[str, Any]:
    """The handoff as events carry it."""
    record: Mapping[str, Any] = row.record or {}
    timing = record.get("timing") or {}
    source = flat_source(record.get("source"))  # page, utm_source …, form_id
    return {
        "id": row.id,
        "url": absolute_url(content.settings.public_url, f"/rep/handoffs/{row.id}"),
        "reason": row.reason,
        "channel": str(record.get("channel") or ""),
        "status": row.status,
        "tier": row.tier,
        "score": row.score,
        "timing": timing.get("bucket"),
        "timing_said": timing.get("text") or None,
        "challenge": record.get("challenge"),
        "topics": [str(t) for t in record.get("topics") or ()],
        "first_line": record.get("first_line") or None,
        "source": source,
        "bot_first_response_seconds": record.get("first_response_seconds"),
        "owner": rep_ref(await _rep(session, row.owner_id)),
        "team": row.team,
        "due_at": _iso(row.due_at),
        "created_at": row.created_at.isoformat(),
        "contacted_at": _iso(row.contacted_at),
    }


def meeting_part(
    booking: Booking, rep: Rep | None, uid: str, previous_start: datetime | None = None
) -> dict[str, Any]:
    """A booking as events carry it; ``uid`` is its calendar invite's UID."""
    return {
        "id": booking.id,
        "uid": uid,
        "sequence": booking.sequence,
        "start": booking.start_at.isoformat(),
        "end": booking.end_at.isoformat(),
        "status": booking.status,
        "outcome": booking.outcome,
        "rep": rep_ref(rep),
        "previous_start": _iso(previous_start),
    }


def task_part(task: FollowUp, label: str, owner: Rep | None) -> dict[str, Any]:
    """A follow-up task as events carry it; ``label`` is its kind as people read it."""
    return {
        "id": task.id,
        "kind": task.kind,
        "label": label,
        "due_at": task.due_at.isoformat(),
        "status": task.status,
        "rule": task.rule,
        "owner": rep_ref(owner),
    }


def _wanting(webhooks: tuple[Webhook, ...], event_type: str) -> list[Webhook]:
    return [w for w in webhooks if w.wants(event_type)]


async def emit(
    session: AsyncSession,
    content: Content,
    event_type: str,
    *,
    lead_id: int,
    key: str,
    at: datetime,
    data: Mapping[str, Any],
) -> str | None:
    """Queue one event for every webhook that wants it; returns its id (None: no webhook
    wants it, nothing queued). ``key`` names what happened (the same key, the same event)."""
    if event_type not in DATA:
        raise ValueError(f"unknown event type {event_type!r}")
    hooks = _wanting(content.webhooks, event_type)
    if not hooks:
        return None
    lead = await repos.get_lead(session, lead_id)
    if lead is None:
        raise ValueError(f"no lead {lead_id}")
    lead = await repos.current_lead(session, lead)
    the_id = event_id(event_type, key)
    checked = DATA[event_type].model_validate(dict(data))
    event = Event(
        id=the_id,
        type=event_type,
        occurred_at=at.isoformat(),
        lead=LeadPart.model_validate(await lead_part(session, lead)),
        data=checked.model_dump(mode="json"),
    )
    body = event.model_dump(mode="json")
    for hook in hooks:
        await repos.enqueue(
            session,
            channel=CHANNEL,
            kind=event_type,
            recipient=f"{hook.name}:lead:{lead.id}",
            payload={"webhook": hook.name, "event": body},
            dedupe_key=f"crm:{hook.name}:{the_id}",
            now=at,
            lead_id=lead.id,
        )
    return the_id
