"""Lead tiers with reasons, answer cleaning per slot type, and the rep's first line."""

from __future__ import annotations

import pytest

from autoreply.domain.leads import clean_company, clean_email, clean_name, clean_phone
from autoreply.domain.scoring import Signals, score_lead
from autoreply.service.content import Content


@pytest.mark.parametrize(
    ("signals", "tier", "points"),
    [
        (Signals(), "C", 0),
        (Signals(timing_bucket="undecided"), "C", 0),
        (Signals(timing_bucket="within_6_months", challenge=True), "B", 35),
        (Signals(timing_bucket="within_1_month", challenge=True, topics=2), "B", 55),
        (
            Signals(
                timing_bucket="within_1_month", challenge=True, topics=1, requested_document=True
            ),
            "A",
            70,
        ),
        (Signals(booked=True), "A", 40),
        (Signals(pricing_views=5, cases_clicked=1), "C", 25),
        (Signals(timing_bucket="within_1_month", booked=True, opted_out=True), "C", 70),
        (Signals(flow_points=(("大口", 60),)), "A", 60),
    ],
)
def test_tiers_follow_the_points(signals: Signals, tier: str, points: int) -> None:
    """A >= 60 points or booked; B >= 30; C otherwise, and always C after opting out."""
    score = score_lead(signals)
    assert (score.tier, score.points) == (tier, points)


def test_every_point_has_a_reason() -> None:
    """Reps see why: the reasons add up to the score."""
    score = score_lead(
        Signals(
            timing_bucket="within_3_months",
            challenge=True,
            topics=1,
            pricing_views=2,
            flow_points=(("大口", 10),),
        )
    )
    assert sum(r.points for r in score.reasons) == score.points
    assert [r.code for r in score.reasons] == [
        "timing",
        "challenge",
        "topics",
        "pricing_views",
        "flow",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("taro@example.com", "taro@example.com"),
        ("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ", "taro@example.com"),
        (" Taro@Example.COM ", "Taro@example.com"),
        ("taro@", None),
        ("taro at example.com", None),
        ("", None),
        ("a@b", None),
    ],
)
def test_emails_are_validated_and_normalised(text: str, expected: str | None) -> None:
    """Full-width and spaced addresses are accepted; malformed ones are not."""
    assert clean_email(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("03-1234-5678", "+81 3-1234-5678"),
        ("０９０ー１２３４ー５６７８", "+81 90-1234-5678"),  # full-width, with ー as a dash
        ("090-1234-5678", "+81 90-1234-5678"),
        ("+81 90 1234 5678", "+81 90-1234-5678"),
        ("12345", None),
        ("電話番号", None),
    ],
)
def test_phone_numbers_are_validated(text: str, expected: str | None) -> None:
    """Japanese numbers in any common form become one international format."""
    assert clean_phone(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("山田太郎と申します。", "山田太郎"),
        ("山田です", "山田"),
        ("私は山田花子です", "山田花子"),
        ("My name is Jane Doe", "Jane Doe"),
        ("   ", None),
    ],
)
def test_names_lose_polite_wrapping(text: str, expected: str | None) -> None:
    """'と申します' and 'My name is' are not part of a name."""
    assert clean_name(text) == expected


def test_company_names_are_trimmed() -> None:
    """Company names keep 株式会社 but lose a trailing 'です'."""
    assert clean_company("株式会社　サンプル です。") == "株式会社 サンプル"
    assert clean_company("") is None


def _record(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "channel": "web",
        "lead": {},
        "asked_for": None,
        "booking": None,
        "challenge": None,
        "cases_sent": [],
        "timing": None,
    }
    base.update(changes)
    return base


@pytest.mark.parametrize(
    ("changes", "locale", "parts"),
    [
        ({}, "ja", ["お問い合わせいただきありがとうございました。"]),
        (
            {"lead": {"name": "山田", "company": "株式会社A"}, "asked_for": "料金資料"},
            "ja",
            ["株式会社A 山田様、", "料金資料のご請求ありがとうございました。"],
        ),
        (
            {"channel": "line", "lead": {"display_name": "たろう"}},
            "ja",
            ["たろう様、", "LINEでのお問い合わせ"],
        ),
        (
            {
                "challenge": "夜間対応が遅い",
                "cases_sent": [{"customer": "株式会社B", "title": "夜間の返信が3分に"}],
            },
            "ja",
            ["「夜間対応が遅い」という点について", "株式会社B様の事例（夜間の返信が3分に）"],
        ),
        (
            {
                "booking": {"start_text": "11月24日(火) 10:00"},
                "timing": {"bucket": "within_1_month", "text": "来月中旬"},
            },
            "ja",
            ["11月24日(火) 10:00のお打ち合わせ", "ご導入時期は「来月中旬」"],
        ),
        (
            {"lead": {"name": "Jane"}, "challenge": "slow replies"},
            "en",
            ["Hello Jane, thank you for getting in touch.", 'You mentioned "slow replies"'],
        ),
        ({"asked_for": "the pricing sheet"}, "en", ["Thank you for requesting the pricing sheet."]),
    ],
)
def test_first_line_uses_what_is_known(
    content: Content, changes: dict[str, object], locale: str, parts: list[str]
) -> None:
    """The rep's opening line reflects the document, case study, challenge and booking."""
    line = content.texts.render("handoff/first_line", locale, r=_record(**changes))
    for part in parts:
        assert part in line
