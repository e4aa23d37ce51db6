"""Log lines carry the ids a support engineer needs and never what the lead wrote."""

from __future__ import annotations

import logging

from autoreply.logs import KeyValueFormatter


def test_ids_are_printed_as_key_value_pairs() -> None:
    """Extra ids passed to a log call appear after the event, in a fixed order."""
    record = logging.LogRecord(
        "autoreply.service.conversations", logging.INFO, __file__, 1, "handoff created", None, None
    )
    record.tier = "A"
    record.conversation = "c-1"
    record.body = "夜間の問い合わせ対応が遅れている"
    line = KeyValueFormatter().format(record)
    assert line.endswith(
        "INFO autoreply.service.conversations handoff created conversation=c-1 tier=A"
    )
    assert "夜間" not in line
