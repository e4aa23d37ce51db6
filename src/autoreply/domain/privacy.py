"""A lead's data rights (APPI), the pure part: who a request is about, the retention
cutoff, and when the daily retention run is due."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from autoreply.domain.leads import clean_email
from autoreply.errors import BadRequestError

__all__ = [
    "RETENTION_AT",
    "Subject",
    "months_before",
    "next_run",
    "run_key",
]

#: The local time the daily retention run is due (a quiet hour).
RETENTION_AT = time(3, 0)
_MAX_LEAD_ID = 2**31 - 1


@dataclass(frozen=True)
class Subject:
    """Whose data: found by an email address, a LINE user id or a lead's number."""

    by: Literal["email", "line_user", "lead"]
    value: str

    @classmethod
    def of(
        cls, *, email: str | None = None, line_user: str | None = None, lead: str | None = None
    ) -> Subject:
        """Exactly one of the three, checked; ``BadRequestError`` says what is wrong.

        >>> Subject.of(email=" Taro@Example.com ")
        Subject(by='email', value='taro@example.com')
        >>> Subject.of(lead="12").lead_id
        12
        """
        given = [
            (k, v.strip())
            for k, v in (("email", email), ("line_user", line_user), ("lead", lead))
            if v and v.strip()
        ]
        if len(given) != 1:
            raise BadRequestError(
                "give exactly one of: an email address, a LINE user id, a lead id"
            )
        by, value = given[0]
        if by == "email":
            address = clean_email(value)
            if address is None:
                raise BadRequestError("not an email address")
            return cls("email", address.lower())
        if by == "lead":
            if not value.isdigit() or not 1 <= int(value) <= _MAX_LEAD_ID:
                raise BadRequestError("a lead id is a positive number")
            return cls("lead", str(int(value)))
        if len(value) > 100 or not value.isascii() or not value.isalnum():
            raise BadRequestError("a LINE user id is letters and digits (U followed by 32)")
        return cls("line_user", value)

    @property
    def lead_id(self) -> int | None:
        """The lead's number, when the subject is one."""
        return int(self.value) if self.by == "lead" else None

    def describe(self) -> str:
        """For messages: 'email taro@…', 'LINE user U…', 'lead 12'."""
        return {"email": "email", "line_user": "LINE user", "lead": "lead"}[self.by] + (
            f" {self.value}"
        )


def months_before(moment: datetime, months: int) -> datetime:
    """The same wall time ``months`` calendar months earlier (the day clamped to the
    month's length: 31 March less one month is 28 or 29 February).

    >>> from datetime import UTC
    >>> months_before(datetime(2026, 3, 31, 12, tzinfo=UTC), 1).date()
    datetime.date(2026, 2, 28)
    >>> months_before(datetime(2026, 1, 15, tzinfo=UTC), 13).date()
    datetime.date(2024, 12, 15)
    """
    index = moment.year * 12 + (moment.month - 1) - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def next_run(now: datetime, tz: ZoneInfo) -> datetime:
    """The next daily retention run after ``now``: ``RETENTION_AT`` local time."""
    local = now.astimezone(tz)
    today = datetime.combine(local.date(), RETENTION_AT, tzinfo=tz)
    return (
        today
        if today > local
        else datetime.combine(local.date() + timedelta(days=1), RETENTION_AT, tzinfo=tz)
    )


def run_key(day: date) -> str:
    """The timer key of one day's run: one timer per day, however many processes set it.

    >>> run_key(date(2026, 12, 7))
    'retention:2026-12-07'
    """
    return f"retention:{day.isoformat()}"
