"""The clock port: the only place that reads the current time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "FixedClock", "SystemClock"]


class Clock(Protocol):
    """Tells the time (aware)."""

    def now(self) -> datetime:
        """The current moment, timezone-aware."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The current moment in UTC."""
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to (tests, transcripts, benchmarks)."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at

    def now(self) -> datetime:
        """The set moment."""
        return self._at

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward."""
        self._at += delta

    def set(self, at: datetime) -> None:
        """Jump to a moment."""
        self._at = at
