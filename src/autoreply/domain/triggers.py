"""Behaviour triggers: what a lead did outside the chat that raises their score (the pricing
page again, a case study read to the end, a return visit, a second form), each kept with
its time on the conversation's source so that the handoff can say what happened when (pure).

A conversation's ``source`` holds them as plain JSON::

    "triggers": [{"code": "case_read", "at": "2026-11-24T01:10:00+00:00", "detail": "x"}],
    "case_reads": {"maker-night-inquiries": "2026-11-24T01:10:00+00:00"},
    "last_seen_at": "2026-11-24T01:10:00+00:00"
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

__all__ = [
    "MAX_TRIGGERS",
    "RETURN_AFTER",
    "Trigger",
    "TriggerCode",
    "case_reads",
    "count",
    "fire",
    "last_seen",
    "returned",
    "seen",
    "triggers_of",
]

TriggerCode = Literal["pricing_views", "case_read", "return_visit", "second_form"]

RETURN_AFTER = timedelta(minutes=30)
"""A lead who acts again after this long without doing anything has come back."""

MAX_TRIGGERS = 50
"""The newest triggers kept on one conversation (a lead reloading the pricing page all day
must not grow the record without end)."""


@dataclass(frozen=True)
class Trigger:
    """One behaviour that raised the score: what (``code``), when (ISO) and about what
    (a case id, the pricing view's number, the form's title)."""

    code: str
    at: str
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "at": self.at, "detail": self.detail}


def triggers_of(source: Mapping[str, Any]) -> list[Trigger]:
    """The triggers recorded on a conversation's source, oldest first."""
    return [
        Trigger(str(t.get("code", "")), str(t.get("at", "")), str(t.get("detail", "")))
        for t in source.get("triggers", [])
        if isinstance(t, Mapping) and t.get("code")
    ]


def fire(
    source: Mapping[str, Any], code: TriggerCode, at: datetime, detail: str = ""
) -> dict[str, Any]:
    """A copy of ``source`` with one more trigger (the newest ``MAX_TRIGGERS`` are kept)."""
    kept = [t.to_dict() for t in triggers_of(source)]
    kept.append(Trigger(code, at.isoformat(), detail).to_dict())
    return {**source, "triggers": kept[-MAX_TRIGGERS:]}


def count(source: Mapping[str, Any], code: str) -> int:
    """How many times a trigger fired on this conversation."""
    return sum(1 for t in triggers_of(source) if t.code == code)


def case_reads(source: Mapping[str, Any]) -> dict[str, str]:
    """Case id -> when the lead first read our own page of it to the end (ISO)."""
    reads = source.get("case_reads", {})
    return {str(k): str(v) for k, v in reads.items()} if isinstance(reads, Mapping) else {}


def seen(source: Mapping[str, Any], at: datetime) -> dict[str, Any]:
    """A copy of ``source`` noting that the lead did something at ``at``."""
    return {**source, "last_seen_at": at.isoformat()}


def last_seen(source: Mapping[str, Any], updated_at: datetime) -> datetime:
    """When the lead last did something in a conversation: its last turn (``updated_at``)
    or the last thing noted outside a turn (a page view, a case study opened or read)."""
    noted = source.get("last_seen_at")
    if isinstance(noted, str) and noted:
        try:
            at = datetime.fromisoformat(noted)
        except ValueError:
            return updated_at
        if at.tzinfo is not None:
            return max(updated_at, at)
    return updated_at


def returned(before: Iterable[datetime], now: datetime) -> bool:
    """Whether acting at ``now`` is a return: the lead did something before, and nothing
    within ``RETURN_AFTER``."""
    last = max(before, default=None)
    return last is not None and now - last > RETURN_AFTER
