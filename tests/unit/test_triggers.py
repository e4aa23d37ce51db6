"""Behaviour triggers: the points they add, and how they are kept on a conversation's source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from autoreply.domain import triggers
from autoreply.domain.scoring import Signals, score_lead
from autoreply.service.content import Content

T0 = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # Tuesday 10:00 in Tokyo


def _points(signals: Signals) -> dict[str, int]:
    return {r.code: r.points for r in score_lead(signals).reasons}


def test_the_second_pricing_view_adds_points_and_the_third_does_not() -> None:
    """Viewing the pricing page twice counts (10 each); a third view adds nothing more."""
    assert _points(Signals(pricing_views=1))["pricing_views"] == 10
    assert _points(Signals(pricing_views=2))["pricing_views"] == 20
    assert _points(Signals(pricing_views=3))["pricing_views"] == 20


@pytest.mark.parametrize(
    ("signals", "code", "points", "detail"),
    [
        (Signals(cases_read=1), "case_read", 15, "1"),
        (Signals(cases_read=2), "case_read", 30, "2"),
        (Signals(cases_read=5), "case_read", 30, "5"),  # capped at two cases
        (Signals(return_visits=1), "return_visit", 10, "1"),
        (Signals(return_visits=4), "return_visit", 10, "4"),  # coming back counts once
        (Signals(second_form=True), "second_form", 10, ""),
    ],
)
def test_behaviour_adds_points_with_its_reason(
    signals: Signals, code: str, points: int, detail: str
) -> None:
    """Each behaviour is a reason of its own, with its points and what it counted."""
    score = score_lead(signals)
    reason = next(r for r in score.reasons if r.code == code)
    assert (reason.points, reason.detail) == (points, detail)
    assert score.points == points


def test_a_considering_lead_crosses_into_tier_a_by_behaviour_alone() -> None:
    """Undecided but with a challenge and a pricing view (Tier B): the second pricing view,
    a click and a case read to the end make it Tier A, the read being what crosses."""
    base = Signals(timing_bucket="undecided", challenge=True, topics=1, pricing_views=1)
    assert score_lead(base).tier == "B"
    clicked = Signals(
        timing_bucket="undecided", challenge=True, topics=1, pricing_views=2, cases_clicked=1
    )
    assert (score_lead(clicked).tier, score_lead(clicked).points) == ("B", 50)
    read = Signals(
        timing_bucket="undecided",
        challenge=True,
        topics=1,
        pricing_views=2,
        cases_clicked=1,
        cases_read=1,
    )
    assert (score_lead(read).tier, score_lead(read).points) == ("A", 65)


def test_the_issue_example_is_tier_a() -> None:
    """Timing within a month, a challenge, pricing twice and a case read: Tier A."""
    score = score_lead(
        Signals(timing_bucket="within_1_month", challenge=True, pricing_views=2, cases_read=1)
    )
    assert (score.tier, score.points) == ("A", 85)


def test_an_opted_out_lead_stays_tier_c_whatever_they_do() -> None:
    score = score_lead(
        Signals(cases_read=2, return_visits=1, second_form=True, pricing_views=2, opted_out=True)
    )
    assert score.tier == "C"


def test_triggers_are_kept_in_order_with_their_time_and_detail() -> None:
    source = triggers.fire({}, "pricing_views", T0, "1")
    source = triggers.fire(source, "case_read", T0 + timedelta(minutes=3), "maker-night")
    assert source["triggers"] == [
        {"code": "pricing_views", "at": "2026-11-24T01:00:00+00:00", "detail": "1"},
        {"code": "case_read", "at": "2026-11-24T01:03:00+00:00", "detail": "maker-night"},
    ]
    assert triggers.count(source, "case_read") == 1
    assert triggers.count(source, "return_visit") == 0


def test_only_the_newest_triggers_are_kept() -> None:
    source: dict[str, object] = {}
    for i in range(triggers.MAX_TRIGGERS + 5):
        source = triggers.fire(source, "return_visit", T0 + timedelta(hours=i))
    kept = triggers.triggers_of(source)
    assert len(kept) == triggers.MAX_TRIGGERS
    assert kept[-1].at == (T0 + timedelta(hours=triggers.MAX_TRIGGERS + 4)).isoformat()


def test_malformed_stored_triggers_are_skipped() -> None:
    source = {"triggers": ["x", {"at": "t"}, {"code": "second_form", "at": "t"}]}
    assert triggers.triggers_of(source) == [triggers.Trigger("second_form", "t")]
    assert triggers.case_reads({"case_reads": ["not", "a", "map"]}) == {}


def test_a_return_is_more_than_thirty_minutes_after_the_last_activity() -> None:
    """The last activity is the later of the last turn and what was noted outside one."""
    source = triggers.seen({}, T0 + timedelta(minutes=20))
    last = triggers.last_seen(source, T0)
    assert last == T0 + timedelta(minutes=20)
    assert not triggers.returned([last], T0 + timedelta(minutes=50))
    assert triggers.returned([last], T0 + timedelta(minutes=51))
    assert not triggers.returned([], T0)  # nothing before: a first visit, not a return
    assert triggers.last_seen({"last_seen_at": "garbage"}, T0) == T0
    assert triggers.last_seen({"last_seen_at": "2026-11-24T05:00:00"}, T0) == T0  # naive


def test_the_labels_name_every_trigger(content: Content) -> None:
    """The rep pages and both notice languages name each new reason in words."""
    record = {
        "lead": {},
        "score": 45,
        "reasons": [
            {"code": "case_read", "points": 15, "detail": "1"},
            {"code": "return_visit", "points": 10, "detail": "1"},
            {"code": "second_form", "points": 10, "detail": ""},
        ],
    }
    ja = content.texts.render("notify/notice", "ja", part="why", r=record)
    assert "事例を最後まで閲覧" in ja and "再訪問" in ja and "2回目のフォーム送信" in ja
    en = content.texts.render("notify/notice", "en", part="why", r=record)
    assert "case study read to the end" in en and "came back" in en and "second form" in en
    codes = ["case_read"]
    assert content.texts.render("notify/notice", "ja", part="trigger", codes=codes) == (
        "事例を最後まで閲覧"
    )
