"""Rate-limit arithmetic (pure): windows, the sliding-window estimate, and when to retry.

A rule allows ``limit`` hits per ``window``. Counters are kept per fixed window aligned to
the epoch (``window_start``); a hit is allowed while the *sliding* estimate stays within
the limit: the previous window's count, weighted by how much of it still overlaps the
last ``window``, plus the current window's count (the "sliding window counter" of
``limits`` and of Cloudflare). The current window's own count never passes the limit, so
a burst at a window boundary cannot double it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["Rule", "estimate", "retry_after", "window_start"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Rule:
    """At most ``limit`` hits per ``window``."""

    limit: int
    window: timedelta

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window <= timedelta(0):
            raise ValueError(f"a rate limit needs a positive limit and window: {self}")

    def __str__(self) -> str:
        return f"{self.limit} per {int(self.window.total_seconds())} s"


def window_start(now: datetime, window: timedelta) -> datetime:
    """The start of the fixed window holding ``now`` (windows are aligned to the epoch).

    >>> window_start(datetime(2026, 11, 21, 14, 10, 42, tzinfo=UTC), timedelta(minutes=1))
    datetime.datetime(2026, 11, 21, 14, 10, tzinfo=datetime.timezone.utc)
    """
    return _EPOCH + ((now - _EPOCH) // window) * window


def _weight(now: datetime, window: timedelta) -> float:
    """How much of the previous window still lies within the last ``window`` (1 .. 0)."""
    return 1.0 - (now - window_start(now, window)) / window


def estimate(rule: Rule, now: datetime, previous: int, current: int) -> float:
    """Hits within the last ``rule.window``: the previous window's count weighted by its
    overlap, plus the current window's.

    >>> rule = Rule(10, timedelta(minutes=1))
    >>> estimate(rule, datetime(2026, 1, 1, 0, 0, 45, tzinfo=UTC), previous=8, current=3)
    5.0
    """
    return previous * _weight(now, rule.window) + current


def retry_after(rule: Rule, now: datetime, previous: int, current: int) -> int:
    """Whole seconds until one more hit would be allowed (at least 1), given the counts of
    the previous and the current window before that hit."""
    start = window_start(now, rule.window)
    room = rule.limit - current - 1  # what the previous window may still weigh
    if room >= 0 and previous > 0:
        at = start + rule.window * (1.0 - room / previous)
    elif room >= 0:
        at = now
    else:  # full until this window ends; then it is the previous one, fading out
        at = start + rule.window * (2.0 - (rule.limit - 1) / current)
    return max(1, math.ceil((at - now).total_seconds()))
