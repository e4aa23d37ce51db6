"""What every chat notification target (Slack, Teams, Chatwork) lays out the same way: a
lead's fields in one order with their labels, and text cut to a target's limit.

Pure: the renderers (``channels/<target>/render.py``) build on it and stay deterministic.
"""

from __future__ import annotations

from collections.abc import Callable

from autoreply import graphemes
from autoreply.domain.notices import LeadLine, label

__all__ = ["Field", "clip", "fields", "fit"]

Field = tuple[str, str]  # (label, value), both as the rep reads them
ELLIPSIS = graphemes.ELLIPSIS


def _value(name: str, text: str) -> str:
    """``text`` without a leading ``name:`` (「担当: 山田」 shown under the label 担当 is 山田),
    so a display string that already carries its label does not show it twice."""
    for colon in (":", "："):
        if text.startswith(name + colon):
            return text[len(name) + 1 :].strip()
    return text


def fields(lead: LeadLine, locale: str) -> list[Field]:
    """The lead's facts in the order a rep reads them: tier and why, channel, timing,
    challenge, owner, deadline, booking, trigger (the empty ones left out)."""
    japanese = locale.lower().startswith("ja")
    tier = lead.tier
    if lead.tier_why:
        tier = f"{lead.tier}（{lead.tier_why}）" if japanese else f"{lead.tier} ({lead.tier_why})"
    found: list[Field] = [(label(locale, "tier"), tier)]
    for key, text in (
        ("channel", lead.channel_text),
        ("timing", lead.timing_text),
        ("challenge", lead.challenge_text),
        ("owner", lead.owner_text),
        ("deadline", lead.deadline_text),
        ("booking", lead.booking_text),
        ("trigger", lead.trigger_text),
    ):
        name = label(locale, key)
        if text and text.strip():
            found.append((name, _value(name, text.strip())))
    return found


def clip(text: str, limit: int) -> str:
    """``text`` if it is at most ``limit`` characters, else cut to fit with "…" (on grapheme
    clusters: never half an emoji)."""
    return graphemes.clip(text, limit)


def fit(text: str, limit: int, escape: Callable[[str], str]) -> str:
    """``escape(text)`` cut (before escaping, so no escape is split) to at most ``limit``
    characters, with "…" when it was cut (on grapheme clusters)."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    keep = min(len(text), limit)
    while keep > 0:
        candidate = escape(graphemes.cut(text, keep).rstrip()) + ELLIPSIS
        if len(candidate) <= limit:
            return candidate
        keep -= max(1, (len(candidate) - limit) // 5)
    return ELLIPSIS[:limit]
