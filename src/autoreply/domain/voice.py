"""How the lead's own answers are said back to them: as they chose it, or in our words.

The style guide (docs/style.md) asks two things of every text that repeats a lead's answer:
a button the lead tapped is said with its own label (「3か月以内」, never the date range it
stands for), and free text is either quoted (「来月中旬くらい」) or paraphrased by its
reading (「12月中旬ごろ」), never repeated bare as if they were our words.
"""

from __future__ import annotations

from datetime import date

from autoreply.domain.timing import BUCKET_LABELS, Timing, TimingBucket

__all__ = ["chose", "family_name", "timing_as_said", "timing_in_words"]

_MONTHS_EN = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_VAGUE = (TimingBucket.UNKNOWN, TimingBucket.UNDECIDED)


def _ja(locale: str) -> bool:
    return locale.lower().startswith("ja")


def chose(timing: Timing) -> bool:
    """Whether the answer was a tapped choice (a button or a form's select), not typed."""
    return not timing.steps


def timing_as_said(timing: Timing, locale: str, *, limit: int = 40) -> str:
    """The timing as the lead gave it: a chosen label as is, typed words in quotes.

    >>> from autoreply.domain.timing import timing_from_bucket
    >>> timing_as_said(timing_from_bucket(TimingBucket.WITHIN_3_MONTHS, date(2026, 12, 1),
    ...     "3か月以内"), "ja")
    '3か月以内'
    """
    text = " ".join(timing.text.split())
    if chose(timing):
        return text or BUCKET_LABELS["ja" if _ja(locale) else "en"][timing.bucket.value]
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"「{text}」" if _ja(locale) else f"“{text}”"


def _last_day(d: date) -> bool:
    return date.fromordinal(d.toordinal() + 1).month != d.month


def _part_of_month(start: date, end: date) -> tuple[str, str] | None:
    """上旬/中旬/下旬 (early/mid/late) when both days fall in one third of the month."""
    thirds = ((1, 10, "上旬", "early"), (11, 20, "中旬", "mid"), (21, 31, "下旬", "late"))
    for first, last, ja, en in thirds:
        if first <= start.day and end.day <= last:
            return ja, en
    return None


def _month(d: date, today: date, ja: bool) -> str:
    if ja:
        return f"{d.year}年{d.month}月" if d.year != today.year else f"{d.month}月"
    name = _MONTHS_EN[d.month - 1]
    return f"{name} {d.year}" if d.year != today.year else name


def timing_in_words(timing: Timing, locale: str, today: date) -> str | None:
    """Our own words for the timing (None when the lead has none yet).

    A chosen button keeps its label; typed words are said by their reading: 「来月中旬くらい」
    read on 2026-11-21 is 「12月中旬ごろ」, 「4月から」 is 「4月以降」; a reading that has no
    short name is said by its bucket (「3か月以内」).

    >>> from autoreply.domain.timing import parse_timing
    >>> timing_in_words(parse_timing("来月中旬くらい", date(2026, 11, 21)), "ja",
    ...     date(2026, 11, 21))
    '12月中旬ごろ'
    """
    if timing.bucket in _VAGUE:
        return None
    ja = _ja(locale)
    label = BUCKET_LABELS["ja" if ja else "en"][timing.bucket.value]
    if chose(timing):
        return " ".join(timing.text.split()) or label
    start, end = timing.start, timing.end
    if start and end:
        whole = start.day == 1 and _last_day(end)
        if (start.year, start.month) == (end.year, end.month):
            month = _month(start, today, ja)
            if start == end:
                return f"{month}{start.day}日ごろ" if ja else f"around {month} {start.day}"
            part = None if whole else _part_of_month(start, end)
            if part:
                return (
                    f"{month}{part[0]}ごろ"
                    if ja
                    else (f"{part[1]}-{month}" if part[1] == "mid" else f"{part[1]} {month}")
                )
            return f"{month}ごろ" if ja else f"around {month}"
        if whole:
            first = _month(start, today, ja)
            if ja:
                last = f"{end.month}月" if end.year == start.year else f"{end.year}年{end.month}月"
                return f"{first}〜{last}ごろ"
            last = _MONTHS_EN[end.month - 1] if end.year == start.year else _month(end, today, ja)
            return f"between {first} and {last}"
        if start <= today and _last_day(end):  # 年度内, by March: by the end of that month
            return f"{_month(end, today, ja)}まで" if ja else f"by {_month(end, today, ja)}"
        return label
    if start:
        return f"{_month(start, today, ja)}以降" if ja else f"from {_month(start, today, ja)}"
    if end:
        return f"{_month(end, today, ja)}まで" if ja else f"by {_month(end, today, ja)}"
    return label


def family_name(name: str, locale: str) -> str:
    """How a rep names themselves on the phone: the family name in Japanese
    (「山田 太郎」 -> 「山田」), the whole name in English.

    >>> family_name("山田 太郎", "ja"), family_name("Taro Yamada", "en")
    ('山田', 'Taro Yamada')
    """
    name = " ".join(name.split())
    if _ja(locale) and " " in name:
        return name.split(" ")[0]
    return name
