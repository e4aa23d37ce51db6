"""Tests for the topic vocabulary: normalisation, detection and validation of topics.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from autoreply.bootstrap import build_analyser
from autoreply.domain.topics import Phrase, Topic, TopicVocabulary, normalize
from autoreply.errors import ConfigError

ANALYSER = build_analyser()  # the product's analyser (SudachiPy), loaded once per process


def _vocabulary(*topics: Topic) -> TopicVocabulary:
    return TopicVocabulary(topics, analyser=ANALYSER)


TOPICS_FILE = Path(__file__).resolve().parents[2] / "flows" / "topics.yaml"


@pytest.fixture(scope="module")
def vocabulary() -> TopicVocabulary:
    data = yaml.safe_load(TOPICS_FILE.read_text(encoding="utf-8"))
    return TopicVocabulary.from_data(data, analyser=ANALYSER, source=str(TOPICS_FILE))


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
    assert hits[0].matched in ("CRM", "CRM連携")


def test_detect_reports_the_label_and_the_synonym_found(vocabulary: TopicVocabulary) -> None:
    [hit] = vocabulary.detect("人手不足で困っています")
    assert (hit.topic_id, hit.label, hit.matched, hit.words, hit.negated) == (
        "staffing",
        "人手不足",
        "人手不足",
        "人手不足",
        False,
    )


def test_detect_gives_one_hit_per_topic_even_when_several_synonyms_match(
    vocabulary: TopicVocabulary,
) -> None:
    hits = vocabulary.detect("人手不足で人が足りない、採用が難しい")
    assert [hit.topic_id for hit in hits] == ["staffing"]


def test_detect_orders_topics_by_distinct_synonyms_then_position() -> None:
    vocabulary = _vocabulary(
        Topic("first_seen", "先", ("担当者",)),
        Topic("two_synonyms", "二つ", ("属人化", "引き継ぎ")),
    )
    hits = vocabulary.detect("担当者の引き継ぎができず属人化している")
    assert [hit.topic_id for hit in hits] == ["two_synonyms", "first_seen"]


@pytest.mark.parametrize("text", ["", "   ", "！？", "asdf", "😀😀", "あ", "12345"])
def test_detect_returns_nothing_for_empty_or_garbage_text(
    vocabulary: TopicVocabulary, text: str
) -> None:
    assert vocabulary.detect(text) == []


# --- matching rules ----------------------------------------------------------------


@pytest.mark.parametrize("text", ["問合せ対応が大変", "問い合せ対応が大変", "問い合わせ対応が大変"])
def test_okurigana_variants_are_one_normalised_form_and_report_the_leads_words(
    text: str,
) -> None:
    vocabulary = _vocabulary(Topic("support", "問い合わせ", ("問い合わせ対応",)))
    [hit] = vocabulary.detect(text)
    assert hit.matched == "問い合わせ対応"
    assert hit.words == text.removesuffix("が大変")


def test_a_stem_synonym_matches_the_inflected_word_of_the_text() -> None:
    vocabulary = _vocabulary(Topic("slow", "遅い", ("対応が遅",)))
    assert [h.words for h in vocabulary.detect("夜間の対応が遅れています")] == ["対応が遅れ"]
    assert vocabulary.detect("対応が早い") == []


def test_fuzzy_match_rejects_a_different_final_character() -> None:
    vocabulary = _vocabulary(Topic("slow", "遅い", ("問い合わせ対応が遅い",)))
    assert vocabulary.detect("問い合わせ対応が早い会社にしたい") == []
    assert vocabulary.detect("問い合わせ対応が遅いのが悩みです") != []


def test_text_shorter_than_a_synonym_is_not_matched_inside_the_synonym() -> None:
    vocabulary = _vocabulary(Topic("slow", "遅い", ("返信が遅い",)))
    assert vocabulary.detect("遅い") == []
    assert vocabulary.detect("返信が遅い") != []


def test_short_japanese_synonym_matches_the_word_only() -> None:
    vocabulary = _vocabulary(Topic("lost", "失注", ("失注",)))
    assert vocabulary.detect("失注が多い") != []
    assert vocabulary.detect("受注が多い") == []


def test_one_character_synonym_is_allowed_and_matches_the_word_not_a_part_of_one() -> None:
    vocabulary = _vocabulary(Topic("people", "人", ("人",)))
    assert [h.words for h in vocabulary.detect("人が採れない")] == ["人"]
    assert vocabulary.detect("人手不足です") == []
    assert vocabulary.detect("個人情報") == []


def test_english_synonym_matches_on_word_boundaries_only() -> None:
    vocabulary = _vocabulary(
        Topic("ma", "MA", ("MA",)), Topic("security", "セキュリティ", ("security",))
    )
    assert _ids(vocabulary, "MAツールを入れたい") == {"ma"}
    assert _ids(vocabulary, "Please email me about the summary") == set()
    assert _ids(vocabulary, "insecurity") == set()
    assert _ids(vocabulary, "Security reviews take months") == {"security"}


def test_english_synonym_allows_a_plural_ending(vocabulary: TopicVocabulary) -> None:
    assert _ids(vocabulary, "We use spreadsheets") == {"spreadsheet"}
    assert _ids(vocabulary, "We use chatbots") == {"customer_support"}


def test_english_inflections_share_a_stem() -> None:
    vocabulary = _vocabulary(Topic("inq", "問い合わせ", ("inquiry",)))
    assert _ids(vocabulary, "Too many inquiries") == {"inq"}
    assert _ids(vocabulary, "An inquiry came in") == {"inq"}


@pytest.mark.parametrize(
    "text",
    [
        "コールセンターは不要です",
        "コールセンターはいらない",
        "コールセンターは必要ありません",
        "We don't need a call center",
        "No call center needed",
    ],
)
def test_a_negated_synonym_does_not_count_and_is_reported_as_skipped(text: str) -> None:
    vocabulary = _vocabulary(Topic("cc", "コールセンター", ("コールセンター", "call center")))
    found, skipped = vocabulary.scan(text)
    assert found == []
    assert [(h.topic_id, h.negated) for h in skipped] == [("cc", True)]


@pytest.mark.parametrize("text", ["人が足りない", "夜間の対応ができていない", "CRMがない"])
def test_a_bare_nai_is_a_problem_not_a_negation(text: str) -> None:
    vocabulary = _vocabulary(
        Topic("s", "人", ("人が足りない",)),
        Topic("n", "夜間", ("夜間",)),
        Topic("c", "CRM", ("CRM",)),
    )
    assert len(vocabulary.detect(text)) == 1


def test_phrase_without_a_word_is_refused() -> None:
    with pytest.raises(ValueError, match="no word"):
        Phrase.compile("！？・", ANALYSER)
    assert Phrase.compile("Ａ", ANALYSER).norms == ("a",)


def test_detect_is_deterministic_across_calls_and_instances(vocabulary: TopicVocabulary) -> None:
    text = "夜間の問い合わせに人手不足で返信が遅れ、Excel管理で属人化している"
    first = vocabulary.detect(text)
    again = _vocabulary(*vocabulary.topics).detect(text)
    assert first == vocabulary.detect(text) == again
    assert [hit.topic_id for hit in first] == [
        "lead_response",
        "staffing",
        "spreadsheet",
        "knowledge_silo",
    ]  # 夜間 and 返信が遅れ: two places first; then the order of the text


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
        (_with(synonyms=["人手不足", "・・"]), "no word"),
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
