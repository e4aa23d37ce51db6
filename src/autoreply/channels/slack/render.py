"""A ``Notice`` as a Slack message: Block Kit for an incoming webhook (pure).

The message is a header (the title), the intro with the mention, then per lead a section
with its fields, the suggested first line as a quote and two URL buttons (open the
handoff, mark it contacted). A digest shows ``MAX_LEADS`` leads and then 「ほか{n}件」
linking to the next one, which keeps it within Slack's limits (50 blocks, 3000 characters
a text, 2000 a field, 10 fields a section, 150 a header, 75 a button).

Text the lead wrote (names, challenges) is escaped (``&``, ``<``, ``>``), so it can
neither mention anyone (``<!channel>``) nor make a link; only the notice's own mention
becomes ``<@U…>``.
"""

from __future__ import annotations

import re
from typing import Any

from autoreply.channels.layout import clip, fields, fit
from autoreply.domain.notices import LeadLine, Notice, label

__all__ = ["MAX_BLOCKS", "MAX_LEADS", "escape", "slack_message"]

MAX_BLOCKS = 50
MAX_TEXT = 3000
MAX_FIELD = 2000
MAX_FIELDS = 10
MAX_HEADER = 150
MAX_BUTTON = 75
MAX_LEADS = 10  # 2 + 10 x (section, quote, actions, divider) + 1 = 42 blocks at most
_MEMBER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


def escape(text: str) -> str:
    """Text shown as itself in Slack mrkdwn (Slack's three control characters escaped)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mention(member: str) -> str:
    """``<@U…>`` for a member id; anything else is shown as text (a misconfiguration a
    reader can see, never a broadcast like ``<!channel>``)."""
    return f"<@{member}>" if _MEMBER_ID.match(member) else escape(f"@{member}")


def _mrkdwn(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def _quote(text: str) -> str:
    return "\n".join(f">{line}" for line in escape(text).splitlines() or [""])


def _lead_blocks(lead: LeadLine, index: int, locale: str) -> list[dict[str, Any]]:
    facts = [
        _mrkdwn(f"*{escape(name)}*\n" + fit(value, MAX_FIELD - len(escape(name)) - 3, escape))
        for name, value in fields(lead, locale)[:MAX_FIELDS]
    ]
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": _mrkdwn("*" + fit(lead.who, MAX_TEXT - 2, escape) + "*"),
            "fields": facts,
        }
    ]
    if lead.first_line.strip():
        heading = f"*{escape(label(locale, 'first_line'))}*\n"
        quoted = fit(lead.first_line.strip(), MAX_TEXT - len(heading), _quote)
        blocks.append({"type": "section", "text": _mrkdwn(heading + quoted)})
    buttons: list[dict[str, Any]] = [
        {
            "type": "button",
            "text": _plain(label(locale, "open"), MAX_BUTTON),
            "url": lead.url,
            "action_id": f"open-{index}",
            "style": "primary",
        }
    ]
    if lead.contacted_url is not None:
        buttons.append(
            {
                "type": "button",
                "text": _plain(label(locale, "contacted"), MAX_BUTTON),
                "url": lead.contacted_url,
                "action_id": f"contacted-{index}",
            }
        )
    blocks.append({"type": "actions", "elements": buttons})
    return blocks


def _link(url: str, text: str) -> str:
    return f"<{escape(url).replace('|', '%7C')}|{escape(text)}>"


def slack_message(notice: Notice) -> dict[str, Any]:
    """The webhook body for ``notice``: ``text`` (the title, shown in notifications and
    where blocks cannot be) and ``blocks``."""
    locale = notice.locale
    blocks: list[dict[str, Any]] = [{"type": "header", "text": _plain(notice.title, MAX_HEADER)}]
    mention = _mention(notice.mention) + " " if notice.mention else ""
    intro = (notice.intro or "").strip()
    if mention or intro:
        text = mention + fit(intro, MAX_TEXT - len(mention), escape)
        blocks.append({"type": "section", "text": _mrkdwn(text.strip())})
    shown, rest = notice.leads[:MAX_LEADS], notice.leads[MAX_LEADS:]
    for index, lead in enumerate(shown):
        if index:
            blocks.append({"type": "divider"})
        blocks.extend(_lead_blocks(lead, index, locale))
    if rest:
        more = label(locale, "more", count=len(rest))
        blocks.append({"type": "section", "text": _mrkdwn(_link(rest[0].url, more))})
    return {"text": fit(notice.title, MAX_TEXT, escape), "blocks": blocks}
