"""Business calendar on real Japanese dates: hours, closures, holidays, formatting."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from autoreply.domain.calendar import (
    BusinessCalendar,
    Closure,
    Period,
    WeeklyHours,
    describe_hours,
    format_date,
    format_when,
)
from autoreply.errors import ConfigError

TOKYO = ZoneInfo("Asia/Tokyo")
HOURS = "mon-fri 09:00-12:00,13:00-18:00"
CLOSURES = "12-29..01-03, 08-13..08-16"


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TOKYO)


@pytest.fixture
def cal() -> BusinessCalendar:
    return BusinessCalendar(TOKYO, WeeklyHours.parse(HOURS), Closure.parse_many(CLOSURES))


def test_golden_week_lead_on_saturday_evening_is_answered_on_may_7(cal: BusinessCalendar) -> None:
    assert cal.closed_reason(date(2026, 5, 3)) == "憲法記念日"
    assert cal.closed_reason(date(2026, 5, 4)) == "みどりの日"
    assert cal.closed_reason(date(2026, 5, 5)) == "こどもの日"
    assert cal.closed_reason(date(2026, 5, 6)) == "振替休日"
    assert cal.next_opening(at(2026, 5, 2, 19)) == at(2026, 5, 7, 9)


def test_silver_week_lead_on_saturday_night_is_answered_on_september_24(
    cal: BusinessCalendar,
) -> None:
    assert cal.closed_reason(date(2026, 9, 21)) == "敬老の日"
    assert cal.closed_reason(date(2026, 9, 22)) == "国民の休日"
    assert cal.closed_reason(date(2026, 9, 23)) == "秋分の日"
    assert cal.next_opening(at(2026, 9, 19, 23)) == at(2026, 9, 24, 9)


def test_friday_night_lead_before_labour_thanksgiving_monday_is_answered_tuesday_9am(
    cal: BusinessCalendar,
) -> None:
    assert cal.closed_reason(date(2026, 11, 23)) == "勤労感謝の日"
    opening = cal.next_opening(at(2026, 11, 20, 22))
    assert opening == at(2026, 11, 24, 9)
    assert format_when(opening, "ja") == "11月24日(火) 9:00"


def test_year_end_closure_holds_the_reply_until_january_4(cal: BusinessCalendar) -> None:
    reasons = [cal.closed_reason(date(2026, 12, 29) + timedelta(days=i)) for i in range(6)]
    assert reasons == ["closure", "closure", "closure", "元日", "closure", "closure"]
    assert cal.is_business_day(date(2027, 1, 4))
    assert cal.next_opening(at(2026, 12, 28, 19)) == at(2027, 1, 4, 9)


@pytest.mark.parametrize(
    ("hour", "minute", "is_open"),
    [(8, 59, False), (9, 0, True), (11, 59, True), (12, 0, False), (12, 30, False),
     (13, 0, True), (17, 59, True), (18, 0, False)],
)  # fmt: skip
def test_open_periods_include_their_start_and_exclude_their_end(
    cal: BusinessCalendar, hour: int, minute: int, is_open: bool
) -> None:
    assert cal.is_open(at(2026, 11, 24, hour, minute)) is is_open


def test_lunch_break_lead_is_answered_at_13_00_the_same_day(cal: BusinessCalendar) -> None:
    assert cal.next_opening(at(2026, 11, 24, 12, 30)) == at(2026, 11, 24, 13)


def test_next_opening_returns_the_moment_itself_while_open(cal: BusinessCalendar) -> None:
    assert cal.next_opening(at(2026, 11, 24, 10, 17)) == at(2026, 11, 24, 10, 17)


def test_utc_input_is_converted_to_the_calendar_zone(cal: BusinessCalendar) -> None:
    assert cal.is_open(datetime(2026, 11, 24, 0, 30, tzinfo=UTC))  # 09:30 JST
    assert not cal.is_open(datetime(2026, 11, 24, 3, 30, tzinfo=UTC))  # 12:30 JST
    opening = cal.next_opening(datetime(2026, 11, 24, 3, 30, tzinfo=UTC))
    assert opening == at(2026, 11, 24, 13)
    assert opening.tzinfo is TOKYO


def test_naive_datetimes_are_refused(cal: BusinessCalendar) -> None:
    naive = datetime(2026, 11, 24, 10)
    with pytest.raises(ValueError, match="naive"):
        cal.is_open(naive)
    with pytest.raises(ValueError, match="naive"):
        cal.next_opening(naive)
    with pytest.raises(ValueError, match="naive"):
        format_when(naive, "ja")


def test_periods_on_gives_aware_tokyo_periods_and_nothing_on_closed_days(
    cal: BusinessCalendar,
) -> None:
    assert cal.periods_on(date(2026, 11, 24)) == [
        (at(2026, 11, 24, 9), at(2026, 11, 24, 12)),
        (at(2026, 11, 24, 13), at(2026, 11, 24, 18)),
    ]
    assert cal.periods_on(date(2026, 11, 23)) == []
    assert cal.periods_on(date(2026, 11, 28)) == []


def test_days_without_hours_are_closed_for_the_weekly_reason(cal: BusinessCalendar) -> None:
    assert cal.closed_reason(date(2026, 11, 28)) == "weekly"
    assert cal.closed_reason(date(2026, 11, 24)) is None


def test_next_business_day_is_strictly_after_the_given_day(cal: BusinessCalendar) -> None:
    assert cal.next_business_day(date(2026, 11, 24)) == date(2026, 11, 25)
    assert cal.next_business_day(date(2026, 11, 20)) == date(2026, 11, 24)
    assert cal.next_business_day(date(2026, 12, 28)) == date(2027, 1, 4)


def test_without_a_holiday_country_public_holidays_are_business_days() -> None:
    cal = BusinessCalendar(TOKYO, WeeklyHours.parse(HOURS), holidays_country=None)
    assert cal.is_business_day(date(2026, 11, 23))


def test_unknown_holiday_country_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="XX"):
        BusinessCalendar(TOKYO, WeeklyHours.parse(HOURS), holidays_country="XX")


def test_a_calendar_that_never_opens_is_a_config_error() -> None:
    cal = BusinessCalendar(TOKYO, WeeklyHours.parse(""))
    with pytest.raises(ConfigError, match="never opens"):
        cal.next_opening(at(2026, 11, 24, 10))
    with pytest.raises(ConfigError, match="never opens"):
        cal.next_business_day(date(2026, 11, 24))


def test_weekly_hours_parse_reads_ranges_lists_and_several_periods() -> None:
    hours = WeeklyHours.parse("MON-Fri 09:00-12:00, 13:00-18:00; sat,Sun 10:00-15:00")
    split = (Period(time(9), time(12)), Period(time(13), time(18)))
    weekend = (Period(time(10), time(15)),)
    assert hours.days == (split,) * 5 + (weekend,) * 2


def test_weekly_hours_day_ranges_wrap_around_the_week() -> None:
    hours = WeeklyHours.parse("fri-mon 10:00-11:00")
    open_days = [i for i, periods in enumerate(hours.days) if periods]
    assert open_days == [0, 4, 5, 6]


def test_weekly_hours_merge_touching_periods_from_several_groups() -> None:
    hours = WeeklyHours.parse("mon 09:00-12:00; mon 12:00-13:00")
    assert hours.days[0] == (Period(time(9), time(13)),)


@pytest.mark.parametrize(
    "text",
    [
        "mon-fri 09:00-12:00,13:00-18:00",
        "mon-fri 09:00-12:00,13:00-18:00; sat 10:00-15:00",
        "mon,wed,fri 09:00-18:00; tue,thu 13:00-20:00",
        "sun 00:00-23:59",
        "",
    ],
)
def test_weekly_hours_text_round_trips_through_its_canonical_form(text: str) -> None:
    hours = WeeklyHours.parse(text)
    assert WeeklyHours.parse(str(hours)) == hours
    assert str(WeeklyHours.parse(str(hours))) == str(hours)


def test_weekly_hours_canonical_text_groups_days_with_equal_periods() -> None:
    text = "tue 09:00-18:00; mon 09:00-18:00; wed,fri 09:00-18:00; sat 10:00-12:00"
    assert str(WeeklyHours.parse(text)) == "mon-wed,fri 09:00-18:00; sat 10:00-12:00"


@pytest.mark.parametrize(
    ("text", "bad_part"),
    [
        ("tues 09:00-18:00", "tues"),
        ("mon-fri 09:00-25:00", "25:00"),
        ("mon 9am-6pm", "9am"),
        ("mon 18:00-09:00", "18:00-09:00"),
        ("mon 09:00-12:00,11:00-13:00", "09:00-12:00 and 11:00-13:00"),
        ("mon 09:00-12:00; mon 10:00-11:00", "overlapping periods on mon"),
        ("mon-fri", "mon-fri"),
        ("09:00-18:00", "09:00-18:00"),
        ("mon 09:00", "09:00"),
    ],
)
def test_weekly_hours_parse_errors_name_the_bad_part(text: str, bad_part: str) -> None:
    with pytest.raises(ConfigError) as info:
        WeeklyHours.parse(text)
    assert bad_part in str(info.value)


def test_weekly_hours_need_exactly_seven_days() -> None:
    with pytest.raises(ConfigError, match="7 days"):
        WeeklyHours(((),) * 6)


def test_a_period_must_end_after_it_starts() -> None:
    with pytest.raises(ConfigError, match="does not end after"):
        Period(time(12), time(12))


def test_yearly_closure_wraps_the_year_end_in_every_year() -> None:
    (closure,) = Closure.parse_many("12-29..01-03")
    for year in (2026, 2027, 2028):
        assert closure.covers(date(year, 12, 29))
        assert closure.covers(date(year, 12, 31))
        assert closure.covers(date(year, 1, 1))
        assert closure.covers(date(year, 1, 3))
        assert not closure.covers(date(year, 12, 28))
        assert not closure.covers(date(year, 1, 4))


def test_absolute_closure_covers_only_its_own_dates() -> None:
    (closure,) = Closure.parse_many("2026-10-01..2026-10-02")
    assert closure.covers(date(2026, 10, 1))
    assert closure.covers(date(2026, 10, 2))
    assert not closure.covers(date(2026, 9, 30))
    assert not closure.covers(date(2026, 10, 3))
    assert not closure.covers(date(2027, 10, 1))


def test_single_day_closures_are_allowed_in_both_forms() -> None:
    yearly, absolute = Closure.parse_many("05-01\n2026-07-01")
    assert yearly.covers(date(2026, 5, 1)) and yearly.covers(date(2030, 5, 1))
    assert not yearly.covers(date(2026, 5, 2))
    assert absolute.covers(date(2026, 7, 1)) and not absolute.covers(date(2027, 7, 1))


def test_closures_read_back_from_their_text() -> None:
    text = "12-29..01-03, 08-13..08-16, 2026-10-01..2026-10-02, 05-01, 2026-07-01"
    closures = Closure.parse_many(text)
    assert ", ".join(str(c) for c in closures) == text
    assert Closure.parse_many(", ".join(str(c) for c in closures)) == closures


def test_closures_in_a_calendar_close_those_days() -> None:
    closures = Closure.parse_many("2026-10-01..2026-10-02")
    cal = BusinessCalendar(TOKYO, WeeklyHours.parse(HOURS), closures)
    assert cal.closed_reason(date(2026, 10, 1)) == "closure"
    assert cal.next_opening(at(2026, 9, 30, 20)) == at(2026, 10, 5, 9)


@pytest.mark.parametrize(
    ("text", "bad_part"),
    [
        ("13-01", "13-01"),
        ("2026-02-30", "2026-02-30"),
        ("12-29..2027-01-03", "mixes"),
        ("2026-10-02..2026-10-01", "ends before it starts"),
        ("new year", "new year"),
        ("12-29..12-30..12-31", "12-29..12-30..12-31"),
    ],
)
def test_closure_parse_errors_name_the_bad_part(text: str, bad_part: str) -> None:
    with pytest.raises(ConfigError) as info:
        Closure.parse_many(text)
    assert bad_part in str(info.value)


@pytest.mark.parametrize(
    ("day", "ja", "en"),
    [
        (23, "11月23日(月)", "Mon, Nov 23"),
        (24, "11月24日(火)", "Tue, Nov 24"),
        (25, "11月25日(水)", "Wed, Nov 25"),
        (26, "11月26日(木)", "Thu, Nov 26"),
        (27, "11月27日(金)", "Fri, Nov 27"),
        (28, "11月28日(土)", "Sat, Nov 28"),
        (29, "11月29日(日)", "Sun, Nov 29"),
    ],
)
def test_dates_and_moments_read_naturally_in_japanese_and_english(
    day: int, ja: str, en: str
) -> None:
    assert format_date(date(2026, 11, day), "ja") == ja
    assert format_date(date(2026, 11, day), "en") == en
    assert format_when(at(2026, 11, day, 9, 5), "ja") == f"{ja} 9:05"
    assert format_when(at(2026, 11, day, 17, 30), "en") == f"{en}, 17:30"


def test_formatting_does_not_zero_pad_month_day_or_hour() -> None:
    assert format_when(at(2027, 1, 4, 9), "ja") == "1月4日(月) 9:00"
    assert format_when(at(2027, 1, 4, 9), "en") == "Mon, Jan 4, 9:00"


def test_locale_variants_of_japanese_format_in_japanese_and_unknown_ones_in_english() -> None:
    assert format_date(date(2026, 11, 24), "ja-JP") == "11月24日(火)"
    assert format_date(date(2026, 11, 24), "ja_JP") == "11月24日(火)"
    assert format_date(date(2026, 11, 24), "fr") == "Tue, Nov 24"


def test_is_open_over_a_whole_year_in_half_hours_matches_238_business_days(
    cal: BusinessCalendar,
) -> None:
    # 2026: 261 weekdays - 17 weekday holidays - 6 weekday closure days; 8 open hours each
    start = at(2026, 1, 1)
    opened = sum(cal.is_open(start + timedelta(minutes=30 * i)) for i in range(365 * 48))
    assert opened == 238 * 16


@pytest.mark.parametrize(
    ("hours", "closures", "country", "ja", "en"),
    [
        (
            HOURS,
            CLOSURES,
            "JP",
            "平日 9:00〜12:00、13:00〜18:00（土日祝・年末年始・夏季休業を除く）",
            "Weekdays 9:00–12:00, 13:00–18:00 (JST), except weekends, public holidays, "
            "the year-end and New Year holidays and the summer holidays",
        ),
        (
            "mon-fri 09:00-18:00; sat 10:00-15:00",
            "",
            None,
            "平日 9:00〜18:00／土 10:00〜15:00（日曜を除く）",
            "Weekdays 9:00–18:00; Sat 10:00–15:00 (JST), except Sun",
        ),
        (
            "mon-sat 09:30-17:45",
            "12-31..01-02",
            "JP",
            "月〜土 9:30〜17:45（日祝・年末年始を除く）",
            "Mon–Sat 9:30–17:45 (JST), except Sun, public holidays and "
            "the year-end and New Year holidays",
        ),
        (
            "mon,wed,thu 09:00-17:00",
            "2026-10-01..2026-10-02, 05-01",
            "JP",
            "月・水・木 9:00〜17:00（火曜・金〜日曜・祝日・当社休業日を除く）",
            "Mon, Wed, Thu 9:00–17:00 (JST), except Tue, Fri–Sun, public holidays and "
            "company holidays",
        ),
        ("mon-sun 10:00-20:00", "", None, "毎日 10:00〜20:00", "Every day 10:00–20:00 (JST)"),
        ("", "", None, "休業中", "Closed"),
    ],
)
def test_the_hours_read_as_configured(
    hours: str, closures: str, country: str | None, ja: str, en: str
) -> None:
    """One wording of the opening hours for every page, from the settings: the lunch
    break, several groups of days, the closed weekdays, holidays and closures by name."""
    calendar = BusinessCalendar(
        TOKYO, WeeklyHours.parse(hours), Closure.parse_many(closures), holidays_country=country
    )
    assert describe_hours(calendar, "ja") == ja
    assert describe_hours(calendar, "en-US") == en


def test_the_hours_name_a_zone_that_changes_over_the_year() -> None:
    berlin = BusinessCalendar(ZoneInfo("Europe/Berlin"), WeeklyHours.parse(HOURS), (), None)
    assert describe_hours(berlin, "en") == (
        "Weekdays 9:00–12:00, 13:00–18:00 (CET/CEST), except weekends"
    )
