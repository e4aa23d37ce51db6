"""Tests for the case-study library: validation of casestudies.yaml and matching leads to cases."""

from __future__ import annotations

import copy
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from autoreply.bootstrap import build_analyser
from autoreply.domain.casestudies import CaseLibrary, CaseMatch, CaseStudy
from autoreply.domain.topics import Topic, TopicVocabulary
from autoreply.errors import ConfigError
from autoreply.links import absolute_url

FLOWS = Path(__file__).resolve().parents[2] / "flows"
ANALYSER = build_analyser()  # the product's analyser (SudachiPy), loaded once per process


def _load(name: str) -> Any:
    return yaml.safe_load((FLOWS / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def vocabulary() -> TopicVocabulary:
    return TopicVocabulary.from_data(
        _load("topics.yaml"), analyser=ANALYSER, source="flows/topics.yaml"
    )


@pytest.fixture(scope="module")
def library(vocabulary: TopicVocabulary) -> CaseLibrary:
    return CaseLibrary.from_data(
        _load("casestudies.yaml"), vocabulary, source="flows/casestudies.yaml"
    )


def _top_ids(matches: list[CaseMatch]) -> list[str]:
    return [m.case.id for m in matches]


# --- a small library whose scores are easy to reason about ---------------------------

SMALL_VOCABULARY = TopicVocabulary(
    [
        Topic("staffing", "人手不足", ("人手不足",)),
        Topic("lead_response", "リード対応の遅れ", ("返信が遅", "夜間")),
        Topic("security", "セキュリティ", ("セキュリティ",)),
    ],
    analyser=ANALYSER,
)


def _case(
    case_id: str, topics: tuple[str, ...], keywords: tuple[str, ...], **extra: str
) -> CaseStudy:
    fields = {
        "title": "タイトル",
        "customer": "株式会社テスト",
        "industry": "製造業",
        "company_size": "従業員100名",
        "summary": "概要",
        "url": f"https://example.com/cases/{case_id}",
        **extra,
    }
    return CaseStudy(id=case_id, topics=topics, keywords=keywords, **fields)


def _small_library() -> CaseLibrary:
    return CaseLibrary(
        [
            _case("b-staffing-main", ("staffing", "lead_response"), ("見積依頼",)),
            _case("a-staffing-second", ("lead_response", "staffing"), ("図面", "部品")),
            _case("c-security", ("security",), ("監査ログ",), industry="金融"),
            _case("d-keywords-only", ("security",), ("内見", "反響", "来店")),
        ],
        SMALL_VOCABULARY,
    )


# --- shipped library -------------------------------------------------------------------


def test_shipped_case_library_validates_with_12_to_16_varied_cases(library: CaseLibrary) -> None:
    assert 12 <= len(library.cases) <= 16
    assert len({case.industry for case in library.cases}) >= 8
    for case in library.cases:
        assert 3 <= len(case.keywords) <= 8, case.id
        assert case.topics, case.id
        assert case.url == f"/cases/{case.id}"  # the demo's own page, under the public URL
        assert case.company_size.startswith("従業員")
        assert any(ch.isdigit() for ch in case.title), f"{case.id} title has no number"


def test_get_returns_the_case_or_none(library: CaseLibrary) -> None:
    case = library.get("maker-night-inquiries")
    assert case is not None
    assert case.industry == "製造業"
    assert library.get("no-such-case") is None


# --- realistic leads --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "industry", "expected_top"),
    [
        # 営業担当 is in the title of startup-solo-sales (営業担当1名でも…): its story wins
        ("人手不足で営業担当者と話す時間がない", None, "startup-solo-sales"),
        (
            "夜間に来た問い合わせへの返信が翌日になってしまい、失注しています",
            None,
            "realestate-weekend-viewings",
        ),
        (
            "夜間に来た問い合わせへの返信が翌日になってしまい、失注しています",
            "製造業",
            "maker-night-inquiries",
        ),
        ("土日の内見予約を自動化したい", None, "realestate-weekend-viewings"),
        ("ＣＲＭ連携したい", "金融", "leasing-secure-crm"),
        ("crm連携したい", None, "edtech-school-crm"),
        ("Excelで顧客管理していて二重入力が多い", "物流", "logistics-quote-centralized"),
        ("ｴｸｾﾙで見積依頼を管理していて担当者しかわからない", None, "logistics-quote-centralized"),
        ("ベテラン営業に頼りきりで属人化している", None, "maker-knowledge-transfer"),
        ("問い合わせの多くが同じ質問でサポートがパンクしている", None, "ec-wholesale-support"),
        ("広告の効果測定ができておらずデータが活用できていない", None, "sier-marketing-roi"),
        ("資料請求後のフォローができていない", None, "saas-lead-to-meeting"),
        ("紙の入居申込をExcelに転記する作業が大変", None, "property-management-paperless"),
        ("クリニックの院長先生から夜に問い合わせが来る", None, "medical-device-demo-booking"),
        (
            "相続や事業承継の初回相談の日程調整に時間がかかる",
            "士業",
            "tax-firm-first-consultation",
        ),
        ("休眠顧客の掘り起こしができていない", "保険代理店", "insurance-dormant-leads"),
        ("We want marketing automation to nurture leads", None, "training-nurturing"),
        ("Security reviews are strict and we need CRM integration", "金融", "leasing-secure-crm"),
    ],
)
def test_realistic_lead_texts_get_the_expected_top_case(
    library: CaseLibrary, text: str, industry: str | None, expected_top: str
) -> None:
    matches = library.match(text, industry=industry)
    assert matches, text
    assert matches[0].case.id == expected_top


@pytest.mark.parametrize(
    "text", ["特にありません", "よろしくお願いします。", "", "   ", "asdf1234", "！！！", "😀"]
)
def test_text_about_nothing_matches_no_case(library: CaseLibrary, text: str) -> None:
    assert library.match(text) == []
    assert library.match(text, industry="製造業") == []


def test_full_width_and_lower_case_crm_give_the_same_matches(library: CaseLibrary) -> None:
    full = library.match("ＣＲＭ連携したい")
    lower = library.match("crm連携したい")
    assert full == lower
    assert full and all("CRM/SFA連携" in m.matched for m in full)


def test_given_topics_are_used_even_without_text(library: CaseLibrary) -> None:
    matches = library.match("", topics=["security"])
    assert set(_top_ids(matches)) == {"leasing-secure-crm", "medical-device-demo-booking"}


def test_unknown_given_topic_ids_are_ignored(library: CaseLibrary) -> None:
    assert library.match("", topics=["no_such_topic"]) == []


# --- industry boost ------------------------------------------------------------------------


def test_industry_boost_changes_the_ranking(library: CaseLibrary) -> None:
    text = "夜間に来た問い合わせへの返信が翌日になってしまい、失注しています"
    plain = library.match(text)
    boosted = library.match(text, industry="製造業")
    assert plain[0].case.id == "realestate-weekend-viewings"
    assert boosted[0].case.id == "maker-night-inquiries"
    assert boosted[0].industry_boost
    before = next(m for m in plain if m.case.id == "maker-night-inquiries")
    assert boosted[0].score == pytest.approx(before.score + 15.0)
    assert not any(m.industry_boost for m in plain)


@pytest.mark.parametrize(
    ("industry", "boosted"),
    [
        ("IT・ソフトウェア", True),
        ("ｿﾌﾄｳｪｱ開発", True),
        ("IT企業", True),
        ("it", True),
        ("セキュリティ製品の販売", False),
        ("製造業", False),
        ("", False),
    ],
)
def test_industry_boost_matches_the_industry_or_one_of_its_parts(
    library: CaseLibrary, industry: str, boosted: bool
) -> None:
    [match] = library.match("資料請求後のフォローができていない", industry=industry, limit=1)
    assert match.case.id == "saas-lead-to-meeting"
    assert match.industry_boost is boosted


def test_industry_alone_does_not_make_a_match(library: CaseLibrary) -> None:
    assert library.match("特にありません", industry="製造業", min_score=0) == []


# --- scoring, limit, min_score, exclude ------------------------------------------------------


def test_scores_follow_the_documented_formula() -> None:
    lib = _small_library()
    by_id = {m.case.id: m for m in lib.match("人手不足です", min_score=0, limit=10)}
    assert by_id["b-staffing-main"].score == 55.0  # main topic
    assert by_id["a-staffing-second"].score == 50.0  # other topic
    by_id = {m.case.id: m for m in lib.match("人手不足で図面の返信が遅い", min_score=0, limit=10)}
    # main topic, other topic and one keyword: 100 * (1 - 0.45 * 0.5 * 0.7), rounded
    assert by_id["a-staffing-second"].score == round(100 * (1 - 0.45 * 0.5 * 0.7), 1)
    assert lib.match("内見の反響", min_score=0)[0].score == 51.0  # two keywords
    [one_keyword] = lib.match("監査ログ", min_score=0)
    assert one_keyword.score == 30.0
    [boosted] = lib.match("監査ログ", industry="金融", min_score=0)
    assert boosted.score == 45.0


def test_score_is_capped_at_100(library: CaseLibrary) -> None:
    text = "相続や事業承継の初回相談で面談の日程調整に時間がかかり、顧問契約の税務が属人化している"
    [top] = library.match(text, industry="士業", limit=1)
    assert top.case.id == "tax-firm-first-consultation"
    assert top.score == 100.0


def test_min_score_drops_weak_matches() -> None:
    lib = _small_library()
    assert lib.match("監査ログ") == []  # one keyword: 30 < 50
    assert _top_ids(lib.match("監査ログ", min_score=30)) == ["c-security"]
    assert _top_ids(lib.match("人手不足", min_score=52)) == ["b-staffing-main"]


def test_limit_caps_the_number_of_results(library: CaseLibrary) -> None:
    text = "日程調整のメールのやり取りが面倒"
    assert len(library.match(text, limit=10)) == 4
    assert len(library.match(text)) == 3
    assert len(library.match(text, limit=1)) == 1
    assert library.match(text, limit=0) == []


def test_exclude_drops_cases_already_sent_and_the_next_best_move_up(
    library: CaseLibrary,
) -> None:
    text = "日程調整のメールのやり取りが面倒"
    everything = _top_ids(library.match(text, limit=10))
    rest = _top_ids(library.match(text, limit=10, exclude={everything[0]}))
    assert rest == everything[1:]
    assert _top_ids(library.match(text, exclude=everything[:2])) == everything[2:]


def test_results_are_best_first_with_ties_broken_by_case_id(library: CaseLibrary) -> None:
    matches = library.match("日程調整のメールのやり取りが面倒", limit=10)
    keys = [(-m.score, m.case.id) for m in matches]
    assert keys == sorted(keys)
    tied = CaseLibrary(
        [_case(i, ("security",), ()) for i in ("z-case", "m-case", "a-case")], SMALL_VOCABULARY
    )
    matches = tied.match("セキュリティ")
    assert [m.case.id for m in matches] == ["a-case", "m-case", "z-case"]
    assert len({m.score for m in matches}) == 1  # all tied: order is by id


def test_matching_is_deterministic_whatever_the_order_of_cases(
    library: CaseLibrary, vocabulary: TopicVocabulary
) -> None:
    text = "人手不足で夜間の問い合わせに返信が遅れ、Excel管理で属人化している"
    shuffled = list(library.cases)
    random.Random(7).shuffle(shuffled)
    other = CaseLibrary(shuffled, vocabulary)
    first = library.match(text, industry="製造業", limit=10)
    assert first == library.match(text, industry="製造業", limit=10)
    assert first == other.match(text, industry="製造業", limit=10)


# --- explanation ------------------------------------------------------------------------------


def test_matched_lists_topic_labels_then_keywords_in_case_order(library: CaseLibrary) -> None:
    [match] = library.match(
        "求人企業からの問い合わせが多くてコーディネーターの手が回らない",
        industry="人材サービス",
        limit=1,
    )
    assert match.case.id == "staffing-agency-client-inquiries"
    assert (match.topics, match.keywords) == (("人手不足",), ("求人", "コーディネーター"))
    assert match.matched[:3] == ("人手不足", "求人", "コーディネーター")
    assert set(match.matched[3:]) == set(match.words)  # then the words of the story


def test_matched_words_are_deduplicated_after_normalisation() -> None:
    lib = CaseLibrary(
        [_case("dup", ("staffing",), ("人手不足", "ｾｷｭﾘﾃｨ", "セキュリティ"))], SMALL_VOCABULARY
    )
    [match] = lib.match("人手不足とセキュリティ")
    assert match.matched == ("人手不足", "ｾｷｭﾘﾃｨ")


def test_explanation_lists_matched_words_and_industry(library: CaseLibrary) -> None:
    [match] = library.match(
        "夜間に来た問い合わせへの返信が翌日になってしまう", industry="製造業", limit=1
    )
    assert match.case.id == "maker-night-inquiries"
    assert match.explain() == (
        "課題: リード対応の遅れ / キーワード: 夜間 / 事例の内容: 返信 / 業種: 製造業"
    )
    assert match.explain("ja-JP") == match.explain()
    assert match.explain("en") == (
        "topics: リード対応の遅れ; keywords: 夜間; in the story: 返信; industry: 製造業"
    )


def test_explanation_names_the_negated_words_it_skipped(library: CaseLibrary) -> None:
    [match] = library.match("夜間の返信が遅い。チャットボットは不要です", limit=1)
    assert "否定のため除外: チャットボット" not in match.explain()  # not this case's word
    [support] = library.match(
        "繁忙期の在庫の確認が大変。チャットボットは不要です", min_score=0, limit=1
    )
    assert support.case.id == "ec-wholesale-support"
    assert "顧客対応・サポート" not in support.topics
    assert "否定のため除外: チャットボット" in support.explain()
    assert "skipped (negated): チャットボット" in support.explain("en")


def test_explanation_omits_industry_without_boost(library: CaseLibrary) -> None:
    [match] = library.match("ベテラン営業に頼りきりで属人化している", limit=1)
    assert match.explain() == "課題: 属人化 / キーワード: ベテラン / 事例の内容: 営業"
    assert match.explain("en") == "topics: 属人化; keywords: ベテラン; in the story: 営業"


# --- invalid data -----------------------------------------------------------------------------


def _valid_case(case_id: str = "maker-test") -> dict[str, Any]:
    return {
        "id": case_id,
        "title": "夜間の問い合わせへの返信が3分に",
        "customer": "株式会社テスト精機",
        "industry": "製造業",
        "company_size": "従業員300名",
        "topics": ["staffing"],
        "keywords": ["見積依頼", "図面"],
        "summary": "概要です。",
        "url": "https://example.com/cases/maker-test",
    }


def _data(*cases: dict[str, Any]) -> dict[str, Any]:
    return {"cases": list(cases) if cases else [_valid_case()]}


def _changed(**fields: Any) -> dict[str, Any]:
    case = _valid_case()
    case.update(fields)
    return _data(case)


def _without(field: str) -> dict[str, Any]:
    case = _valid_case()
    del case[field]
    return _data(case)


@pytest.mark.parametrize(
    ("data", "problems"),
    [
        ({**_data(), "version": 2}, ["version"]),
        (_changed(owner="営業部"), ["maker-test", "owner"]),
        (_without("title"), ["maker-test", "title", "Field required"]),
        (_without("url"), ["maker-test", "url"]),
        (_changed(topics=["no_such_topic"]), ["maker-test", "unknown topic 'no_such_topic'"]),
        (_changed(topics=[]), ["maker-test", "topics"]),
        (_changed(keywords=["図面", "！？"]), ["maker-test", "no word"]),
        (_changed(url="example.com/cases/x"), ["maker-test", "url"]),
        (_changed(url="//example.com/cases/x"), ["maker-test", "url"]),
        (_changed(url="/cases/a b"), ["maker-test", "url"]),
        (_changed(id="Bad Id"), ["id"]),
        (_changed(title=""), ["maker-test", "title"]),
        (_changed(keywords="図面"), ["keywords"]),
        (_data(_valid_case("same"), _valid_case("same")), ["duplicate case id 'same'"]),
        ({"cases": "none"}, ["cases"]),
        (None, ["dictionary"]),
    ],
)
def test_invalid_case_data_raises_config_error_naming_source_and_problem(
    vocabulary: TopicVocabulary, data: Any, problems: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        CaseLibrary.from_data(copy.deepcopy(data), vocabulary, source="flows/casestudies.yaml")
    message = str(caught.value)
    assert "flows/casestudies.yaml" in message
    for problem in problems:
        assert problem in message


def test_valid_minimal_case_data_loads(vocabulary: TopicVocabulary) -> None:
    lib = CaseLibrary.from_data(_data(), vocabulary)
    assert [case.id for case in lib.cases] == ["maker-test"]
    assert lib.cases[0].topics == ("staffing",)
    assert lib.cases[0].keywords == ("見積依頼", "図面")


def test_constructor_rejects_unknown_topics_and_duplicate_ids() -> None:
    with pytest.raises(ConfigError, match="case 'x' refers to unknown topic 'nope'"):
        CaseLibrary([_case("x", ("nope",), ("図面",))], SMALL_VOCABULARY)
    with pytest.raises(ConfigError, match="duplicate case id 'x'"):
        CaseLibrary(
            [_case("x", ("staffing",), ()), _case("x", ("staffing",), ())], SMALL_VOCABULARY
        )


def test_a_relative_url_is_a_path_under_the_public_url(vocabulary: TopicVocabulary) -> None:
    """``/cases/x`` is kept as written and made absolute under the public URL (a prefix too);
    an absolute URL stays as it is."""
    data = _data(_valid_case("a"), {**_valid_case("b"), "url": "https://cases.example.jp/b"})
    data["cases"][0]["url"] = "/cases/a"
    library = CaseLibrary.from_data(data, vocabulary)
    assert [c.url for c in library.cases] == ["/cases/a", "https://cases.example.jp/b"]
    resolved = library.with_urls(lambda url: absolute_url("https://demo.example.jp/app/", url))
    assert [c.url for c in resolved.cases] == [
        "https://demo.example.jp/app/cases/a",
        "https://cases.example.jp/b",
    ]
    assert resolved.get("a") == resolved.cases[0]
    assert absolute_url("http://h", "//other/x") == "//other/x"


def test_a_case_written_in_english_is_english(library: CaseLibrary) -> None:
    """The page of a case follows the language it is written in."""
    assert {case.locale for case in library.cases} == {"ja"}
    english = replace(library.cases[0], title="Replies in 3 minutes", summary="A story.")
    assert english.locale == "en"
