"""What goes into and comes out of one engine turn: events, state, replies and effects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from autoreply.domain.booking import Busy, RepAvailability, SlotRules
from autoreply.domain.calendar import BusinessCalendar
from autoreply.domain.casestudies import CaseLibrary, CaseMatch
from autoreply.domain.promise import Assigned
from autoreply.domain.topics import TopicVocabulary

__all__ = [
    "Book",
    "Cards",
    "CaseCard",
    "CasesSent",
    "Choices",
    "Context",
    "Effect",
    "Ended",
    "Handoff",
    "Inbound",
    "LeadUpdate",
    "OptIn",
    "OptOut",
    "Option",
    "Reply",
    "SlotOption",
    "SlotPicker",
    "State",
    "Text",
    "Turn",
    "cards_of",
    "reply_from_dict",
    "reply_to_dict",
]

EventKind = Literal["start", "text", "choice", "slot", "slot_taken"]
Status = Literal["active", "ended", "opted_out"]


@dataclass(frozen=True)
class Inbound:
    """One thing the lead did, in channel-neutral form."""

    kind: EventKind
    text: str = ""
    value: str | None = None


# -- replies ------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """A plain message."""

    text: str
    kind: Literal["text"] = "text"


@dataclass(frozen=True)
class Option:
    """One tappable answer."""

    label: str
    value: str


@dataclass(frozen=True)
class Choices:
    """A question with tappable answers."""

    text: str
    options: tuple[Option, ...]
    free_text: bool = True
    kind: Literal["choices"] = "choices"


@dataclass(frozen=True)
class CaseCard:
    """One case study as a card."""

    id: str
    title: str
    customer: str
    industry: str
    summary: str
    url: str
    explanation: str


@dataclass(frozen=True)
class Cards:
    """Case-study cards."""

    cards: tuple[CaseCard, ...]
    kind: Literal["cards"] = "cards"


@dataclass(frozen=True)
class SlotOption:
    """One meeting slot the lead can pick."""

    id: str
    start: datetime
    end: datetime
    label: str


@dataclass(frozen=True)
class SlotPicker:
    """Meeting slots to pick from, plus a way to decline."""

    text: str
    slots: tuple[SlotOption, ...]
    decline: Option
    kind: Literal["slots"] = "slots"


Reply = Text | Choices | Cards | SlotPicker


def cards_of(matches: Sequence[CaseMatch], locale: str) -> Cards:
    """Case-study cards for matched cases, each with why it matched (for the rep)."""
    return Cards(
        tuple(
            CaseCard(
                id=m.case.id,
                title=m.case.title,
                customer=m.case.customer,
                industry=m.case.industry,
                summary=m.case.summary,
                url=m.case.url,
                explanation=m.explain(locale),
            )
            for m in matches
        )
    )


def reply_to_dict(reply: Reply) -> dict[str, Any]:
    """A JSON-able form of a reply (datetimes as ISO text); the inverse of ``reply_from_dict``."""
    if isinstance(reply, Text):
        return {"text": reply.text, "kind": reply.kind}
    if isinstance(reply, Choices):
        return {
            "text": reply.text,
            "options": [{"label": o.label, "value": o.value} for o in reply.options],
            "free_text": reply.free_text,
            "kind": reply.kind,
        }
    if isinstance(reply, Cards):
        return {"cards": [c.__dict__.copy() for c in reply.cards], "kind": reply.kind}
    return {
        "text": reply.text,
        "slots": [
            {"id": s.id, "start": s.start.isoformat(), "end": s.end.isoformat(), "label": s.label}
            for s in reply.slots
        ],
        "decline": {"label": reply.decline.label, "value": reply.decline.value},
        "kind": reply.kind,
    }


def reply_from_dict(data: Mapping[str, Any]) -> Reply:
    """The inverse of ``reply_to_dict``."""
    kind = data["kind"]
    if kind == "text":
        return Text(text=data["text"])
    if kind == "choices":
        return Choices(
            text=data["text"],
            free_text=data["free_text"],
            options=tuple(Option(**o) for o in data["options"]),
        )
    if kind == "cards":
        return Cards(cards=tuple(CaseCard(**c) for c in data["cards"]))
    if kind == "slots":
        return SlotPicker(
            text=data["text"],
            decline=Option(**data["decline"]),
            slots=tuple(
                SlotOption(
                    id=s["id"],
                    label=s["label"],
                    start=datetime.fromisoformat(s["start"]),
                    end=datetime.fromisoformat(s["end"]),
                )
                for s in data["slots"]
            ),
        )
    raise ValueError(f"unknown reply kind {kind!r}")


# -- effects ------------------------------------------------------------------------


@dataclass(frozen=True)
class Handoff:
    """Create (or update) the handoff record for a rep."""

    reason: str


@dataclass(frozen=True)
class Book:
    """Hold this slot for the lead (the service holds it or reports it taken); the hold
    becomes a booking with ``Confirm``, once the lead's details are complete."""

    slot_id: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Confirm:
    """Confirm the slot held for the lead: it is now their booking."""

    slot_id: str


@dataclass(frozen=True)
class Release:
    """Free the slot held for the lead (it will not be confirmed)."""


@dataclass(frozen=True)
class OptOut:
    """The lead asked us to stop: send nothing more."""


@dataclass(frozen=True)
class OptIn:
    """A lead who had opted out came back on their own (asked for a person, started over)."""


@dataclass(frozen=True)
class LeadUpdate:
    """Facts about the lead learnt in the conversation (name, company, email, phone)."""

    fields: Mapping[str, str]


@dataclass(frozen=True)
class CasesSent:
    """These case studies were sent."""

    ids: tuple[str, ...]


@dataclass(frozen=True)
class Ended:
    """The conversation reached its end."""


Effect = Handoff | Book | Confirm | Release | OptOut | OptIn | LeadUpdate | CasesSent | Ended


# -- state ----------------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    """A conversation's position and what it collected; stored as JSON between turns."""

    status: Status = "active"
    step: str | None = None
    slots: Mapping[str, Any] = field(default_factory=dict)
    topics: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    points: tuple[tuple[str, int], ...] = ()
    tries: int = 0
    cases_sent: tuple[str, ...] = ()
    offered: tuple[str, ...] = ()
    offer_step: str | None = None
    # slot_id, start, end, status ("held" until confirmed; no status: confirmed, as
    # states written before holds existed)
    booking: Mapping[str, str] | None = None
    handoff: str | None = None
    # a timing reading with two possible meanings, waiting for the lead's confirmation
    confirming: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (shallow: slot values are already plain JSON)."""
        return {
            "status": self.status,
            "step": self.step,
            "slots": dict(self.slots),
            "topics": list(self.topics),
            "tags": list(self.tags),
            "points": [list(p) for p in self.points],
            "tries": self.tries,
            "cases_sent": list(self.cases_sent),
            "offered": list(self.offered),
            "offer_step": self.offer_step,
            "booking": None if self.booking is None else dict(self.booking),
            "handoff": self.handoff,
            "confirming": None if self.confirming is None else dict(self.confirming),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> State:
        """Read back what ``to_dict`` wrote (unknown keys from newer versions are ignored)."""
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("topics", "tags", "cases_sent", "offered"):
            if name in values:
                values[name] = tuple(values[name])
        if "points" in values:
            values["points"] = tuple((str(r), int(p)) for r, p in values["points"])
        return cls(**values)

    def evolve(self, **changes: Any) -> State:
        """A copy with some fields changed."""
        return replace(self, **changes)

    @property
    def held(self) -> bool:
        """Whether a slot is held for the lead but not yet confirmed."""
        return self.booking is not None and self.booking.get("status") == "held"

    @property
    def booked(self) -> bool:
        """Whether the lead has a confirmed booking."""
        return self.booking is not None and self.booking.get("status", "confirmed") == "confirmed"


@dataclass(frozen=True)
class Context:
    """Everything outside the conversation that a turn may look at. ``now`` is an input."""

    now: datetime
    calendar: BusinessCalendar
    library: CaseLibrary
    vocabulary: TopicVocabulary
    channel: str = "web"
    lead: Mapping[str, Any] = field(default_factory=dict)
    source: Mapping[str, Any] = field(default_factory=dict)
    reps: Sequence[RepAvailability] = ()
    busy: Sequence[Busy] = ()
    slot_rules: SlotRules = field(default_factory=SlotRules)
    fiscal_year_start_month: int = 4
    pricing_views: int = 0
    cases_clicked: int = 0
    cases_read: int = 0  # case studies read to the end on our own pages
    return_visits: int = 0  # times the lead came back (see domain.triggers)
    second_form: bool = False  # the lead sent a form before this one
    requested_document: bool = False
    links: Mapping[str, str] = field(default_factory=dict)
    lost_hold: str | None = None  # the slot id of a hold that lapsed and was taken
    # The lead's upcoming meeting booked in another conversation: {"start", "end"}
    lead_booking: Mapping[str, datetime] | None = None
    # The handoff's owner and SLA clock once it is written (the promise may name the owner)
    assigned: Assigned | None = None


@dataclass(frozen=True)
class Turn:
    """The result of one turn."""

    state: State
    replies: tuple[Reply, ...]
    effects: tuple[Effect, ...]
