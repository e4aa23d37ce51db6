"""The dashboard's arithmetic (domain/kpis.py) and charts (domain/charts.py): exact figures
from small hand-made inputs."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta

import pytest

from autoreply.domain import charts, kpis
from autoreply.domain.kpis import Fact

MONDAY = date(2026, 11, 16)


def fact(n: int, **values: object) -> Fact:
    base: dict[str, object] = {
        "handoff_id": n,
        "week": MONDAY,
        "channel": "web",
        "campaign": "",
        "team": "",
        "owner_id": None,
        "contacted_by": None,
        "in_hours": True,
        "bot_seconds": None,
        "contact_seconds": None,
        "sla": None,
    }
    base.update(values)
    return Fact(**base)  # type: ignore[arg-type]


def test_percentile_interpolates_between_ranks() -> None:
    assert kpis.percentile([], 0.5) is None
    assert kpis.percentile([5], 0.5) == 5.0
    assert kpis.percentile([30, 1, 3], 0.5) == 3.0
    assert kpis.percentile([1, 3, 30], 0.9) == pytest.approx(24.6)
    assert kpis.percentile([1, 2, 3, 4], 0.5) == 2.5
    assert kpis.percentile([1, 2, 3, 4], 0.0) == 1.0
    assert kpis.percentile([1, 2, 3, 4], 1.0) == 4.0


def test_rates_and_means() -> None:
    assert kpis.rate(1, 3) == pytest.approx(1 / 3)
    assert kpis.rate(0, 0) is None
    assert kpis.mean([1, 3, 30]) == pytest.approx(34 / 3)
    assert kpis.mean([]) is None


def test_sla_state() -> None:
    due = datetime(2026, 11, 17, 1, 5, tzinfo=UTC)
    before, after = due - timedelta(minutes=1), due + timedelta(minutes=1)
    assert kpis.sla_state(before, due, after) is True
    assert kpis.sla_state(due, due, after) is True  # at the deadline is in time
    assert kpis.sla_state(after, due, after) is False
    assert kpis.sla_state(None, due, after) is False  # the deadline passed, nobody called
    assert kpis.sla_state(None, due, before) is None  # still running
    assert kpis.sla_state(before, None, after) is None  # no deadline


def test_speed_of_four_handoffs() -> None:
    facts = [
        fact(1, bot_seconds=2.0, contact_seconds=180.0, sla=True),
        fact(2, bot_seconds=4.0, contact_seconds=1800.0, sla=False),
        fact(3, bot_seconds=60.0, sla=False),
        fact(4, contact_seconds=300.0),  # exactly 5 minutes counts as within 5
    ]
    s = kpis.speed(facts)
    assert (s.handoffs, s.contacted, s.within_5, s.sla_met, s.sla_decided) == (4, 3, 2, 1, 3)
    assert s.bot_p50 == 4.0 and s.bot_p90 == pytest.approx(48.8)
    assert s.contact_mean == pytest.approx((3 + 30 + 5) / 3)
    assert s.contact_median == 5.0
    assert s.contact_p90 == pytest.approx(5 + 0.8 * 25)
    assert s.within_5_rate == 0.5 and s.contact_rate == 0.75
    assert s.sla_rate == pytest.approx(1 / 3)
    empty = kpis.speed([])
    assert empty.handoffs == 0 and empty.within_5_rate is None and empty.contact_median is None


def test_split_and_leaderboard() -> None:
    facts = [
        fact(1, contacted_by=7, owner_id=7, contact_seconds=60.0, in_hours=True),
        fact(2, contacted_by=7, owner_id=8, contact_seconds=600.0, in_hours=False),
        fact(3, contacted_by=8, owner_id=8, contact_seconds=120.0),
        fact(4, owner_id=9),  # not contacted: counts for its owner in the split only
    ]
    by_rep = kpis.split(facts, lambda f: f.rep_id)
    assert {k: v.handoffs for k, v in by_rep.items()} == {7: 2, 8: 1, 9: 1}
    by_hours = kpis.split(facts, lambda f: f.in_hours)
    assert by_hours[False].handoffs == 1 and by_hours[True].contacted == 2
    board = kpis.leaderboard(facts)
    assert [(x.rep_id, x.contacted, x.median, x.within_5) for x in board] == [
        (8, 1, 2.0, 1),
        (7, 2, 5.5, 1),
    ]
    assert board[1].within_5_rate == 0.5
    assert kpis.leaderboard(facts, limit=1) == board[:1]


def test_leaderboard_ties_go_to_more_contacts() -> None:
    facts = [
        fact(1, contacted_by=2, contact_seconds=60.0),
        fact(2, contacted_by=1, contact_seconds=60.0),
        fact(3, contacted_by=1, contact_seconds=60.0),
    ]
    assert [x.rep_id for x in kpis.leaderboard(facts)] == [1, 2]


def test_funnel_and_no_shows() -> None:
    facts = [
        fact(1, contact_seconds=1.0, booked=True, held=True, qualified_done=True, qualified=True),
        fact(2, contact_seconds=1.0, booked=True, no_show=True, qualified_done=True),
        fact(3, contact_seconds=1.0, booked=True),
        fact(4),
    ]
    steps = kpis.funnel(8, facts)
    assert [(s.code, s.count) for s in steps] == [
        ("leads", 8),
        ("handoffs", 4),
        ("contacted", 3),
        ("booked", 3),
        ("held", 1),
        ("qualified_done", 2),
        ("qualified", 1),
    ]
    assert [s.conversion for s in steps] == [None, 0.5, 0.75, 1.0, pytest.approx(1 / 3), 2.0, 0.5]
    assert kpis.funnel(0, [])[1].conversion is None
    assert kpis.no_show_rate(facts) == (1, 2, 0.5)
    # a no-show and later a held meeting (rescheduled) is held, not a no-show
    assert kpis.no_show_rate([fact(5, held=True, no_show=True)]) == (0, 1, 0.0)


def test_cases_opened_and_pre_meeting_viewed() -> None:
    clicked = {"a": "2026-11-17T10:00:00+09:00", "z": "2026-11-17T10:00:00+09:00"}
    viewed = {"b": "2026-11-18T10:00:00+09:00"}
    assert kpis.cases_opened(["a", "b", "c", "a"], clicked, viewed) == 2
    assert kpis.pre_meeting_viewed("2026-11-18T09:00:00+09:00", clicked, viewed) is True
    assert kpis.pre_meeting_viewed("2026-11-18T11:00:00+09:00", clicked, viewed) is False
    assert kpis.pre_meeting_viewed(None, clicked, viewed) is False
    assert kpis.pre_meeting_viewed("not a time", clicked, viewed) is False
    assert kpis.pre_meeting_viewed("2026-11-18T09:00:00+09:00", {"a": "junk", "b": ""}, {}) is False


def test_content_figures() -> None:
    facts = [
        fact(1, cases_sent=2, cases_opened=2, pre_meeting_sent=True, pre_meeting_viewed=True),
        fact(2, cases_sent=1, pre_meeting_sent=True),
        fact(3, pre_meeting_viewed=True),  # viewed without a sent email: not counted
    ]
    c = kpis.content(facts)
    assert (c.handoffs_with_cases, c.cases_sent, c.cases_opened) == (2, 3, 2)
    assert (c.pre_meeting_sent, c.pre_meeting_viewed) == (2, 1)
    assert c.open_rate == pytest.approx(2 / 3) and c.pre_meeting_rate == 0.5


def test_weeks() -> None:
    assert kpis.week_of(date(2026, 11, 22)) == MONDAY  # a Sunday
    assert kpis.weeks_between(date(2026, 11, 18), date(2026, 11, 30)) == [
        MONDAY,
        date(2026, 11, 23),
        date(2026, 11, 30),
    ]
    facts = [
        fact(1, contact_seconds=60.0, booked=True),
        fact(2, week=date(2026, 11, 30), held=True, booked=True),
        fact(3, week=date(2026, 1, 5)),  # outside the weeks asked for
    ]
    weeks = kpis.weekly(facts, kpis.weeks_between(MONDAY, date(2026, 11, 30)))
    assert [(w.start, w.speed.handoffs, w.booked, w.held) for w in weeks] == [
        (MONDAY, 1, 1, 0),
        (date(2026, 11, 23), 0, 0, 0),
        (date(2026, 11, 30), 1, 1, 1),
    ]
    assert weeks[1].speed.within_5_rate is None


# -- charts -----------------------------------------------------------------------------------

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert "style" not in svg  # the Content Security Policy forbids inline styles
    return root


def test_bar_chart_exact_geometry() -> None:
    points = [
        charts.Point("11/2", 50.0, "50%"),
        charts.Point("11/9", None),
        charts.Point("11/16", 100.0, "100%"),
    ]
    svg = charts.bar_chart("c1", "5分以内対応率", "11/2の週 50%", points, top=100, unit="%")
    root = _parse(svg)
    assert root.find(f"{SVG}title").text == "5分以内対応率"  # type: ignore[union-attr]
    assert root.find(f"{SVG}desc").text == "11/2の週 50%"  # type: ignore[union-attr]
    assert root.get("aria-labelledby") == "c1-t c1-d"
    rects = root.findall(f"{SVG}rect")
    assert len(rects) == 2  # no bar for the week without data
    # plot: x 40..350 (3 slots of 103.3), y 18..170 (152 high)
    first, last = rects
    assert (first.get("y"), first.get("height")) == ("94", "76")
    assert (last.get("y"), last.get("height")) == ("18", "152")
    assert first.get("x") == _x(0, 3) and last.get("x") == _x(2, 3)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts[:3] == ["0%", "50%", "100%"]
    assert "50%" in texts[3:] and "100%" in texts[3:]
    assert texts[-3:] == ["11/2", "11/9", "11/16"]


def _x(i: int, n: int) -> str:
    slot = 310 / n
    value = round(40 + slot * (i + 0.5) - slot * 0.64 / 2, 1)
    return str(int(value)) if value == int(value) else str(value)


def test_line_chart_breaks_at_missing_values() -> None:
    points = [
        charts.Point("a", 1.0, "1.0"),
        charts.Point("b", 2.0, "2.0"),
        charts.Point("c", None),
        charts.Point("d", 4.0, "4.0"),
    ]
    root = _parse(charts.line_chart("c2", "中央値", "…", points, top=4.0, unit="分"))
    lines = root.findall(f"{SVG}polyline")
    assert len(lines) == 1  # a, b joined; d alone (a mark, no line)
    assert lines[0].get("points") == "78.8,132 156.2,94"
    assert len(root.findall(f"{SVG}circle")) == 3


def test_many_weeks_thin_the_labels_and_drop_the_values() -> None:
    points = [charts.Point(f"w{i}", float(i), str(i)) for i in range(52)]
    root = _parse(charts.bar_chart("c3", "t", "d", points))
    labels = [t.text for t in root.iter(f"{SVG}text") if (t.text or "").startswith("w")]
    assert labels[:3] == ["w0", "w6", "w12"] and len(labels) == 9
    assert len(root.findall(f"{SVG}rect")) == 52  # one per week (a zero is 0 high)
    assert not [t for t in root.iter(f"{SVG}text") if t.text == "51"]


def test_funnel_chart_widths_and_escaping() -> None:
    steps = [
        charts.Point("リード", 200.0, "200"),
        charts.Point("<引き継ぎ>", 100.0, "100（50.0%）"),
        charts.Point("商談化", 0.0, "0（0.0%）"),
    ]
    svg = charts.funnel_chart("c4", "ファネル & 転換", "リード 200、…", steps)
    assert "&lt;引き継ぎ&gt;" in svg and "ファネル &amp; 転換" in svg
    root = _parse(svg)
    widths = [r.get("width") for r in root.findall(f"{SVG}rect")]
    assert widths == ["172", "86", "1"]  # span 360 - 96 - 92; an empty step keeps a sliver
    assert root.get("viewBox") == "0 0 360 86"


def test_empty_charts_are_still_charts() -> None:
    for svg in (
        charts.bar_chart("e1", "t", "d", []),
        charts.line_chart("e2", "t", "d", [charts.Point("a", None)]),
        charts.funnel_chart("e3", "t", "d", [charts.Point("リード", 0.0, "0")]),
    ):
        _parse(svg)
        assert not re.search(r"nan|inf", svg)
