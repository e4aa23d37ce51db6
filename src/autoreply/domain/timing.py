"""Lead timing (導入時期): Japanese or English free text to a date range and a bucket."""

from __future__ import annotations

import re
import unicodedata
from calendar import monthrange
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

__all__ = ["Step", "Timing", "TimingBucket", "parse_timing", "short_range", "timing_from_bucket"]


class TimingBucket(StrEnum):
    WITHIN_1_MONTH = "within_1_month"
    WITHIN_3_MONTHS = "within_3_months"
    WITHIN_6_MONTHS = "within_6_months"
    WITHIN_12_MONTHS = "within_12_months"
    LATER = "later"
    UNDECIDED = "undecided"
    UNKNOWN = "unknown"


_BUCKET_MONTHS: dict[TimingBucket, int] = {
    TimingBucket.WITHIN_1_MONTH: 1,
    TimingBucket.WITHIN_3_MONTHS: 3,
    TimingBucket.WITHIN_6_MONTHS: 6,
    TimingBucket.WITHIN_12_MONTHS: 12,
}


def _ja(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


BUCKET_LABELS: dict[str, dict[str, str]] = {
    "ja": {
        "within_1_month": "1か月以内",
        "within_3_months": "3か月以内",
        "within_6_months": "半年以内",
        "within_12_months": "1年以内",
        "later": "1年以上先",
        "undecided": "未定",
        "unknown": "不明",
    },
    "en": {
        "within_1_month": "within 1 month",
        "within_3_months": "within 3 months",
        "within_6_months": "within 6 months",
        "within_12_months": "within 12 months",
        "later": "more than a year away",
        "undecided": "undecided",
        "unknown": "unknown",
    },
}
WAITING_FOR_LABELS: dict[str, dict[str, str]] = {
    "ja": {
        "budget": "予算の確保",
        "internal_review": "社内での検討・承認",
        "information": "情報収集・比較検討",
        "other": "その他の条件",
    },
    "en": {
        "budget": "budget",
        "internal_review": "internal review or approval",
        "information": "information gathering",
        "other": "another condition",
    },
}


def _lang(locale: str) -> str:
    return "ja" if locale.lower().startswith("ja") else "en"


def _describe(start: date | None, end: date | None, bucket: TimingBucket, locale: str) -> str:
    ja = _lang(locale) == "ja"
    fmt: Callable[[date], str] = _ja if ja else date.isoformat
    s, e = start, end
    if s and e:
        return fmt(s) if s == e else (f"{fmt(s)}〜{fmt(e)}" if ja else f"{fmt(s)} to {fmt(e)}")
    if s:
        return f"{fmt(s)}〜" if ja else f"from {fmt(s)}"
    if e:
        return f"〜{fmt(e)}" if ja else f"by {fmt(e)}"
    if bucket is TimingBucket.UNDECIDED:
        return "未定" if ja else "undecided"
    return "不明" if ja else "unknown"


def short_range(start: date, end: date | None, locale: str) -> str:
    """A range short enough for a button: whole months as 2027年9月〜11月 or 2027-09 to 2027-11."""
    ja = _lang(locale) == "ja"
    whole = start.day == 1 and end is not None and end == _month_end(end.year, end.month)
    if not whole or end is None:  # compact, so it fits a LINE button (20 characters)
        if end is None:
            return (
                f"{start.year}/{start.month}/{start.day}〜" if ja else f"from {start.isoformat()}"
            )
        tail = (
            f"{end.month}/{end.day}"
            if end.year == start.year
            else f"{end.year}/{end.month}/{end.day}"
        )
        return f"{start.year}/{start.month}/{start.day}〜{tail}" if ja else f"{start} to {end}"
    if ja:
        first = f"{start.year}年{start.month}月"
        if (start.year, start.month) == (end.year, end.month):
            return first
        return (
            f"{first}〜{end.month}月"
            if start.year == end.year
            else f"{first}〜{end.year}年{end.month}月"
        )
    first = f"{start.year}-{start.month:02d}"
    same = (start.year, start.month) == (end.year, end.month)
    return first if same else f"{first} to {end.year}-{end.month:02d}"


@dataclass(frozen=True)
class Step:
    """One step of how an answer was read, in Japanese and English."""

    ja: str
    en: str

    def text(self, locale: str) -> str:
        return self.ja if _lang(locale) == "ja" else self.en


@dataclass(frozen=True)
class Timing:
    """A reading of a timing answer.

    ``steps`` say how it was read; ``alternatives`` are the other reading(s) (start, end, bucket)
    when the words allow two (then ``uncertain`` is true); ``waiting_for`` is what the lead waits
    for (budget, internal_review, information, other) or None.
    """

    text: str
    start: date | None
    end: date | None
    bucket: TimingBucket
    steps: tuple[Step, ...] = ()
    alternatives: tuple[tuple[date, date | None, TimingBucket], ...] = ()
    waiting_for: str | None = None

    @property
    def uncertain(self) -> bool:
        return bool(self.alternatives)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "bucket": self.bucket.value,
            "steps": [{"ja": s.ja, "en": s.en} for s in self.steps],
            "alternatives": [
                {"start": a.isoformat(), "end": b.isoformat() if b else None, "bucket": k.value}
                for a, b, k in self.alternatives
            ],
            "uncertain": self.uncertain,
            "waiting_for": self.waiting_for,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Timing:
        """Loads any version: dicts stored without steps/alternatives/waiting_for still load."""
        start, end = data.get("start"), data.get("end")
        alternatives = tuple(
            (
                date.fromisoformat(a["start"]),
                date.fromisoformat(a["end"]) if a.get("end") else None,
                TimingBucket(a.get("bucket") or TimingBucket.UNKNOWN),
            )
            for a in data.get("alternatives") or ()
        )
        return cls(
            text=str(data.get("text", "")),
            start=date.fromisoformat(start) if start else None,
            end=date.fromisoformat(end) if end else None,
            bucket=TimingBucket(data["bucket"]),
            steps=tuple(
                Step(str(x.get("ja", "")), str(x.get("en", ""))) for x in data.get("steps") or ()
            ),
            alternatives=alternatives,
            waiting_for=data.get("waiting_for") or None,
        )

    def describe(self, locale: str) -> str:
        """Short text of the range: locale "ja*" gives Japanese, anything else English."""
        return _describe(self.start, self.end, self.bucket, locale)

    def describe_alternatives(self, locale: str) -> list[str]:
        return [_describe(a, b, k, locale) for a, b, k in self.alternatives]

    def bucket_label(self, locale: str) -> str:
        return BUCKET_LABELS[_lang(locale)][self.bucket.value]

    def waiting_for_label(self, locale: str) -> str | None:
        if not self.waiting_for:
            return None
        return WAITING_FOR_LABELS[_lang(locale)].get(self.waiting_for, self.waiting_for)

    def explain(self, locale: str) -> list[str]:
        return [s.text(locale) for s in self.steps]

    def confirm_question(self, locale: str) -> str:
        """The short question to settle an uncertain reading (the main reading first)."""
        main = self.describe(locale)
        if _lang(locale) == "ja":
            return f"念のため確認させてください。導入時期は{main}でよろしいでしょうか？"
        return f"Just to be sure: do you mean {main}?"


# --- date helpers ---------------------------------------------------------------------------

_Range = tuple[date, date]
_Span = tuple[date, date | None]


@dataclass(frozen=True)
class _Ctx:
    today: date
    fy: int  # month in which the fiscal year starts

    @property
    def fy_year(self) -> int:
        """Calendar year in which the current fiscal year started."""
        return self.today.year if self.today.month >= self.fy else self.today.year - 1


def _shift(y: int, m: int, n: int) -> tuple[int, int]:
    q, r = divmod(m - 1 + n, 12)
    return y + q, r + 1


def _month_end(y: int, m: int) -> date:
    return date(y, m, monthrange(y, m)[1])


def _add_months(d: date, n: int) -> date:
    y, m = _shift(d.year, d.month, n)
    return date(y, m, min(d.day, monthrange(y, m)[1]))


def _months(y: int, m: int, count: int = 1) -> _Range:
    """First day of month (y, m) to the last day of the count-th month from it."""
    return date(y, m, 1), _month_end(*_shift(y, m, count - 1))


def _month(y: int, m: int, part: str | None = None) -> _Range:
    """A whole month, or its early (1-10) / mid (11-20) / late (21-end) third."""
    first, last = _months(y, m)
    if part == "early":
        return first, first.replace(day=10)
    if part == "mid":
        return first.replace(day=11), first.replace(day=20)
    if part == "late":
        return first.replace(day=21), last
    return first, last


def _next_year_of(c: _Ctx, m: int) -> int:
    """Year of the next occurrence of month m (the current month counts as this year)."""
    return c.today.year + (1 if m < c.today.month else 0)


def _year(s: str) -> int:
    return int(s) + 2000 if len(s) <= 2 else int(s)


def _part(word: str | None) -> str | None:
    if not word:
        return None
    if word in ("中旬", "半ば", "中頃") or word.startswith("mid"):
        return "mid"
    if word in ("下旬", "月末", "末", "終わり") or word.startswith(("late", "end")):
        return "late"
    return "early"


# --- normalisation -----------------------------------------------------------------------------

_KANJI_DIGITS = {c: str(i) for i, c in enumerate("〇一二三四五六七八九")} | {"零": "0"}
_KANJI_RUN = re.compile("[〇零一二三四五六七八九十]+(?!半期)")  # 第三四半期 keeps its 四
_REIWA = re.compile(r"令和(\d{1,2}|元)年")
_SPACE_NEAR_WIDE = re.compile(r"\s+(?=[^\x00-\x7f])|(?<=[^\x00-\x7f])\s+")


def _kanji_number(run: str) -> str:
    """二〇二七 -> 2027, 三 -> 3, 十 -> 10, 十二 -> 12, 二十五 -> 25; anything else unchanged."""
    if "十" not in run:
        return "".join(_KANJI_DIGITS[c] for c in run)
    tens, _, ones = run.partition("十")
    if len(tens) > 1 or len(ones) > 1 or "十" in ones:
        return run
    return str(int(_KANJI_DIGITS.get(tens, "1")) * 10 + int(_KANJI_DIGITS.get(ones, "0")))


def _normalise(text: str) -> str:
    s = unicodedata.normalize("NFKC", text).casefold().strip()
    s = _KANJI_RUN.sub(lambda m: _kanji_number(m[0]), s)
    s = _REIWA.sub(lambda m: f"{2018 + (1 if m[1] == '元' else int(m[1]))}年", s)
    s = re.sub(r"(?<![a-z])r(\d{1,2})(?=年)", lambda m: str(2018 + int(m[1])), s)
    return _SPACE_NEAR_WIDE.sub("", re.sub(r"\s+", " ", s))


# --- rule handlers: each gets the match and context, returns a span or None to skip it -------


@dataclass(frozen=True)
class _Alt:
    """A reading with a second one the words also allow."""

    span: _Span
    alt: _Span


_Handler = Callable[[re.Match[str], _Ctx], "_Span | _Alt | None"]
_REL = {"今": 0, "本": 0, "当": 0, "年": 0, "来": 1, "翌": 1, "再": 2}
_REL |= {"this": 0, "current": 0, "the": 0, "next": 1, "coming": 1}


def _g(m: re.Match[str], name: str) -> str:
    """A named group's text, "" when the group is absent from the pattern or did not take part."""
    return m.groupdict().get(name) or ""


def _rel(word: str) -> int:
    """Offset named by a relative word: 今月/今期/this -> 0, 来年/next -> 1, 再来年 -> 2."""
    if word in ("再来週", "the week after next", "the year after next"):
        return 2
    return _REL.get(word.split()[0] if word.isascii() else word[0], 0) if word else 0


def _full_date(m: re.Match[str], c: _Ctx) -> _Span:
    mo, d = int(m["m"]), int(m["d"])
    if m["y"]:
        day = date(_year(m["y"]), mo, d)
    else:
        day = date(c.today.year, mo, d)
        if day < c.today:
            day = date(c.today.year + 1, mo, d)
    return day, day


def _year_month(m: re.Match[str], c: _Ctx) -> _Span:
    return _month(_year(m["y"]), int(m["m"]), _part(_g(m, "part")))


def _rel_year_month(m: re.Match[str], c: _Ctx) -> _Span:
    return _month(c.today.year + _rel(m["rel"]), int(m["m"]), _part(_g(m, "part")))


def _month_range(m: re.Match[str], c: _Ctx) -> _Span:
    m1, m2 = int(m["m1"]), int(m["m2"])
    y1 = _next_year_of(c, m1)
    return _months(y1, m1)[0], _months(y1 + (1 if m2 < m1 else 0), m2)[1]


def _rel_month(m: re.Match[str], c: _Ctx) -> _Span:
    offset = 2 if _g(m, "after") else _rel(_g(m, "rel"))
    return _month(*_shift(c.today.year, c.today.month, offset), _part(_g(m, "part")))


def _bare_month_part(m: re.Match[str], c: _Ctx) -> _Span:
    """月末 / 月初 alone: this month's, or next month's once this month's has passed."""
    part = _part(m["part"])
    span = _month(c.today.year, c.today.month, part)
    return span if span[1] >= c.today else _month(*_shift(c.today.year, c.today.month, 1), part)


def _bare_month(m: re.Match[str], c: _Ctx) -> _Span:
    """3月, 3月頃, 3月上旬: the next such month (or part of it) that has not ended."""
    mo, part = int(m["m"]), _part(_g(m, "part"))
    span = _month(_next_year_of(c, mo), mo, part)
    return span if span[1] >= c.today else _month(span[0].year + 1, mo, part)


_EN_MONTHS = "january february march april may june july august september october november december"
_EN_MONTH = {name: i for i, name in enumerate(_EN_MONTHS.split(), 1)}
_EN_MONTH |= {name[:3]: i for name, i in _EN_MONTH.items()} | {"sept": 9}
_MAY_CONTEXT = {"in", "by", "until", "till", "from", "before", "around", "since", "of", "next"}


def _en_month(m: re.Match[str], c: _Ctx) -> _Span | None:
    mo, year = _EN_MONTH[m["mon"]], _g(m, "y")
    prev = set(m.string[max(0, m.start() - 20) : m.start()].split()[-1:])
    if m["mon"] == "may" and not (_g(m, "part") or year or prev & _MAY_CONTEXT):
        return None  # "we may start soon" is not a month
    return _month(int(year) if year else _next_year_of(c, mo), mo, _part(_g(m, "part")))


def _weeks(m: re.Match[str], c: _Ctx) -> _Span:
    monday = c.today - timedelta(days=c.today.weekday()) + timedelta(weeks=_rel(m["w"]))
    return monday, monday + timedelta(days=6)


_FY_PART = {"上期": "h1", "上半期": "h1", "前半": "h1", "下期": "h2", "下半期": "h2", "後半": "h2"}
_FY_PART |= {"末": "end", "年度末": "end", "期末": "end", "明け": "start", "年度明け": "start"}
_FY_PART |= {"初め": "start", "始め": "start", "年度初め": "start", "早々": "start", "頭": "start"}
_FY_RANGE = {"": (0, 12), "h1": (0, 6), "h2": (6, 6), "end": (11, 1), "start": (0, 1)}


def _fy_span(c: _Ctx, fy_year: int, part: str) -> _Range:
    """The fiscal year starting in fy_year, or a part of it (half, 第N四半期, last/first month)."""
    if part.startswith("第"):
        offset, count = 3 * (int(part[1]) - 1), 3
    else:
        offset, count = _FY_RANGE[_FY_PART.get(part, "")]
    return _months(*_shift(fy_year, c.fy, offset), count)


def _fiscal(m: re.Match[str], c: _Ctx) -> _Span:
    part = _g(m, "part")
    if _g(m, "y"):
        return _fy_span(c, _year(m["y"]), part)
    if _g(m, "w"):
        return _fy_span(c, c.fy_year + _rel(m["w"]), part)
    span = _fy_span(c, c.fy_year, part)  # a bare part: the next one that has not ended
    return span if span[1] >= c.today else _fy_span(c, c.fy_year + 1, part)


_ORDINAL = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4}
_ORDINAL |= {"4th": 4}


def _quarter(m: re.Match[str], c: _Ctx) -> _Span | _Alt:
    """Calendar quarters (Q1-Q4) and halves (H1/H2); without a year, the next not yet ended."""
    if _g(m, "rel"):  # this / next quarter, end of this quarter
        first = c.today.month - (c.today.month - 1) % 3
        y, mo = _shift(c.today.year, first, 3 * _rel(m["rel"]))
        return _months(y, mo + 2) if _g(m, "end") else _months(y, mo, 3)
    size = 6 if _g(m, "h") or "half" in m[0] else 3
    index = int(_g(m, "q") or _g(m, "h") or _ORDINAL[m["o"]])
    year = int(_g(m, "y") or 0) or (c.today.year + 1 if _g(m, "ny") else 0)
    span = _months(year or c.today.year, (index - 1) * size + 1, size)
    if not year and span[1] < c.today:
        span = _months(c.today.year + 1, (index - 1) * size + 1, size)
    if not year and size == 3 and c.fy != 1 and _g(m, "q"):  # a bare Q1 may be the fiscal one
        fiscal = _fy_span(c, c.fy_year, f"第{index}")
        if fiscal[1] < c.today:
            fiscal = _fy_span(c, c.fy_year + 1, f"第{index}")
        if fiscal != span:
            return _Alt(span, fiscal)
    return span


_SEASON = {"春": 3, "夏": 6, "秋": 9, "冬": 12, "spring": 3, "summer": 6, "autumn": 9, "fall": 9}
_SEASON |= {"winter": 12}


def _season(m: re.Match[str], c: _Ctx) -> _Span | _Alt | None:
    """春 Mar-May, 夏 Jun-Aug, 秋 Sep-Nov, 冬 Dec-Feb (the winter of year Y starts in Dec Y)."""
    first, rel = _SEASON[m["s"]], _g(m, "rel")
    if m["s"] == "fall" and not rel:
        return None  # "sales fall" is not a season
    if rel[:1] in ("今", "来", "翌", "再"):  # 今年の秋 / 来春: that calendar year's season
        return _months(c.today.year + _rel(rel), first, 3)
    for y in (c.today.year - 1, c.today.year, c.today.year + 1):
        span = _months(y, first, 3)
        if (span[0] > c.today) if rel == "next" else (span[1] >= c.today):
            if span[0] <= c.today and c.today.month == span[1].month:  # in its last month
                return _Alt(span, _months(y + 1, first, 3))
            return span
    return None


def _new_year(m: re.Match[str], c: _Ctx) -> _Span:
    """年明け: next January; in January itself, this January (来年初め is always next year's)."""
    this_january = c.today.month == 1 and not _g(m, "rel")
    return _months(c.today.year + (0 if this_january else 1), 1)


def _year_part(m: re.Match[str], c: _Ctx) -> _Span:
    """年末 (December), 前半/後半 (Jan-Jun/Jul-Dec), English early/mid/late (thirds) of a year."""
    rel = _g(m, "rel") or _g(m, "rel2")
    y = int(_g(m, "y") or 0) or c.today.year + _rel(rel)
    part = _g(m, "p")
    if part in ("前半", "後半"):
        return _months(y, 1 if part == "前半" else 7, 6)
    if not part or part.startswith("end"):
        return _months(y, 12)
    return _months(y, {"early": 1, "mid": 5, "late": 9}[_part(part) or "early"], 4)


def _by_year_end(m: re.Match[str], c: _Ctx) -> _Span:
    return c.today, date(c.today.year, 12, 31)


def _calendar_year(m: re.Match[str], c: _Ctx) -> _Span:
    return _months(int(_g(m, "y") or 0) or c.today.year + _rel(_g(m, "rel")), 1, 12)


_EN_NUM = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}
_EN_NUM |= {"seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}
_EN_NUM |= {"a couple of": 2, "couple of": 2, "a few": 3, "few": 3}
_AFTER_MODES = ("後", "先", "in", "after")
_AT_LEAST_MODES = ("以上", "more than", "longer than", "over")


def _duration(m: re.Match[str], c: _Ctx, unit: str = "") -> _Span | None:
    """N days/weeks/months/years: within (today..+N), after (around +N) or at least (+N..open)."""
    unit, half = unit or _g(m, "unit"), unit == "half" or bool(_g(m, "half"))
    if half:  # 半年, 1年半, half a year
        n, unit = 12 * int(_g(m, "n") or 0) + 6, "month"
    else:
        n = _EN_NUM.get(m["n"]) or int(m["n"])
    if unit == "year":
        n, unit = 12 * n, "month"
    mode = "after" if _g(m, "tail") else _g(m, "suf") or _g(m, "lead")
    if n <= 0 or not (mode or half or _g(m, "n") not in ("a", "an", "one")):
        return None  # "have a nice day", "once a year": "a"/"one" need a lead word
    step = {"day": timedelta(days=n), "week": timedelta(weeks=n)}.get(unit)
    if mode in _AFTER_MODES:  # around then: that day, that week, or that whole month
        if step is None:
            return _months(*_shift(c.today.year, c.today.month, n))
        return c.today + step, c.today + step + timedelta(days=6 if unit == "week" else 0)
    target = c.today + step if step else _add_months(c.today, n)
    return (target, None) if mode in _AT_LEAST_MODES else (c.today, target)


def _unit(unit: str) -> _Handler:
    return lambda m, c: _duration(m, c, unit)


def _asap(m: re.Match[str], c: _Ctx) -> _Span:
    """Today to today + 30 days, capped at the end of next month so it stays within_1_month."""
    return c.today, min(c.today + timedelta(days=30), _months(c.today.year, c.today.month, 2)[1])


_SEASON_PART = {"秋口": 9, "初秋": 9, "晩秋": 11, "初夏": 6, "晩夏": 8, "初春": 3, "早春": 3}
_SEASON_PART |= {"春先": 3, "晩春": 5, "初冬": 12}


def _season_part(m: re.Match[str], c: _Ctx) -> _Span:
    """秋口 / 初夏 ...: one month; without a year, the next one that has not ended."""
    mo, rel = _SEASON_PART[m["s"]], _g(m, "rel")
    if rel:
        return _month(c.today.year + _rel(rel), mo)
    span = _month(c.today.year, mo)
    return span if span[1] >= c.today else _month(c.today.year + 1, mo)


def _holiday_after(m: re.Match[str], c: _Ctx) -> _Span:
    """GW明け May 7-31, お盆明け Aug 17-31: this year's unless it has ended."""
    mo, day = (8, 17) if _g(m, "obon") or _g(m, "obon2") else (5, 7)
    y = c.today.year + _rel(_g(m, "rel")) if _g(m, "rel") else c.today.year
    span = date(y, mo, day), _month_end(y, mo)
    return (
        span
        if _g(m, "rel") or span[1] >= c.today
        else (date(y + 1, mo, day), _month_end(y + 1, mo))
    )


def _holiday_before(m: re.Match[str], c: _Ctx) -> _Span:
    """GW前 / お盆前には: from today to the day before it starts (Apr 28 / Aug 12)."""
    mo, day = (8, 12) if _g(m, "obon") else (4, 28)
    last = date(c.today.year, mo, day)
    if last < c.today:
        last = date(c.today.year + 1, mo, day)
    return c.today, last


def _new_fiscal_year(m: re.Match[str], c: _Ctx) -> _Span:
    """新年度 / 年度替わり: the next fiscal year's first month (in a first month, this one)."""
    if c.today.month == c.fy:
        return _months(c.today.year, c.fy)
    return _months(*_shift(c.fy_year + 1, c.fy, 0))


def _fy_base(m: re.Match[str], c: _Ctx) -> int:
    return _year(m["y"]) if _g(m, "y") else c.fy_year + _rel(_g(m, "w"))


def _fiscal_month(m: re.Match[str], c: _Ctx) -> _Span:
    """来年度4月: that month inside the named fiscal year."""
    base, mo = _fy_base(m, c), int(m["m"])
    return _month(base if mo >= c.fy else base + 1, mo, _part(_g(m, "part")))


def _fiscal_quarter(m: re.Match[str], c: _Ctx) -> _Span:
    """今期3Q / 来期1Q / 来年度のQ3 / Q1 of next fiscal year: a quarter of that fiscal year."""
    q = _g(m, "q") or _g(m, "q2")
    if _g(m, "en"):
        return _fy_span(c, c.fy_year + _rel(m["en"]), f"第{q}")
    return _fy_span(c, _fy_base(m, c), f"第{q}")


def _day_ahead(m: re.Match[str], c: _Ctx) -> _Span:
    day = c.today + timedelta(days=2 if m[0] in ("明後日", "あさって") else 1)
    return day, day


# --- the rule table: most specific first; the first rule with a readable match wins -----------

_JP_PART = r"の?(?P<part>上旬|初旬|月初め?|初め|始め|頭|中旬|半ば|中頃|下旬|月末|末|終わり)?"
_EN_PART = r"(?:(?P<part>early|beginning of|start of|mid|middle of|late|end of)[\s-]+)?"
_NO_DAY = r"(?!\d{1,2}日)"
_FILL = r"(?:ほど|くらい|ぐらい|程度|程)?"
_SUF = r"(?P<suf>以内|以上|後|先)"
_MON = "|".join(sorted(_EN_MONTH, key=len, reverse=True))
_NUM = "|".join(sorted(_EN_NUM, key=len, reverse=True))
_REL_Y = r"(?P<rel>今年|本年|来年|翌年|再来年)"

_FW = (
    r"(?:(?<!\d)(?P<y>\d{4}|\d{2})年度"
    r"|(?P<w>再来年度|今年度|本年度|来年度|翌年度|今期|当期|来期|翌期))"
)

_RULE_SOURCES: list[tuple[str, _Handler]] = [
    (r"明後日|あさって|明日|あした|\btomorrow\b", _day_ahead),
    (rf"{_FW}の?(?:第?(?P<q>[1-4])(?:q|四半期)|q(?P<q2>[1-4]))", _fiscal_quarter),
    (
        r"\bq(?P<q>[1-4]) of (?:the )?(?P<en>this|next|current) (?:fiscal year|fy)\b",
        _fiscal_quarter,
    ),
    (rf"{_FW}の?(?P<m>\d{{1,2}})月{_NO_DAY}{_JP_PART}", _fiscal_month),
    (
        r"新年度|(?:年度|期)(?:が)?(?:替|変|代)わり|年度の(?:替|変)わり目|(?:the )?new fiscal year",
        _new_fiscal_year,
    ),
    (
        r"(?:(?P<gw>gw|ゴールデンウ[ィイ]ーク|大型連休)|(?P<obon>お盆|盆))(?:休み)?(?:前|より前|まで)",
        _holiday_before,
    ),
    (
        r"(?P<rel>来年|今年|再来年)?の?(?P<s>秋口|初秋|晩秋|初夏|晩夏|初春|早春|春先|晩春|初冬)",
        _season_part,
    ),
    (
        r"(?P<rel>来年|今年)?の?(?:(?P<gw>gw|ゴールデンウ[ィイ]ーク|大型連休)|(?P<obon>お盆|盆))"
        r"(?:休み)?(?:明け|後)|after (?:the )?(?:(?P<gw2>golden week|gw)|(?P<obon2>obon))",
        _holiday_after,
    ),
    (rf"(?:{_REL_Y}|(?P<y>\d{{4}})年)の?(?P<p>半ば|中頃|中ごろ|なかば)", _year_part),
    # exact days, then months with a year, then relative months, then bare months
    (r"(?:(?P<y>\d{4})年)?(?P<m>\d{1,2})月(?P<d>\d{1,2})日", _full_date),
    (r"(?<!\d)(?P<y>20\d{2})[/-](?P<m>\d{1,2})[/-](?P<d>\d{1,2})(?!\d)", _full_date),
    (rf"(?<!\d)(?P<y>\d{{4}}|\d{{2}})年の?(?P<m>\d{{1,2}})月{_NO_DAY}{_JP_PART}", _year_month),
    (r"(?<![\d/])(?P<y>20\d{2})[/.-](?P<m>\d{1,2})(?![/.-]?\d)", _year_month),
    (rf"{_REL_Y}の?(?P<m>\d{{1,2}})月{_NO_DAY}{_JP_PART}", _rel_year_month),
    (r"(?<!\d)(?P<m1>\d{1,2})月?(?:から|より|〜|~|-|ー)(?P<m2>\d{1,2})月", _month_range),
    (rf"(?P<rel>今月|本月|当月|来月|翌月|再来月){_JP_PART}", _rel_month),
    (
        rf"\b{_EN_PART}(?:the\s+)?(?P<rel>this|next|current|coming|the)\s+month\b"
        r"(?P<after>\s+after\s+next)?",
        _rel_month,
    ),
    (r"(?P<w>再来週|来週|今週|this week|next week|the week after next)", _weeks),
    (r"(?<![今本当来翌\dヶケかカヵ箇個])月内", _rel_month),
    # fiscal years (年度 / 期), calendar quarters and halves
    (
        r"(?:(?<!\d)(?P<y>\d{4}|\d{2})年度|(?P<w>再来年度|再来期|今年度|本年度|年度内|来年度|翌年度|今期|当期|来期"
        r"|翌期|(?:this|current|next) (?:fiscal year|fy)\b))の?"
        r"(?P<part>上半?期|前半|下半?期|後半|第[1-4]四半期|末|明け|初め|始め|早々|頭)?",
        _fiscal,
    ),
    (r"(?P<part>上半?期|下半?期|第[1-4]四半期|年度末|期末|年度明け|年度初め)", _fiscal),
    (r"\b(?P<y>20\d{2})\s*-?\s*q(?P<q>[1-4])\b", _quarter),
    (r"\bq(?P<q>[1-4])\b(?:,?\s*(?:of\s+)?(?:(?P<y>20\d{2})|(?P<ny>next year)))?", _quarter),
    (r"(?<![0-9a-z])(?P<q>[1-4])q\b", _quarter),  # 1Q, as Japanese business writing has it
    (r"\bh(?P<h>[12])\b(?:,?\s*(?P<y>20\d{2}))?", _quarter),
    (
        r"\b(?P<o>first|second|third|fourth|1st|2nd|3rd|4th)\s+(?:quarter|half)\b"
        r"(?:\s+of\s+(?:(?P<y>20\d{2})|(?P<ny>next year)|this year))?",
        _quarter,
    ),
    (
        r"\b(?P<end>end of\s+)?(?:the\s+)?(?P<rel>this|current|next|coming|the)\s+quarter\b",
        _quarter,
    ),
    (rf"(?<![\d年])(?P<m>\d{{1,2}})月{_NO_DAY}{_JP_PART}", _bare_month),
    (r"(?<![今本当来翌\dヶケかカヵ箇個])月(?P<part>末|初め?)", _bare_month_part),
    (
        rf"\b{_EN_PART}(?:(?:this|next|coming)\s+)?(?P<mon>{_MON})\b\.?"
        r"(?:,?\s+(?:of\s+)?(?P<y>20\d{2}))?",
        _en_month,
    ),
    # seasons, years
    (r"(?P<rel>来年|今年|再来年|翌年|来|今|翌)?の?(?P<s>[春夏秋冬])(?![田日部川山])", _season),
    (
        r"\b(?:(?P<rel>this|next|in|by|the|early|late)\s+)?(?P<s>spring|summer|autumn|fall|winter)\b",
        _season,
    ),
    (
        r"年内|今年中|今年内|本年中|今年いっぱい|(?:by\s+)?(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?"
        r"year\b|(?:by\s+)?(?:the\s+)?year[- ]end",
        _by_year_end,
    ),
    (
        r"(?P<rel>来年|翌年)の?(?:初め|始め|早々|頭|明け)|年明け|年始|年初|新年|(?:the )?new year",
        _new_year,
    ),
    (rf"(?:{_REL_Y}の?|(?P<y>\d{{4}})年の?)?年末|(?P<rel2>来年|翌年|再来年)末", _year_part),
    (rf"(?:{_REL_Y}|(?P<y>\d{{4}})年)の?(?P<p>前半|後半)", _year_part),
    (
        r"\b(?P<p>early|beginning of|start of|mid|middle of|late|end of)[\s-]+(?:the\s+)?"
        r"(?:(?P<rel>this|next) year|(?P<y>20\d{2}))\b",
        _year_part,
    ),
    (
        r"(?P<rel>今年|本年|来年|翌年|再来年|this year|next year|the year after next)(?!度)",
        _calendar_year,
    ),
    (r"(?<!\d)(?P<y>20\d{2})(?:年(?!度)|(?!\d|[/.-]\d))", _calendar_year),
    # durations: 3ヶ月以内, 半年後, 1年以内, 2週間以内, within 3 months, in 6 months
    (rf"(?<!\d)(?P<n>\d{{1,3}})[ヶケかカヵ箇個]月(?:間)?{_FILL}{_SUF}?", _unit("month")),
    (rf"(?:(?<!\d)(?P<n>\d{{1,2}})年半|半年)(?:間)?{_FILL}{_SUF}?", _unit("half")),
    (rf"(?<!\d)(?P<n>\d{{1,2}})年(?:間)?{_FILL}{_SUF}", _unit("year")),
    (rf"(?<!\d)(?P<n>\d{{1,3}})週間?{_FILL}{_SUF}?", _unit("week")),
    (rf"(?<!\d)(?P<n>\d{{1,3}})日(?:間)?{_FILL}(?P<suf>以内|後)", _unit("day")),
    (
        r"\b(?:(?P<lead>within|in the next|in the coming|over the next|the next|next|about|around"
        r"|roughly|approximately|more than"
        rf"|longer than|over|in|after)\s+)?(?:(?P<n>\d{{1,3}}|{_NUM})\s+"
        r"(?P<unit>day|week|month|year)s?\b|(?P<half>half an? year|half-year|half year))"
        r"(?P<tail>\s+(?:from now|later))?",
        _duration,
    ),
    (
        r"すぐ(?!ではな|じゃな|には)|直ちに|至急|早急|できるだけ早|出来るだけ早|なるべく早|なる早|なるはや"
        r"|[一1]刻も早|早ければ早いほど|早めに|早期|急ぎ(?!では|じゃ)|(?<![a-z])asap(?![a-z])"
        r"|as soon as possible|(?<!not )immediately|right away"
        r"|right now|(?<!not )urgent",
        _asap,
    ),
]
_RULES: list[tuple[re.Pattern[str], _Handler]] = [
    # ASCII word boundaries: "q1くらい" ends its word at く (in Unicode mode く is a word letter)
    (re.compile(p, re.ASCII), h)
    for p, h in _RULE_SOURCES
]

_UNDECIDED = re.compile(
    r"未定|未確定|未決定|検討中|検討段階|決まっておら|決まってい?(?:な|ませ)|決めてい?(?:な|ませ)"
    r"|わからな|分からな|わかりませ|分かりませ|わかんな|いつでも|情報収集|様子見|特にな|なし"
    r"|急ぎでは|急いでいな|not sure|undecided|\btbd\b|to be (?:determined|decided)"
    r"|don[’']?t know|do not know|no rush|no hurry|not urgent|not (?:yet )?decided"
    r"|no (?:fixed )?(?:timeline|plans?)|no idea|\bunknown\b",
    re.ASCII,
)
_OPEN_AFTER = re.compile(
    r"(?:頃|ごろ|くらい|ぐらい|あたり|の|\s)*(?:以降|以後|から先|より後|or later|onwards?"
    r"|and beyond|or after|and after)"
)
_BY_AFTER = re.compile(r"(?:頃|ごろ|くらい|ぐらい|あたり|中|の|\s)*(?:まで|以内|より前)")
_BY_BEFORE = re.compile(
    r"\b(?:by|until|till|before|no later than|not later than)\s+(?:the\s+)?$", re.ASCII
)


_NOT_BEFORE = re.compile(
    r"\b(?:not before|no earlier than|not earlier than|not until|not till)\s+(?:the\s+)?$",
    re.ASCII,
)
_NOT_LATER = re.compile(r"\b(?:no|not) later than\s+(?:the\s+)?$", re.ASCII)


def _apply_modifiers(span: _Span, m: re.Match[str], today: date) -> _Span:
    """以降/onwards opens the end; まで/以内/by starts today; a range already begun starts today."""
    start, end = span
    after, before = m.string[m.end() : m.end() + 30], m.string[max(0, m.start() - 30) : m.start()]
    if _OPEN_AFTER.match(after) or _NOT_BEFORE.search(before):
        end = None
    elif (_BY_AFTER.match(after) or _BY_BEFORE.search(before)) and (end is None or end >= today):
        start = today
    if start < today and (end is None or end >= today):
        start = today
    return start, end


@dataclass
class _Hit:
    start: date
    end: date | None
    a: int  # where the words are in the normalised text
    b: int
    said: str
    asap: bool = False
    alt: _Span | None = None
    negated: bool = False
    prep: bool = False
    start_only: bool = False
    end_only: bool = False


def _collect(norm: str, c: _Ctx) -> list[_Hit]:
    """Every readable date phrase; the more specific rule claims its words first."""
    hits: list[_Hit] = []
    for pattern, handler in _RULES:
        for m in pattern.finditer(norm):
            if any(h.a < m.end() and m.start() < h.b for h in hits):
                continue
            try:
                got = handler(m, c)
            except (ValueError, OverflowError):  # 13月, 2月30日, a year past 9999: try the next
                continue
            if got is None:
                continue
            alt = None
            if isinstance(got, _Alt):
                alt = _apply_modifiers(got.alt, m, c.today)
                got = got.span
            start, end = _apply_modifiers(got, m, c.today)
            tail = _OPEN_AFTER.match(norm, m.end()) or _BY_AFTER.match(norm, m.end())
            said = m[0] + (tail[0] if tail else "")
            hits.append(_Hit(start, end, m.start(), m.end(), said.strip(), handler is _asap, alt))
    return sorted(hits, key=lambda h: h.a)


_NEG_JA = re.compile(
    r"難し[いく](?!ければ)|無理(?!なく|なら|のない|せず)|厳し[いく](?!ければ)|不可|(?:では|じゃ)な(?!いか|いでしょう|かろう)|でなく"
    r"|は避け|間に合わな|できな[いく](?!か)"
    r"|(?:予算|余裕|時間|枠|人手)が(?:もう)?(?:ない|無い|ありませ|足りな)"
)
_NEG_EN_AFTER = re.compile(
    r"^[\s,]*(?:won't|will not|doesn't|does not|isn't|is not|wouldn't|would not|is)\s+"
    r"(?:work|possible|be possible|impossible|too (?:early|soon)|out)"
)
_NEG_EN_BEFORE = re.compile(
    r"\b(?:not|can't|cannot|can not|won't|unable to|impossible)\b", re.ASCII
)
_PREP_JA = re.compile(
    r"^(?:頃|ごろ|中|に|の|には|で|まで|中に)*"
    r"(?:稟議|決裁|承認|契約|予算|社内|申請|発注|検討|トライアル|試験|検証|poc|お試し)"
)
_PREP_EN = re.compile(
    r"\b(?:approval|approve[ds]?|sign(?:-off| off|ing)?|contract|budget|decision|trial|pilot"
    r"|poc)\b",
    re.ASCII,
)
_START_ONLY = re.compile(r"(?:早ければ|早くて|早くても|at the earliest|earliest)\s*$")
_END_ONLY = re.compile(
    r"(?:遅くとも|遅くても|遅くて|at the latest|latest|no later than)\s*(?:the\s+)?$"
)
_CLAUSE = re.compile(r"[,.;!?、。！？]")


_JOINED = re.compile(r"^[のはにもと\s]*$")


def _mark(hits: list[_Hit], norm: str) -> None:
    """Negated, preparation-step, earliest-only and latest-only dates."""
    for i, h in enumerate(hits):
        nxt = hits[i + 1].a if i + 1 < len(hits) else len(norm)
        prev = hits[i - 1].b if i else 0
        segments = _CLAUSE.split(norm[h.b : nxt][:25])  # the negation must be in the same clause
        after = segments[0]
        if len(segments) > 1 and len(after) <= 3:  # 年内は、ちょっと難しい
            after += segments[1]
        clause_before = _CLAUSE.split(norm[prev : h.a])[-1]
        near_before = norm[max(prev, h.a - 16) : h.a]
        guarded = _NOT_BEFORE.search(near_before) or _NOT_LATER.search(near_before)
        h.negated = bool(
            _NEG_JA.search(after)
            or _NEG_EN_AFTER.match(after)
            or (not guarded and _NEG_EN_BEFORE.search(clause_before))
        )
        h.prep = bool(_PREP_JA.match(after) or _PREP_EN.search(clause_before))
        h.start_only = bool(_START_ONLY.search(near_before))
        h.end_only = bool(_END_ONLY.search(near_before))
    for i in range(
        len(hits) - 2, -1, -1
    ):  # 年明けすぐは無理: words run together share the negation
        if hits[i + 1].negated and _JOINED.match(norm[hits[i].b : hits[i + 1].a]):
            hits[i].negated = True


def _after(d: date) -> date:
    return d + timedelta(days=1)


def _minus(p: _Hit, n: _Hit) -> _Hit | None:
    """p without the range n: what is left after (or before) it, None if nothing is left."""
    p_end, n_end = p.end or date.max, n.end or date.max
    if p_end < n.start or n_end < p.start:
        return p
    if p_end > n_end:
        p.start = _after(n_end)
        return p
    if p.start < n.start:
        p.end = n.start - timedelta(days=1)
        return p
    return None


def _quote(h: _Hit) -> str:
    return h.said


def _ts(start: date | None, end: date | None) -> tuple[str, str]:
    """A range in Japanese and in English."""
    return (
        _describe(start, end, TimingBucket.UNKNOWN, "ja"),
        _describe(start, end, TimingBucket.UNKNOWN, "en"),
    )


def _combine(hits: list[_Hit], c: _Ctx, steps: list[Step]) -> tuple[_Span | None, _Span | None]:
    """The two-date rule and negation; returns the reading and, if there is one, its alternative."""
    for h in hits:
        ja, en = _ts(h.start, h.end)
        if h.asap:
            steps.append(
                Step(
                    f"『{h.said}』→ 急ぎ（今日から30日以内）",
                    f"'{h.said}' → urgent (within 30 days)",
                )
            )
        else:
            steps.append(Step(f"『{h.said}』→ {ja}", f"'{h.said}' → {en}"))
    negated = [h for h in hits if h.negated and not h.asap]
    for h in hits:
        if h.negated:
            what = "急ぎではない" if h.asap else "この期間を除外"
            steps.append(
                Step(
                    f"『{h.said}』は難しい（否定）→ {what}",
                    f"'{h.said}' is ruled out → "
                    + ("not urgent" if h.asap else "that period is excluded"),
                )
            )
    positives = [h for h in hits if not h.negated]
    for n in negated:
        left = []
        for p in positives:
            q = _minus(p, n)
            if q is not None:
                left.append(q)
        positives = left
    if not positives:
        if not negated:
            return None, None
        last = max(negated, key=lambda n: n.end or date.max)
        if last.end is None:  # 4月以降は難しい: before it
            span: _Span = (c.today, last.start - timedelta(days=1))
        else:
            span = (_after(last.end), None)
        ja, en = _ts(*span)
        steps.append(Step(f"除外した期間の後 → {ja}", f"after the excluded period → {en}"))
        return span, None
    if any(not p.asap for p in positives) and any(p.asap for p in positives):
        positives = [p for p in positives if not p.asap]
        steps.append(Step("具体的な日付を「急ぎ」より優先", "a concrete date wins over 'urgent'"))
    if len(positives) > 1 and any(p.prep for p in positives) and any(not p.prep for p in positives):
        for p in positives:
            if p.prep:
                steps.append(
                    Step(
                        f"『{p.said}』は準備（稟議・契約など）の日付 → 導入の日付を採用",
                        f"'{p.said}' is a preparation step (approval, contract)"
                        " → the start's date is used",
                    )
                )
        positives = [p for p in positives if not p.prep]
    if len(positives) == 1:
        p = positives[0]
        return (p.start, p.end), p.alt
    starts = [p for p in positives if not p.end_only] or positives
    ends = [p for p in positives if not p.start_only] or positives
    start = min(p.start for p in starts)
    end = None if any(p.end is None for p in ends) else max(p.end for p in ends if p.end)
    ja, en = _ts(start, end)
    steps.append(
        Step(
            f"日付が複数 → 最も早い開始から最も遅い終わりまで（{ja}）",
            f"several dates → from the earliest start to the latest end ({en})",
        )
    )
    return (start, end), None


_WAITING = [
    (
        "budget",
        re.compile(
            r"予算(?:が|の|を)?(?:取れ|とれ|確保|つ[きく]|付[きく]|承認|通|決ま|下り|おり)|予算(?:次第|待ち|申請)"
            r"|\bbudget"
        ),
    ),
    (
        "information",
        re.compile(
            r"情報収集|比較検討|他社(?:さん|様)?と(?:の)?比較|調査中|リサーチ|explor|research"
            r"|gathering information|collecting information|just looking|comparing"
        ),
    ),
    (
        "internal_review",
        re.compile(
            r"稟議(?:が|を)?(?:通(?:れば|り次第|ったら|ってから)|下り|おり|次第|待ち|中)"
            r"|決裁(?:が|を)?(?:下り|おり|次第|待ち|出)"
            r"|承認(?:待ち|次第|が(?:下り|おり|出|取れ))|社内(?:で|の)?(?:検討|調整|確認|承認|稟議|合意)"
            r"|上長|上司|経営(?:陣|層)?の?(?:判断|承認)|検討中|検討して(?:から|おります|います)|検討段階"
            r"|internal(?:ly)? (?:review|approval|discussion)|management decision"
            r"|(?:waiting for|pending|awaiting|needs?|subject to|depends on|once we get) (?:\w+ )?"
            r"(?:approval|sign-?off)"
            r"|discuss(?:ing)? (?:it )?internally"
        ),
    ),
]
_WAITING_OTHER = re.compile(
    r"次第|(?:切れ|終わっ|決まっ|落ち着い|完了し|済ん)(?:て)?から|待ち"
    r"|depends on|once (?:the|our|we)"
)


def _waiting_for(norm: str, dated: bool) -> tuple[str, str] | None:
    for code, pattern in _WAITING:
        m = pattern.search(norm)
        if m:
            return code, m[0]
    if not dated:
        m = _WAITING_OTHER.search(norm)
        if m:
            return "other", m[0]
    return None


def _bucket_of(start: date | None, end: date | None, today: date) -> TimingBucket:
    """Calendar months from today's month to the end's (or, if open, the start's) month."""
    anchor = end or start
    if anchor is None:
        return TimingBucket.UNKNOWN
    diff = (anchor.year - today.year) * 12 + anchor.month - today.month
    for bucket, months in _BUCKET_MONTHS.items():
        if diff <= months:
            return bucket
    return TimingBucket.LATER


def _today(now: datetime | date) -> date:
    return now.date() if isinstance(now, datetime) else now


def parse_timing(text: str, now: datetime | date, fiscal_year_start_month: int = 4) -> Timing:
    """Read a desired timing (導入時期) from Japanese or English free text; never raises on text.

    ``now`` is an aware datetime (its own local date is used) or a date. Fiscal-year words
    (今年度, 来期, 年度末, next fiscal year) use years starting in ``fiscal_year_start_month``.
    Text with no readable date is UNDECIDED if it says so (未定, 検討中, not sure, 予算が取れ次第),
    else UNKNOWN. Ruled-out dates (年度内は難しい) are excluded; several dates follow the
    two-date rule (docs/content.md, "Timing"); the result's ``steps`` say how it was read.

    >>> t = parse_timing("来月中旬くらいに導入したいです", date(2026, 11, 21))
    >>> t.start, t.end, t.bucket.value
    (datetime.date(2026, 12, 11), datetime.date(2026, 12, 20), 'within_1_month')
    """
    if not 1 <= fiscal_year_start_month <= 12:
        raise ValueError(f"fiscal_year_start_month must be 1-12, not {fiscal_year_start_month}")
    ctx = _Ctx(_today(now), fiscal_year_start_month)
    steps: list[Step] = []
    try:
        norm = _normalise(text)
        hits = _collect(norm, ctx)
        _mark(hits, norm)
        span, alt = _combine(hits, ctx, steps)
        waiting = _waiting_for(norm, span is not None)
    except Exception:  # belt and braces: a reading bug must not break the conversation
        return Timing(text, None, None, TimingBucket.UNKNOWN)
    waiting_code = waiting[0] if waiting else None
    if waiting:
        ja = WAITING_FOR_LABELS["ja"][waiting[0]]
        en = WAITING_FOR_LABELS["en"][waiting[0]]
        steps.append(Step(f"『{waiting[1]}』→ {ja}待ち", f"'{waiting[1]}' → waiting for {en}"))
    if span is None:
        said_undecided = waiting is not None or _UNDECIDED.search(norm) is not None
        bucket = TimingBucket.UNDECIDED if said_undecided else TimingBucket.UNKNOWN
        if bucket is TimingBucket.UNDECIDED:
            steps.append(Step("日付の指定なし → 未定", "no date given → undecided"))
        else:
            steps.append(
                Step("日付として読める言葉がありません → 不明", "nothing reads as a date → unknown")
            )
        return Timing(text, None, None, bucket, tuple(steps), (), waiting_code)
    alternatives: tuple[tuple[date, date | None, TimingBucket], ...] = ()
    if alt is not None and alt != span:
        alternatives = ((alt[0], alt[1], _bucket_of(alt[0], alt[1], ctx.today)),)
        steps.append(
            Step(
                "読み取りに迷いがあります: "
                + _describe(alt[0], alt[1], TimingBucket.UNKNOWN, "ja")
                + " の可能性も",
                "uncertain: it may also mean "
                + _describe(alt[0], alt[1], TimingBucket.UNKNOWN, "en"),
            )
        )
    bucket = _bucket_of(span[0], span[1], ctx.today)
    return Timing(text, span[0], span[1], bucket, tuple(steps), alternatives, waiting_code)


def timing_from_bucket(bucket: TimingBucket, now: datetime | date, text: str = "") -> Timing:
    """The range a choice button stands for; the result's bucket is always ``bucket``.

    within_N: today .. last day of the month N months ahead (N = 1, 3, 6, 12);
    later: from the first day of the month 13 months ahead, open end; otherwise no dates.
    """
    today, bucket = _today(now), TimingBucket(bucket)
    months = _BUCKET_MONTHS.get(bucket)
    if months is not None:
        return Timing(text, today, _month_end(*_shift(today.year, today.month, months)), bucket)
    if bucket is TimingBucket.LATER:
        return Timing(text, date(*_shift(today.year, today.month, 13), 1), None, bucket)
    return Timing(text, None, None, bucket)
