"""The events the product sends to a CRM (signed webhooks): their names and their shapes.

Each event is an envelope (``Event``): a stable ``id`` (a UUID derived from what happened,
so a redelivered or re-emitted event carries the same id), its ``type``, when it happened,
the lead as it was at that moment, and ``data`` whose shape depends on the type
(``DATA[type]``). The models are the contract: ``docs/crm/<type>.schema.json`` is generated
from them, and every event is checked against them before it is queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DATA",
    "EVENT_TYPES",
    "Event",
    "HandoffPart",
    "LeadPart",
    "MeetingPart",
    "QualificationPart",
    "RepRef",
    "TaskPart",
    "Webhook",
]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RepRef(_Part):
    """A rep as the CRM matches users: by email."""

    id: int
    name: str
    email: str


class LeadPart(_Part):
    """The lead at the moment of the event."""

    id: int
    name: str | None = None
    company: str | None = None
    email: str | None = None
    phone: str | None = None
    industry: str | None = None
    display_name: str | None = Field(None, description="The LINE display name, if any.")
    line_user_id: str | None = None
    owner: RepRef | None = None
    team: str | None = None
    opted_out: bool = False
    consent_at: str | None = Field(None, description="When the privacy notice was agreed (ISO).")
    consent_version: str | None = None
    created_at: str


class HandoffPart(_Part):
    """A handoff: the record a rep opens, with its owner and deadline."""

    id: int
    url: str = Field(description="The handoff's page for reps.")
    reason: str
    channel: str
    status: str = Field(description="waiting or contacted.")
    tier: Literal["A", "B", "C"]
    score: int
    timing: str | None = Field(None, description="導入時期: the reading, e.g. within_1_month.")
    timing_said: str | None = Field(None, description="導入時期 in the lead's own words.")
    challenge: str | None = Field(None, description="課題 in the lead's words.")
    topics: list[str] = Field(default_factory=list)
    first_line: str | None = None
    source: dict[str, str] = Field(
        default_factory=dict, description="Where the lead came from: page, utm_source…"
    )
    bot_first_response_seconds: float | None = None
    owner: RepRef | None = None
    team: str | None = None
    due_at: str | None = Field(None, description="First-contact deadline (ISO, business time).")
    created_at: str
    contacted_at: str | None = None


class MeetingPart(_Part):
    """A meeting: ``uid`` is the calendar invite's, kept across reschedules."""

    id: int
    uid: str
    sequence: int
    start: str
    end: str
    status: str = Field(description="confirmed, rescheduled, cancelled.")
    outcome: Literal["held", "no_show"] | None = None
    rep: RepRef | None = None
    previous_start: str | None = Field(None, description="Set when the meeting was moved.")


class QualificationPart(_Part):
    """The 0.5次商談's fields (what the CRM's opportunity needs)."""

    challenge: str | None = Field(None, description="課題")
    decision_maker: str | None = Field(None, description="意思決定者")
    timeline: str | None = Field(None, description="検討時期")
    budget: str | None = Field(None, description="予算感")
    concerns: str | None = Field(None, description="懸念点")
    next_action: str | None = Field(None, description="次アクション")
    next_action_due: str | None = Field(None, description="次アクションの期日 (ISO date).")
    qualified: bool | None = Field(None, description="商談化: a real opportunity or not.")
    note: str | None = None


class TaskPart(_Part):
    """A follow-up task (二次架電, 資料送付, リマインドメール, フォローコール予定)."""

    id: int
    kind: str
    label: str
    due_at: str
    status: str
    rule: str | None = None
    owner: RepRef | None = None


# -- data of each event type ---------------------------------------------------------------


class LeadData(_Part):
    changed: list[str] = Field(default_factory=list, description="Fields that changed.")


class HandoffData(_Part):
    handoff: HandoffPart


class OwnerChangedData(_Part):
    handoff: HandoffPart
    previous_owner: RepRef | None = None
    by: RepRef | None = Field(None, description="Who reassigned it (none: the routing rules).")


class ContactedData(_Part):
    handoff: HandoffPart
    by: RepRef | None = None
    business_minutes: float | None = Field(
        None, description="From the handoff to the first contact, in business minutes."
    )


class EscalatedData(_Part):
    handoff: HandoffPart
    level: int
    to: list[RepRef] = Field(default_factory=list)


class MeetingData(_Part):
    handoff_id: int | None = None
    meeting: MeetingPart


class QualificationData(_Part):
    handoff: HandoffPart
    qualification: QualificationPart
    by: RepRef | None = None


class TaskData(_Part):
    handoff_id: int
    task: TaskPart


DATA: dict[str, type[BaseModel]] = {
    "lead.created": LeadData,
    "lead.updated": LeadData,
    "handoff.created": HandoffData,
    "handoff.owner_changed": OwnerChangedData,
    "handoff.contacted": ContactedData,
    "handoff.escalated": EscalatedData,
    "meeting.booked": MeetingData,
    "meeting.rescheduled": MeetingData,
    "meeting.cancelled": MeetingData,
    "meeting.held": MeetingData,
    "meeting.no_show": MeetingData,
    "qualification.done": QualificationData,
    "followup.due": TaskData,
}
EVENT_TYPES = tuple(DATA)


class Event(_Part):
    """The envelope every webhook body is."""

    id: str = Field(description="Stable per event: a redelivery carries the same id.")
    type: str
    occurred_at: str
    lead: LeadPart
    data: dict[str, object]


@dataclass(frozen=True)
class Webhook:
    """One CRM endpoint: where events go, the secret they are signed with, and which
    event types it wants (None: all)."""

    name: str
    url: str
    secret: str
    events: frozenset[str] | None = None

    def wants(self, event_type: str) -> bool:
        return self.events is None or event_type in self.events
