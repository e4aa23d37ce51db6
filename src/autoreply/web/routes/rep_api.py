"""The rep JSON API (per-rep API tokens): list handoffs, read one, mark it contacted."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from autoreply.service import reps
from autoreply.store.models import HandoffRow
from autoreply.web.auth import ApiRepDep
from autoreply.web.deps import RowId, RuntimeDep
from autoreply.web.routes.rep_followups import FollowUpItem, handoff_fields

__all__ = ["HandoffDetail", "HandoffItem", "LeadName", "QueueItem", "router"]

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API token, or an unknown / replaced one (`detail` says which)."},
}
router = APIRouter(prefix="/api/rep", tags=["rep"], responses=_ERRORS)
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No handoff with this id."}}


class LeadName(BaseModel):
    """Who the lead is, as far as the bot learnt."""

    name: str | None = None
    company: str | None = None


class HandoffItem(BaseModel):
    """One handoff in the rep's queue."""

    id: int
    tier: str = Field(description="A (call first), B or C")
    score: int
    status: str = Field(description="waiting or contacted")
    channel: str = Field(description="web, line, email or cli")
    reason: str = Field(description="why the bot handed off, e.g. booked, asked_for_human")
    created_at: datetime
    contacted_at: datetime | None
    contacted_by: int | None = Field(description="id of the rep who marked it contacted")
    lead: LeadName
    lead_id: int = Field(description="the lead: one person, however many conversations")
    first_line: str = Field(description="a suggested contextual first line for the call")
    owner_id: int | None = Field(None, description="the rep who owns it (routing, escalation)")
    team: str | None = Field(None, description="the routing team's id")
    routed_by: str | None = Field(None, description="why it went to this team (the rule)")
    due_at: datetime | None = Field(None, description="first-contact deadline (business time)")


class QueueItem(HandoffItem):
    """One lead in the rep's queue: its first handoff in working order."""

    lead_handoffs: int = Field(description="how many handoffs (conversations) the lead has")


class HandoffDetail(HandoffItem):
    """A handoff with its full record (timing, challenge, cases, booking, transcript...)."""

    updated_at: datetime
    record: dict[str, Any] = Field(description="the handoff record; see docs/reps.md")
    lead_handoffs: list[int] = Field(
        description="ids of all the lead's handoffs (this one too), newest first"
    )
    qualification: dict[str, Any] | None = Field(
        None, description="the 0.5次商談's fields (crm_events.QualificationPart), if recorded"
    )
    qualified: bool | None = Field(None, description="商談化: an opportunity (None: undecided)")
    qualified_at: datetime | None = Field(None, description="when the 0.5次商談 was first recorded")
    qualified_by: int | None = Field(None, description="the rep who first recorded it")
    aged_at: datetime | None = Field(None, description="when the tier fell to C (no reaction)")
    follow_ups: list[FollowUpItem] = Field(default_factory=list, description="its tasks")


def _item(row: HandoffRow, channel: str) -> dict[str, Any]:
    record = row.record or {}
    lead = record.get("lead") or {}
    return {
        "id": row.id,
        "tier": row.tier,
        "score": row.score,
        "status": row.status,
        "channel": channel,
        "reason": row.reason,
        "created_at": row.created_at,
        "contacted_at": row.contacted_at,
        "contacted_by": row.contacted_by,
        "lead": {"name": lead.get("name"), "company": lead.get("company")},
        "lead_id": row.lead_id,
        "first_line": str(record.get("first_line") or ""),
        "owner_id": row.owner_id,
        "team": row.team,
        "routed_by": row.routed_by,
        "due_at": row.due_at,
    }


@router.get(
    "/handoffs",
    summary="The handoff queue, one entry per lead: Tier A first, then newest",
    response_model=list[QueueItem],
)
async def list_handoffs(
    runtime: RuntimeDep,
    rep: ApiRepDep,
    status: Annotated[reps.Status, Query(description="which handoffs")] = "waiting",
    channel: Annotated[reps.Channel, Query(description="only this channel")] = "all",
    q: Annotated[
        str,
        Query(
            max_length=reps.SEARCH_MAX,
            description="search: name, company, email, LINE name, challenge, the lead's words",
        ),
    ] = "",
) -> list[QueueItem]:
    """Leads waiting for (or already given) a first human contact, in working order: each
    with its first handoff (the others are on ``/api/rep/handoffs/{id}`` as ``lead_handoffs``
    ids) and how many it has."""
    async with runtime.sessions() as session:
        rows = await reps.list_handoffs(
            session, status=status, channel=channel, q=q, now=runtime.content.clock.now()
        )
    return [
        QueueItem.model_validate({**_item(e.row, e.channel), "lead_handoffs": e.lead_handoffs})
        for e in rows
    ]


@router.get(
    "/handoffs/{handoff_id}",
    summary="One handoff with its full record",
    response_model=HandoffDetail,
    responses=_NOT_FOUND,
)
async def get_handoff(handoff_id: RowId, runtime: RuntimeDep, rep: ApiRepDep) -> HandoffDetail:
    """Everything the rep page shows, as JSON (with the lead's other handoffs' ids)."""
    async with runtime.sessions() as session:
        row, channel = await reps.get_handoff(session, handoff_id)
        history = await reps.lead_history(session, row.lead_id)
        follow_ups = await handoff_fields(session, runtime, row)
    return HandoffDetail.model_validate(
        {
            **_item(row, channel),
            "updated_at": row.updated_at,
            "record": row.record,
            "lead_handoffs": [h.id for h, _ in history.handoffs],
            **follow_ups,
        }
    )


@router.post(
    "/handoffs/{handoff_id}/contacted",
    summary="Record that the lead was contacted (by the token's rep, now)",
    response_model=HandoffItem,
    responses=_NOT_FOUND,
)
async def mark_contacted(handoff_id: RowId, runtime: RuntimeDep, rep: ApiRepDep) -> HandoffItem:
    """Sets status 'contacted', the time and the rep; a second call keeps the first contact."""
    async with runtime.sessions() as session, session.begin():
        await reps.mark_contacted(
            session, handoff_id, rep, runtime.content.clock.now(), runtime.owners
        )
    async with runtime.sessions() as session:
        row, channel = await reps.get_handoff(session, handoff_id)
    return HandoffItem.model_validate(_item(row, channel))
