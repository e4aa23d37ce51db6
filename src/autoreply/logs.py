"""Structured log lines: one event per line with its ids as key=value, never message bodies."""

from __future__ import annotations

import logging

__all__ = ["FIELDS", "KeyValueFormatter", "configure_logging"]

#: Extra attributes printed after the event, in this order, when a log call passes them.
FIELDS = ("conversation", "lead", "channel", "tier", "rep", "outbox", "event")


class KeyValueFormatter(logging.Formatter):
    """``2026-11-21T23:10:00 INFO autoreply.service handoff created conversation=… tier=A``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The standard line plus the known ids carried by the record."""
        line = super().format(record)
        pairs = [f"{k}={getattr(record, k)}" for k in FIELDS if hasattr(record, k)]
        return " ".join([line, *pairs])


def configure_logging(level: str) -> None:
    """Send autoreply's logs to stderr, one structured line per event."""
    handler = logging.StreamHandler()
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
