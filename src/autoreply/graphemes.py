"""Cutting text for a limit without breaking what a reader sees as one character.

A family emoji (👨‍👩‍👧), a flag (🇯🇵), a letter with a combining mark (é as e + ◌́) or a
Japanese kana with its voicing mark is one *grapheme cluster* made of several code points.
Every place that cuts text to fit (notices, Slack/Teams/Chatwork, LINE texts and labels,
CSV previews, templates' ``truncate``) cuts here, on cluster boundaries as Unicode defines
them (UAX #29, the ``regex`` module's ``\\X``), so nobody ever sees half an emoji.

``limit`` is counted with ``measure`` (code points by default; LINE counts UTF-16 units:
pass ``utf16_len``), and the ellipsis counts against it.
"""

from __future__ import annotations

from collections.abc import Callable

import regex

__all__ = ["ELLIPSIS", "clip", "clusters", "cut", "truncate", "utf16_len"]

ELLIPSIS = "…"
_CLUSTER = regex.compile(r"\X")


def utf16_len(text: str) -> int:
    """The length LINE counts: UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2


def clusters(text: str) -> list[str]:
    """The grapheme clusters of ``text``, in order."""
    return [str(found) for found in _CLUSTER.findall(text)]


def cut(text: str, limit: int, measure: Callable[[str], int] = len) -> str:
    """The longest prefix of ``text`` made of whole clusters that measures at most ``limit``."""
    if measure(text) <= limit:
        return text
    kept: list[str] = []
    used = 0
    for cluster in _CLUSTER.finditer(text):
        size = measure(cluster.group())
        if used + size > limit:
            break
        kept.append(cluster.group())
        used += size
    return "".join(kept)


def clip(
    text: str, limit: int, ellipsis: str = ELLIPSIS, measure: Callable[[str], int] = len
) -> str:
    """``text`` if it fits ``limit``, else whole clusters and ``ellipsis`` that fit together
    (trailing spaces before the ellipsis dropped)."""
    if measure(text) <= limit:
        return text
    room = limit - measure(ellipsis)
    if room <= 0:
        return cut(ellipsis, max(0, limit), measure)
    return cut(text, room, measure).rstrip() + ellipsis


def truncate(
    text: object,
    length: int = 255,
    killwords: bool = False,
    end: str = "...",
    leeway: int | None = None,
) -> str:
    """Jinja2's ``truncate`` filter, cutting on clusters: text longer than ``length``
    (+ ``leeway``, 5 as in Jinja) is cut to ``length`` including ``end``; without
    ``killwords`` the cut goes back to the last space, as Jinja's does."""
    value = "" if text is None else str(text)
    if len(value) <= length + (5 if leeway is None else leeway):
        return value
    kept = cut(value, max(0, length - len(end)))
    if not killwords and " " in kept:
        kept = kept.rsplit(" ", 1)[0]
    return kept.rstrip() + end
