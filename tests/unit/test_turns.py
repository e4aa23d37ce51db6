"""What the engine stores survives the database exactly: state and every kind of reply."""

from __future__ import annotations

import dataclasses
import json

from autoreply.flows.turns import (
    Cards,
    CaseCard,
    Choices,
    Option,
    SlotOption,
    SlotPicker,
    State,
    Text,
    reply_from_dict,
    reply_to_dict,
)
from tests.conftest import tokyo


def test_state_writes_every_field_and_reads_back_equal() -> None:
    """A field added to State without a line in to_dict would be lost between turns."""
    state = State(
        status="ended",
        step="ask",
        slots={"timing": {"bucket": "later"}},
        topics=("a",),
        tags=("t",),
        points=(("why", 5),),
        tries=1,
        cases_sent=("c",),
        offered=("s",),
        offer_step="offer",
        booking={"slot_id": "x"},
        handoff="booked",
    )
    data = state.to_dict()
    assert set(data) == {f.name for f in dataclasses.fields(State)}
    assert State.from_dict(json.loads(json.dumps(data))) == state


def test_every_reply_kind_round_trips_through_json() -> None:
    """Stored replies come back identical (the widget re-renders them after a reload)."""
    start = tokyo(2026, 11, 24, 10)
    replies = [
        Text("こんにちは"),
        Choices("時期は？", (Option("1か月以内", "within_1_month"),), free_text=False),
        Cards((CaseCard("c", "題", "株式会社A", "製造業", "要約", "https://e.x/c", "一致: x"),)),
        SlotPicker(
            "日時は？",
            (SlotOption("id1", start, start, "11月24日(火) 10:00"),),
            Option("今回は予約しない", "decline"),
        ),
    ]
    for reply in replies:
        assert reply_from_dict(json.loads(json.dumps(reply_to_dict(reply)))) == reply
