"""Lead tiers with reasons, answer cleaning per slot type, and the rep's first line."""

from __future__ import annotations

from datetime import date

import pytest

from autoreply.domain.leads import clean_company, clean_email, clean_name, clean_phone
from autoreply.domain.scoring import Signals, score_lead
from autoreply.domain.timing import TimingBucket, parse_timing, timing_from_bucket
from autoreply.service.content import Content
from autoreply.service.first_line import render_first_line
from tests.conftest import tokyo


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
        (
            {},
            "ja",
            [
                "サンプル株式会社 営業部でございます。",
                "お問い合わせいただき、ありがとうございました。",
            ],
        ),
        (
            {"lead": {"name": "山田", "company": "株式会社A"}, "asked_for": "料金資料"},
            "ja",
            [
                "株式会社A 山田様、サンプル株式会社",
                "料金資料をご請求いただき、ありがとうございました。",
            ],
        ),
        (
            {"channel": "line", "lead": {"display_name": "たろう"}},
            "ja",
            ["たろう様、", "LINEでお問い合わせいただき"],
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
                "timing": parse_timing("来月中旬くらい", date(2026, 11, 21)).to_dict(),
            },
            "ja",
            ["11月24日(火) 10:00のお打ち合わせ", "ご導入は12月中旬ごろをお考え"],
        ),
        (
            {"lead": {"name": "Jane"}, "challenge": "slow replies"},
            "en",
            [
                "Hello Jane, this is the sales team at Sample Inc.",
                "Thank you for getting in touch.",
                "You mentioned “slow replies”",
            ],
        ),
        ({"asked_for": "the pricing sheet"}, "en", ["Thank you for requesting the pricing sheet."]),
    ],
)
def test_first_line_uses_what_is_known(
    content: Content, changes: dict[str, object], locale: str, parts: list[str]
) -> None:
    """The rep's opening line reflects the document, case study, challenge and booking."""
    line = render_first_line(content, _record(**changes), locale, None, tokyo(2026, 11, 21, 23))
    for part in parts:
        assert part in line
    for casual in ("くらい", "ご連絡しました", "請求ありがとう"):
        assert casual not in line


@pytest.mark.parametrize(
    ("changes", "owner", "locale", "parts", "absent"),
    [
        (  # a form lead with a chosen timing: the owner introduces themselves, the label stays
            {
                "lead": {"name": "山田太郎", "company": "株式会社サンプル"},
                "source": {"form_kind": "document_request", "document": "料金表"},
                "asked_for": "料金表",
                "timing": timing_from_bucket(
                    TimingBucket.WITHIN_3_MONTHS, date(2026, 12, 1), "3か月以内"
                ).to_dict(),
            },
            "佐藤 花子",
            "ja",
            [
                "株式会社サンプル 山田太郎様、サンプル株式会社の佐藤でございます。",
                "料金表をご請求いただき、ありがとうございました。",
                "ご導入は3か月以内をお考えとのことですので",
            ],
            ["花子", "2027年", "〜"],
        ),
        (  # a form without a document: 資料をご請求いただき, never 資料請求いただき
            {"source": {"form_kind": "document_request", "form_title": "資料請求"}},
            "鈴木",
            "ja",
            [
                "サンプル株式会社の鈴木でございます。",
                "資料をご請求いただき、ありがとうございました。",
            ],
            ["資料請求いただき"],
        ),
        (  # a long challenge is named by its topic, not quoted at length
            {
                "challenge": "夜間や休日に届くお問い合わせへの返信が翌営業日になり、"
                "その間に他社さんに決められてしまうことが何度もあって困っている。",
                "topics": ["リード対応の速さ"],
            },
            None,
            "ja",
            ["お寄せいただいたリード対応の速さのご相談について", "ご連絡いたしました。"],
            ["他社さん", "「"],
        ),
        (  # a short one is quoted, without its full stop
            {"challenge": "夜間の返信が遅い。", "topics": ["リード対応の速さ"]},
            None,
            "ja",
            ["「夜間の返信が遅い」という点について"],
            ["遅い。」"],
        ),
        (  # English: the owner by full name, the timing by its reading
            {
                "lead": {"name": "Jane", "company": "Acme"},
                "timing": parse_timing("sometime next month", date(2026, 11, 21)).to_dict(),
            },
            "Taro Yamada",
            "en",
            [
                "Hello Jane of Acme, this is Taro Yamada from Sample Inc.",
                "For timing you have around December in mind",
            ],
            ["sometime", "Inc.."],
        ),
    ],
)
def test_first_line_introduces_the_owner_and_says_the_lead_back(
    content: Content,
    changes: dict[str, object],
    owner: str | None,
    locale: str,
    parts: list[str],
    absent: list[str],
) -> None:
    """The owner's self-introduction, いたしました, quotes and paraphrases (docs/style.md)."""
    line = render_first_line(content, _record(**changes), locale, owner, tokyo(2026, 11, 21, 23))
    for part in parts:
        assert part in line, (part, line)
    for part in absent:
        assert part not in line, (part, line)
