"""The rate-limit arithmetic: fixed windows, the sliding estimate, and when to retry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from autoreply.domain.ratelimit import Rule, estimate, retry_after, window_start

MINUTE = timedelta(minutes=1)
T0 = datetime(2026, 11, 21, 14, 10, tzinfo=UTC)  # a minute's start


def test_windows_are_aligned_to_the_epoch_in_any_timezone() -> None:
    """The same instant falls in the same window however it is written."""
    tokyo = (T0 + timedelta(seconds=42)).astimezone(ZoneInfo("Asia/Tokyo"))
    assert window_start(tokyo, MINUTE) == T0
    assert window_start(T0 + timedelta(minutes=49), timedelta(hours=1)) == T0.replace(minute=0)


def test_the_previous_window_fades_out_over_the_current_one() -> None:
    """8 hits last minute weigh 8 at its end, 4 halfway through this one, 0 at its end."""
    rule = Rule(10, MINUTE)
    assert estimate(rule, T0, previous=8, current=0) == 8
    assert estimate(rule, T0 + timedelta(seconds=30), previous=8, current=1) == 5
    assert estimate(rule, T0 + timedelta(seconds=59.99), previous=8, current=2) == pytest.approx(
        2, abs=0.01
    )


def test_retry_after_is_when_one_more_hit_fits() -> None:
    """Full now: after this window ends and enough of it has faded; else when the
    previous window has faded enough."""
    rule = Rule(10, MINUTE)
    assert retry_after(rule, T0, previous=0, current=10) == 66  # 60 s, then 10*(1-6/60)+1 = 10
    assert retry_after(rule, T0, previous=10, current=5) == 36  # 10*(1-36/60)+5+1 = 10
    assert retry_after(rule, T0 + timedelta(seconds=50), previous=0, current=10) == 16
    # The estimate spreads a window's hits over it: one a minute fades out a minute later.
    assert retry_after(Rule(1, MINUTE), T0, previous=0, current=1) == 120


def test_a_rule_needs_a_positive_limit_and_window() -> None:
    """A zero limit or window is a configuration mistake, caught at once."""
    with pytest.raises(ValueError, match="positive"):
        Rule(0, MINUTE)
    with pytest.raises(ValueError, match="positive"):
        Rule(5, timedelta(0))
