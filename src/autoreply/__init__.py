"""autoreply: instant, useful first responses to B2B leads at night and on weekends."""

from __future__ import annotations

from autoreply.domain.timing import Timing, TimingBucket, parse_timing

__all__ = ["Timing", "TimingBucket", "__version__", "parse_timing"]

__version__ = "0.1.0"
