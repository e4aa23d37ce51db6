"""The engine as a pure function: conditions, intents, invalid input, determinism."""

from __future__ import annotations

import dataclasses

import pytest

from autoreply.bootstrap import Domain
from autoreply.domain.booking import RepAvailability
from autoreply.flows.engine import Engine
from autoreply.flows.intents import IntentMatcher
from autoreply.flows.loader import parse_flow
from autoreply.flows.turns import Choices, Context, Inbound, SlotPicker, State, Text
from tests.conftest import tokyo

SATURDAY_NIGHT = tokyo(2026, 11, 21, 23, 10)
WEDNESDAY_MORNING = tokyo(2026, 11, 25, 10, 30)


def _ctx(domain: Domain, **changes: object) -> Context:
    ctx = Context(
        now=SATURDAY_NIGHT,
        calendar=domain.calendar,
        library=domain.library,
        vocabulary=domain.vocabulary,
        reps=[RepAvailability("1")],
        slot_rules=domain.rules,
    )
    return dataclasses.replace(ctx, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("担当者と話したい", "human"),
        ("担当者と話したいです。", "human"),
        ("担当者と話したいです！", "human"),
        ("人と話したい", "human"),
        ("Talk to a human", "human"),
        ("I want to talk to a person", "human"),
        ("配信停止", "stop"),
        ("配信停止してください", "stop"),
        ("ＳＴＯＰ", "stop"),
        ("stop", "stop"),
        ("最初から", "restart"),
        ("最初からやり直したい", "restart"),
        ("start over", "restart"),
        # Not intents: the phrase appears inside a longer, different message.
        ("営業担当者と話す時間が取れないのが課題です", None),
        ("we need to stop losing leads at night", None),
        ("停止", None),
        ("最初からExcelで管理しているので移行が大変", None),
        ("来月", None),
        ("", None),
    ],
)
def test_intents_match_whole_requests_only(text: str, intent: str | None) -> None:
    """Intent phrases match after NFKC normalisation, but not inside unrelated sentences."""
    assert IntentMatcher().match(text) == intent


def test_flows_can_add_their_own_intent_phrases() -> None:
    """A flow's extra phrases are recognised like the built-in ones."""
    assert IntentMatcher({"human": ["営業さんを呼んで"]}).match("営業さんを呼んで") == "human"


def test_the_same_turn_gives_the_same_result(domain: Domain) -> None:
    """The engine is deterministic: same flow, state, event and context, same output."""
    engine = domain.engine("demo-ja")
    ctx = _ctx(domain)
    first = engine.turn(State(), Inbound("start"), ctx)
    second = engine.turn(State(), Inbound("start"), ctx)
    assert first == second


def test_greeting_depends_on_now_not_on_the_clock(domain: Domain) -> None:
    """Open hours come from the context's now: the same flow greets differently by day."""
    engine = domain.engine("demo-ja")
    night = engine.turn(State(), Inbound("start"), _ctx(domain))
    morning = engine.turn(State(), Inbound("start"), _ctx(domain, now=WEDNESDAY_MORNING))
    assert isinstance(night.replies[0], Text) and "営業時間外" in night.replies[0].text
    assert isinstance(morning.replies[0], Text)
    assert "営業時間外" not in morning.replies[0].text
    assert "折り返しご連絡" in morning.replies[0].text


def test_an_unknown_choice_value_is_asked_again(domain: Domain) -> None:
    """A tap on a value the step does not offer is not stored; the question comes again."""
    engine = domain.engine("demo-ja")
    ctx = _ctx(domain)
    started = engine.turn(State(), Inbound("start"), ctx)
    result = engine.turn(started.state, Inbound("choice", value="tomorrow"), ctx)
    assert "timing" not in result.state.slots
    assert result.state.step == "ask_timing" and result.state.tries == 1
    assert isinstance(result.replies[-1], Choices)


def test_a_slot_that_was_not_offered_cannot_be_booked(domain: Domain) -> None:
    """Picking a slot id that was never offered re-offers instead of booking it."""
    engine = domain.engine("demo-ja")
    ctx = _ctx(domain)
    state = engine.turn(State(), Inbound("start"), ctx).state
    state = engine.turn(state, Inbound("choice", value="within_1_month"), ctx).state
    state = engine.turn(state, Inbound("text", text="人手不足です"), ctx).state
    assert state.step == "offer"
    result = engine.turn(state, Inbound("slot", value="20261124T0300+0900-30"), ctx)
    assert result.state.booking is None
    assert result.effects == ()
    assert isinstance(result.replies[-1], SlotPicker)


FLOW_HEAD = """\
flow: b
locale: ja
slots:
  challenge: {type: text, topics: true}
intents:
  human: {say: h}
  stop: {say: s}
  restart: {say: r}
messages:
  after_end: e
steps:
"""

BRANCHY = (
    FLOW_HEAD
    + """\
  route:
    branch:
      - if: channel == 'line'
        goto: line
      - if: not open_now
        goto: closed
      - else: open
  line:
    say: LINEです
    next: score
  closed:
    say: 営業時間外です
    next: score
  open:
    say: 営業中です
  score:
    set: {tags: [vip], score: 60, reason: 大口}
  tiered:
    branch:
      - if: tier == 'A' and 'vip' in tags and score >= 60
        goto: hot
      - else: cold
  hot:
    end: true
    say: 'A: {{ score }}'
  cold:
    end: true
    say: cold
"""
)


@pytest.mark.parametrize(
    ("channel", "now", "first"),
    [
        ("line", SATURDAY_NIGHT, "LINEです"),
        ("web", SATURDAY_NIGHT, "営業時間外です"),
        ("web", WEDNESDAY_MORNING, "営業中です"),
    ],
)
def test_branches_read_channel_open_now_tags_and_tier(
    domain: Domain, channel: str, now: object, first: str
) -> None:
    """Conditions see the channel, whether the business is open, tags, score and tier."""
    engine = Engine(parse_flow(BRANCHY, "b.yaml"))
    result = engine.turn(State(), Inbound("start"), _ctx(domain, channel=channel, now=now))
    texts = [r.text for r in result.replies if isinstance(r, Text)]
    assert texts == [first, "A: 60"]
    assert result.state.tags == ("vip",) and result.state.points == (("大口", 60),)


def test_recommend_never_sends_the_same_case_twice(domain: Domain) -> None:
    """After a restart the same challenge gets cases not sent before in this conversation."""
    engine = domain.engine("demo-ja")
    ctx = _ctx(domain)
    state = engine.turn(State(), Inbound("start"), ctx).state
    state = engine.turn(state, Inbound("choice", value="within_1_month"), ctx).state
    first = engine.turn(state, Inbound("text", text="夜間の問い合わせ対応が遅れている"), ctx)
    sent = set(first.state.cases_sent)
    assert sent
    again = dataclasses.replace(first.state, step="ask_challenge", tries=0)
    second = engine.turn(again, Inbound("text", text="夜間の問い合わせ対応が遅れている"), ctx)
    assert not sent & (set(second.state.cases_sent) - sent)
    assert len(second.state.cases_sent) > len(sent)


RECOMMEND = (
    FLOW_HEAD
    + """\
  hello:
    say: こんにちは
  q:
    ask: challenge
    say: 課題は？
  cases:
    recommend: {query: "{{ slots.challenge }}"}
    say: "{% if cases|length > 1 %}事例を{{ cases|length }}件お送りします{% endif %}"
    empty: 該当する事例はありませんでした
  done:
    end: true
"""
)


@pytest.mark.parametrize(
    ("answer", "texts", "cards"),
    [
        ("夜間の問い合わせ対応が遅れていて人手も足りない", ["事例を3件お送りします"], 3),
        ("特になし", ["該当する事例はありませんでした"], 0),
    ],
)
def test_recommend_says_its_intro_with_the_cases_or_empty_without(
    domain: Domain, answer: str, texts: list[str], cards: int
) -> None:
    """The intro sees the cases being sent; with none, only the 'empty' message is said."""
    engine = Engine(parse_flow(RECOMMEND, "r.yaml"))
    state = engine.turn(State(), Inbound("start"), _ctx(domain)).state
    result = engine.turn(state, Inbound("text", text=answer), _ctx(domain))
    assert [r.text for r in result.replies if isinstance(r, Text)] == texts
    assert sum(len(getattr(r, "cards", ())) for r in result.replies) == cards
