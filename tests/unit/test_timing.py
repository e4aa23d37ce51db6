"""Tests for autoreply.domain.timing: free-text 導入時期 to a date range and a bucket."""

from __future__ import annotations

import random
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from autoreply.domain.timing import Timing, TimingBucket, parse_timing, timing_from_bucket

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 21, 22, 30, tzinfo=TOKYO)  # a Saturday night

W1 = TimingBucket.WITHIN_1_MONTH
W3 = TimingBucket.WITHIN_3_MONTHS
W6 = TimingBucket.WITHIN_6_MONTHS
W12 = TimingBucket.WITHIN_12_MONTHS
LATER = TimingBucket.LATER
UNDECIDED = TimingBucket.UNDECIDED
UNKNOWN = TimingBucket.UNKNOWN


def at(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 21, 0, tzinfo=TOKYO)


def case(
    case_id: str,
    text: str,
    start: date | None,
    end: date | None,
    bucket: TimingBucket,
    *,
    now: datetime | date = NOW,
    fy: int = 4,
) -> Any:
    return pytest.param(text, now, fy, start, end, bucket, id=case_id)


D = date
TODAY = D(2026, 11, 21)
ASAP_END = D(2026, 12, 21)
FY_END = D(2027, 3, 31)
NEXT_FY = (D(2027, 4, 1), D(2028, 3, 31))

# now = 2026-11-21 (Asia/Tokyo) unless a case says otherwise; fiscal years start in April.
CASES = [
    # --- as soon as possible: today .. today + 30 days (capped at the end of next month)
    case("asap-ja-sugu-in-sentence", "すぐにでも導入したい", TODAY, ASAP_END, W1),
    case("asap-ja-shikyu", "至急", TODAY, ASAP_END, W1),
    case("asap-ja-imasugu", "今すぐ", TODAY, ASAP_END, W1),
    case("asap-ja-dekirudake-hayaku", "できるだけ早く", TODAY, ASAP_END, W1),
    case("asap-ja-sakkyu", "早急に対応希望", TODAY, ASAP_END, W1),
    case("asap-en-upper", "ASAP", TODAY, ASAP_END, W1),
    case("asap-en-phrase", "as soon as possible", TODAY, ASAP_END, W1),
    case("asap-en-immediately", "Immediately", TODAY, ASAP_END, W1),
    case(
        "asap-capped-at-end-of-next-month-stays-within-1-month",
        "すぐ",
        D(2027, 1, 31),
        D(2027, 2, 28),
        W1,
        now=at(2027, 1, 31),
    ),
    # --- relative months and their thirds (上旬 1-10, 中旬 11-20, 下旬/月末 21-end, 月初 1-10)
    case("this-month-starts-today", "今月", TODAY, D(2026, 11, 30), W1),
    case("next-month-whole", "来月", D(2026, 12, 1), D(2026, 12, 31), W1),
    case("month-after-next-whole", "再来月", D(2027, 1, 1), D(2027, 1, 31), W3),
    case("next-month-early", "来月上旬", D(2026, 12, 1), D(2026, 12, 10), W1),
    case("next-month-mid", "来月中旬", D(2026, 12, 11), D(2026, 12, 20), W1),
    case("next-month-late", "来月下旬", D(2026, 12, 21), D(2026, 12, 31), W1),
    case("this-month-end-clipped-to-today", "今月末", TODAY, D(2026, 11, 30), W1),
    case("month-after-next-beginning", "再来月初め", D(2027, 1, 1), D(2027, 1, 10), W3),
    case("bare-getsumatsu-this-month", "月末", TODAY, D(2026, 11, 30), W1),
    case("bare-gessho-passed-means-next-month", "月初", D(2026, 12, 1), D(2026, 12, 10), W1),
    case("named-month-early", "3月上旬", D(2027, 3, 1), D(2027, 3, 10), W6),
    case("late-february-clamped-to-28th", "2月下旬", D(2027, 2, 21), D(2027, 2, 28), W3),
    case("late-february-leap-year-29th", "2028年2月下旬", D(2028, 2, 21), D(2028, 2, 29), LATER),
    case(
        "next-month-end-in-january-is-late-february",
        "来月末",
        D(2027, 2, 21),
        D(2027, 2, 28),
        W1,
        now=at(2027, 1, 15),
    ),
    case(
        "mixed-next-month-mid-in-sentence",
        "来月中旬くらいに導入したいです",
        D(2026, 12, 11),
        D(2026, 12, 20),
        W1,
    ),
    # --- calendar year
    case("nennai-today-to-dec-31", "年内", TODAY, D(2026, 12, 31), W1),
    case("mixed-dekireba-nennai", "できれば年内に", TODAY, D(2026, 12, 31), W1),
    case("en-by-the-end-of-the-year", "by the end of the year", TODAY, D(2026, 12, 31), W1),
    case("en-end-of-year", "End of year", TODAY, D(2026, 12, 31), W1),
    case("en-this-year", "this year", TODAY, D(2026, 12, 31), W1),
    case("nenmatsu-is-december", "年末", D(2026, 12, 1), D(2026, 12, 31), W1),
    case("nenmatsu-made-is-by-dec-31", "年末までに", TODAY, D(2026, 12, 31), W1),
    case("rainen-whole-next-year", "来年", D(2027, 1, 1), D(2027, 12, 31), LATER),
    case("en-next-year", "next year", D(2027, 1, 1), D(2027, 12, 31), LATER),
    case("year-alone", "2027年", D(2027, 1, 1), D(2027, 12, 31), LATER),
    case("kanji-year-digit-by-digit", "二〇二七年", D(2027, 1, 1), D(2027, 12, 31), LATER),
    case("nenake-next-january", "年明け", D(2027, 1, 1), D(2027, 1, 31), W3),
    case("nenshi-next-january", "年始", D(2027, 1, 1), D(2027, 1, 31), W3),
    case(
        "nenake-in-january-is-this-january",
        "年明け",
        D(2027, 1, 10),
        D(2027, 1, 31),
        W1,
        now=at(2027, 1, 10),
    ),
    # --- fiscal years (April start unless stated)
    case("kondo-today-to-fy-end", "今年度", TODAY, FY_END, W6),
    case("nendonai-today-to-fy-end", "年度内", TODAY, FY_END, W6),
    case("konki-today-to-fy-end", "今期", TODAY, FY_END, W6),
    case("raiki-whole-next-fy", "来期", *NEXT_FY, LATER),
    case("rainendo-whole-next-fy", "来年度", *NEXT_FY, LATER),
    case("en-next-fiscal-year", "next fiscal year", *NEXT_FY, LATER),
    case("nendomatsu-last-month-of-fy", "年度末", D(2027, 3, 1), FY_END, W6),
    case("rainendo-ikou-open-end-bucket-from-start", "来年度以降", D(2027, 4, 1), None, W6),
    case("shimoki-current-second-half", "下期", TODAY, FY_END, W6),
    case("kamiki-passed-means-next-fy-first-half", "上期", D(2027, 4, 1), D(2027, 9, 30), W12),
    case("fy-third-quarter", "第3四半期", TODAY, D(2026, 12, 31), W1),
    case("fy-third-quarter-kanji-keeps-shihanki", "第三四半期", TODAY, D(2026, 12, 31), W1),
    case(
        "rainendo-in-march-rolls-to-april",
        "来年度",
        D(2027, 4, 1),
        D(2028, 3, 31),
        W12,
        now=at(2027, 3, 15),
    ),
    case("fy-start-jan-kondo-is-calendar-year", "今年度", TODAY, D(2026, 12, 31), W1, fy=1),
    case(
        "fy-start-jan-rainendo-is-next-calendar-year",
        "来年度",
        D(2027, 1, 1),
        D(2027, 12, 31),
        LATER,
        fy=1,
    ),
    case("fy-start-oct-kondo-ends-september", "今年度", TODAY, D(2027, 9, 30), W12, fy=10),
    case("fy-start-oct-raiki", "来期", D(2027, 10, 1), D(2028, 9, 30), LATER, fy=10),
    case("fy-start-oct-nendomatsu", "年度末", D(2027, 9, 1), D(2027, 9, 30), W12, fy=10),
    # --- named months: the next occurrence (the current month is this month)
    case("month-alone-next-occurrence", "3月", D(2027, 3, 1), D(2027, 3, 31), W6),
    case(
        "mixed-month-goro-in-sentence", "3月頃を予定しています", D(2027, 3, 1), D(2027, 3, 31), W6
    ),
    case("month-goro-hiragana", "3月ごろ", D(2027, 3, 1), D(2027, 3, 31), W6),
    case("month-kara-is-that-month", "4月から", D(2027, 4, 1), D(2027, 4, 30), W6),
    case("current-month-is-this-month", "11月", TODAY, D(2026, 11, 30), W1),
    case("december-this-year", "12月", D(2026, 12, 1), D(2026, 12, 31), W1),
    case("full-width-digits-month", "１２月", D(2026, 12, 1), D(2026, 12, 31), W1),
    case("kanji-month-goro", "十二月頃", D(2026, 12, 1), D(2026, 12, 31), W1),
    case(
        "january-asked-in-december-rolls-year",
        "1月",
        D(2027, 1, 1),
        D(2027, 1, 31),
        W1,
        now=at(2026, 12, 10),
    ),
    case("year-and-month", "2027年3月", D(2027, 3, 1), D(2027, 3, 31), W6),
    case("two-digit-year-and-month", "27年3月", D(2027, 3, 1), D(2027, 3, 31), W6),
    case("reiwa-year-and-month", "令和9年4月", D(2027, 4, 1), D(2027, 4, 30), W6),
    case("ambiguous-month-inai-read-as-by-march", "3月以内", TODAY, D(2027, 3, 31), W6),
    case("month-ikou-open-end", "4月以降", D(2027, 4, 1), None, W6),
    case("month-range", "2月〜3月", D(2027, 2, 1), D(2027, 3, 31), W6),
    case("exact-day", "12月15日", D(2026, 12, 15), D(2026, 12, 15), W1),
    # --- durations: within N (today .. same day N months later, clamped) and after N
    case("kagetsu-inai-small-ke", "3ヶ月以内", TODAY, D(2027, 2, 21), W3),
    case("kagetsu-inai-hiragana-ka", "3か月以内", TODAY, D(2027, 2, 21), W3),
    case("kagetsu-inai-katakana-ka", "3カ月以内", TODAY, D(2027, 2, 21), W3),
    case("kagetsu-inai-katakana-ke", "3ケ月以内", TODAY, D(2027, 2, 21), W3),
    case("kagetsu-inai-kanji-ka", "3箇月以内", TODAY, D(2027, 2, 21), W3),
    case("kagetsu-inai-full-width", "３ヶ月以内", TODAY, D(2027, 2, 21), W3),
    case("kagetsu-inai-kanji-numeral", "三ヶ月以内", TODAY, D(2027, 2, 21), W3),
    case(
        "one-month-from-jan-31-clamped-to-feb-28",
        "1ヶ月以内",
        D(2027, 1, 31),
        D(2027, 2, 28),
        W1,
        now=at(2027, 1, 31),
    ),
    case("weeks-inai", "2週間以内", TODAY, D(2026, 12, 5), W1),
    case("hantoshi-inai-six-months", "半年以内", TODAY, D(2027, 5, 21), W6),
    case("hantoshi-alone", "半年", TODAY, D(2027, 5, 21), W6),
    case("one-year-inai", "1年以内", TODAY, D(2027, 11, 21), W12),
    case("one-year-inai-kanji", "一年以内", TODAY, D(2027, 11, 21), W12),
    case("kagetsu-go-is-that-month", "3ヶ月後", D(2027, 2, 1), D(2027, 2, 28), W3),
    case("nen-go-is-that-month-next-year", "1年後", D(2027, 11, 1), D(2027, 11, 30), W12),
    # --- bucket boundaries (calendar months from now's month to the end's month)
    case("boundary-1-month-is-within-1", "1ヶ月以内", TODAY, D(2026, 12, 21), W1),
    case("boundary-2-months-is-within-3", "2ヶ月以内", TODAY, D(2027, 1, 21), W3),
    case("boundary-3-months-is-within-3", "3ヶ月以内", TODAY, D(2027, 2, 21), W3),
    case("boundary-4-months-is-within-6", "4ヶ月以内", TODAY, D(2027, 3, 21), W6),
    case("boundary-6-months-is-within-6", "6ヶ月以内", TODAY, D(2027, 5, 21), W6),
    case("boundary-7-months-is-within-12", "7ヶ月以内", TODAY, D(2027, 6, 21), W12),
    case("boundary-12-months-is-within-12", "12ヶ月以内", TODAY, D(2027, 11, 21), W12),
    case("boundary-13-months-is-later", "13ヶ月後", D(2027, 12, 1), D(2027, 12, 31), LATER),
    # --- seasons: 春 Mar-May, 夏 Jun-Aug, 秋 Sep-Nov, 冬 Dec-Feb
    case("spring-next-one", "春", D(2027, 3, 1), D(2027, 5, 31), W6),
    case("raishun-next-years-spring", "来春", D(2027, 3, 1), D(2027, 5, 31), W6),
    case("rainen-no-haru", "来年の春", D(2027, 3, 1), D(2027, 5, 31), W6),
    case("summer-goro", "夏頃", D(2027, 6, 1), D(2027, 8, 31), W12),
    case("autumn-inside-it-is-this-one", "秋", TODAY, D(2026, 11, 30), W1),
    case("winter-spans-new-year", "冬", D(2026, 12, 1), D(2027, 2, 28), W3),
    case(
        "winter-inside-it-in-january", "冬", D(2027, 1, 15), D(2027, 2, 28), W1, now=at(2027, 1, 15)
    ),
    # --- English
    case("en-next-month", "next month", D(2026, 12, 1), D(2026, 12, 31), W1),
    case("en-this-month", "this month", TODAY, D(2026, 11, 30), W1),
    case("en-within-3-months", "within 3 months", TODAY, D(2027, 2, 21), W3),
    case("en-in-3-months-is-that-month", "in 3 months", D(2027, 2, 1), D(2027, 2, 28), W3),
    case("en-within-2-weeks", "within 2 weeks", TODAY, D(2026, 12, 5), W1),
    case("en-in-6-months", "in 6 months", D(2027, 5, 1), D(2027, 5, 31), W6),
    case("en-quarter-with-year", "Q2 2027", D(2027, 4, 1), D(2027, 6, 30), W12),
    case("en-year-then-quarter", "2027 Q2", D(2027, 4, 1), D(2027, 6, 30), W12),
    case("en-quarter-alone-next-occurrence", "Q2", D(2027, 4, 1), D(2027, 6, 30), W12),
    case("en-current-quarter-alone-starts-today", "Q4", TODAY, D(2026, 12, 31), W1),
    case("en-by-march", "by March", TODAY, D(2027, 3, 31), W6),
    case("en-month-with-year", "March 2027", D(2027, 3, 1), D(2027, 3, 31), W6),
    case("en-in-april", "We plan to roll out in April.", D(2027, 4, 1), D(2027, 4, 30), W6),
    case("en-early-next-month", "early next month", D(2026, 12, 1), D(2026, 12, 10), W1),
    case("en-mid-next-month", "mid next month", D(2026, 12, 11), D(2026, 12, 20), W1),
    case("en-late-next-month", "late next month", D(2026, 12, 21), D(2026, 12, 31), W1),
    case("en-next-quarter", "next quarter", D(2027, 1, 1), D(2027, 3, 31), W6),
    case("en-this-quarter", "this quarter", TODAY, D(2026, 12, 31), W1),
    case(
        "en-january-asked-in-december",
        "in January",
        D(2027, 1, 1),
        D(2027, 1, 31),
        W1,
        now=at(2026, 12, 10),
    ),
    # --- further forms: exact dates, weeks, halves, open ends, "by", literal past ranges
    case("iso-like-exact-date", "2027/01/20", D(2027, 1, 20), D(2027, 1, 20), W3),
    case("year-slash-month", "2027/4", D(2027, 4, 1), D(2027, 4, 30), W6),
    case("next-week-monday-to-sunday", "来週", D(2026, 11, 23), D(2026, 11, 29), W1),
    case("one-and-a-half-years-later", "1年半後", D(2028, 5, 1), D(2028, 5, 31), LATER),
    case("at-least-three-months-open-end", "3ヶ月以上先", D(2027, 2, 21), None, W3),
    case("mid-march-onwards-open-end", "3月中旬以降", D(2027, 3, 11), None, W6),
    case("next-year-march-end-made-is-by", "来年3月末まで", TODAY, D(2027, 3, 31), W6),
    case(
        "passed-part-of-current-month-rolls-a-year",
        "11月上旬",
        D(2027, 11, 1),
        D(2027, 11, 10),
        W12,
    ),
    case(
        "past-fy-half-said-explicitly-stays-literal",
        "今年度上期",
        D(2026, 4, 1),
        D(2026, 9, 30),
        W1,
    ),
    case("next-fy-first-half", "来年度の上期", D(2027, 4, 1), D(2027, 9, 30), W12),
    case("numbered-fiscal-year", "2027年度", *NEXT_FY, LATER),
    case("en-from-april-onwards", "from April onwards", D(2027, 4, 1), None, W6),
    case("en-no-later-than-q1", "no later than Q1", TODAY, D(2027, 3, 31), W6),
    case("en-h1-with-year", "H1 2027", D(2027, 1, 1), D(2027, 6, 30), W12),
    case(
        "en-second-half-of-next-year",
        "second half of next year",
        D(2027, 7, 1),
        D(2027, 12, 31),
        LATER,
    ),
    case("en-next-spring", "next spring", D(2027, 3, 1), D(2027, 5, 31), W6),
    case("en-in-the-fall-inside-it", "in the fall", TODAY, D(2026, 11, 30), W1),
    case("en-a-few-months", "a few months", TODAY, D(2027, 2, 21), W3),
    case("en-half-a-year", "half a year", TODAY, D(2027, 5, 21), W6),
    case("unknown-once-a-year-is-no-duration", "once a year", None, None, UNKNOWN),
    case("unknown-have-a-nice-day", "have a nice day", None, None, UNKNOWN),
    case("unknown-sales-fall-is-no-season", "sales fall", None, None, UNKNOWN),
    # --- undecided: only when no date is found
    case("undecided-mitei", "未定", None, None, UNDECIDED),
    case("undecided-kentouchuu-sentence", "まだ検討中です", None, None, UNDECIDED),
    case("undecided-mada-kimatteinai", "まだ決まっていない", None, None, UNDECIDED),
    case("undecided-kimatteinai", "決まっていません", None, None, UNDECIDED),
    case("undecided-wakaranai", "わからない", None, None, UNDECIDED),
    case("undecided-wakarimasen-kanji", "分かりません", None, None, UNDECIDED),
    case("undecided-not-sure-yet", "Not sure yet", None, None, UNDECIDED),
    case("undecided-en-word", "undecided", None, None, UNDECIDED),
    case("undecided-tbd", "TBD", None, None, UNDECIDED),
    case("undecided-dont-know", "I don't know", None, None, UNDECIDED),
    case("undecided-no-rush", "no rush", None, None, UNDECIDED),
    case("undecided-not-in-a-hurry-is-not-asap", "急ぎではありません", None, None, UNDECIDED),
    case(
        "date-wins-over-undecided-words",
        "未定ですが来年度以降になると思います",
        D(2027, 4, 1),
        None,
        W6,
    ),
    # --- unknown: nothing readable, never raises
    case("unknown-empty", "", None, None, UNKNOWN),
    case("unknown-whitespace", "   \u3000 ", None, None, UNKNOWN),
    case("unknown-emoji", "🙂", None, None, UNKNOWN),
    case("unknown-huge", "x" * 10000, None, None, UNKNOWN),
    case("unknown-garbage", "asdf", None, None, UNKNOWN),
    case("unknown-many-verb-mays-stay-fast", "we may " * 5000, None, None, UNKNOWN),
    case("unknown-may-as-a-verb-is-not-may", "we may start soon", None, None, UNKNOWN),
    case("unknown-month-zero", "〇月", None, None, UNKNOWN),
    case("unknown-month-thirteen", "13月", None, None, UNKNOWN),
    case("unknown-impossible-day", "2月30日", None, None, UNKNOWN),
    case("unknown-lone-surrogate", "\ud800", None, None, UNKNOWN),
]


@pytest.mark.parametrize(("text", "now", "fy", "start", "end", "bucket"), CASES)
def test_parse_timing_table(
    text: str,
    now: datetime | date,
    fy: int,
    start: date | None,
    end: date | None,
    bucket: TimingBucket,
) -> None:
    timing = parse_timing(text, now, fiscal_year_start_month=fy)
    assert (timing.start, timing.end, timing.bucket) == (start, end, bucket)
    assert timing.text == text


def test_parse_timing_table_has_at_least_60_cases() -> None:
    assert len(CASES) >= 60


def test_docstring_example_next_month_mid() -> None:
    timing = parse_timing("来月中旬くらいに導入したいです", date(2026, 11, 21))
    assert timing.describe("ja") == "2026年12月11日〜2026年12月20日"
    assert timing.describe("en") == "2026-12-11 to 2026-12-20"


def test_aware_now_uses_its_own_local_date() -> None:
    # 00:30 on 1 December in Tokyo is still 30 November in UTC: Tokyo's date must win.
    now = datetime(2026, 12, 1, 0, 30, tzinfo=TOKYO)
    timing = parse_timing("今月", now)
    assert (timing.start, timing.end) == (date(2026, 12, 1), date(2026, 12, 31))


def test_plain_date_now_equals_aware_datetime_now() -> None:
    assert parse_timing("来月", NOW) == parse_timing("来月", NOW.date())


def test_original_text_is_kept_unchanged() -> None:
    text = "  ３ヶ月以内  "
    assert parse_timing(text, NOW).text == text


def test_invalid_fiscal_year_start_month_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="fiscal_year_start_month"):
        parse_timing("来年度", NOW, fiscal_year_start_month=13)


def test_random_strings_never_raise() -> None:
    alphabet = (
        "0123456789０１２３一二三十〇年月日ヶか週間以内後半上中下旬末初来今再度期春夏秋冬qQ -/〜 "
    )
    rng = random.Random(20261121)
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        timing = parse_timing(text, NOW)
        assert timing.text == text
        assert timing.start is None or timing.end is None or timing.start <= timing.end


@pytest.mark.parametrize(
    "timing",
    [
        pytest.param(parse_timing("来月中旬", NOW), id="closed-range"),
        pytest.param(parse_timing("来年度以降", NOW), id="open-end"),
        pytest.param(Timing("by march", None, date(2027, 3, 31), W6), id="open-start"),
        pytest.param(parse_timing("未定", NOW), id="undecided-no-dates"),
        pytest.param(parse_timing("", NOW), id="unknown-empty-text"),
    ],
)
def test_to_dict_from_dict_round_trip_is_exact(timing: Timing) -> None:
    assert Timing.from_dict(timing.to_dict()) == timing


def test_to_dict_uses_iso_dates_and_bucket_value() -> None:
    assert parse_timing("来年度以降", NOW).to_dict() == {
        "text": "来年度以降",
        "start": "2027-04-01",
        "end": None,
        "bucket": "within_6_months",
        "steps": [{"ja": "『来年度以降』→ 2027年4月1日〜", "en": "'来年度以降' → from 2027-04-01"}],
        "alternatives": [],
        "uncertain": False,
        "waiting_for": None,
    }


def test_from_dict_loads_a_stored_dict_without_the_new_keys() -> None:
    old = {"text": "来月", "start": "2026-12-01", "end": "2026-12-31", "bucket": "within_1_month"}
    t = Timing.from_dict(old)
    assert (t.start, t.end, t.bucket, t.steps, t.alternatives, t.waiting_for) == (
        date(2026, 12, 1),
        date(2026, 12, 31),
        W1,
        (),
        (),
        None,
    )
    assert not t.uncertain


@pytest.mark.parametrize(
    ("timing", "ja", "en"),
    [
        pytest.param(
            Timing("", date(2026, 12, 11), date(2026, 12, 20), W1),
            "2026年12月11日〜2026年12月20日",
            "2026-12-11 to 2026-12-20",
            id="closed-range",
        ),
        pytest.param(
            Timing("", None, date(2027, 3, 31), W6),
            "〜2027年3月31日",
            "by 2027-03-31",
            id="open-start",
        ),
        pytest.param(
            Timing("", date(2027, 4, 1), None, W6),
            "2027年4月1日〜",
            "from 2027-04-01",
            id="open-end",
        ),
        pytest.param(
            Timing("", date(2026, 12, 15), date(2026, 12, 15), W1),
            "2026年12月15日",
            "2026-12-15",
            id="single-day",
        ),
        pytest.param(Timing("", None, None, UNDECIDED), "未定", "undecided", id="undecided"),
        pytest.param(Timing("", None, None, UNKNOWN), "不明", "unknown", id="unknown"),
    ],
)
def test_describe_in_japanese_and_english(timing: Timing, ja: str, en: str) -> None:
    assert timing.describe("ja") == ja
    assert timing.describe("ja-JP") == ja
    assert timing.describe("en") == en


@pytest.mark.parametrize(
    ("bucket", "start", "end"),
    [
        pytest.param(W1, TODAY, date(2026, 12, 31), id="within-1-month-to-end-of-next-month"),
        pytest.param(W3, TODAY, date(2027, 2, 28), id="within-3-months-to-end-of-february"),
        pytest.param(W6, TODAY, date(2027, 5, 31), id="within-6-months-to-end-of-may"),
        pytest.param(W12, TODAY, date(2027, 11, 30), id="within-12-months-to-end-of-november"),
        pytest.param(LATER, date(2027, 12, 1), None, id="later-from-13-months-ahead-open"),
        pytest.param(UNDECIDED, None, None, id="undecided-no-dates"),
        pytest.param(UNKNOWN, None, None, id="unknown-no-dates"),
    ],
)
def test_timing_from_bucket_keeps_the_bucket(
    bucket: TimingBucket, start: date | None, end: date | None
) -> None:
    timing = timing_from_bucket(bucket, NOW)
    assert timing == Timing("", start, end, bucket)
    assert Timing.from_dict(timing.to_dict()) == timing


@pytest.mark.parametrize("bucket", list(TimingBucket))
@pytest.mark.parametrize(
    "now",
    [
        pytest.param(at(2027, 1, 31), id="jan-31"),
        pytest.param(date(2026, 12, 31), id="dec-31-date"),
        pytest.param(at(2028, 2, 29), id="leap-day"),
    ],
)
def test_timing_from_bucket_round_trips_through_the_bucket_rule(
    bucket: TimingBucket, now: datetime | date
) -> None:
    timing = timing_from_bucket(bucket, now, text=bucket.value)
    assert timing.bucket is bucket
    assert timing.text == bucket.value
    if timing.start is not None:  # re-bucketing the same range gives the same bucket
        months = {W1: 1, W3: 3, W6: 6, W12: 12}
        anchor = timing.end or timing.start
        today = now.date() if isinstance(now, datetime) else now
        diff = (anchor.year - today.year) * 12 + anchor.month - today.month
        assert diff == months.get(bucket, 13)


def test_timing_from_bucket_accepts_the_raw_button_value() -> None:
    assert timing_from_bucket(TimingBucket("within_3_months"), NOW).bucket is W3


@pytest.mark.parametrize(
    ("start", "end", "ja", "en"),
    [
        (date(2027, 9, 1), date(2027, 11, 30), "2027年9月〜11月", "2027-09 to 2027-11"),
        (date(2027, 12, 1), date(2028, 2, 29), "2027年12月〜2028年2月", "2027-12 to 2028-02"),
        (date(2027, 4, 1), date(2027, 4, 30), "2027年4月", "2027-04"),
        (date(2026, 11, 21), date(2026, 11, 30), "2026/11/21〜11/30", "2026-11-21 to 2026-11-30"),
        (date(2026, 12, 21), date(2027, 1, 5), "2026/12/21〜2027/1/5", "2026-12-21 to 2027-01-05"),
        (date(2027, 4, 1), None, "2027/4/1〜", "from 2027-04-01"),
    ],
)
def test_short_range_fits_a_line_button(start: date, end: date | None, ja: str, en: str) -> None:
    from autoreply.domain.timing import short_range
    from autoreply.flows.spec import LINE_CHOICE_LABEL_MAX

    assert short_range(start, end, "ja") == ja and short_range(start, end, "en") == en
    assert len(ja) <= LINE_CHOICE_LABEL_MAX
