"""A ``Notice`` as a Microsoft Teams message: an Adaptive Card (1.4) for a Workflows
webhook ("Post to a channel when a webhook request is received") (pure).

The card is the title (bold), the intro with the mention, then per lead a container with
the lead's name, its facts (a ``FactSet``), the suggested first line and two
``Action.OpenUrl`` buttons (open the handoff, mark it contacted). A digest shows at most
``MAX_LEADS`` leads, and fewer when the card would pass ``MAX_BYTES`` (Teams refuses
messages of about 28 KB), then 「ほか{n}件」 linking to the next lead.

Teams reads a TextBlock's and a fact's text as Markdown, so text the lead wrote has the
Markdown that would make a link or change emphasis escaped (``[ ] * _ ~ ` \\``).
HTML is not rendered, and a mention needs its entity, so a lead cannot mention anyone.
"""

from __future__ import annotations

import json
import re
from typing import Any

from autoreply.channels.layout import clip, fields
from autoreply.domain.notices import LeadLine, Notice, label

__all__ = ["MAX_BYTES", "MAX_LEADS", "escape", "teams_message"]

MAX_LEADS = 10
MAX_BYTES = 24_000  # of the JSON as sent (UTF-8), below Teams' ~28 KB
MAX_VALUE = 500  # characters of one fact, so that one lead always fits
MAX_LINE = 1000
_MARKDOWN = re.compile(r"([\\`*_\[\]~])")
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"


def escape(text: str) -> str:
    """Text shown as itself in a TextBlock (CommonMark backslash escapes)."""
    return _MARKDOWN.sub(r"\\\1", text)


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False).encode())


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _lead(lead: LeadLine, locale: str) -> dict[str, Any]:
    facts = [
        {"title": name, "value": escape(clip(value, MAX_VALUE))}
        for name, value in fields(lead, locale)
    ]
    items: list[dict[str, Any]] = [
        _text(escape(clip(lead.who, MAX_VALUE)), weight="Bolder"),
        {"type": "FactSet", "facts": facts},
    ]
    if lead.first_line.strip():
        items.append(_text(label(locale, "first_line"), weight="Bolder", spacing="Small"))
        items.append(_text(escape(clip(lead.first_line.strip(), MAX_LINE)), spacing="None"))
    actions = [{"type": "Action.OpenUrl", "title": label(locale, "open"), "url": lead.url}]
    if lead.contacted_url is not None:
        actions.append(
            {
                "type": "Action.OpenUrl",
                "title": label(locale, "contacted"),
                "url": lead.contacted_url,
            }
        )
    items.append({"type": "ActionSet", "actions": actions})
    return {"type": "Container", "separator": True, "spacing": "Medium", "items": items}


def _message(card: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def teams_message(notice: Notice) -> dict[str, Any]:
    """The webhook body for ``notice``: a message with one Adaptive Card attachment."""
    locale = notice.locale
    body: list[dict[str, Any]] = [
        _text(escape(clip(notice.title, MAX_LINE)), weight="Bolder", size="Medium")
    ]
    msteams: dict[str, Any] = {"width": "Full"}
    mention = f"<at>{notice.mention}</at>" if notice.mention else ""
    if notice.mention:
        msteams["entities"] = [
            {
                "type": "mention",
                "text": mention,
                "mentioned": {"id": notice.mention, "name": notice.mention},
            }
        ]
    intro = escape(clip(notice.intro.strip(), MAX_LINE)) if notice.intro else ""
    if mention or intro:
        body.append(_text(f"{mention} {intro}".strip()))
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": SCHEMA,
        "version": "1.4",
        "body": body,
        "msteams": msteams,
    }
    reserve = 200 + max((_size(lead.url) for lead in notice.leads), default=0)  # 「ほか…件」
    used = _size(_message(card)) + reserve
    shown = 0
    for lead in notice.leads[:MAX_LEADS]:
        block = _lead(lead, locale)
        if shown and used + _size(block) + 1 > MAX_BYTES:
            break
        body.append(block)
        used += _size(block) + 1
        shown += 1
    rest = notice.leads[shown:]
    if rest:
        more = label(locale, "more", count=len(rest))
        body.append(_text(f"[{escape(more)}]({rest[0].url})", separator=True))
    return _message(card)
