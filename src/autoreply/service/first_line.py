"""The rep's suggested first line: written from the handoff record, in the owner's name.

It is written with the record and again whenever the handoff gets or changes its owner, so
the line a rep reads (and the notice quotes) introduces *them*: 「サンプル株式会社の山田で
ございます」, or the sales team while nobody owns the handoff.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from autoreply.domain.timing import Timing
from autoreply.domain.voice import family_name, timing_in_words
from autoreply.service.content import Content
from autoreply.store.models import HandoffRow

__all__ = ["QUOTE_LIMIT", "quotable", "refresh_first_line", "render_first_line"]

QUOTE_LIMIT = 40  # a challenge longer than this is named by its topic, not quoted
_ENDS = "。．.！!？?、, 　"


def quotable(text: str | None, limit: int = QUOTE_LIMIT) -> str | None:
    """The lead's words, fit to quote in one spoken line (None when too long to quote).

    >>> quotable("夜間の問い合わせ対応が遅れています。")
    '夜間の問い合わせ対応が遅れています'
    """
    words = " ".join((text or "").split()).rstrip(_ENDS)
    return words if words and len(words) <= limit else None


def render_first_line(
    content: Content,
    record: Mapping[str, Any],
    locale: str,
    owner: str | None,
    now: datetime,
) -> str:
    """``templates/handoff/first_line.<locale>.j2`` for this record, said by ``owner``."""
    today = now.astimezone(content.calendar.tz).date()
    timing = record.get("timing")
    words = None
    if isinstance(timing, Mapping) and timing.get("bucket"):
        words = timing_in_words(Timing.from_dict(timing), locale, today)
    me = family_name(owner, locale) if owner and owner.strip() else None
    return content.texts.render(
        "handoff/first_line",
        locale,
        r=record,
        me=me,
        timing_words=words,
        quote=quotable(record.get("challenge")),
    )


def refresh_first_line(content: Content, row: HandoffRow, owner: str | None, now: datetime) -> None:
    """Write the row's first line again, in the name of its (new) owner."""
    record = dict(row.record or {})
    locale = str(record.get("first_line_locale") or "ja")
    record["first_line"] = render_first_line(content, record, locale, owner, now)
    row.record = record
