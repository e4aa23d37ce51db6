"""The lead's timing said back: as chosen, quoted, or in our words (docs/style.md)."""

from __future__ import annotations

from datetime import date

import pytest

from autoreply.domain.timing import TimingBucket, parse_timing, timing_from_bucket
from autoreply.domain.voice import family_name, timing_as_said, timing_in_words

TODAY = date(2026, 11, 21)


@pytest.mark.parametrize(
    ("typed", "ja", "en"),
    [
        ("来月中旬くらい", "12月中旬ごろ", "mid-December"),
        ("来月くらいかな", "12月ごろ", "around December"),
        ("来年の1月から3月", "2027年1月〜3月ごろ", "between January 2027 and March"),
        ("年度内", "2027年3月まで", "by March 2027"),
        ("来週", "11月下旬ごろ", "late November"),
        ("3か月以内", "3か月以内", "within 3 months"),
    ],
)
def test_typed_timing_is_said_by_its_reading(typed: str, ja: str, en: str) -> None:
    timing = parse_timing(typed, TODAY)
    assert timing_in_words(timing, "ja", TODAY) == ja
    assert timing_in_words(timing, "en", TODAY) == en
    assert timing_as_said(timing, "ja") == f"「{typed}」"


def test_a_chosen_button_keeps_its_label() -> None:
    chosen = timing_from_bucket(TimingBucket.WITHIN_3_MONTHS, date(2026, 12, 1), "3か月以内")
    assert timing_as_said(chosen, "ja") == "3か月以内"
    assert timing_in_words(chosen, "ja", TODAY) == "3か月以内"
    unlabelled = timing_from_bucket(TimingBucket.WITHIN_6_MONTHS, date(2026, 12, 1))
    assert timing_as_said(unlabelled, "en") == "within 6 months"


def test_no_timing_yet_has_no_words() -> None:
    assert timing_in_words(parse_timing("未定です", TODAY), "ja", TODAY) is None


def test_a_long_typed_answer_is_cut_in_its_quote() -> None:
    said = timing_as_said(parse_timing("来月中旬くらい" + "、" * 60, TODAY), "ja", limit=20)
    assert said.startswith("「来月中旬くらい") and said.endswith("…」") and len(said) == 22


def test_reps_name_themselves_by_family_name_in_japanese() -> None:
    assert family_name("山田　太郎", "ja") == "山田"
    assert family_name("山田太郎", "ja") == "山田太郎"
    assert family_name("Taro  Yamada", "en") == "Taro Yamada"
