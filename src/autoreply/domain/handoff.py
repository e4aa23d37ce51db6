"""The handoff record: everything a rep needs to open the next business day's call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

from autoreply.domain.scoring import Score
from autoreply.domain.timing import Timing
from autoreply.domain.triggers import Trigger

__all__ = [
    "Activity",
    "HandoffRecord",
    "Said",
    "TranscriptLine",
    "Who",
    "build_handoff",
    "case_clicks",
    "case_views",
]


def case_clicks(source: Mapping[str, Any]) -> dict[str, str]:
    """Case id -> when the lead first clicked its tracked link (ISO), from a conversation's source.

    A click is only a click: the page it leads to may have failed to load. Clicks stored
    before their times were kept (as ``cases_opened``) have the time ``""``.
    """
    clicks = {str(case_id): "" for case_id in source.get("cases_opened", [])}
    clicks.update(source.get("case_clicks", {}))
    return clicks


def case_views(source: Mapping[str, Any]) -> dict[str, str]:
    """Case id -> when one of our own case pages was served to the lead after the click (ISO)."""
    return dict(source.get("case_views", {}))


@dataclass(frozen=True)
class TranscriptLine:
    """One message as the rep reads it."""

    direction: str  # "in" (the lead) or "out" (the bot)
    text: str
    at: str  # ISO time


@dataclass(frozen=True)
class HandoffRecord:
    """What the rep sees. Built from data only; the first line is rendered by a template."""

    reason: str
    channel: str
    lead: Mapping[str, Any]
    identities: Sequence[tuple[str, str]]
    source: Mapping[str, Any]
    asked_for: str | None
    timing: Mapping[str, Any] | None
    challenge: str | None
    topics: Sequence[str]
    cases_sent: Sequence[Mapping[str, Any]]
    #: Case id -> first click on its link (ISO): the lead clicked; the page may not have loaded.
    cases_clicked: Mapping[str, str]
    #: Case id -> when our own case page was served after the click: the lead saw it.
    cases_viewed: Mapping[str, str]
    booking: Mapping[str, Any] | None
    tier: str
    score: int
    reasons: Sequence[Mapping[str, Any]]
    tags: Sequence[str]
    slots: Mapping[str, Any]
    first_response_seconds: float | None
    transcript: Sequence[TranscriptLine]
    opted_out: bool = False
    first_line: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: The pre-meeting email (0.5次商談): {"scheduled_at", "sent_at"} (ISO), if a meeting has one.
    pre_meeting: Mapping[str, Any] | None = None
    #: Our mail to the lead bounced for good: {"at", "error"}.
    email_problem: Mapping[str, Any] | None = None
    #: Case id -> when the lead read our own case page to the end (its page reported it).
    cases_read: Mapping[str, str] = field(default_factory=dict)
    #: What the lead did that raised the score, oldest first: {"code", "at" (ISO), "detail"}
    #: (see ``domain.triggers``).
    triggers: Sequence[Mapping[str, str]] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (for the database and the JSON API).

        Shallow on purpose: the fields already hold plain JSON values, and a deep copy of
        the transcript on every turn was a measurable share of a bot reply (bench/).
        """
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["identities"] = [list(i) for i in self.identities]
        data["triggers"] = [dict(t) for t in self.triggers]
        data["transcript"] = [
            {"direction": t.direction, "text": t.text, "at": t.at} for t in self.transcript
        ]
        return data

    def with_first_line(self, line: str) -> HandoffRecord:
        """The same record with its rendered first line."""
        return HandoffRecord(**{**self.__dict__, "first_line": line})


@dataclass(frozen=True)
class Who:
    """Who the lead is: known facts, their channel identities, and how to reach them."""

    facts: Mapping[str, Any]
    identities: Sequence[tuple[str, str]]
    opted_out: bool = False
    email_problem: Mapping[str, Any] | None = None  # our mail bounced for good: {"at", "error"}


@dataclass(frozen=True)
class Said:
    """What the lead told the bot, and what it makes of them."""

    timing: Timing | None
    challenge: str | None
    topic_labels: Sequence[str]
    slots: Mapping[str, Any]
    tags: Sequence[str]
    score: Score


@dataclass(frozen=True)
class Activity:
    """What happened in the conversation: when, the transcript, what was sent, clicked,
    viewed and read, the meeting booked and its pre-meeting email, and the behaviour that
    raised the score (``triggers``)."""

    started_at: datetime
    first_response_at: datetime | None
    transcript: Sequence[TranscriptLine]
    cases_sent: Sequence[Mapping[str, Any]] = ()
    cases_clicked: Mapping[str, str] = field(default_factory=dict)
    cases_viewed: Mapping[str, str] = field(default_factory=dict)
    booking: Mapping[str, Any] | None = None
    pre_meeting: Mapping[str, Any] | None = None
    cases_read: Mapping[str, str] = field(default_factory=dict)
    triggers: Sequence[Trigger] = ()


def build_handoff(
    *,
    reason: str,
    channel: str,
    source: Mapping[str, Any],
    who: Who,
    said: Said,
    activity: Activity,
    locale: str = "ja",
) -> HandoffRecord:
    """Assemble a handoff record from what the conversation collected.

    ``first_response_seconds`` is the speed-to-lead figure: from the lead's first
    action (conversation start or form submission) to the bot's first reply.
    """
    started, first = activity.started_at, activity.first_response_at
    first_response = (first - started).total_seconds() if first else None
    timing_data = None
    if said.timing is not None:
        timing_data = {
            **said.timing.to_dict(),
            "described": said.timing.describe(locale),
            "alternatives_described": said.timing.describe_alternatives(locale),
        }
    return HandoffRecord(
        reason=reason,
        channel=channel,
        lead=dict(who.facts),
        identities=list(who.identities),
        source=dict(source),
        asked_for=source.get("document") or source.get("form_title") or None,
        timing=timing_data,
        challenge=said.challenge,
        topics=list(said.topic_labels),
        cases_sent=[dict(c) for c in activity.cases_sent],
        cases_clicked=dict(activity.cases_clicked),
        cases_viewed=dict(activity.cases_viewed),
        booking=dict(activity.booking) if activity.booking else None,
        tier=said.score.tier,
        score=said.score.points,
        reasons=[asdict(r) for r in said.score.reasons],
        tags=list(said.tags),
        slots=dict(said.slots),
        first_response_seconds=first_response,
        transcript=list(activity.transcript),
        opted_out=who.opted_out,
        pre_meeting=dict(activity.pre_meeting) if activity.pre_meeting else None,
        email_problem=dict(who.email_problem) if who.email_problem else None,
        cases_read=dict(activity.cases_read),
        triggers=[t.to_dict() for t in activity.triggers],
    )
