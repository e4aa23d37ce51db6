"""The engine as a pure function: conditions, intents, invalid input, determinism."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from autoreply.domain.booking import RepAvailability
from autoreply.domain.promise import Assigned
from autoreply.flows.engine import Engine
from autoreply.flows.facts import lead_score
from autoreply.flows.intents import IntentMatcher
from autoreply.flows.loader import parse_flow
from autoreply.flows.turns import (
    Book,
    Choices,
    Confirm,
    Context,
    Ended,
    Handoff,
    Inbound,
    OptIn,
    SlotPicker,
    State,
    Text,
)
from autoreply.service.content import Content
from tests.conftest import tokyo

SATURDAY_NIGHT = tokyo(2026, 11, 21, 23, 10)
WEDNESDAY_MORNING = tokyo(2026, 11, 25, 10, 30)


def _ctx(content: Content, **changes: object) -> Context:
    ctx = Context(
        now=SATURDAY_NIGHT,
        calendar=content.calendar,
        library=content.library,
        vocabulary=content.vocabulary,
        reps=[RepAvailability("1")],
        slot_rules=content.rules,
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


def test_the_same_turn_gives_the_same_result(content: Content) -> None:
    """The engine is deterministic: same flow, state, event and context, same output."""
    engine = content.engine("demo-ja")
    ctx = _ctx(content)
    first = engine.turn(State(), Inbound("start"), ctx)
    second = engine.turn(State(), Inbound("start"), ctx)
    assert first == second


def test_greeting_depends_on_now_not_on_the_clock(content: Content) -> None:
    """Open hours come from the context's now: the same flow greets differently by day."""
    engine = content.engine("demo-ja")
    night = engine.turn(State(), Inbound("start"), _ctx(content))
    morning = engine.turn(State(), Inbound("start"), _ctx(content, now=WEDNESDAY_MORNING))
    assert isinstance(night.replies[0], Text) and "営業時間外" in night.replies[0].text
    assert isinstance(morning.replies[0], Text)
    assert "営業時間外" not in morning.replies[0].text
    assert "担当者の対応は本日中になります" in morning.replies[0].text


def test_an_unknown_choice_value_is_asked_again(content: Content) -> None:
    """A tap on a value the step does not offer is not stored; the question comes again."""
    engine = content.engine("demo-ja")
    ctx = _ctx(content)
    started = engine.turn(State(), Inbound("start"), ctx)
    result = engine.turn(started.state, Inbound("choice", value="tomorrow"), ctx)
    assert "timing" not in result.state.slots
    assert result.state.step == "ask_timing" and result.state.tries == 1
    assert isinstance(result.replies[-1], Choices)


def test_a_slot_that_was_not_offered_cannot_be_booked(content: Content) -> None:
    """Picking a slot id that was never offered re-offers instead of booking it."""
    engine = content.engine("demo-ja")
    ctx = _ctx(content)
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
  human: {say: h, follow_up: false}
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
    content: Content, channel: str, now: object, first: str
) -> None:
    """Conditions see the channel, whether the business is open, tags, score and tier."""
    engine = Engine(parse_flow(BRANCHY, "b.yaml"))
    result = engine.turn(State(), Inbound("start"), _ctx(content, channel=channel, now=now))
    texts = [r.text for r in result.replies if isinstance(r, Text)]
    assert texts == [first, "A: 60"]
    assert result.state.tags == ("vip",) and result.state.points == (("大口", 60),)


def test_recommend_never_sends_the_same_case_twice(content: Content) -> None:
    """After a restart the same challenge gets cases not sent before in this conversation."""
    engine = content.engine("demo-ja")
    ctx = _ctx(content)
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
    content: Content, answer: str, texts: list[str], cards: int
) -> None:
    """The intro sees the cases being sent; with none, only the 'empty' message is said."""
    engine = Engine(parse_flow(RECOMMEND, "r.yaml"))
    state = engine.turn(State(), Inbound("start"), _ctx(content)).state
    result = engine.turn(state, Inbound("text", text=answer), _ctx(content))
    assert [r.text for r in result.replies if isinstance(r, Text)] == texts
    assert sum(len(getattr(r, "cards", ())) for r in result.replies) == cards


def _at_offer(engine: Engine, ctx: Context) -> State:
    state = engine.turn(State(), Inbound("start"), ctx).state
    state = engine.turn(state, Inbound("choice", value="within_1_month"), ctx).state
    state = engine.turn(state, Inbound("text", text="人手不足です"), ctx).state
    assert state.step == "offer"
    return state


@pytest.mark.parametrize(
    ("typed", "booked"),
    [
        ("11月24日(火) 11:00", False),  # one digit away from the offered 10:00
        ("11月24日(火) 10:30", False),
        ("11月24日(火) 10:00", True),
        ("１１月２４日(火) １０:００", True),
    ],
)
def test_a_typed_time_books_only_an_offered_slot(
    content: Content, typed: str, booked: bool
) -> None:
    """Typing a time books it only if it is exactly an offered one; otherwise re-offer."""
    engine = content.engine("demo-ja")
    ctx = _ctx(content)
    result = engine.turn(_at_offer(engine, ctx), Inbound("text", text=typed), ctx)
    assert (result.state.booking is not None) == booked
    if booked:
        assert result.state.booking is not None
        assert result.state.booking["start"].startswith("2026-11-24T10:00")
    else:
        assert isinstance(result.replies[-1], SlotPicker)


def test_starting_over_keeps_the_booking_and_sent_cases(content: Content) -> None:
    """最初から forgets the answers but not the booking: no second booking, no resent cases."""
    engine = content.engine("demo-ja")
    ctx = _ctx(content)
    state = _at_offer(engine, ctx)
    slot = state.offered[0]
    state = engine.turn(state, Inbound("slot", value=slot), ctx).state
    sent = state.cases_sent
    again = engine.turn(state, Inbound("text", text="最初から"), ctx)
    assert again.state.booking == state.booking and again.state.cases_sent == sent
    state = engine.turn(again.state, Inbound("choice", value="within_1_month"), ctx).state
    result = engine.turn(state, Inbound("text", text="人手不足です"), ctx)
    assert not any(isinstance(e, Book) for e in result.effects)
    assert not any(isinstance(r, SlotPicker) for r in result.replies)
    assert result.state.step == "ask_name"


def test_a_tapped_slot_is_held_until_the_details_are_complete(content: Content) -> None:
    """The pick holds the slot (no confirmation, no score for a booking); the step with
    ``confirm_booking`` confirms it once name, company and email are in."""
    engine = content.engine("demo-ja")
    ctx = _ctx(content)
    state = _at_offer(engine, ctx)
    picked = engine.turn(state, Inbound("slot", value=state.offered[0]), ctx)
    assert [type(e) for e in picked.effects] == [Book]
    assert picked.state.held and not picked.state.booked
    assert "booked" not in [r.code for r in lead_score(engine.flow, picked.state, ctx).reasons]
    assert "仮予約" in picked.replies[0].text  # type: ignore[union-attr]
    state = picked.state
    for answer in ("山田太郎", "株式会社サンプル"):
        state = engine.turn(state, Inbound("text", text=answer), ctx).state
        assert state.held
    done = engine.turn(state, Inbound("text", text="taro@example.com"), ctx)
    assert Confirm(picked.state.booking["slot_id"]) in done.effects  # type: ignore[index]
    assert done.state.booked and not done.state.held
    assert "承りました" in done.replies[0].text  # type: ignore[union-attr]
    assert "booked" in [r.code for r in lead_score(engine.flow, done.state, ctx).reasons]


def test_a_lapsed_hold_whose_slot_was_taken_offers_slots_again(content: Content) -> None:
    """When the service reports the held slot lost, the confirming step says so and offers
    fresh slots instead of confirming; the details given are kept."""
    engine = content.engine("demo-ja")
    ctx = _ctx(content)
    state = _at_offer(engine, ctx)
    slot = state.offered[0]
    state = engine.turn(state, Inbound("slot", value=slot), ctx).state
    for answer in ("山田太郎", "株式会社サンプル"):
        state = engine.turn(state, Inbound("text", text=answer), ctx).state
    lost = dataclasses.replace(ctx, lost_hold=slot)
    result = engine.turn(state, Inbound("text", text="taro@example.com"), lost)
    assert not any(isinstance(e, Confirm | Handoff) for e in result.effects)
    assert result.state.booking is None and result.state.step == "offer"
    assert "埋まってしまいました" in result.replies[0].text  # type: ignore[union-attr]
    assert isinstance(result.replies[-1], SlotPicker)
    assert result.state.slots["email"] == "taro@example.com"
    again = engine.turn(result.state, Inbound("slot", value=result.state.offered[1]), ctx)
    assert [type(e) for e in again.effects][:2] == [Book, Confirm]  # details known: at once


def test_a_reask_with_no_slots_left_goes_on(content: Content) -> None:
    """If the re-offer finds nothing free, the flow goes to on_decline instead of stalling."""
    engine = content.engine("demo-ja")
    state = _at_offer(engine, _ctx(content))
    result = engine.turn(state, Inbound("text", text="よくわからない"), _ctx(content, reps=[]))
    assert result.state.step == "ask_contact"  # declining: asked how a rep can follow up
    result = engine.turn(result.state, Inbound("text", text="03-1234-5678"), _ctx(content))
    assert result.state.status == "ended"
    assert Handoff("no_booking") in result.effects


def test_a_conversation_whose_step_was_removed_is_handed_off(content: Content) -> None:
    """After a flow is republished without the awaited step, what was said reaches a rep."""
    engine = content.engine("demo-ja")
    state = State(step="no_longer_here", slots={"challenge": "夜間対応"})
    result = engine.turn(state, Inbound("text", text="こんにちは"), _ctx(content))
    assert result.state.status == "ended"
    assert Handoff("flow_changed") in result.effects and Ended() in result.effects


def test_an_opted_out_lead_is_not_answered_unless_they_come_back(content: Content) -> None:
    """After 配信停止 plain messages get no reply; asking for a person re-engages them."""
    engine = content.engine("demo-ja")
    ctx = _ctx(content)
    state = engine.turn(State(), Inbound("start"), ctx).state
    state = engine.turn(state, Inbound("text", text="配信停止"), ctx).state
    silent = engine.turn(state, Inbound("text", text="まだ届いていますか"), ctx)
    assert silent.replies == () and silent.effects == ()
    back = engine.turn(state, Inbound("text", text="担当者と話したい"), ctx)
    assert OptIn() in back.effects and Handoff("asked_for_human") in back.effects
    assert back.replies


def test_an_opted_out_lead_is_tier_c_in_any_conversation(content: Content) -> None:
    """Opting out is a fact about the lead: a new conversation scores them C too."""
    engine = content.engine("demo-ja")
    state = State(
        slots={"timing": {"text": "来月", "start": None, "end": None, "bucket": "within_1_month"}},
        booking={"slot_id": "x"},
    )
    assert lead_score(engine.flow, state, _ctx(content)).tier == "A"
    assert lead_score(engine.flow, state, _ctx(content, lead={"opted_out": True})).tier == "C"


@pytest.mark.parametrize(
    ("text", "bucket"),
    [
        ("10か月以内", "within_12_months"),
        ("1年半以内", "later"),
        ("1か月以内", "within_1_month"),
        ("すぐにでも", "within_1_month"),
    ],
)
def test_typed_timing_is_read_not_fuzzy_matched_to_buttons(
    content: Content, text: str, bucket: str
) -> None:
    """「10か月以内」 is ten months, not the 「1か月以内」 button it resembles."""
    engine = content.engine("demo-ja")
    ctx = _ctx(content)
    state = engine.turn(State(), Inbound("start"), ctx).state
    result = engine.turn(state, Inbound("text", text=text), ctx)
    assert result.state.slots["timing"]["bucket"] == bucket


def test_only_turns_that_can_reach_a_slot_offer_need_availability(content: Content) -> None:
    """Reps and bookings are loaded only for turns that may offer or book a slot."""
    engine = content.engine("demo-ja")
    ctx = _ctx(content)
    start = engine.turn(State(), Inbound("start"), ctx).state
    assert not engine.may_need_slots(State(), Inbound("start"))  # greet -> ask timing
    assert not engine.may_need_slots(start, Inbound("text", text="来月"))  # -> ask challenge
    at_challenge = engine.turn(start, Inbound("text", text="来月"), ctx).state
    assert engine.may_need_slots(at_challenge, Inbound("text", text="人手不足"))  # -> offer
    at_offer = engine.turn(at_challenge, Inbound("text", text="人手不足"), ctx).state
    assert engine.may_need_slots(at_offer, Inbound("slot", value=at_offer.offered[0]))
    assert not engine.may_need_slots(at_challenge, Inbound("text", text="配信停止"))
    # Without the reps, the turn that offers would have had nothing to offer:
    bare = engine.turn(at_challenge, Inbound("text", text="人手不足"), _ctx(content, reps=[]))
    assert not any(isinstance(r, SlotPicker) for r in bare.replies)


@pytest.mark.parametrize(
    ("channel", "lead", "promise"),
    [
        ("line", {}, "担当者より11月24日(火) 9:00以降にご連絡いたします。"),
        (
            "web",
            {"email": "taro@example.com"},
            "担当者より11月24日(火) 9:00以降にご連絡いたします。",
        ),
        ("web", {}, "担当者の対応は11月24日(火) 9:00以降になります。"),
    ],
)
def test_the_greeting_promises_a_call_only_to_a_lead_who_can_be_reached(
    content: Content, channel: str, lead: dict[str, str], promise: str
) -> None:
    """LINE pushes and a known address reach the lead: the greeting promises the call; a
    new web visitor only hears when the team is available (the call is promised later, once
    a way to reach them is known)."""
    engine = content.engine("demo-ja")
    greeting = engine.turn(State(), Inbound("start"), _ctx(content, channel=channel, lead=lead))
    text = greeting.replies[0].text  # type: ignore[union-attr]
    assert promise in text
    assert ("ご連絡いたします" in text) == (promise.endswith("ご連絡いたします。"))


TUESDAY_10 = tokyo(2026, 11, 24, 10)
OWNER_TOLD_NOW = Assigned(
    "デモ担当 山田", TUESDAY_10, tokyo(2026, 11, 24, 10, 5), timedelta(minutes=5), True
)


@pytest.mark.parametrize(
    ("flow", "ask", "said"),
    [
        ("demo-ja", "担当者と話したいです", "担当のデモ担当 山田より5分以内にご連絡いたします。"),
        ("demo-en", "talk to a human", "デモ担当 山田 will contact you within 5 minutes."),
    ],
)
def test_the_handoff_message_names_the_owner_the_sla_makes_true(
    content: Content, flow: str, ask: str, said: str
) -> None:
    """Once the handoff is written (``Context.assigned``), the message that promises the
    call names the owner and the SLA's minutes; the same turn without it keeps the calendar's
    words, and the greeting (before any handoff) never names anyone."""
    engine = content.engine(flow)
    lead = {"email": "taro@example.com"}
    plain = _ctx(content, now=TUESDAY_10, lead=lead)
    greeting = engine.turn(State(), Inbound("start"), plain)
    assert "山田" not in greeting.replies[0].text  # type: ignore[union-attr]
    event = Inbound("text", text=ask)
    before = engine.turn(greeting.state, event, plain)
    after = engine.turn(greeting.state, event, dataclasses.replace(plain, assigned=OWNER_TOLD_NOW))
    assert (after.state, after.effects) == (before.state, before.effects)  # only words differ
    assert said in after.replies[-1].text  # type: ignore[union-attr]
    assert "山田" not in before.replies[-1].text  # type: ignore[union-attr]
    assert any(isinstance(e, Handoff) for e in after.effects)


def _uncertain(engine: Engine, ctx: Context, text: str = "秋") -> State:
    state = engine.turn(State(), Inbound("start"), ctx).state
    result = engine.turn(state, Inbound("text", text=text), ctx)
    assert result.state.slots["timing"]["uncertain"] is True  # kept, marked, until confirmed
    assert result.state.step == "ask_timing" and result.state.confirming is not None
    (reply,) = result.replies
    assert isinstance(reply, Choices)
    assert reply.text == (
        "念のため確認させてください。ご導入の時期は2026年11月21日〜2026年11月30日でよろしいでしょうか？"
    )
    assert [(o.label, o.value) for o in reply.options] == [
        ("はい", "confirm:yes"),
        ("2027年9月〜11月", "confirm:alt:0"),
        ("未定", "confirm:undecided"),
    ]
    assert State.from_dict(result.state.to_dict()) == result.state
    return result.state


@pytest.mark.parametrize(
    ("answer", "start", "bucket"),
    [
        (Inbound("choice", value="confirm:yes"), "2026-11-21", "within_1_month"),
        (Inbound("text", text="はい、そうです"), "2026-11-21", "within_1_month"),
        (Inbound("choice", value="confirm:alt:0"), "2027-09-01", "within_12_months"),
        (Inbound("text", text="いいえ"), "2027-09-01", "within_12_months"),
        (Inbound("choice", value="confirm:undecided"), None, "undecided"),
        (Inbound("text", text="来年の4月です"), "2027-04-01", "within_6_months"),
        (Inbound("text", text="ふむ"), "2026-11-21", "within_1_month"),
        (Inbound("choice", value="within_3_months"), "2026-11-21", "within_3_months"),
    ],
)
def test_an_uncertain_timing_is_confirmed_before_it_is_stored(
    content: Content, answer: Inbound, start: str | None, bucket: str
) -> None:
    """「秋」 in late November: the bot asks once; the answer settles which reading is stored."""
    engine = content.engine("demo-ja")
    ctx = _ctx(content)
    state = _uncertain(engine, ctx)
    result = engine.turn(state, answer, ctx)
    timing = result.state.slots["timing"]
    assert (timing["start"], timing["bucket"]) == (start, bucket)
    said = {"2027-04-01": "来年の4月です", "within_3_months": "3か月以内"}
    assert timing["text"] == said.get(start or "", said.get(bucket, "秋"))
    assert result.state.confirming is None and result.state.step == "ask_challenge"
    kept_uncertain = answer.kind == "text" and answer.text == "ふむ"
    assert timing["uncertain"] is kept_uncertain  # an unreadable reply keeps the doubt for the rep


def test_the_confirming_buttons_are_on_offer_while_the_question_is_open(
    content: Content,
) -> None:
    """Channels refuse a tap that is not on offer (400 in the chat API): the confirming
    question's buttons are, its made-up neighbours and stale ones are not."""
    engine = content.engine("demo-ja")
    ctx = _ctx(content)
    state = _uncertain(engine, ctx)
    for value in ("confirm:yes", "confirm:alt:0", "confirm:undecided", "within_3_months"):
        assert engine.refusal(state, Inbound("choice", value=value)) is None, value
    for value in ("confirm:alt:1", "confirm:maybe", "confirm:keep"):
        assert engine.refusal(state, Inbound("choice", value=value)) is not None, value
    settled = engine.turn(state, Inbound("choice", value="confirm:yes"), ctx).state
    assert engine.refusal(settled, Inbound("choice", value="confirm:yes")) is not None


def test_a_step_can_turn_confirmation_off(content: Content) -> None:
    flow = content.engine("demo-ja").flow
    steps = dict(flow.spec.steps)
    steps["ask_timing"] = steps["ask_timing"].model_copy(update={"confirm_uncertain": False})
    spec = flow.spec.model_copy(update={"steps": steps})
    engine = Engine(dataclasses.replace(flow, spec=spec))
    ctx = _ctx(content)
    state = engine.turn(State(), Inbound("start"), ctx).state
    result = engine.turn(state, Inbound("text", text="秋"), ctx)
    assert result.state.slots["timing"]["uncertain"] is True
    assert result.state.step == "ask_challenge"
