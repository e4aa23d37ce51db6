"""The follow-up promise on real Japanese dates: in hours, near closing, lunch, nights, holidays."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from autoreply.domain.calendar import BusinessCalendar, Closure, WeeklyHours
from autoreply.domain.promise import Assigned, FollowUp, after_business_time, follow_up
from autoreply.flows.templating import make_environment
from tests.conftest import ROOT

TOKYO = ZoneInfo("Asia/Tokyo")


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TOKYO)


@pytest.fixture
def cal() -> BusinessCalendar:
    """The shipped default: weekdays 9-12 and 13-18, year-end and Obon closures, JP holidays."""
    return BusinessCalendar(
        TOKYO,
        WeeklyHours.parse("mon-fri 09:00-12:00,13:00-18:00"),
        Closure.parse_many("12-29..01-03, 08-13..08-16"),
    )


def phrase(promise: FollowUp, locale: str) -> str:
    """The promise as the shipped templates say it."""
    env = make_environment(ROOT / "templates")
    return env.from_string("{{ f | promise }}").render(f=promise, locale=locale)


def test_early_in_business_hours_the_promise_is_today(cal: BusinessCalendar) -> None:
    """Wednesday 10:00: today, open until the lunch break; never "from 10:00"."""
    promise = follow_up(cal, at(2026, 12, 2, 10))
    assert (promise.kind, promise.open_now) == ("today", True)
    assert promise.at == at(2026, 12, 2, 10) and promise.until == at(2026, 12, 2, 12)
    assert phrase(promise, "ja") == "本日中に"
    assert phrase(promise, "en") == "today"


def test_at_1702_with_58_minutes_left_the_promise_is_still_today(cal: BusinessCalendar) -> None:
    """The issue's case: declining at 17:02 is promised today, not 「17:02以降」."""
    promise = follow_up(cal, at(2026, 12, 2, 17, 2))
    assert promise.kind == "today" and promise.until == at(2026, 12, 2, 18)
    assert "以降" not in phrase(promise, "ja")


def test_exactly_the_window_left_is_still_today(cal: BusinessCalendar) -> None:
    assert follow_up(cal, at(2026, 12, 2, 17, 30)).kind == "today"


def test_near_closing_the_promise_names_the_latest_moment(cal: BusinessCalendar) -> None:
    """Wednesday 17:45, 15 minutes left: today, or 15 minutes into Thursday at the latest."""
    promise = follow_up(cal, at(2026, 12, 2, 17, 45))
    assert promise.kind == "today_or_by"
    assert promise.by == at(2026, 12, 3, 9, 15)
    assert phrase(promise, "ja") == "本日中、遅くとも12月3日(木) 9:15までに"
    assert phrase(promise, "en") == "later today, or by Thu, Dec 3, 9:15 at the latest"


def test_the_latest_moment_is_rounded_up_to_the_quarter_hour(cal: BusinessCalendar) -> None:
    """17:50 + 30 business minutes is Thursday 9:20, promised as 9:30 (never earlier)."""
    assert follow_up(cal, at(2026, 12, 2, 17, 50)).by == at(2026, 12, 3, 9, 30)
    assert follow_up(cal, at(2026, 12, 2, 17, 59)).by == at(2026, 12, 3, 9, 30)


def test_near_closing_before_a_weekend_and_before_the_year_end_closure(
    cal: BusinessCalendar,
) -> None:
    """Friday 17:45 -> Monday 9:15; Monday 12/28 17:45 -> 1/4 9:15 (年末年始 12/29-1/3)."""
    assert follow_up(cal, at(2026, 12, 4, 17, 45)).by == at(2026, 12, 7, 9, 15)
    assert follow_up(cal, at(2026, 12, 28, 17, 45)).by == at(2027, 1, 4, 9, 15)


def test_in_the_lunch_break_the_business_day_has_begun(cal: BusinessCalendar) -> None:
    """12:20: closed this minute (the rep list says so), but a person follows up today."""
    promise = follow_up(cal, at(2026, 12, 2, 12, 20))
    assert (promise.kind, promise.open_now, promise.until) == ("today", False, None)
    assert promise.at == at(2026, 12, 2, 13)
    assert phrase(promise, "ja") == "本日中に"


def test_a_lunch_break_with_little_left_after_it_counts_business_time_only() -> None:
    """Hours 9-12 and 13-13:20: at 11:55, 25 business minutes are left, lunch not counted."""
    short = BusinessCalendar(TOKYO, WeeklyHours.parse("mon-fri 09:00-12:00,13:00-13:20"))
    promise = follow_up(short, at(2026, 12, 2, 11, 55))
    assert promise.kind == "today_or_by" and promise.by == at(2026, 12, 3, 9, 15)


def test_before_opening_on_a_business_day_the_promise_is_the_opening(
    cal: BusinessCalendar,
) -> None:
    promise = follow_up(cal, at(2026, 12, 2, 7, 30))
    assert promise.kind == "from" and promise.at == at(2026, 12, 2, 9)
    assert phrase(promise, "ja") == "12月2日(水) 9:00以降に"


def test_after_hours_the_promise_is_the_next_opening(cal: BusinessCalendar) -> None:
    promise = follow_up(cal, at(2026, 12, 2, 18))
    assert (promise.kind, promise.open_now) == ("from", False)
    assert promise.at == at(2026, 12, 3, 9) and promise.until is None
    assert phrase(promise, "en") == "from Thu, Dec 3, 9:00"


def test_on_a_weekend_before_a_holiday_the_promise_skips_both(cal: BusinessCalendar) -> None:
    """Saturday night 11/21; Monday 11/23 is 勤労感謝の日: Tuesday 9:00."""
    promise = follow_up(cal, at(2026, 11, 21, 23, 10))
    assert promise.kind == "from" and promise.at == at(2026, 11, 24, 9)
    assert phrase(promise, "ja") == "11月24日(火) 9:00以降に"


def test_during_a_holiday_daytime_is_not_business_time(cal: BusinessCalendar) -> None:
    """勤労感謝の日 at 10:00 (a Monday): nobody is there today."""
    promise = follow_up(cal, at(2026, 11, 23, 10))
    assert promise.kind == "from" and promise.at == at(2026, 11, 24, 9)


def test_the_promise_is_given_in_business_time_whatever_zone_now_is(
    cal: BusinessCalendar,
) -> None:
    promise = follow_up(cal, datetime(2026, 12, 2, 8, 45, tzinfo=UTC))  # 17:45 in Tokyo
    assert promise.kind == "today_or_by" and promise.by is not None
    assert promise.by.tzinfo == TOKYO and promise.by == at(2026, 12, 3, 9, 15)


def test_a_naive_moment_is_refused(cal: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="naive"):
        follow_up(cal, datetime(2026, 12, 2, 10))


def test_business_time_skips_the_lunch_break_and_the_night(cal: BusinessCalendar) -> None:
    assert after_business_time(cal, at(2026, 12, 2, 11, 50), timedelta(minutes=30)) == at(
        2026, 12, 2, 13, 20
    )
    assert after_business_time(cal, at(2026, 12, 2, 22), timedelta(minutes=30)) == at(
        2026, 12, 3, 9, 30
    )


def test_anything_but_a_promise_renders_as_nothing() -> None:
    """An operator template given no promise (an old caller) says nothing rather than "以降に"."""
    env = make_environment(ROOT / "templates")
    assert env.from_string("{{ missing | promise }}").render(locale="ja") == ""


# -- once the handoff is written: the SLA's promise -----------------------------------------

FIVE = timedelta(minutes=5)


def assigned(
    notify_at: datetime,
    due_at: datetime,
    *,
    owner: str | None = "デモ担当 山田",
    told: bool = True,
    first_contact: timedelta = FIVE,
) -> Assigned:
    return Assigned(owner, notify_at, due_at, first_contact, told)


def sentence(promise: FollowUp, locale: str) -> str:
    """What the handoff message of the shipped flows says about who calls and when."""
    env = make_environment(ROOT / "templates")
    if locale == "ja":
        text = (
            "{% if f.owner %}担当の{{ f.owner }}{% else %}担当者{% endif %}より"
            "{{ f | promise }}ご連絡いたします。"
        )
    else:
        text = (
            "{% if f.owner %}{{ f.owner }}{% else %}A member of our team{% endif %}"
            " will contact you {{ f | promise }}."
        )
    return env.from_string(text).render(f=promise, locale=locale)


def test_an_owner_on_shift_and_told_now_calls_within_the_sla_minutes(
    cal: BusinessCalendar,
) -> None:
    """Tuesday 10:00, told now, due 10:05: 「担当のデモ担当 山田より5分以内に」, by name."""
    now = at(2026, 11, 24, 10)
    promise = follow_up(cal, now, assigned=assigned(now, at(2026, 11, 24, 10, 5)))
    assert (promise.kind, promise.minutes, promise.owner) == ("within", 5, "デモ担当 山田")
    assert promise.by == at(2026, 11, 24, 10, 5)
    assert sentence(promise, "ja") == "担当のデモ担当 山田より5分以内にご連絡いたします。"
    assert sentence(promise, "en") == "デモ担当 山田 will contact you within 5 minutes."


def test_the_sla_minutes_are_the_teams_own(cal: BusinessCalendar) -> None:
    """A team whose first contact is due in 15 minutes promises 15, and one minute is
    "1 minute" in English."""
    now = at(2026, 11, 24, 10)
    fifteen = assigned(now, now + timedelta(minutes=15), first_contact=timedelta(minutes=15))
    assert phrase(follow_up(cal, now, assigned=fifteen), "ja") == "15分以内に"
    one = assigned(now, now + timedelta(minutes=1), first_contact=timedelta(minutes=1))
    assert phrase(follow_up(cal, now, assigned=one), "en") == "within 1 minute"


def test_nobody_on_shift_now_promises_the_moment_the_clock_starts_never_minutes(
    cal: BusinessCalendar,
) -> None:
    """The team works 13:00-18:00: a 10:00 handoff is told at 13:00, and the lead hears
    13:00, not 5 minutes and not the calendar's 「本日中に」 alone; nobody is named."""
    now = at(2026, 11, 24, 10)
    promise = follow_up(cal, now, assigned=assigned(at(2026, 11, 24, 13), at(2026, 11, 24, 13, 5)))
    assert (promise.kind, promise.owner, promise.minutes) == ("from", None, None)
    assert promise.at == at(2026, 11, 24, 13)
    assert sentence(promise, "ja") == "担当者より11月24日(火) 13:00以降にご連絡いたします。"
    assert (
        sentence(promise, "en") == "A member of our team will contact you from Tue, Nov 24, 13:00."
    )


def test_after_hours_the_handoff_promises_the_next_opening(cal: BusinessCalendar) -> None:
    """Saturday 23:10 (Monday is a holiday): the clock starts Tuesday 9:00, said as before."""
    now = at(2026, 11, 21, 23, 10)
    promise = follow_up(cal, now, assigned=assigned(at(2026, 11, 24, 9), at(2026, 11, 24, 9, 5)))
    assert promise.kind == "from" and promise.at == at(2026, 11, 24, 9)
    assert sentence(promise, "ja") == "担当者より11月24日(火) 9:00以降にご連絡いたします。"
    assert promise == follow_up(cal, now)  # the same words as the calendar's promise


@pytest.mark.parametrize(
    "change",
    [{"told": False}, {"owner": None}],
    ids=["no notification target: nobody knows yet", "nobody on the team is ever on shift"],
)
def test_without_an_owner_who_was_told_the_promise_is_the_calendars(
    cal: BusinessCalendar, change: dict[str, object]
) -> None:
    now = at(2026, 11, 24, 10)
    promise = follow_up(cal, now, assigned=replace(assigned(now, now + FIVE), **change))
    assert promise == follow_up(cal, now)
    assert sentence(promise, "ja") == "担当者より本日中にご連絡いたします。"


def test_a_deadline_already_passed_promises_no_minutes(cal: BusinessCalendar) -> None:
    """The lead writes again 20 minutes after the handoff: 5 minutes would be a lie."""
    promise = follow_up(
        cal,
        at(2026, 11, 24, 10, 20),
        assigned=assigned(at(2026, 11, 24, 10), at(2026, 11, 24, 10, 5)),
    )
    assert promise.kind == "today" and promise.owner is None


def test_a_deadline_beyond_the_lunch_break_is_promised_as_that_moment(
    cal: BusinessCalendar,
) -> None:
    """Told at 11:58, due 13:03 (five business minutes across lunch): the owner is named,
    with the deadline rounded up, never "5 minutes"."""
    now = at(2026, 11, 24, 11, 58)
    promise = follow_up(cal, now, assigned=assigned(now, at(2026, 11, 24, 13, 3)))
    assert (promise.kind, promise.owner, promise.by) == (
        "today_or_by",
        "デモ担当 山田",
        at(2026, 11, 24, 13, 15),
    )
    assert sentence(promise, "ja") == (
        "担当のデモ担当 山田より本日中、遅くとも11月24日(火) 13:15までにご連絡いたします。"
    )


def test_the_sla_promise_reads_stored_utc_moments_in_business_time(
    cal: BusinessCalendar,
) -> None:
    """The database gives UTC back: the promise still says Tokyo's 13:00."""
    now = at(2026, 11, 24, 10)
    stored = assigned(
        datetime(2026, 11, 24, 4, tzinfo=UTC), datetime(2026, 11, 24, 4, 5, tzinfo=UTC)
    )
    promise = follow_up(cal, now, assigned=stored)
    assert promise.at.tzinfo == TOKYO and phrase(promise, "ja") == "11月24日(火) 13:00以降に"
