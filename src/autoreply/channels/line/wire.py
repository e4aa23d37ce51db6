"""LINE as a channel: webhook events in, channel-neutral events; replies out, LINE messages.

Pure: no HTTP and no SDK client here (``delivery.line`` sends, ``line_inbox`` dispatches).
Replies become LINE message objects within the Messaging API's limits: choices and slot
offers as quick replies (at most 13, labels at most 20 characters, postback data at most
300), case studies as a Flex carousel (at most 12 bubbles, with alt text), text split at
5000 UTF-16 units.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard
from urllib.parse import parse_qs, urlencode

from linebot.v3.webhook import SignatureValidator

from autoreply import graphemes, jsonbody
from autoreply.domain.leads import free_text
from autoreply.errors import WebhookError
from autoreply.flows.turns import Cards, Choices, Inbound, Reply, SlotPicker, Text

__all__ = [
    "MAX_BUBBLES",
    "MAX_MESSAGES",
    "MAX_QUICK_REPLIES",
    "MAX_TEXT_UNITS",
    "Labels",
    "LineEvent",
    "inbound_of",
    "parse_webhook",
    "postback_data",
    "render",
    "split_text",
    "utf16_units",
    "valid_signature",
]

MAX_TEXT_UNITS = 5000
MAX_QUICK_REPLIES = 13
MAX_LABEL = 20
MAX_POSTBACK = 300
MAX_BUBBLES = 12
MAX_ALT_TEXT = 1500
MAX_MESSAGES = 5
MAX_TIMESTAMP = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z in ms: the last datetime
MAX_USER_ID = 33  # "U" and 32 hex digits
_ID = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)


@dataclass(frozen=True)
class LineEvent:
    """One webhook event, checked enough to store and order it (the raw event is kept)."""

    id: str  # webhookEventId
    type: str
    timestamp: int  # ms since the epoch: LINE's order, whatever order delivery took
    raw: Mapping[str, Any]


def valid_signature(channel_secret: str, body: bytes, signature: str | None) -> bool:
    """``x-line-signature`` is Base64(HMAC-SHA256(channel secret, body)), checked in
    constant time by line-bot-sdk; a body that is not UTF-8 is not LINE's."""
    if not signature:
        return False
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return bool(SignatureValidator(channel_secret).validate(text, signature))


def parse_webhook(body: bytes) -> list[LineEvent]:
    """The events of a webhook body; ``WebhookError`` says why a body is unusable.

    Whatever the events are stored and looked up by is checked here, so a signed body that
    LINE would never send is refused (400) rather than stored: the event id, the type, the
    timestamp (ms, 0 up to the year 9999) and the sender's ``userId`` (text of at most 33
    letters and digits, as LINE's ``U`` + 32 hex digits).
    """
    try:
        data = jsonbody.loads(body)
    except ValueError as exc:
        raise WebhookError(str(exc)) from exc
    if not isinstance(data, dict) or not isinstance(data.get("events"), list):
        raise WebhookError("the body must be an object with an 'events' list")
    events = []
    for index, event in enumerate(data["events"]):
        if not isinstance(event, dict):
            raise WebhookError(f"events[{index}] is not an object")
        event_id, kind, timestamp = (event.get(k) for k in ("webhookEventId", "type", "timestamp"))
        if not _is_id(event_id, 200):
            raise WebhookError(f"events[{index}]: missing webhookEventId (letters and digits)")
        if not _is_id(kind, 50):
            raise WebhookError(f"events[{index}]: missing type")
        if not isinstance(timestamp, int) or isinstance(timestamp, bool):
            raise WebhookError(f"events[{index}]: missing timestamp (ms since the epoch)")
        if not 0 <= timestamp <= MAX_TIMESTAMP:
            raise WebhookError(f"events[{index}]: timestamp out of range: {timestamp}")
        source = event.get("source")
        if source is not None and not isinstance(source, dict):
            raise WebhookError(f"events[{index}]: source is not an object")
        user = (source or {}).get("userId")
        if user is not None and not _is_id(user, MAX_USER_ID):
            raise WebhookError(
                f"events[{index}]: source.userId must be text of at most {MAX_USER_ID} "
                "letters and digits"
            )
        events.append(LineEvent(event_id, kind, timestamp, event))
    return events


def _is_id(value: Any, limit: int) -> TypeGuard[str]:
    return isinstance(value, str) and len(value) <= limit and bool(_ID.fullmatch(value))


# -- postbacks ------------------------------------------------------------------------------


def postback_data(kind: str, value: str, label: str) -> str:
    """``k=choice&v=...&l=...``: what a tap sends back, within LINE's 300 characters (the
    label, kept for the transcript, is cut to fit). Whether the value is on offer is the
    service's check (a stale or made-up tap is refused there)."""
    for cut in range(len(label), -1, -1):
        data = urlencode({"k": kind, "v": value, "l": label[:cut]})
        if len(data) <= MAX_POSTBACK:
            return data
    raise ValueError(f"postback value too long: {value!r}")


def inbound_of(event: Mapping[str, Any]) -> Inbound | None:
    """The channel-neutral event of a text message or a postback (None: nothing to answer).

    A message that is not text (a sticker, a photo) is an answer that cannot be read, so
    the flow asks again; a postback whose data is not ours is ignored. Text loses its NUL
    characters (PostgreSQL text cannot hold them).
    """
    kind = event.get("type")
    if kind == "message":
        message = event.get("message")
        if not isinstance(message, dict):
            return None
        text = message.get("text") if message.get("type") == "text" else ""
        return Inbound("text", text=graphemes.cut(free_text(str(text or "")), 2000))
    if kind == "postback":
        postback = event.get("postback")
        data = postback.get("data") if isinstance(postback, dict) else None
        if not isinstance(data, str):
            return None
        fields = {k: v[0] for k, v in parse_qs(data, keep_blank_values=True).items()}
        tap, value, label = fields.get("k"), fields.get("v", ""), fields.get("l", "")
        if tap not in ("choice", "slot") or not value:
            return None
        return Inbound("choice" if tap == "choice" else "slot", text=free_text(label), value=value)
    return None


# -- replies ---------------------------------------------------------------------------------


def utf16_units(text: str) -> int:
    """Length as LINE counts it (UTF-16 code units: an emoji can count 2)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT_UNITS) -> list[str]:
    """Pieces of at most ``limit`` UTF-16 units, cut at line ends where possible."""
    pieces: list[str] = []
    rest = text
    while utf16_units(rest) > limit:
        cut, units = 0, 0
        for index, char in enumerate(rest):
            units += 2 if ord(char) > 0xFFFF else 1
            if units > limit:
                break
            cut = index + 1
        newline = rest.rfind("\n", 0, cut)
        if newline > cut // 2:
            cut = newline + 1
        pieces.append(rest[:cut].rstrip("\n"))
        rest = rest[cut:]
    pieces.append(rest)
    return [p for p in pieces if p] or [""]


@dataclass(frozen=True)
class Labels:
    """The few words the channel itself adds (from the templates, per locale)."""

    read_story: str
    cases_alt: str
    cancel_booking: str = ""  # the button of a short cancel link (empty: the link stays text)
    reschedule_booking: str = ""


# A short link of ours in a message (``Links.short``: /b/c… cancel, /b/r… reschedule). On
# LINE it becomes a button under the text, as LINE users expect, instead of a raw URL.
_SHORT_LINK = re.compile(r"https?://[^\s「」（）]+?/b/([cr])[0-9a-z]+\.[0-9a-z]+\.[0-9a-f]{20}")
_MAX_BUTTONS = 3
_MAX_BUBBLE_TEXT = 2000  # UTF-16 units: a longer text stays plain text (split as usual)


def render(
    replies: Sequence[Reply],
    *,
    case_link: Callable[[str], str],
    labels: Labels,
) -> list[dict[str, Any]]:
    """LINE message objects (JSON-able) for a turn's replies, in order.

    Only the last message's quick reply is shown by LINE, so the buttons of a choice or
    slot offer ride on the last message of the turn.
    """
    messages: list[dict[str, Any]] = []
    quick: list[dict[str, Any]] | None = None
    for reply in replies:
        if isinstance(reply, Text):
            messages.extend(_with_buttons(reply.text, labels) or _texts(reply.text))
        elif isinstance(reply, Choices):
            messages.extend(_texts(reply.text))
            quick = [_quick("choice", o.value, o.label) for o in reply.options][:MAX_QUICK_REPLIES]
        elif isinstance(reply, SlotPicker):
            messages.extend(_texts(reply.text))
            items = [_quick("slot", s.id, s.label) for s in reply.slots]
            items = items[: MAX_QUICK_REPLIES - 1]
            items.append(_quick("slot", reply.decline.value, reply.decline.label))
            quick = items
        elif isinstance(reply, Cards) and reply.cards:
            messages.append(_carousel(reply, case_link, labels))
    if quick and messages:
        messages[-1] = {**messages[-1], "quickReply": {"items": quick}}
    return messages


def _texts(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": piece} for piece in split_text(text) if piece]


def _with_buttons(text: str, labels: Labels) -> list[dict[str, Any]]:
    """A text holding short links of ours as one Flex bubble: the text without the links
    (its lines kept) and a button per link; the alt text (notifications, the chat list) is
    the whole text. Empty when there is no such link or no label for it."""
    names = {"c": labels.cancel_booking, "r": labels.reschedule_booking}
    found = [m for m in _SHORT_LINK.finditer(text) if names[m.group(1)]]
    if not found or utf16_units(text) > _MAX_BUBBLE_TEXT:
        return []
    body = _SHORT_LINK.sub(lambda m: "" if names[m.group(1)] else m.group(0), text)
    lines = []
    for line in body.splitlines():
        line = line.rstrip()
        if line.endswith(("：", ":")):  # 「…キャンセルいただけます：」 -> 「…いただけます。」
            line = line[:-1].rstrip() + ("。" if line.endswith("：") else ".")
        lines.append(line)
    buttons = [
        {
            "type": "button",
            "style": "secondary" if i else "primary",
            "height": "sm",
            "action": {"type": "uri", "label": _label(names[m.group(1)]), "uri": m.group(0)},
        }
        for i, m in enumerate(found[:_MAX_BUTTONS])
    ]
    return [
        {
            "type": "flex",
            "altText": graphemes.clip(text, MAX_ALT_TEXT),
            "contents": {
                "type": "bubble",
                "body": {
                    "type": "box",
                    "layout": "vertical",
                    "contents": [{"type": "text", "text": "\n".join(lines).strip(), "wrap": True}],
                },
                "footer": {
                    "type": "box",
                    "layout": "vertical",
                    "spacing": "sm",
                    "contents": buttons,
                },
            },
        }
    ]


def _label(text: str) -> str:
    return graphemes.clip(text, MAX_LABEL)


def _quick(kind: str, value: str, label: str) -> dict[str, Any]:
    return {
        "type": "action",
        "action": {
            "type": "postback",
            "label": _label(label),
            "data": postback_data(kind, value, label),
            "displayText": graphemes.cut(label, 300),
        },
    }


def _carousel(cards: Cards, case_link: Callable[[str], str], labels: Labels) -> dict[str, Any]:
    bubbles = []
    for card in cards.cards[:MAX_BUBBLES]:
        bubbles.append(
            {
                "type": "bubble",
                "size": "kilo",
                "body": {
                    "type": "box",
                    "layout": "vertical",
                    "spacing": "sm",
                    "contents": [
                        {
                            "type": "text",
                            "text": card.customer,
                            "size": "xs",
                            "color": "#52606d",
                            "wrap": True,
                        },
                        {
                            "type": "text",
                            "text": card.title,
                            "weight": "bold",
                            "wrap": True,
                            "size": "sm",
                        },
                        {
                            "type": "text",
                            "text": graphemes.clip(card.summary, 300),
                            "size": "xs",
                            "wrap": True,
                            "maxLines": 4,
                        },
                    ],
                },
                "footer": {
                    "type": "box",
                    "layout": "vertical",
                    "contents": [
                        {
                            "type": "button",
                            "style": "primary",
                            "height": "sm",
                            "action": {
                                "type": "uri",
                                "label": _label(labels.read_story),
                                "uri": case_link(card.id),
                            },
                        }
                    ],
                },
            }
        )
    titles = " / ".join(c.title for c in cards.cards)
    alt = f"{labels.cases_alt} {titles}"
    return {
        "type": "flex",
        "altText": graphemes.clip(alt, MAX_ALT_TEXT),
        "contents": {"type": "carousel", "contents": bubbles},
    }
