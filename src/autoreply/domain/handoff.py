"""The handoff record: everything a rep needs to open the next business day's call."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

from autoreply.domain.scoring import Score
from autoreply.domain.timing import Timing

__all__ = ["HandoffRecord", "TranscriptLine", "build_handoff"]


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
    cases_opened: Sequence[str]
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

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (for the database and the JSON API).

        Shallow on purpose: the fields already hold plain JSON values, and a deep copy of
        the transcript on every turn was a measurable share of a bot reply (bench/).
        """
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["identities"] = [list(i) for i in self.identities]
        data["transcript"] = [
            {"direction": t.direction, "text": t.text, "at": t.at} for t in self.transcript
        ]
        return data

    def with_first_line(self, line: str) -> HandoffRecord:
        """The same record with its rendered first line."""
        return HandoffRecord(**{**self.__dict__, "first_line": line})


def build_handoff(
    *,
    reason: str,
    channel: str,
    lead: Mapping[str, Any],
    identities: Sequence[tuple[str, str]],
    source: Mapping[str, Any],
    timing: Timing | None,
    challenge: str | None,
    topic_labels: Sequence[str],
    cases_sent: Sequence[Mapping[str, Any]],
    cases_opened: Sequence[str],
    booking: Mapping[str, Any] | None,
    score: Score,
    tags: Sequence[str],
    slots: Mapping[str, Any],
    started_at: datetime,
    first_response_at: datetime | None,
    transcript: Sequence[TranscriptLine],
    opted_out: bool = False,
    locale: str = "ja",
    pre_meeting: Mapping[str, Any] | None = None,
    email_problem: Mapping[str, Any] | None = None,
) -> HandoffRecord:
    """Assemble a handoff record from what the conversation collected.

    ``first_response_seconds`` is the speed-to-lead figure: from the lead's first
    action (conversation start or form submission) to the bot's first reply.
    """
    first_response = (first_response_at - started_at).total_seconds() if first_response_at else None
    timing_data = None
    if timing is not None:
        timing_data = {**timing.to_dict(), "described": timing.describe(locale)}
    return HandoffRecord(
        reason=reason,
        channel=channel,
        lead=dict(lead),
        identities=list(identities),
        source=dict(source),
        asked_for=source.get("document") or source.get("form_title") or None,
        timing=timing_data,
        challenge=challenge,
        topics=list(topic_labels),
        cases_sent=[dict(c) for c in cases_sent],
        cases_opened=list(cases_opened),
        booking=dict(booking) if booking else None,
        tier=score.tier,
        score=score.points,
        reasons=[asdict(r) for r in score.reasons],
        tags=list(tags),
        slots=dict(slots),
        first_response_seconds=first_response,
        transcript=list(transcript),
        opted_out=opted_out,
        pre_meeting=dict(pre_meeting) if pre_meeting else None,
        email_problem=dict(email_problem) if email_problem else None,
    )
