"""The lead's data rights, the pure part and one guard: who a request is about, the
retention cutoff and run, and every table holding a lead's rows is one the deletion knows."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from autoreply.domain.privacy import Subject, months_before, next_run, run_key
from autoreply.errors import BadRequestError
from autoreply.store.models import Base
from autoreply.store.repos.privacy import TABLES
from tests.conftest import TOKYO, tokyo

PERSONAL = {"leads", "conversations", "handoffs", "bookings", "follow_ups", "form_submissions"}


def test_every_table_pointing_at_a_lead_row_is_exported_and_deleted() -> None:
    """A table with a foreign key to a lead's rows (a new one too, e.g. a summary or a
    webhook log) must be in the footprint, or a deletion would fail or leave it behind."""
    missing = sorted(
        table.name
        for table in Base.metadata.sorted_tables
        if any(fk.column.table.name in PERSONAL for fk in table.foreign_keys)
        and table.name not in TABLES
    )
    assert missing == [], f"add {missing} to store/repos/privacy.py (footprint and delete)"


def test_a_subject_is_one_of_three_keys_checked() -> None:
    """Exactly one key; an email is normalised, a lead id is a positive number."""
    assert Subject.of(email="Taro@Example.COM") == Subject("email", "taro@example.com")
    assert Subject.of(line_user="U" + "0" * 32).by == "line_user"
    assert Subject.of(lead="007").lead_id == 7
    for bad in (
        {},
        {"email": "a@example.com", "lead": "1"},
        {"email": "not an address"},
        {"lead": "-1"},
        {"lead": "99999999999"},
        {"line_user": "U 1; drop"},
    ):
        with pytest.raises(BadRequestError):
            Subject.of(**bad)


def test_months_before_clamps_to_the_end_of_a_shorter_month() -> None:
    """31 August less six months is 28 February; across a year boundary too."""
    assert months_before(tokyo(2027, 8, 31, 3, 0), 6) == tokyo(2027, 2, 28, 3, 0)
    assert months_before(tokyo(2027, 5, 22, 3, 0), 6) == tokyo(2026, 11, 22, 3, 0)
    assert months_before(datetime(2028, 3, 30, tzinfo=UTC), 1).date() == date(2028, 2, 29)
    assert months_before(tokyo(2027, 1, 15), 24) == tokyo(2025, 1, 15)


def test_the_daily_run_is_at_three_local_time_with_a_key_per_day() -> None:
    """Before 03:00 it is today's, from 03:00 on tomorrow's."""
    assert next_run(tokyo(2026, 12, 7, 2, 59), TOKYO) == tokyo(2026, 12, 7, 3, 0)
    assert next_run(tokyo(2026, 12, 7, 3, 0), TOKYO) == tokyo(2026, 12, 8, 3, 0)
    assert next_run(datetime(2026, 12, 6, 18, 30, tzinfo=UTC), TOKYO) == tokyo(2026, 12, 8, 3, 0)
    assert run_key(date(2026, 12, 31)) == "retention:2026-12-31"
