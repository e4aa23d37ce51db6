"""The cadence file (its problems at file:line:column, the shipped file), business-time
dues, the lead's last reaction, and the 0.5次商談 fields."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from pydantic import ValidationError

from autoreply.domain.cadence import (
    DEFAULT_CADENCE,
    Offset,
    default_cadence,
    due_after,
    last_reaction,
    load_cadence,
    next_daily_run,
    parse_cadence,
    start_of_day,
)
from autoreply.domain.calendar import BusinessCalendar, WeeklyHours
from autoreply.domain.qualification import Qualification, prefill
from autoreply.errors import FlowError
from autoreply.flows.kinds import check_files
from tests.conftest import ROOT, tokyo


@pytest.fixture
def calendar() -> BusinessCalendar:
    return BusinessCalendar(
        tz=tokyo(2026, 1, 1, 0, 0).tzinfo,  # type: ignore[arg-type]
        hours=WeeklyHours.parse("mon-fri 09:00-12:00,13:00-18:00"),
        holidays_country="JP",
    )


def problems(text: str) -> list[str]:
    with pytest.raises(FlowError) as caught:
        parse_cadence(text, "cadence.yaml")
    return [str(p) for p in caught.value.problems]


def test_the_shipped_file_is_the_built_in_cadence_and_flow_check_accepts_it() -> None:
    """flows/cadence.yaml says what a team starts with (the same as without a file)."""
    shipped = load_cadence(ROOT / "flows" / "cadence.yaml")
    assert shipped.spec == default_cadence().spec
    assert DEFAULT_CADENCE in (ROOT / "flows" / "cadence.yaml").read_text(encoding="utf-8")
    checked = check_files([ROOT / "flows" / "cadence.yaml"])
    assert [(c.kind.name if c.kind else None, c.problems) for c in checked] == [("cadence", [])]
    assert [t.kind for t in shipped.rule_for("A").tasks] == [  # type: ignore[union-attr]
        "send_material",
        "second_call",
        "follow_call",
    ]
    assert shipped.rule_for("C") is None
    assert (shipped.aging_days("A"), shipped.aging_days("B"), shipped.aging_days("C")) == (
        14,
        30,
        None,
    )


def test_problems_name_the_file_line_and_column() -> None:
    """Unknown keys, bad offsets, unknown kinds and tiers, a tier twice, a rule id twice:
    each at the line where it is written."""
    text = """\
cadence:
  rules:
    - id: a
      tiers: [A]
      tasks:
        - kind: second_call
          after: 24
        - kind: lunch
          after: 1d
    - id: a
      tiers: [A, D]
      tasks:
        - kind: follow_call
          after: 1w
          when: later
  aging:
    after_days: {A: 0}
"""
    found = problems(text)
    assert (
        "cadence.yaml:7:18: cadence.rules.0.tasks.0.after: Value error, 24 has no unit: "
        "write 24h (business hours) or 24d" in found
    )
    assert any(p.startswith("cadence.yaml:8:17: ") for p in found)  # lunch
    assert any(p.startswith("cadence.yaml:11:18: ") for p in found)  # tier D
    assert any(p.startswith("cadence.yaml:14:18: ") and "is not an offset" in p for p in found)
    assert "cadence.yaml:15:11: unknown key 'when'" in found
    assert any(p.startswith("cadence.yaml:17:21: ") for p in found)  # 0 days
    assert len(found) == 6


def test_whole_file_checks_point_at_the_second_occurrence() -> None:
    text = """\
cadence:
  rules:
    - id: a
      tiers: [A, B]
      tasks: [{kind: second_call, after: 1d}]
    - id: a
      tiers: [B]
      tasks: [{kind: second_call, after: 3d}]
"""
    assert problems(text) == [
        "cadence.yaml:6:11: rule id 'a' is used twice",
        "cadence.yaml:7:15: rule 'a': tier B is already covered by rule 'a' "
        "(the first rule naming a tier applies)",
    ]


def test_a_rule_needs_tiers_and_tasks_and_the_file_its_key() -> None:
    assert problems("cadence:\n  rules:\n    - {id: x, tiers: [], tasks: []}\n") == [
        "cadence.yaml:3:22: rule 'x' names no tier",
        "cadence.yaml:3:33: rule 'x' makes no task",
    ]
    assert "cadence.yaml:1:1: missing required key 'cadence'" in problems("rules: []\n")


@pytest.mark.parametrize(
    ("start", "offset", "due"),
    [
        ((2026, 12, 4, 15, 0), "1d", (2026, 12, 7, 15, 0)),  # Friday -> Monday
        ((2026, 7, 17, 15, 0), "1d", (2026, 7, 21, 15, 0)),  # 海の日 Monday skipped
        ((2026, 12, 4, 20, 0), "1d", (2026, 12, 7, 18, 0)),  # after hours: that day's close
        ((2026, 12, 5, 8, 0), "1d", (2026, 12, 7, 9, 0)),  # Saturday 8:00: Monday's opening
        ((2026, 12, 3, 12, 30), "1d", (2026, 12, 4, 13, 0)),  # in the lunch break: its end
        ((2026, 12, 28, 10, 0), "3d", (2026, 12, 31, 10, 0)),  # no closures configured
        ((2026, 12, 4, 17, 0), "2h", (2026, 12, 7, 10, 0)),  # hours run over the weekend
        ((2026, 12, 2, 11, 30), "90m", (2026, 12, 2, 14, 0)),  # and over lunch
    ],
)
def test_dues_are_in_business_time(
    calendar: BusinessCalendar,
    start: tuple[int, int, int, int, int],
    offset: str,
    due: tuple[int, int, int, int, int],
) -> None:
    assert due_after(calendar, tokyo(*start), Offset.parse(offset)) == tokyo(*due)


def test_offsets_are_checked() -> None:
    assert str(Offset.parse("24h")) == "24h"
    for bad in ("", "0d", "1w", "1.5h", "91d", "d1"):
        with pytest.raises(ValueError, match=r"offset|90 days"):
            Offset.parse(bad)


def test_the_daily_run_and_a_dated_task(calendar: BusinessCalendar) -> None:
    tz = calendar.tz
    assert next_daily_run(tz, tokyo(2026, 12, 1, 5, 0), time(6)) == tokyo(2026, 12, 1, 6, 0)
    assert next_daily_run(tz, tokyo(2026, 12, 1, 6, 0), time(6)) == tokyo(2026, 12, 2, 6, 0)
    assert start_of_day(calendar, date(2026, 12, 7)) == tokyo(2026, 12, 7, 9, 0)
    assert start_of_day(calendar, date(2026, 12, 5)) == tokyo(2026, 12, 7, 9, 0)  # Saturday


def test_aging_counts_from_the_last_reaction() -> None:
    cadence = default_cadence()
    reacted = tokyo(2026, 12, 1, 10, 0)
    assert not cadence.aged("A", reacted, reacted + timedelta(days=13, hours=23))
    assert cadence.aged("A", reacted, reacted + timedelta(days=14))
    assert not cadence.aged("C", reacted, reacted + timedelta(days=400))
    record = {
        "transcript": [
            {"direction": "in", "at": "2026-12-01T10:00:00+09:00"},
            {"direction": "out", "at": "2026-12-09T10:00:00+09:00"},  # the bot: not a reaction
        ],
        "cases_clicked": {"x": "2026-12-03T10:00:00+09:00", "old": ""},
        "cases_viewed": {"x": "2026-12-04T10:00:00+09:00"},
        "triggers": [{"code": "pricing_views", "at": "2026-12-05T10:00:00+09:00"}],
    }
    assert last_reaction(record) == tokyo(2026, 12, 5, 10, 0)
    record["source"] = {"pages": [{"url": "/", "at": "2026-12-06T10:00:00+09:00"}]}
    assert last_reaction(record) == tokyo(2026, 12, 6, 10, 0)
    assert last_reaction({}) is None


def test_qualification_fields_are_trimmed_limited_and_keyed_for_the_crm() -> None:
    """Blank means not recorded; too long is refused; the stored keys are the event's."""
    from autoreply.domain.crm_events import QualificationPart

    q = Qualification(budget="  予算確保済み ", concerns="", next_action_due=date(2026, 12, 7))
    part = q.to_part()
    assert part["budget"] == "予算確保済み" and part["concerns"] is None
    assert part["next_action_due"] == "2026-12-07"
    assert QualificationPart.model_validate(part).model_dump() == part
    with pytest.raises(ValidationError):
        Qualification(decision_maker="x" * 201)
    with pytest.raises(ValidationError):
        Qualification.model_validate({"bant": "x"})
    assert Qualification().is_empty()


def test_the_form_starts_from_what_the_bot_learnt() -> None:
    record = {
        "challenge": "夜間対応",
        "timing": {
            "text": "来月中旬",
            "described": "2026年12月中旬ごろ",
            "bucket": "within_1_month",
        },
    }
    values = prefill(record, None)
    assert values["challenge"] == "夜間対応"
    assert values["timeline"] == "来月中旬（2026年12月中旬ごろ）"
    assert prefill(record, {"budget": "未定"})["challenge"] is None  # a record stands as saved
