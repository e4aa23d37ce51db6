"""What the rep reads about a timing: the words, the reading, doubt, what the lead waits for."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest

from autoreply.domain.timing import parse_timing
from autoreply.service.content import Content

NOV = date(2026, 11, 21)


def _record(text: str, locale: str) -> dict[str, Any]:
    t = parse_timing(text, NOV)
    timing = {
        **t.to_dict(),
        "described": t.describe(locale),
        "alternatives_described": t.describe_alternatives(locale),
    }
    return {"timing": timing, "lead": {}}


def test_the_japanese_notice_says_when_the_reading_is_uncertain(content: Content) -> None:
    text = content.texts.render("notify/notice", "ja", part="timing", r=_record("秋", "ja"))
    assert "「秋」" in text
    assert (
        "読み取りに迷いがあります（2026年11月21日〜2026年11月30日／2027年9月1日〜2027年11月30日）"
        in text
    )


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("予算が取れ次第", "予算の確保"),
        ("社内で検討してから決めます", "社内での検討・承認"),
        ("まだ情報収集中です", "情報収集・比較検討"),
        ("現行システムの契約が切れ次第", "その他の条件"),
    ],
)
def test_the_japanese_notice_says_what_an_undecided_lead_waits_for(
    content: Content, text: str, label: str
) -> None:
    out = content.texts.render("notify/notice", "ja", part="timing", r=_record(text, "ja"))
    assert f"お待ちのこと: {label}" in out
    assert not re.search(r"budget|internal_review|information|other|undecided", out)


def test_the_english_notice_in_english(content: Content) -> None:
    out = content.texts.render(
        "notify/notice", "en", part="timing", r=_record("Depends on budget approval", "en")
    )
    assert out == 'undecided ("Depends on budget approval") - waiting for: budget'
    unsure = content.texts.render("notify/notice", "en", part="timing", r=_record("Q1", "en"))
    assert "uncertain (2027-01-01 to 2027-03-31 / 2027-04-01 to 2027-06-30)" in unsure


def test_an_old_record_without_the_new_keys_still_renders(content: Content) -> None:
    old = {
        "timing": {
            "text": "来月",
            "start": "2026-12-01",
            "end": "2026-12-31",
            "bucket": "within_1_month",
            "described": "2026年12月1日〜2026年12月31日",
        }
    }
    out = content.texts.render("notify/notice", "ja", part="timing", r=old)
    assert out == "2026年12月1日〜2026年12月31日（「来月」）"
