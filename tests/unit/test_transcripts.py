"""Whole conversations, read from tests/transcripts/*.yaml, run through the pure engine.

A transcript says at what moment the lead writes, what they say (``lead``), tap
(``choose``), or pick (``pick``: the n-th offered slot; ``decline``), and what the bot
must answer, reply by reply. See tests/transcripts/README.md for the format.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from autoreply.domain.booking import Busy, RepAvailability
from autoreply.flows.engine import DECLINE
from autoreply.flows.facts import lead_score
from autoreply.flows.turns import (
    Book,
    Cards,
    Choices,
    Confirm,
    Context,
    Effect,
    Ended,
    Handoff,
    Inbound,
    LeadUpdate,
    OptOut,
    Reply,
    SlotPicker,
    State,
)
from autoreply.service.content import Content
from tests.conftest import TOKYO

HERE = Path(__file__).resolve().parents[1] / "transcripts"
TRANSCRIPTS = sorted(HERE.glob("*.yaml"))


def _effect_names(effects: tuple[Effect, ...]) -> list[str]:
    names = []
    for effect in effects:
        if isinstance(effect, Handoff):
            names.append(f"handoff:{effect.reason}")
        elif isinstance(effect, Book):
            names.append("hold")
        elif isinstance(effect, Confirm):
            names.append("confirm")
        elif isinstance(effect, OptOut):
            names.append("opt_out")
        elif isinstance(effect, Ended):
            names.append("ended")
        elif isinstance(effect, LeadUpdate):
            names.extend(f"lead:{k}" for k in effect.fields)
        else:
            names.append("cases_sent")
    return names


def _check_reply(reply: Reply, expected: dict[str, Any], where: str) -> None:
    text = getattr(reply, "text", "")
    if "say" in expected:
        assert text == expected["say"].strip(), where
    if "contains" in expected:
        wanted = expected["contains"]
        for part in wanted if isinstance(wanted, list) else [wanted]:
            assert part in text, f"{where}: {part!r} not in {text!r}"
    if "not_contains" in expected:
        assert expected["not_contains"] not in text, where
    if "choices" in expected:
        assert isinstance(reply, Choices), f"{where}: expected choices, got {reply.kind}"
        assert [o.label for o in reply.options] == expected["choices"], where
    if "cards" in expected:
        assert isinstance(reply, Cards), f"{where}: expected cards, got {reply.kind}"
        ids = [c.id for c in reply.cards]
        wanted = expected["cards"]
        if isinstance(wanted, int):
            assert len(ids) == wanted, f"{where}: {ids}"
        else:
            assert ids[: len(wanted)] == wanted, f"{where}: got {ids}"
    if "slots" in expected:
        assert isinstance(reply, SlotPicker), f"{where}: expected slots, got {reply.kind}"
        wanted = expected["slots"]
        labels = [s.label for s in reply.slots]
        if isinstance(wanted, int):
            assert len(labels) == wanted, f"{where}: {labels}"
        else:
            assert labels == wanted, f"{where}: got {labels}"
    if expected.get("kind"):
        assert reply.kind == expected["kind"], where


def _event(turn: dict[str, Any], last_picker: SlotPicker | None) -> Inbound:
    if "lead" in turn:
        return Inbound("text", text=str(turn["lead"]))
    if "choose" in turn:
        return Inbound("choice", value=str(turn["choose"]))
    if "pick" in turn:
        assert last_picker is not None, "pick without an offer"
        slot = last_picker.slots[int(turn["pick"]) - 1]
        return Inbound("slot", text=slot.label, value=slot.id)
    if turn.get("decline"):
        return Inbound("slot", value=DECLINE)
    raise AssertionError(f"a turn needs lead/choose/pick/decline: {turn}")


def _moment(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    assert moment.tzinfo is not None, f"transcript times need an offset: {value}"
    return moment.astimezone(TOKYO)


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=[p.stem for p in TRANSCRIPTS])
def test_transcript(path: Path, content: Content) -> None:
    """The bot answers each line of the transcript exactly as written down."""
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    engine = content.engine(spec["flow"])
    at = _moment(spec["at"])
    busy = [Busy("1", _moment(b[0]), _moment(b[1])) for b in spec.get("busy", [])]
    ctx = Context(
        now=at,
        calendar=content.calendar,
        library=content.library,
        vocabulary=content.vocabulary,
        channel=spec.get("channel", "web"),
        lead=spec.get("lead", {}),
        reps=[RepAvailability("1")],
        busy=busy,
        slot_rules=content.rules,
        source=spec.get("source", {}),
    )
    state = State()
    last_picker: SlotPicker | None = None
    for number, turn in enumerate(spec["turns"], 1):
        event = Inbound("start") if number == 1 and "start" in turn else _event(turn, last_picker)
        result = engine.turn(state, event, ctx)
        where = f"{path.name} turn {number}"
        expected = turn.get("bot", [])
        assert len(result.replies) == len(expected), (
            f"{where}: {len(result.replies)} replies: "
            + " | ".join(getattr(r, "text", r.kind) for r in result.replies)
        )
        for i, (reply, wanted) in enumerate(zip(result.replies, expected, strict=True), 1):
            _check_reply(reply, wanted, f"{where} reply {i}")
        if "effects" in turn:
            assert _effect_names(result.effects) == turn["effects"], where
        pickers = [r for r in result.replies if isinstance(r, SlotPicker)]
        last_picker = pickers[-1] if pickers else last_picker
        # Every state must survive the database: stored as JSON, read back identically.
        state = State.from_dict(yaml.safe_load(yaml.safe_dump(result.state.to_dict())))
        assert state == result.state, where
    final = spec.get("final", {})
    for key, value in final.items():
        if key == "tier":
            assert lead_score(engine.flow, state, ctx).tier == value
        elif key == "timing_bucket":
            assert state.slots["timing"]["bucket"] == value
        elif key == "slots":
            for name, slot_value in value.items():
                assert state.slots.get(name) == slot_value, name
        elif key in ("tags", "topics", "cases_sent"):
            assert list(getattr(state, key)) == value, key
        else:
            assert getattr(state, key) == value, key


def test_transcripts_exist() -> None:
    """The transcript folder is not empty (a glob that finds nothing tests nothing)."""
    assert len(TRANSCRIPTS) >= 8
