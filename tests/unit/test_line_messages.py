"""LINE's wire format: signatures, webhook bodies, and replies within the API's limits."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import pytest

from autoreply.channels.line.wire import (
    MAX_TEXT_UNITS,
    Labels,
    WebhookError,
    parse_webhook,
    render,
    split_text,
    utf16_units,
    valid_signature,
)
from autoreply.flows.turns import Cards, CaseCard, Choices, Option, SlotOption, SlotPicker, Text
from tests.conftest import tokyo

LABELS = Labels(
    read_story="事例を見る",
    cases_alt="導入事例：",
    cancel_booking="予約をキャンセルする",
    reschedule_booking="日時を変更する",
)
SHORT = "https://example.co.jp/b/c1k.tv13co.ddac747126af24c65846"


def _link(case_id: str) -> str:
    return f"http://127.0.0.1:8000/r/c/{case_id}"


def test_the_signature_is_base64_hmac_of_the_exact_bytes() -> None:
    """One changed byte, another secret, a missing or non-Base64 header: all refused."""
    body = '{"events": [], "x": "日本語"}'.encode()
    good = base64.b64encode(hmac.new(b"secret", body, hashlib.sha256).digest()).decode()
    assert valid_signature("secret", body, good)
    assert not valid_signature("secret", body + b" ", good)
    assert not valid_signature("other", body, good)
    assert not valid_signature("secret", body, None)
    assert not valid_signature("secret", body, "not base64!")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[1, 2]", "'events' list"),
        (b'{"events": {}}', "'events' list"),
        (b'{"events": [1]}', "not an object"),
        (b'{"events": [{"type": "follow", "timestamp": 1}]}', "webhookEventId"),
        (b'{"events": [{"webhookEventId": "a", "timestamp": 1}]}', "type"),
        (b'{"events": [{"webhookEventId": "a", "type": "x", "timestamp": "1"}]}', "timestamp"),
        ('{"events": "\xff"}'.encode("latin-1"), "not JSON"),
    ],
)
def test_bodies_line_would_not_send_are_refused_with_a_reason(body: bytes, reason: str) -> None:
    """Every refusal says what is wrong."""
    with pytest.raises(WebhookError, match=reason):
        parse_webhook(body)


def test_a_webhook_body_keeps_every_event_as_sent() -> None:
    """Ids, types and timestamps are read; the raw event is kept for handling later."""
    event = {"webhookEventId": "01H", "type": "follow", "timestamp": 1, "source": {"type": "user"}}
    [parsed] = parse_webhook(json.dumps({"events": [event]}).encode())
    assert (parsed.id, parsed.type, parsed.timestamp, parsed.raw) == ("01H", "follow", 1, event)
    assert parse_webhook(b'{"destination": "U", "events": []}') == []


def test_long_text_is_split_by_utf16_units_at_line_ends() -> None:
    """An emoji counts two units; pieces stay within 5000 and break at a newline."""
    assert utf16_units("日本語😀") == 5
    line = "あ" * 99 + "\n"
    text = line * 120  # 12,000 units
    pieces = split_text(text)
    assert len(pieces) == 3 and all(utf16_units(p) <= MAX_TEXT_UNITS for p in pieces)
    assert all(p.endswith("あ") for p in pieces[:-1])  # cut at line ends
    assert "\n".join(pieces) == text  # nothing lost
    emoji = "😀" * 3000  # 6000 units, no newline: cut between emoji, never inside one
    assert [utf16_units(p) for p in split_text(emoji)] == [5000, 1000]


def test_choices_become_at_most_13_quick_replies_on_the_last_message() -> None:
    """Labels longer than 20 characters are shortened; the data stays within 300."""
    options = tuple(Option(f"とても長い選択肢のラベルその{i}です", f"v{i}") for i in range(15))
    messages = render(
        [Text("こんにちは"), Choices("どれにしますか？", options)], case_link=_link, labels=LABELS
    )
    assert [m["type"] for m in messages] == ["text", "text"]
    assert "quickReply" not in messages[0]
    items = messages[-1]["quickReply"]["items"]
    assert len(items) == 13
    assert all(len(i["action"]["label"]) <= 20 and len(i["action"]["data"]) <= 300 for i in items)
    assert items[0]["action"]["displayText"] == options[0].label


def test_slots_are_quick_replies_with_the_decline_last() -> None:
    """At most 12 slots plus the decline, each label the full date and time."""
    start = tokyo(2026, 11, 24, 10, 0)
    slots = tuple(
        SlotOption(f"s{i}", start + timedelta(hours=i), start, f"11月24日(火) {10 + i}:00")
        for i in range(14)
    )
    picker = SlotPicker(
        "ご都合のよい日時をお選びください。", slots, Option("今回は予約しない", "decline")
    )
    [message] = render([picker], case_link=_link, labels=LABELS)
    labels = [i["action"]["label"] for i in message["quickReply"]["items"]]
    assert (
        len(labels) == 13 and labels[0] == "11月24日(火) 10:00" and labels[-1] == "今回は予約しない"
    )


def test_case_studies_become_a_carousel_of_at_most_12_tracked_bubbles() -> None:
    """Every bubble links through the tracking redirect; alt text names the cases."""
    cards = Cards(
        tuple(
            CaseCard(f"c{i}", f"事例{i}", f"株式会社{i}", "製造業", "要約" * 200, "https://x", "")
            for i in range(14)
        )
    )
    [message] = render([cards], case_link=_link, labels=LABELS)
    bubbles = message["contents"]["contents"]
    assert message["type"] == "flex" and len(bubbles) == 12
    assert bubbles[0]["footer"]["contents"][0]["action"]["uri"] == _link("c0")
    assert (
        message["altText"].startswith("導入事例： 事例0 / 事例1")
        and len(message["altText"]) <= 1500
    )


def test_a_short_booking_link_becomes_a_button_under_the_text_with_its_lines() -> None:
    """The booked message on LINE: one bubble, the text's lines kept without the URL (the
    colon before it becomes a full stop), a URI button, the whole text as alt text."""
    text = (
        "ありがとうございます。11月24日(火) 10:00からのお打ち合わせを承りました。\n"
        "確認のご案内を taro@example.com にお送りいたします。\n"
        f"ご都合が悪くなった場合は、こちらからキャンセルいただけます：{SHORT}"
    )
    choices = Choices("ほかにご質問はございますか？", (Option("はい", "yes"),))
    messages = render([Text(text), choices], case_link=_link, labels=LABELS)
    bubble = messages[0]
    assert bubble["type"] == "flex" and bubble["altText"] == text
    said = bubble["contents"]["body"]["contents"][0]["text"]
    assert said.splitlines() == [
        "ありがとうございます。11月24日(火) 10:00からのお打ち合わせを承りました。",
        "確認のご案内を taro@example.com にお送りいたします。",
        "ご都合が悪くなった場合は、こちらからキャンセルいただけます。",
    ]
    [button] = bubble["contents"]["footer"]["contents"]
    assert button["action"] == {"type": "uri", "label": "予約をキャンセルする", "uri": SHORT}
    assert "quickReply" in messages[-1] and "quickReply" not in bubble


def test_other_links_and_unlabelled_ones_stay_text() -> None:
    reschedule = SHORT.replace("/b/c", "/b/r")
    plain = "詳しくは https://example.co.jp/pricing をご覧ください。"
    assert render([Text(plain)], case_link=_link, labels=LABELS) == [
        {"type": "text", "text": plain}
    ]
    no_labels = Labels(read_story="事例を見る", cases_alt="導入事例：")
    both = f"キャンセル：{SHORT}\n変更：{reschedule}"
    assert render([Text(both)], case_link=_link, labels=no_labels)[0]["type"] == "text"
    two = render([Text(both)], case_link=_link, labels=LABELS)[0]
    labels = [b["action"]["label"] for b in two["contents"]["footer"]["contents"]]
    assert labels == ["予約をキャンセルする", "日時を変更する"]
    assert two["contents"]["body"]["contents"][0]["text"] == "キャンセル。\n変更。"
