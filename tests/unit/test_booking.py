"""Meeting slots on a real Japanese business calendar: free slots, offers, slot ids, rep choice."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from autoreply.domain.booking import (
    Busy,
    RepAvailability,
    Slot,
    SlotRules,
    free_slots,
    offer_slots,
    pick_rep,
)
from autoreply.domain.calendar import BusinessCalendar, Closure, WeeklyHours
from autoreply.errors import ConfigError

TOKYO = ZoneInfo("Asia/Tokyo")
REPS = (RepAvailability("a"), RepAvailability("b"))
FRIDAY_NIGHT = datetime(2026, 11, 27, 20, tzinfo=TOKYO)  # next business day: Mon 11/30


def at(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TOKYO)


def starts_on(slots: list[Slot], day: date) -> list[str]:
    return [f"{s.start:%H:%M}" for s in slots if s.start.date() == day]


def half_hours(first: str, last: str) -> list[str]:
    t = datetime.strptime(first, "%H:%M").replace(tzinfo=TOKYO)
    out = []
    while f"{t:%H:%M}" <= last:
        out.append(f"{t:%H:%M}")
        t += timedelta(minutes=30)
    return out


DAY_STARTS = half_hours("10:00", "11:30") + half_hours("13:00", "17:30")


@pytest.fixture
def cal() -> BusinessCalendar:
    hours = WeeklyHours.parse("mon-fri 09:00-12:00,13:00-18:00")
    return BusinessCalendar(TOKYO, hours, Closure.parse_many("12-29..01-03, 08-13..08-16"))


@pytest.mark.parametrize(
    ("now", "expected_days"),
    [
        (at(5, 1, 20), ["05-07", "05-08", "05-11", "05-12", "05-13", "05-14"]),
        (at(12, 25, 20), ["12-28", "01-04", "01-05", "01-06", "01-07", "01-08"]),
    ],
)
def test_slots_fall_only_on_business_days_skipping_weekends_holidays_and_closures(
    cal: BusinessCalendar, now: datetime, expected_days: list[str]
) -> None:
    slots = free_slots(cal, REPS, [], now, SlotRules())
    assert [f"{d:%m-%d}" for d in sorted({s.start.date() for s in slots})] == expected_days
    assert all(cal.is_business_day(s.start.date()) for s in slots)


def test_days_ahead_counts_business_days_from_today(cal: BusinessCalendar) -> None:
    slots = free_slots(cal, REPS, [], at(12, 26, 10), SlotRules(days_ahead=2))
    assert sorted({s.start.date() for s in slots}) == [date(2026, 12, 28), date(2027, 1, 4)]


def test_no_slot_overlaps_the_lunch_break(cal: BusinessCalendar) -> None:
    rules = SlotRules(min_lead=timedelta(0), prep_buffer=timedelta(0), step=timedelta(minutes=15))
    starts = starts_on(free_slots(cal, REPS, [], at(11, 24), rules), date(2026, 11, 24))
    assert "11:30" in starts and "13:00" in starts
    assert not {"11:45", "12:00", "12:15", "12:30", "12:45"} & set(starts)


def test_slots_start_at_least_the_minimum_lead_time_after_now(cal: BusinessCalendar) -> None:
    slots = free_slots(cal, REPS, [], at(11, 24, 13, 10), SlotRules())
    assert slots[0].start == at(11, 24, 15, 30)
    assert starts_on(slots, date(2026, 11, 24)) == ["15:30", "16:00", "16:30", "17:00", "17:30"]


def test_monday_morning_after_a_weekend_starts_after_the_prep_buffer(
    cal: BusinessCalendar,
) -> None:
    slots = free_slots(cal, REPS, [], FRIDAY_NIGHT, SlotRules())
    assert slots[0].start == at(11, 30, 10)
    assert starts_on(slots, date(2026, 11, 30)) == DAY_STARTS  # 13:00 stays: lunch is short


def test_without_a_prep_buffer_the_first_slot_is_at_opening(cal: BusinessCalendar) -> None:
    slots = free_slots(cal, REPS, [], FRIDAY_NIGHT, SlotRules(prep_buffer=timedelta(0)))
    assert slots[0].start == at(11, 30, 9)


def test_a_rep_with_narrower_hours_is_offered_only_within_them(cal: BusinessCalendar) -> None:
    rep = RepAvailability("late", WeeklyHours.parse("mon-fri 14:00-16:00"))
    no_prep = free_slots(cal, [rep], [], FRIDAY_NIGHT, SlotRules(prep_buffer=timedelta(0)))
    assert starts_on(no_prep, date(2026, 11, 30)) == ["14:00", "14:30", "15:00", "15:30"]
    with_prep = free_slots(cal, [rep], [], FRIDAY_NIGHT, SlotRules())
    assert starts_on(with_prep, date(2026, 11, 30)) == ["15:00", "15:30"]


def test_rep_hours_wider_than_the_business_never_open_closed_time(cal: BusinessCalendar) -> None:
    wide = RepAvailability("a", WeeklyHours.parse("mon-sun 07:00-21:00"))
    rules = SlotRules(days_ahead=10)
    assert free_slots(cal, [wide], [], FRIDAY_NIGHT, rules) == free_slots(
        cal, [RepAvailability("a")], [], FRIDAY_NIGHT, rules
    )


def test_a_busy_rep_is_removed_but_another_free_rep_keeps_the_slot(
    cal: BusinessCalendar,
) -> None:
    busy = [Busy("a", at(11, 30, 10), at(11, 30, 11))]
    slots = {s.start: s.rep_ids for s in free_slots(cal, REPS, busy, FRIDAY_NIGHT, SlotRules())}
    assert slots[at(11, 30, 10)] == ("b",)
    assert slots[at(11, 30, 10, 30)] == ("b",)
    assert slots[at(11, 30, 11)] == ("a", "b")


def test_busy_time_ending_as_a_slot_starts_does_not_block_it(cal: BusinessCalendar) -> None:
    busy = [Busy("a", at(11, 30, 13), at(11, 30, 14))]
    slots = {s.start: s.rep_ids for s in free_slots(cal, REPS, busy, FRIDAY_NIGHT, SlotRules())}
    assert slots[at(11, 30, 13, 30)] == ("b",)
    assert slots[at(11, 30, 14)] == ("a", "b")


def test_busy_times_in_utc_are_compared_as_instants(cal: BusinessCalendar) -> None:
    busy = [Busy("a", datetime(2026, 11, 30, 1, tzinfo=UTC), datetime(2026, 11, 30, 2, tzinfo=UTC))]
    slots = {s.start: s.rep_ids for s in free_slots(cal, REPS, busy, FRIDAY_NIGHT, SlotRules())}
    assert slots[at(11, 30, 10)] == ("b",)  # 01:00 UTC is 10:00 in Tokyo


def test_a_slot_disappears_when_every_rep_is_busy(cal: BusinessCalendar) -> None:
    busy = [Busy(rep, at(11, 30, 10), at(11, 30, 11)) for rep in ("a", "b")]
    starts = starts_on(free_slots(cal, REPS, busy, FRIDAY_NIGHT, SlotRules()), date(2026, 11, 30))
    assert starts[:2] == ["11:00", "11:30"]


def test_no_reps_means_no_slots(cal: BusinessCalendar) -> None:
    assert free_slots(cal, [], [], FRIDAY_NIGHT, SlotRules()) == []


def test_offer_gives_morning_and_afternoon_of_the_earliest_days(cal: BusinessCalendar) -> None:
    offered = offer_slots(cal, REPS, [], FRIDAY_NIGHT, SlotRules())
    assert [s.start for s in offered] == [
        at(11, 30, 10),
        at(11, 30, 13),
        at(12, 1, 10),
        at(12, 1, 13),
        at(12, 2, 10),
        at(12, 2, 13),
    ]
    assert len({s.start.date() for s in offered}) >= 2
    assert {s.start.hour < 12 for s in offered} == {True, False}


def test_offer_spreads_within_a_half_day_when_only_one_day_is_open(
    cal: BusinessCalendar,
) -> None:
    offered = offer_slots(cal, REPS, [], at(11, 30, 6), SlotRules(days_ahead=1))
    assert [f"{s.start:%H:%M}" for s in offered] == [
        "10:00",
        "10:30",
        "11:30",
        "13:00",
        "15:00",
        "17:30",
    ]


def test_offer_is_deterministic_whatever_the_input_order(cal: BusinessCalendar) -> None:
    busy = [Busy("a", at(11, 30, 10), at(11, 30, 12)), Busy("b", at(11, 30, 9), at(11, 30, 11))]
    first = offer_slots(cal, REPS, busy, FRIDAY_NIGHT, SlotRules())
    assert offer_slots(cal, REPS, busy, FRIDAY_NIGHT, SlotRules()) == first
    assert offer_slots(cal, REPS[::-1], busy[::-1], FRIDAY_NIGHT, SlotRules()) == first
    assert first[0].start == at(11, 30, 11)  # the earliest free slot is always offered


def test_offer_returns_every_free_slot_when_there_are_fewer_than_count(
    cal: BusinessCalendar,
) -> None:
    rep = RepAvailability("a", WeeklyHours.parse("mon 14:00-15:00"))
    rules = SlotRules(days_ahead=1, prep_buffer=timedelta(0))
    offered = offer_slots(cal, [rep], [], at(11, 30, 6), rules)
    assert [s.start for s in offered] == [at(11, 30, 14), at(11, 30, 14, 30)]


@pytest.mark.parametrize("count", [0, 1, 3, 6, 10])
def test_offer_never_exceeds_count(cal: BusinessCalendar, count: int) -> None:
    offered = offer_slots(cal, REPS, [], FRIDAY_NIGHT, SlotRules(count=count))
    assert len(offered) == count
    assert offered == sorted(offered, key=lambda s: s.start)


def test_slot_id_is_short_readable_and_round_trips(cal: BusinessCalendar) -> None:
    slot = Slot(at(11, 24, 9), at(11, 24, 9, 30), ("a",))
    assert slot.id == "20261124T0900+0900-30"
    assert Slot.parse_id(slot.id, TOKYO) == (slot.start, slot.end)
    for s in free_slots(cal, REPS, [], FRIDAY_NIGHT, SlotRules(duration=timedelta(hours=1))):
        assert len(s.id) <= 40
        assert Slot.parse_id(s.id, TOKYO) == (s.start, s.end)


def test_slot_id_parses_into_the_requested_zone() -> None:
    start, end = Slot.parse_id("20261124T0900+0900-30", ZoneInfo("UTC"))
    assert (start.hour, end.minute) == (0, 30)
    assert start == at(11, 24, 9)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage",
        "20261324T0900+0900-30",
        "20261124T2500+0900-30",
        "20261124T0900+0900-0",
        "20261124T0900+2500-30",
        "20261124T0900-30",
        "20261124T0900+0900-30x",
    ],
)
def test_bad_slot_ids_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="slot id"):
        Slot.parse_id(text, TOKYO)


def test_pick_rep_prefers_the_rep_with_fewest_bookings() -> None:
    slot = Slot(at(11, 24, 10), at(11, 24, 10, 30), ("a", "b", "c"))
    assert pick_rep(slot, {"a": 2, "b": 1, "c": 3}) == "b"
    assert pick_rep(slot, {"a": 2, "b": 1}) == "c"  # no bookings yet counts as 0


def test_pick_rep_breaks_ties_by_rep_id_and_rotates_as_load_grows() -> None:
    slot = Slot(at(11, 24, 10), at(11, 24, 10, 30), ("a", "b", "c"))
    load: dict[str, int] = {}
    picks = []
    for _ in range(6):
        rep = pick_rep(slot, load)
        picks.append(rep)
        load[rep] = load.get(rep, 0) + 1
    assert picks == ["a", "b", "c", "a", "b", "c"]


def test_pick_rep_refuses_a_slot_without_free_reps() -> None:
    with pytest.raises(ValueError, match="no free rep"):
        pick_rep(Slot(at(11, 24, 10), at(11, 24, 10, 30), ()), {})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"duration": timedelta(0)},
        {"duration": timedelta(seconds=90)},
        {"step": timedelta(minutes=-30)},
        {"min_lead": timedelta(hours=-1)},
        {"prep_buffer": timedelta(minutes=-5)},
        {"days_ahead": -1},
        {"count": -1},
    ],
)
def test_invalid_slot_rules_are_config_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        SlotRules(**kwargs)  # type: ignore[arg-type]


def test_naive_now_and_naive_busy_times_are_refused(cal: BusinessCalendar) -> None:
    naive = datetime(2026, 11, 27, 20)
    with pytest.raises(ValueError, match="aware"):
        free_slots(cal, REPS, [], naive, SlotRules())
    with pytest.raises(ValueError, match="aware"):
        Busy("a", naive, at(11, 27, 21))


def test_reps_free_for_one_slot_agrees_with_the_full_slot_list(cal: BusinessCalendar) -> None:
    """Checking a single picked slot gives the same reps as generating all slots would."""
    from autoreply.domain.booking import reps_free_for

    calendar = cal
    reps = [RepAvailability("a"), RepAvailability("b", WeeklyHours.parse("mon-fri 13:00-18:00"))]
    now = datetime(2026, 11, 21, 23, 10, tzinfo=TOKYO)
    busy = [
        Busy(
            "a",
            datetime(2026, 11, 24, 13, 0, tzinfo=TOKYO),
            datetime(2026, 11, 24, 14, 0, tzinfo=TOKYO),
        )
    ]
    rules = SlotRules(days_ahead=5)
    slots = free_slots(calendar, reps, busy, now, rules)
    assert slots
    for slot in slots:
        assert reps_free_for(calendar, reps, busy, now, slot.start, slot.end, rules) == (
            slot.rep_ids
        )
    lunch = datetime(2026, 11, 24, 12, 0, tzinfo=TOKYO)
    assert reps_free_for(calendar, reps, busy, now, lunch, lunch + rules.duration, rules) == ()
    soon = datetime(2026, 11, 21, 23, 30, tzinfo=TOKYO)
    assert reps_free_for(calendar, reps, busy, now, soon, soon + rules.duration, rules) == ()
