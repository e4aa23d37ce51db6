"""Tests for the topic vocabulary: normalisation, detection and validation of topics.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from autoreply.domain.topics import Phrase, Topic, TopicVocabulary, normalize
from autoreply.errors import ConfigError

TOPICS_FILE = Path(__file__).resolve().parents[2] / "flows" / "topics.yaml"


@pytest.fixture(scope="module")
def vocabulary() -> TopicVocabulary:
    data = yaml.safe_load(TOPICS_FILE.read_text(encoding="utf-8"))
    return TopicVocabulary.from_data(data, source=str(TOPICS_FILE))


def _ids(vocabulary: TopicVocabulary, text: str) -> set[str]:
    return {hit.topic_id for hit in vocabulary.detect(text)}


# --- normalize ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ＣＲＭ連携", "crm連携"),
        ("ｴｸｾﾙで管理", "エクセルで管理"),
        ("  Speed\tTo\n\nLead  ", "speed to lead"),
        ("問い合わせ　対応", "問い合わせ 対応"),
        ("Ｅｘｃｅｌ２０１９", "excel2019"),
        ("ＳＦＡ／ＣＲＭ", "sfa/crm"),
        ("", ""),
        (" \u3000 ", ""),
    ],
)
def test_normalize_folds_width_case_and_whitespace(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_normalize_is_idempotent() -> None:
    once = normalize("  ＣＲＭ　と ｴｸｾﾙ の二重入力 ")
    assert normalize(once) == once


# --- shipped file --------------------------------------------------------------


def test_shipped_topics_file_validates_with_10_to_15_topics(vocabulary: TopicVocabulary) -> None:
    assert 10 <= len(vocabulary.topics) <= 15
    for topic in vocabulary.topics:
        assert topic.label.strip()
        assert len(topic.synonyms) >= 5, topic.id
        assert any(s.isascii() for s in topic.synonyms), f"{topic.id} has no English synonym"
        assert any(not s.isascii() for s in topic.synonyms), f"{topic.id} has no Japanese synonym"


def test_shipped_topics_include_the_core_sales_challenges(vocabulary: TopicVocabulary) -> None:
    ids = {topic.id for topic in vocabulary.topics}
    assert {"lead_response", "staffing", "crm_integration", "spreadsheet"} <= ids


def test_get_returns_the_topic_or_none(vocabulary: TopicVocabulary) -> None:
    topic = vocabulary.get("staffing")
    assert topic is not None
    assert topic.label == "人手不足"
    assert vocabulary.get("no_such_topic") is None


# --- detection on realistic texts ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("人手不足で営業担当者と話す時間がない", {"staffing"}),
        (
            "夜間に来た問い合わせへの返信が翌日になってしまい、失注しています",
            {"lead_response", "conversion_rate"},
        ),
        ("問い合せ対応が遅くて困っています", {"lead_response"}),
        ("ＣＲＭ連携したい", {"crm_integration"}),
        ("crm連携したい", {"crm_integration"}),
        ("Excelで顧客管理していて二重入力が多い", {"spreadsheet"}),
        ("ｴｸｾﾙでの管理に限界を感じている", {"spreadsheet"}),
        ("ベテラン営業に頼りきりで属人化している", {"knowledge_silo"}),
        ("問い合わせの多くが同じ質問でサポートがパンクしている", {"customer_support"}),
        ("広告の効果測定ができておらずデータが活用できていない", {"data_analytics"}),
        ("資料請求後のフォローができていない", {"lead_followup"}),
        ("請求書の発行が紙で大変です", {"backoffice"}),
        ("日程調整のメールのやり取りが面倒", {"appointment_scheduling"}),
        ("情報漏えいが心配で、セキュリティ要件も厳しい", {"security"}),
        ("法人研修の問い合わせを受注につなげたい", {"conversion_rate"}),
        (
            "Our response to inbound leads is slow after hours and we are understaffed",
            {"lead_response", "staffing"},
        ),
        ("We want marketing automation to nurture leads", {"marketing_automation"}),
        ("Manual data entry into spreadsheets is killing us", {"spreadsheet"}),
        ("Low win rate and poor conversion rates", {"conversion_rate"}),
        ("特にありません。よろしくお願いします。", set()),
        ("今後の参考に情報収集中です", set()),
    ],
)
def test_detect_finds_exactly_the_topics_the_lead_writes_about(
    vocabulary: TopicVocabulary, text: str, expected: set[str]
) -> None:
    assert _ids(vocabulary, text) == expected


@pytest.mark.parametrize("variant", ["ＣＲＭ連携", "crm連携", "CRM連携", "Crm 連携"])
def test_full_width_half_width_and_case_variants_detect_the_same_topic(
    vocabulary: TopicVocabulary, variant: str
) -> None:
    hits = vocabulary.detect(variant)
    assert [hit.topic_id for hit in hits] == ["crm_integration"]
    assert hits[0].score == 100.0


def test_detect_reports_the_label_and_the_synonym_found(vocabulary: TopicVocabulary) -> None:
    [hit] = vocabulary.detect("人手不足で困っています")
    assert (hit.topic_id, hit.label, hit.matched, hit.score) == (
        "staffing",
        "人手不足",
        "人手不足",
        100.0,
    )


def test_detect_gives_one_hit_per_topic_even_when_several_synonyms_match(
    vocabulary: TopicVocabulary,
) -> None:
    hits = vocabulary.detect("人手不足で人が足りない、採用が難しい")
    assert [hit.topic_id for hit in hits] == ["staffing"]


def test_detect_orders_exact_hits_before_fuzzy_hits() -> None:
    vocabulary = TopicVocabulary(
        [
            Topic("fuzzy_one", "あいまい", ("担当者しかわからない",)),
            Topic("exact_one", "完全一致", ("属人化",)),
        ]
    )
    hits = vocabulary.detect("担当者にしかわからない業務が多く属人化している")
    assert [hit.topic_id for hit in hits] == ["exact_one", "fuzzy_one"]
    assert hits[0].score == 100.0
    assert 88.0 <= hits[1].score < 100.0


@pytest.mark.parametrize("text", ["", "   ", "！？", "asdf", "😀😀", "あ", "12345"])
def test_detect_returns_nothing_for_empty_or_garbage_text(
    vocabulary: TopicVocabulary, text: str
) -> None:
    assert vocabulary.detect(text) == []


# --- matching rules ----------------------------------------------------------------


def test_fuzzy_match_tolerates_a_missing_kana_and_reports_the_words_of_the_text() -> None:
    vocabulary = TopicVocabulary([Topic("silo", "属人化", ("担当者しかわからない",))])
    [hit] = vocabulary.detect("その担当者にしかわからない状態です")
    assert hit.matched == "担当者にしかわからない"
    assert 88.0 <= hit.score < 100.0


def test_fuzzy_match_rejects_a_different_final_character() -> None:
    vocabulary = TopicVocabulary([Topic("slow", "遅い", ("問い合わせ対応が遅い",))])
    assert vocabulary.detect("問い合わせ対応が早い会社にしたい") == []
    assert vocabulary.detect("問い合わせ対応が遅いのが悩みです") != []


def test_text_shorter_than_a_synonym_is_not_matched_inside_the_synonym() -> None:
    vocabulary = TopicVocabulary([Topic("slow", "遅い", ("返信が遅い",))])
    assert vocabulary.detect("遅い") == []
    assert vocabulary.detect("返信が遅い") != []


def test_short_japanese_synonym_needs_an_exact_substring() -> None:
    vocabulary = TopicVocabulary([Topic("lost", "失注", ("失注",))])
    assert vocabulary.detect("失注が多い") != []
    assert vocabulary.detect("受注が多い") == []


def test_english_synonym_matches_on_word_boundaries_only() -> None:
    vocabulary = TopicVocabulary(
        [Topic("ma", "MA", ("MA",)), Topic("security", "セキュリティ", ("security",))]
    )
    assert _ids(vocabulary, "MAツールを入れたい") == {"ma"}
    assert _ids(vocabulary, "Please email me about the summary") == set()
    assert _ids(vocabulary, "insecurity") == set()
    assert _ids(vocabulary, "Security reviews take months") == {"security"}


def test_english_synonym_allows_a_plural_ending(vocabulary: TopicVocabulary) -> None:
    assert _ids(vocabulary, "We use spreadsheets") == {"spreadsheet"}
    assert _ids(vocabulary, "We use chatbots") == {"customer_support"}


def test_phrase_shorter_than_two_characters_is_refused() -> None:
    with pytest.raises(ValueError, match="shorter than 2"):
        Phrase.compile("Ａ")


def test_detect_is_deterministic_across_calls_and_instances(vocabulary: TopicVocabulary) -> None:
    text = "夜間の問い合わせに人手不足で返信が遅れ、Excel管理で属人化している"
    first = vocabulary.detect(text)
    again = TopicVocabulary(vocabulary.topics).detect(text)
    assert first == vocabulary.detect(text) == again
    assert [hit.topic_id for hit in first] == [
        "lead_response",
        "staffing",
        "knowledge_silo",
        "spreadsheet",
    ]


# --- invalid data --------------------------------------------------------------------


def _valid() -> dict[str, Any]:
    return {"topics": {"staffing": {"label": "人手不足", "synonyms": ["人手不足", "understaffed"]}}}


def _with(**topic_fields: Any) -> dict[str, Any]:
    data = _valid()
    data["topics"]["staffing"].update(topic_fields)
    return data


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({**_valid(), "extra": 1}, "extra"),
        (_with(colour="red"), "colour"),
        ({"topics": {"staffing": {"synonyms": ["人手不足"]}}}, "label"),
        (_with(synonyms=[]), "synonyms"),
        (_with(synonyms="人手不足"), "synonyms"),
        (_with(synonyms=["人手不足", 42]), "synonyms"),
        (_with(label=""), "label"),
        ({"topics": {}}, "topics"),
        ({"topics": {"Bad-Id": {"label": "x", "synonyms": ["xx"]}}}, "Bad-Id"),
        (_with(synonyms=["人"]), "shorter than 2"),
        (None, "dictionary"),
    ],
)
def test_invalid_topic_data_raises_config_error_naming_source_and_problem(
    data: Any, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        TopicVocabulary.from_data(data, source="flows/topics.yaml")
    message = str(caught.value)
    assert "flows/topics.yaml" in message
    assert problem in message


def test_duplicate_topic_ids_raise_config_error() -> None:
    topic = Topic("staffing", "人手不足", ("人手不足",))
    with pytest.raises(ConfigError, match="duplicate topic id 'staffing'"):
        TopicVocabulary([topic, topic], source="test-source")
