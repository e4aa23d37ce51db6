"""Routing: a routing file is checked with every problem at its line, a lead goes to the team
of the first rule it matches (or the fallback) with a reason a rep can read, and the rep on
shift who waited longest (or has least to do) takes it."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from autoreply.domain.calendar import BusinessCalendar, Closure, WeeklyHours
from autoreply.domain.promise import after_business_time
from autoreply.domain.routing import (
    Candidate,
    Deadlines,
    LeadFacts,
    Routing,
    Team,
    default_routing,
    load_routing,
    next_on_shift,
    parse_routing,
    pick_rep,
    region_of,
    shift_calendar,
)
from autoreply.errors import FlowError
from autoreply.flows.kinds import check_files
from tests.conftest import ROOT

TOKYO = ZoneInfo("Asia/Tokyo")

ROUTING = """\
routing:
  sla: {first_contact_minutes: 5, escalate_after_minutes: 10}
  teams:
    - id: inside_sales
      name: インサイドセールス
      members: [demo-rep@example.com, Sato@Example.com]
      notify: {slack: default, chatwork_room: "123456"}
      manager: {email: [manager@example.com]}
    - id: kansai
      name: 関西チーム
      members: [kansai@example.com]
      sla: {first_contact_minutes: 15}
    - id: enterprise
      name: エンタープライズ
      members: [big@example.com]
      pick: least_loaded
  rules:
    - id: tier_a_web
      when: {tier: [A], channel: [web, line]}
      team: inside_sales
    - id: kansai
      when: {region: [大阪, 京都, 兵庫, 関西]}
      team: kansai
    - id: big_campaign
      when: {utm_source: [google], form: [contact], flow: [demo-ja], industry: [製造業],
             score_min: 60}
      team: enterprise
    - id: mid_score
      when: {score_min: 30, score_max: 59}
      team: enterprise
  fallback: inside_sales
  on_call:
    tiers: [A]
    notify: {slack: https://hooks.example.com/on-call}
  reps:
    Sato@example.com: {slack: U0123ABC, chatwork: 456789}
"""


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


@pytest.fixture
def routing() -> Routing:
    return parse_routing(ROUTING, "routing.yaml")


def problems(text: str) -> list[str]:
    with pytest.raises(FlowError) as caught:
        parse_routing(text, "r.yaml")
    return [str(p) for p in caught.value.problems]


# -- loading ---------------------------------------------------------------------------------


def test_the_example_loads_with_addresses_lower_cased(routing: Routing) -> None:
    """Members and rep mentions are keyed by the lower-cased address; SLAs fall back."""
    team = routing.teams["inside_sales"]
    assert team.members == ("demo-rep@example.com", "sato@example.com")
    assert team.notify.chatwork_room == "123456" and team.notify.teams is None
    contact = routing.contact("SATO@example.com")
    assert contact is not None and (contact.slack, contact.chatwork) == ("U0123ABC", "456789")
    settings = Deadlines(timedelta(minutes=30), timedelta(minutes=60))
    assert routing.deadlines(routing.teams["kansai"], settings) == Deadlines(
        timedelta(minutes=15), timedelta(minutes=10)
    )
    assert default_routing([]).deadlines(default_routing([]).fallback, settings) == settings


def test_unknown_keys_and_bad_values_are_reported_at_their_line() -> None:
    """A typo'd key, an address that is none, a webhook without http(s), a Chatwork room
    that is not digits, a tier D and a channel fax: each at its line and column."""
    text = """\
routing:
  teams:
    - id: a
      name: A
      member: [x@example.com]
      notify: {slack: hooks.slack.com/services/x, chatwork_room: room-1}
    - id: b
      name: B
      members: [b@example.com, not-an-address]
  rules:
    - id: r
      when: {tier: [A, D], channel: [fax]}
      team: a
"""
    assert problems(text) == [
        "r.yaml:3:7: missing required key 'members'",
        "r.yaml:5:7: unknown key 'member'",
        "r.yaml:6:23: routing.teams.0.notify.slack: 'hooks.slack.com/services/x' is neither "
        "'default' nor an http(s) webhook URL",
        "r.yaml:6:66: routing.teams.0.notify.chatwork_room: 'room-1' is neither 'default' nor "
        "a Chatwork room id (digits)",
        "r.yaml:9:32: routing.teams.1.members.1: 'not-an-address' is not an email address",
        "r.yaml:12:24: routing.rules.0.when.tier.1: Input should be 'A', 'B' or 'C'",
        "r.yaml:12:38: routing.rules.0.when.channel.0: "
        "Input should be 'web', 'line', 'form', 'email' or 'cli'",
    ]


def test_references_ids_and_ranges_are_checked_across_the_file() -> None:
    """Duplicate team and rule ids, a rule's unknown team, a wrong fallback, a team with no
    members, score_min above score_max, an empty list, a rule after a catch-all, zero minutes."""
    text = """\
routing:
  sla: {escalate_after_minutes: 0}
  teams:
    - id: a
      name: A
      members: [x@example.com, X@example.com]
    - id: a
      name: B
      members: []
  rules:
    - id: high
      when: {score_min: 80, score_max: 60, industry: []}
      team: nowhere
    - id: high
      when: {}
      team: a
    - id: late
      when: {tier: [B]}
      team: a
  fallback: zzz
"""
    assert problems(text) == [
        "r.yaml:2:33: routing.sla.escalate_after_minutes: "
        "Input should be greater than or equal to 1"
    ]
    assert problems(text.replace("minutes: 0", "minutes: 5")) == [
        "r.yaml:6:32: duplicate member 'x@example.com'",
        "r.yaml:7:11: duplicate team id 'a'",
        "r.yaml:9:16: team 'a' has no members",
        "r.yaml:12:40: score_max 60 is below score_min 80",
        "r.yaml:12:54: an empty industry list matches no lead",
        "r.yaml:13:13: rule 'high': unknown team 'nowhere'",
        "r.yaml:14:11: duplicate rule id 'high'",
        "r.yaml:17:11: rule 'late' never applies: 'high' before it matches every lead",
        "r.yaml:20:13: fallback: unknown team 'zzz'",
    ]


def test_rep_mentions_need_an_address_and_real_ids() -> None:
    """A lower-case Slack id and a Chatwork account with letters at their values; once the
    values are right, a key that is not an address and an address listed twice at the key."""
    text = """\
routing:
  teams:
    - {id: a, name: A, members: [x@example.com]}
  reps:
    sato: {slack: U0123ABC}
    x@example.com: {slack: u0123abc, chatwork: 12ab}
    X@Example.com: {}
"""
    assert problems(text) == [
        "r.yaml:6:28: routing.reps.x@example.com.slack: 'u0123abc' is not a Slack member id "
        "(e.g. U0123ABC)",
        "r.yaml:6:48: routing.reps.x@example.com.chatwork: '12ab' is not a Chatwork account id "
        "(digits)",
    ]
    assert problems(text.replace("u0123abc, chatwork: 12ab", "U1X, chatwork: 1")) == [
        "r.yaml:5:5: 'sato' is not an email address",
        "r.yaml:7:5: rep 'x@example.com' is listed twice",
    ]


def test_a_file_that_is_not_a_routing_file_says_so(tmp_path: Path) -> None:
    """No teams, no routing key, a missing file: each a located problem."""
    assert problems("routing:\n  teams: []\n") == ["r.yaml:2:10: routing needs at least one team"]
    assert problems("- a\n") == ["r.yaml:1:1: a routing file must be a mapping with 'routing:'"]
    with pytest.raises(FlowError, match=r"routing.yaml:1:1: cannot read"):
        load_routing(tmp_path / "routing.yaml")


def test_the_routing_kind_is_checked_by_flow_check(tmp_path: Path) -> None:
    """`flow check` knows a routing file by its key and reports its problems located."""
    (tmp_path / "routing.yaml").write_text(
        ROUTING.replace("team: kansai", "team: kansia"), encoding="utf-8"
    )
    (checked,) = check_files([tmp_path])
    assert checked.kind is not None and checked.kind.name == "routing"
    assert [str(p) for p in checked.problems] == [
        f"{tmp_path}/routing.yaml:23:13: rule 'kansai': unknown team 'kansia'"
    ]
    (shipped,) = check_files([ROOT / "flows" / "routing.yaml"])
    assert shipped.problems == []
    assert shipped.value.route(LeadFacts(tier="A")).team.members == ("demo-rep@example.com",)


# -- which team ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "rule", "why"),
    [
        (
            LeadFacts(tier="A", channel="web"),
            "tier_a_web",
            "ルール tier_a_web（ランクA・Webチャット）",
        ),
        (LeadFacts(tier="a", channel="LINE"), "tier_a_web", "ルール tier_a_web（ランクA・LINE）"),
        (
            LeadFacts(tier="A", channel="form", region="大阪府（関西）"),
            "kansai",
            "ルール kansai（地域 大阪）",
        ),
        (LeadFacts(region="兵庫県 神戸（関西）"), "kansai", "ルール kansai（地域 兵庫）"),
        (LeadFacts(region="和歌山県（関西）"), "kansai", "ルール kansai（地域 関西）"),
        (
            LeadFacts(
                score=72, utm_source="Google", form="contact", flow="demo-ja", industry="製造業"
            ),
            "big_campaign",
            "ルール big_campaign（業種 製造業・流入元 Google・フォーム contact・"
            "フロー demo-ja・スコア72）",
        ),
        (LeadFacts(score=45), "mid_score", "ルール mid_score（スコア45）"),
        (LeadFacts(score=59, industry="製造業"), "mid_score", "ルール mid_score（スコア59）"),
    ],
)
def test_a_lead_goes_to_the_first_rule_it_matches(
    routing: Routing, facts: LeadFacts, rule: str, why: str
) -> None:
    """Each criterion matches case-insensitively; the why text names what matched."""
    route = routing.route(facts)
    assert (route.rule_id, route.why) == (rule, why)


@pytest.mark.parametrize(
    "facts",
    [
        LeadFacts(tier="A", channel="email"),  # tier A, but not from the web or LINE
        LeadFacts(region="東京都（関東）"),  # 京都 is not in 東京都
        LeadFacts(score=72, utm_source="google", form="contact", flow="demo-ja"),  # no industry
        LeadFacts(score=60, utm_source="google", form="contact", flow="demo-en", industry="製造業"),
        LeadFacts(score=29),
        LeadFacts(score=60),
        LeadFacts(),
    ],
)
def test_a_lead_no_rule_matches_goes_to_the_fallback(routing: Routing, facts: LeadFacts) -> None:
    """Every criterion of a rule must hold; an unknown fact matches no criterion."""
    route = routing.route(facts)
    assert (route.team.id, route.rule_id, route.why) == (
        "inside_sales",
        None,
        "該当ルールなし（既定のチーム）",
    )


def test_the_first_matching_rule_wins(routing: Routing) -> None:
    """A tier-A web lead from Osaka matches tier_a_web and kansai: the first one wins."""
    route = routing.route(LeadFacts(tier="A", channel="web", region="大阪府（関西）"))
    assert (route.team.id, route.rule_id) == ("inside_sales", "tier_a_web")


def test_a_rule_without_criteria_takes_every_lead_it_sees() -> None:
    text = ROUTING.split("  rules:")[0] + (
        "  rules:\n    - {id: catch_all, when: {}, team: kansai}\n"
    )
    route = parse_routing(text, "r.yaml").route(LeadFacts())
    assert (route.team.id, route.why) == ("kansai", "ルール catch_all（条件なし）")


def test_on_call_is_for_its_tiers_only(routing: Routing) -> None:
    target = routing.on_call_target("A")
    assert target is not None and target.slack == "https://hooks.example.com/on-call"
    assert routing.on_call_target("B") is None and routing.on_call_target(None) is None


def test_without_a_file_every_rep_is_in_one_sales_team() -> None:
    """The default routing: 「営業」 with every rep, round robin, the settings' targets."""
    routing = default_routing(["Demo-Rep@Example.com", "sato@example.com", "bad"])
    route = routing.route(LeadFacts(tier="A", channel="web"))
    assert (route.team.id, route.team.name, route.rule_id) == ("sales", "営業", None)
    assert route.team.members == ("demo-rep@example.com", "sato@example.com")
    assert route.team.pick == "round_robin"
    notify = route.team.notify
    assert (notify.slack, notify.teams, notify.chatwork_room) == ("default",) * 3


# -- where the lead is -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phone", "explicit", "region"),
    [
        (None, "大阪府", "大阪府（関西）"),
        ("+81 3-3501-1234", "京都", "京都（関西）"),  # what the lead wrote wins over the phone
        (None, "北海道", "北海道"),
        (None, "関西", "関西"),
        ("+81 3-3501-1234", None, "東京都（関東）"),
        ("06-6941-1234", None, "大阪府（関西）"),
        ("052-961-1234", None, "愛知県 名古屋（中部）"),
        ("011-211-1234", None, "北海道 札幌"),
        ("092-711-1234", None, "福岡県（九州・沖縄）"),
        ("090-1234-5678", None, None),  # a mobile says nothing about where
        ("050-1234-5678", None, None),
        ("+1 212-555-0100", None, None),
        (None, "  ", None),
    ],
)
def test_the_region_is_what_the_lead_wrote_else_the_landline_area(
    phone: str | None, explicit: str | None, region: str | None
) -> None:
    assert region_of(phone, explicit) == region


def test_a_region_from_a_phone_number_matches_prefecture_and_area_rules(routing: Routing) -> None:
    """A Kobe landline is 兵庫 and 関西; a Nagoya one matches neither."""
    assert routing.route(LeadFacts(region=region_of("078-321-1234", None))).team.id == "kansai"
    assert routing.route(LeadFacts(region=region_of("052-961-1234", None))).rule_id is None


# -- who takes it ----------------------------------------------------------------------------

TEAM = Team(id="t", name="T", members=("a@example.com", "b@example.com", "c@example.com"))


def rep(
    rep_id: int,
    *,
    hours: WeeklyHours | None = None,
    away: bool = False,
    open_handoffs: int = 0,
    last_assigned_at: datetime | None = None,
) -> Candidate:
    """Rep 1 is a@example.com, rep 2 b@example.com, and so on."""
    email = "abcdefgh"[rep_id - 1] + "@example.com"
    return Candidate(rep_id, email, f"rep {rep_id}", hours, away, open_handoffs, last_assigned_at)


def test_round_robin_goes_round_the_team_when_assignments_are_fed_back(
    cal: BusinessCalendar,
) -> None:
    """Never assigned first in the team's order, then the one assigned longest ago."""
    reps = {r.rep_id: r for r in (rep(3), rep(1), rep(2), rep(4))}  # rep 4 is not a member
    moment = at(2026, 12, 2, 10)
    picked = []
    for minute in range(5):
        now = moment + timedelta(minutes=minute)
        chosen = pick_rep(TEAM, reps.values(), cal, now)
        assert chosen is not None
        picked.append(chosen.rep_id)
        reps[chosen.rep_id] = rep(chosen.rep_id, last_assigned_at=now)
    assert picked == [1, 2, 3, 1, 2]


def test_least_loaded_takes_the_fewest_open_handoffs_ties_by_round_robin(
    cal: BusinessCalendar,
) -> None:
    team = TEAM.model_copy(update={"pick": "least_loaded"})
    now = at(2026, 12, 2, 10)
    reps = [
        rep(1, open_handoffs=3),
        rep(2, open_handoffs=1, last_assigned_at=now - timedelta(minutes=5)),
        rep(3, open_handoffs=1, last_assigned_at=now - timedelta(minutes=50)),
    ]
    chosen = pick_rep(team, reps, cal, now)
    assert chosen is not None and chosen.rep_id == 3
    chosen = pick_rep(TEAM, reps, cal, now)  # round robin ignores the load
    assert chosen is not None and chosen.rep_id == 1


def test_away_excluded_and_off_shift_reps_are_skipped(cal: BusinessCalendar) -> None:
    """Rep 1 is away, rep 2 was tried already, rep 3 works afternoons: at 10:00 nobody, at
    14:00 rep 3."""
    afternoons = WeeklyHours.parse("mon-fri 13:00-18:00")
    reps = [rep(1, away=True), rep(2), rep(3, hours=afternoons)]
    assert pick_rep(TEAM, reps, cal, at(2026, 12, 2, 10), exclude={2}) is None
    chosen = pick_rep(TEAM, reps, cal, at(2026, 12, 2, 14), exclude={2})
    assert chosen is not None and chosen.rep_id == 3
    assert next_on_shift(TEAM, reps, cal, at(2026, 12, 2, 10), exclude={2}) == at(2026, 12, 2, 13)


def test_a_rep_off_on_mondays_leaves_the_company_open_on_mondays(cal: BusinessCalendar) -> None:
    """Rep 1 works tue-fri: on Monday nobody until Tuesday 9:00 for them, while rep 2 (the
    business hours) is on shift on that same Monday."""
    monday = at(2026, 12, 7, 10)
    part_time = [rep(1, hours=WeeklyHours.parse("tue-fri 09:00-18:00"))]
    assert next_on_shift(TEAM, part_time, cal, monday) == at(2026, 12, 8, 9)
    assert cal.is_open(monday) and cal.closed_reason(monday.date()) is None
    chosen = pick_rep(TEAM, [*part_time, rep(2)], cal, monday)
    assert chosen is not None and chosen.rep_id == 2


def test_a_reps_own_hours_cannot_open_what_the_company_has_closed(cal: BusinessCalendar) -> None:
    """A rep who works Saturdays is not on shift on a Saturday the company is closed."""
    reps = [rep(1, hours=WeeklyHours.parse("mon-sat 09:00-18:00"))]
    assert pick_rep(TEAM, reps, cal, at(2026, 12, 5, 10)) is None  # a Saturday
    assert next_on_shift(TEAM, reps, cal, at(2026, 12, 5, 10)) == at(2026, 12, 7, 9)


def test_on_a_holiday_monday_nobody_is_on_shift_until_tuesday_morning(
    cal: BusinessCalendar,
) -> None:
    """海の日 (2026-07-20) is a Monday: nobody picked, the next opening is Tuesday 9:00."""
    reps = [rep(1), rep(2)]
    assert pick_rep(TEAM, reps, cal, at(2026, 7, 20, 10)) is None
    opening = next_on_shift(TEAM, reps, cal, at(2026, 7, 20, 10))
    assert opening == at(2026, 7, 21, 9)
    chosen = pick_rep(TEAM, reps, cal, opening)
    assert chosen is not None and chosen.rep_id == 1


def test_after_the_last_working_day_of_the_year_the_next_shift_is_january_4(
    cal: BusinessCalendar,
) -> None:
    """A lead on Monday 12/28 at 19:00: the year-end closure runs to 1/3, so 1/4 9:00."""
    assert next_on_shift(TEAM, [rep(1)], cal, at(2026, 12, 28, 19)) == at(2027, 1, 4, 9)


def test_nobody_on_shift_within_two_weeks_is_none(cal: BusinessCalendar) -> None:
    assert next_on_shift(TEAM, [rep(1, away=True)], cal, at(2026, 12, 2, 10)) is None
    assert next_on_shift(TEAM, [], cal, at(2026, 12, 2, 10)) is None


def test_the_sla_clock_runs_in_the_owners_shift_across_the_lunch_break(
    cal: BusinessCalendar,
) -> None:
    """A rep working 11:00-15:00 handed a lead at 11:55 with 10 minutes: 13:05 (lunch is not
    counted); handed one at 10:00 (before their shift) with 5 minutes: 11:05."""
    shift = shift_calendar(cal, WeeklyHours.parse("mon-fri 11:00-15:00"))
    assert str(shift.hours) == "mon-fri 11:00-12:00,13:00-15:00"
    wednesday = at(2026, 12, 2)
    assert after_business_time(
        shift, wednesday.replace(hour=11, minute=55), timedelta(minutes=10)
    ) == (wednesday.replace(hour=13, minute=5))
    assert after_business_time(shift, wednesday.replace(hour=10), timedelta(minutes=5)) == (
        wednesday.replace(hour=11, minute=5)
    )
    # Friday 14:58 with ten minutes: Monday 11:08, the company's own calendar untouched.
    friday = at(2026, 12, 4, 14, 58)
    assert after_business_time(shift, friday, timedelta(minutes=10)) == at(2026, 12, 7, 11, 8)
    assert after_business_time(cal, friday, timedelta(minutes=10)) == at(2026, 12, 4, 15, 8)
    assert shift_calendar(cal, None) is cal


def test_the_documented_example_is_valid_and_routes_as_it_says() -> None:
    """The complete example in docs/routing.md loads, and its why texts are the real ones."""
    doc = (ROOT / "docs" / "routing.md").read_text(encoding="utf-8")
    example = re.search(r"## A complete example\n\n```yaml\n(.+?)\n```", doc, re.S)
    assert example
    routing = parse_routing(example.group(1), "docs/routing.md")
    kobe = routing.route(LeadFacts(tier="B", region=region_of("078-321-1234", None)))
    big = routing.route(
        LeadFacts(score=72, utm_source="google", form="contact", flow="demo-ja", industry="製造業")
    )
    for route in (
        routing.route(LeadFacts(tier="A", channel="web")),
        kobe,
        big,
        routing.route(LeadFacts()),
    ):
        assert f"| 「{route.why}」 |" in doc
