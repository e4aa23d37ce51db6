"""The challenge table: what a lead writes -> the topics found -> the case study sent first.

Run against the shipped operator content (flows/topics.yaml, flows/casestudies.yaml) with
the product's analyser (SudachiPy + sudachidict_core, Snowball), as the product loads them.

Conventions of the table (one row per challenge text, as leads write them in a form or
the chat: mostly Japanese, some English and mixed; okurigana and kana variants,
inflections, negations, and texts without any word of the topics file):

* ``text``: the lead's words, verbatim (no cleaning; full-width, half-width as typed).
* ``found``: topic ids that must be detected; others may be detected too (a lead often
  writes about several things), except
* ``absent``: topic ids that must NOT be detected (the lead negated them:
  「〜は不要」, "we don't need …").
* ``top``: the case id ranked first by ``CaseLibrary.match`` with the default
  ``min_score`` (50) and ``limit`` 3; a tuple when the text is equally about several
  cases (e.g. only a topic that several cases have as their main theme: then any of
  them is a right answer); ``None`` when no case may be sent.
* ``industry``: the lead's industry as a form would give it, or ``None``.

The groups below are the cases whose first (main) topic is that topic.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from autoreply.bootstrap import build_analyser
from autoreply.config import project_path
from autoreply.domain.casestudies import CaseLibrary, library_from_source
from autoreply.domain.topics import TopicVocabulary, topics_from_source
from autoreply.yamlsource import load_located, read_source

LEAD_RESPONSE = (
    "maker-night-inquiries",
    "medical-device-demo-booking",
    "realestate-weekend-viewings",
)
STAFFING = ("startup-solo-sales", "staffing-agency-client-inquiries")
CONVERSION = ("saas-lead-to-meeting", "insurance-dormant-leads")
CRM = ("leasing-secure-crm", "edtech-school-crm")
SCHEDULING = (
    "tax-firm-first-consultation",
    "saas-lead-to-meeting",
    "medical-device-demo-booking",
    "realestate-weekend-viewings",
)

Top = str | tuple[str, ...] | None

# (text, found, absent, top, industry)
ROWS: list[tuple[str, set[str], set[str], Top, str | None]] = [
    # --- lead_response: night / weekend / slow replies, in many phrasings
    (
        "夜間に来た見積依頼への返信が翌営業日になってしまい、競合に先を越されています",
        {"lead_response"},
        set(),
        "maker-night-inquiries",
        "製造業",
    ),
    (
        "返事が翌朝になってしまい他社に取られる",
        {"lead_response"},
        set(),
        ("maker-night-inquiries", "realestate-weekend-viewings"),
        None,
    ),
    (
        "土日に来た反響に返信できず、内見の予約を他社に取られてしまう",
        {"lead_response"},
        set(),
        "realestate-weekend-viewings",
        None,
    ),
    (
        "週末の問合せへの対応が遅れがちです",
        {"lead_response"},
        set(),
        "realestate-weekend-viewings",
        None,
    ),
    (
        "営業時間外の問い合せに誰も対応できていません",
        {"lead_response"},
        set(),
        LEAD_RESPONSE + STAFFING,
        None,
    ),
    (
        "深夜に院長先生から届くお問い合わせに翌日しか返せず、デモの機会を逃している",
        {"lead_response"},
        set(),
        "medical-device-demo-booking",
        None,
    ),
    (
        "クリニックや病院からの問い合わせが夜間に多いです",
        {"lead_response"},
        set(),
        "medical-device-demo-booking",
        None,
    ),
    (
        "海外の代理店から夜中に見積の依頼が来ますが、朝まで誰も見ていません",
        {"lead_response"},
        set(),
        "maker-night-inquiries",
        None,
    ),
    (
        "Our response time to inquiries after hours is far too slow",
        {"lead_response"},
        set(),
        LEAD_RESPONSE,
        None,
    ),
    (
        "We respond too slowly to leads that come in on weekends",
        {"lead_response"},
        set(),
        LEAD_RESPONSE,
        None,
    ),
    # --- staffing
    ("人が採れない", {"staffing"}, set(), STAFFING, None),
    ("営業が一人しかおらず、手が回らない状態です", {"staffing"}, set(), "startup-solo-sales", None),
    (
        "人手不足で夜間や休日の問い合わせまで手が回りません",
        {"staffing", "lead_response"},
        set(),
        ("startup-solo-sales", "maker-night-inquiries"),
        None,
    ),
    (
        "代表が営業を兼任しており、採用もうまくいっていません",
        {"staffing"},
        set(),
        "startup-solo-sales",
        None,
    ),
    (
        "求人企業からの問い合わせ対応にコーディネーターの時間が取られています",
        set(),
        set(),
        "staffing-agency-client-inquiries",
        "人材サービス",
    ),
    (
        "派遣の急募案件への提案が遅れてしまう",
        set(),
        set(),
        "staffing-agency-client-inquiries",
        None,
    ),
    ("We are understaffed and can't keep up with inquiries", {"staffing"}, set(), STAFFING, None),
    # --- customer support / phone
    ("電話が鳴りっぱなしで出られない", {"customer_support"}, set(), "ec-wholesale-support", None),
    (
        "繁忙期になると納期や在庫、返品の問い合わせが一気に増えて電話に出られなくなります",
        {"customer_support"},
        set(),
        "ec-wholesale-support",
        None,
    ),
    (
        "同じ質問が何度も来るのでFAQやチャットボットを検討しています",
        {"customer_support"},
        set(),
        "ec-wholesale-support",
        None,
    ),
    (
        "卸売の法人注文に関する問合せ対応を減らしたい",
        set(),
        set(),
        "ec-wholesale-support",
        None,
    ),
    (
        "The help desk gets the same questions about orders and returns every day",
        {"customer_support"},
        set(),
        "ec-wholesale-support",
        None,
    ),
    # --- knowledge silo
    (
        "技術的な質問への回答がベテラン頼みで、属人的になっています",
        {"knowledge_silo"},
        set(),
        "maker-knowledge-transfer",
        None,
    ),
    (
        "製品仕様の問い合わせ回答が属人化していて、新人が育ちません",
        {"knowledge_silo"},
        set(),
        "maker-knowledge-transfer",
        None,
    ),
    (
        "担当者にしか分からない案件が多く、休暇のときに引継ぎができない",
        {"knowledge_silo"},
        set(),
        "logistics-quote-centralized",
        None,
    ),
    (
        "相続や事業承継のご相談の振り分けを代表しか判断できず、面談の設定まで何日もかかる",
        set(),
        set(),
        "tax-firm-first-consultation",
        None,
    ),
    (
        "初回相談の日程調整に時間がかかり、顧問契約につながる前に他の事務所に行かれてしまう",
        {"appointment_scheduling"},
        set(),
        "tax-firm-first-consultation",
        "士業",
    ),
    # --- conversion / follow-up
    (
        "資料請求からの商談化率が低く、インサイドセールスの架電もつながりません",
        {"conversion_rate"},
        set(),
        "saas-lead-to-meeting",
        None,
    ),
    ("資料請求後のフォローができていない", {"lead_followup"}, set(), "saas-lead-to-meeting", None),
    ("問い合わせはあるのに、商談につながらない", {"conversion_rate"}, set(), CONVERSION, None),
    (
        "過去の見込み客が放置されたままで、掘り起こしができていません",
        {"lead_followup"},
        set(),
        "insurance-dormant-leads",
        None,
    ),
    (
        "保険の更新時期に合わせた再アプローチが手作業で回らない",
        set(),
        set(),
        "insurance-dormant-leads",
        None,
    ),
    (
        "セミナー参加者のその後のフォローが担当者任せで、研修の受注率が上がらない",
        {"conversion_rate"},
        set(),
        "training-nurturing",
        "教育",
    ),
    (
        "Our win rate from webinar leads is low and follow-up is patchy",
        {"conversion_rate", "lead_followup"},
        set(),
        CONVERSION,
        None,
    ),
    # --- marketing / data
    (
        "展示会や広告など施策ごとの効果が見えず、予算配分が経験頼みです",
        set(),
        set(),
        "sier-marketing-roi",
        None,
    ),
    (
        "どの流入経路が受注に貢献しているのかデータで分析できていない",
        {"data_analytics"},
        set(),
        "sier-marketing-roi",
        None,
    ),
    (
        "MAツールを入れたがメール配信しかしていない",
        {"marketing_automation"},
        set(),
        "training-nurturing",
        None,
    ),
    (
        "We want marketing automation and better reporting on campaigns",
        {"marketing_automation", "data_analytics"},
        set(),
        "sier-marketing-roi",
        None,
    ),
    # --- CRM / spreadsheet / backoffice
    (
        "学校や教育委員会からの問い合わせをスプレッドシートとCRMに二重入力しています",
        {"spreadsheet", "crm_integration"},
        set(),
        "edtech-school-crm",
        "教育",
    ),
    (
        "荷主からの運賃の見積依頼を拠点ごとのエクセルで管理していて進捗が見えない",
        {"spreadsheet"},
        set(),
        "logistics-quote-centralized",
        "物流",
    ),
    (
        "ｴｸｾﾙでの見積依頼の管理をやめてCRMに一元化したい",
        {"spreadsheet", "crm_integration"},
        set(),
        "logistics-quote-centralized",
        None,
    ),
    (
        "入居申込を紙で受けて管理表に手入力しています。郵送もなくしたい",
        {"spreadsheet"},
        set(),
        "property-management-paperless",
        None,
    ),
    (
        "請求書や見積書の作成など事務作業に追われています",
        {"backoffice"},
        set(),
        "property-management-paperless",
        None,
    ),
    ("Salesforceとの連携が必須です", {"crm_integration"}, set(), CRM, None),
    (
        "We still do manual data entry from spreadsheets into our CRM",
        {"spreadsheet", "crm_integration"},
        set(),
        ("edtech-school-crm", "logistics-quote-centralized"),
        None,
    ),
    # --- security
    (
        "情報システム部門のセキュリティ審査が厳しく、SSOと監査ログが必要です",
        {"security"},
        set(),
        "leasing-secure-crm",
        "金融",
    ),
    (
        "個人情報の取り扱いとアクセス権限が気になります",
        {"security"},
        set(),
        "leasing-secure-crm",
        None,
    ),
    # --- scheduling
    (
        "商談の日程調整のメールの往復が面倒で、ダブルブッキングも起きています",
        {"appointment_scheduling"},
        set(),
        SCHEDULING,
        None,
    ),
    (
        "Booking meetings with prospects takes too many emails back and forth",
        {"appointment_scheduling"},
        set(),
        SCHEDULING,
        None,
    ),
    # --- negation: the negated topic does not count
    ("コールセンターは不要です", set(), {"customer_support"}, None, None),
    (
        "チャットボットはいらないので、夜間の問い合わせへの返信を早くしたい",
        {"lead_response"},
        {"customer_support"},
        ("medical-device-demo-booking", "maker-night-inquiries"),
        None,
    ),
    (
        "CRMは導入済みで問題ないが、休日のリード対応が遅れている",
        {"lead_response"},
        {"crm_integration"},
        "startup-solo-sales",
        None,
    ),
    (
        "人手不足ではないのですが、属人化が課題です",
        {"knowledge_silo"},
        {"staffing"},
        "maker-knowledge-transfer",
        None,
    ),
    (
        "セキュリティには困っていません。日程調整を効率化したい",
        {"appointment_scheduling"},
        {"security"},
        SCHEDULING,
        None,
    ),
    (
        "We don't need a chatbot, but our response time after hours is too slow",
        {"lead_response"},
        {"customer_support"},
        LEAD_RESPONSE,
        None,
    ),
    (
        "No CRM integration needed; we just want faster replies at night",
        {"lead_response"},
        {"crm_integration"},
        LEAD_RESPONSE,
        None,
    ),
    (
        "Excelでの管理は必要ありません。人が足りないのが悩みです",
        {"staffing"},
        {"spreadsheet"},
        STAFFING,
        None,
    ),
    # --- mixed
    (
        "HubSpotと連携したいです。after hoursの問い合わせも多い",
        {"crm_integration", "lead_response"},
        set(),
        "leasing-secure-crm",
        None,
    ),
    (
        "kintoneで顧客管理しているが、夜間のinquiriesに追いつかない",
        {"crm_integration", "lead_response"},
        set(),
        "leasing-secure-crm",
        None,
    ),
    # --- nothing to match
    ("特にありません", set(), set(), None, None),
    ("資料をください", set(), set(), None, None),
    ("よろしくお願いいたします", set(), set(), None, None),
    ("Just browsing, thanks", set(), set(), None, None),
    ("🙂🙂🙂", set(), set(), None, None),
    ("価格を知りたい", set(), set(), None, None),
]


@pytest.fixture(scope="module")
def shipped() -> tuple[TopicVocabulary, CaseLibrary]:
    analyser = build_analyser()
    topics = project_path(Path("flows/topics.yaml"))
    cases = project_path(Path("flows/casestudies.yaml"))
    vocabulary = topics_from_source(load_located(read_source(topics), str(topics)), analyser)
    library = library_from_source(load_located(read_source(cases), str(cases)), vocabulary)
    return vocabulary, library


def test_the_table_is_broad() -> None:
    assert len(ROWS) >= 60
    assert len({text for text, *_ in ROWS}) == len(ROWS)
    english = [t for t, *_ in ROWS if t.isascii()]
    negations = [row for row in ROWS if row[2]]
    nothing = [row for row in ROWS if row[3] is None]
    assert len(english) >= 8 and len(negations) >= 8 and len(nothing) >= 6


@pytest.mark.parametrize(("text", "found", "absent", "top", "industry"), ROWS)
def test_challenge_finds_its_topics_and_case(
    shipped: tuple[TopicVocabulary, CaseLibrary],
    text: str,
    found: set[str],
    absent: set[str],
    top: Top,
    industry: str | None,
) -> None:
    vocabulary, library = shipped
    message = library.analyse(text)
    detected = {hit.topic_id for hit in vocabulary.detect(message)}
    assert found <= detected, f"missing topics {found - detected}"
    assert not absent & detected, f"negated topics detected {absent & detected}"
    matches = library.match(message, industry=industry)
    first = matches[0].case.id if matches else None
    allowed = top if isinstance(top, tuple) else (top,)
    assert first in allowed, [(m.case.id, m.score, m.explain()) for m in matches]
    for match in matches:
        assert match.explain(), "every case picked says why"
    if absent:
        skipped = {hit.topic_id for hit in vocabulary.scan(message)[1]}
        assert absent <= skipped, "a negated topic is reported as skipped"
