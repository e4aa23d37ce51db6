"""Operator files are checked by their kind: case studies, topics and forms each get their
own checks, every problem as ``file:line:column``, and what they name in each other."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoreply.domain.casestudies import cases_from_source
from autoreply.domain.topics import parse_topics
from autoreply.errors import FlowError
from autoreply.flows.kinds import KINDS, check_files, detect_kind
from autoreply.yamlsource import load_located
from tests.conftest import ROOT

TOPICS = """\
topics:
  staffing:
    label: 人手不足
    synonyms: [人手不足, 人が足りない]
  cost:
    label: コスト
    synonyms: [コスト削減]
"""

CASES = """\
cases:
  - id: maker-a
    title: 夜間の見積依頼に即答
    customer: 株式会社サンプル
    industry: 製造業
    company_size: 従業員300名
    topics: [staffing, nosuch]
    keywords: [図面, 見積]
    summary: 架空の事例です。
    url: https://example.com/cases/a
"""

FORMS = """\
forms:
  demo:
    title: 資料請求
    locale: ja
    flow: {flow}
    fields:
      email: {{type: email, label: メール, required: true}}
      plan:
        type: choice
        label: 資料
        choices:
          - {{value: basic, label: 概要, topics: [cost, unknown_topic]}}
"""


def problems_of(text: str, file: str, load: str) -> list[str]:
    """The problems of ``text`` loaded as a file of kind ``load``."""
    with pytest.raises(FlowError) as caught:
        KINDS[load].load(load_located(text, file), None)
    return [str(p) for p in caught.value.problems]


def test_a_topics_file_reports_unknown_keys_and_wordless_synonyms_where_they_are() -> None:
    """An unknown key, then (once the file is well formed) a synonym without a word in
    it, each at its line and column; a one-character synonym is fine (words match whole)."""
    colour = TOPICS.replace("    label: コスト\n", "    label: コスト\n    colour: red\n")
    assert problems_of(colour, "topics.yaml", "topics") == ["topics.yaml:7:5: unknown key 'colour'"]
    one = TOPICS.replace("[人手不足, 人が足りない]", "[人手不足, 人]")
    assert parse_topics(one, "topics.yaml").get("staffing") is not None
    wordless = TOPICS.replace("[人手不足, 人が足りない]", "[人手不足, '!?']")
    assert problems_of(wordless, "topics.yaml", "topics") == [
        "topics.yaml:4:22: topic 'staffing': phrase '!?' has no word in it"
    ]


def test_a_topics_file_without_synonyms_says_which_key_is_missing() -> None:
    """A topic with no synonyms points at the topic."""
    text = "topics:\n  staffing:\n    label: 人手不足\n"
    assert problems_of(text, "t.yaml", "topics") == ["t.yaml:3:5: missing required key 'synonyms'"]


def test_a_case_study_file_reports_bad_values_at_their_line() -> None:
    """A bad URL, a keyword without a word and a duplicate id are each located."""
    broken = CASES.replace("https://example.com/cases/a", "example.com/a") + CASES.split("\n", 1)[
        1
    ].replace("[図面, 見積]", "['・']")
    [problem] = problems_of(broken, "cases.yaml", "casestudies")
    assert problem.startswith("cases.yaml:10:10: cases.0.url: String should match pattern")
    duplicate = CASES + CASES.split("\n", 1)[1].replace("[図面, 見積]", "['・']")
    assert problems_of(duplicate, "cases.yaml", "casestudies") == [
        "cases.yaml:11:9: duplicate case id 'maker-a'",
        "cases.yaml:17:16: case 'maker-a': keyword phrase '・' has no word in it",
    ]


def test_a_case_naming_an_unknown_topic_is_reported_at_the_topic() -> None:
    """Checked against a vocabulary, the unknown topic id is located in the list."""
    vocabulary = parse_topics(TOPICS, "topics.yaml")
    with pytest.raises(FlowError) as caught:
        cases_from_source(load_located(CASES, "cases.yaml"), vocabulary.get)
    assert [str(p) for p in caught.value.problems] == [
        "cases.yaml:7:24: case 'maker-a' refers to unknown topic 'nosuch'"
    ]


def test_the_kind_is_the_top_level_key_and_an_unknown_one_names_the_kinds() -> None:
    """flow:, cases:, topics:, forms: decide the kind; anything else lists them."""
    assert detect_kind(load_located(TOPICS, "t.yaml")).name == "topics"
    assert detect_kind(load_located(CASES, "c.yaml")).name == "casestudies"
    with pytest.raises(FlowError) as caught:
        detect_kind(load_located("# routing\nroutes: {}\n", "r.yaml"))
    assert str(caught.value) == (
        "r.yaml:2:1: unknown kind of file: the top level must have one key of "
        "flow (flow:), casestudies (cases:), topics (topics:), forms (forms:), "
        "routing (routing:), cadence (cadence:), webhooks (webhooks:)"
    )
    with pytest.raises(FlowError, match="one kind per file, but the top level has cases: and"):
        detect_kind(load_located("cases: []\ntopics: {}\n", "x.yaml"))


def _folder(tmp_path: Path, **files: str) -> Path:
    for name, text in files.items():
        (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def test_files_checked_together_report_what_they_name_in_each_other(tmp_path: Path) -> None:
    """A form's unknown flow and topic and a case's unknown topic, each at the reference."""
    flow = (ROOT / "flows" / "demo.ja.yaml").read_text(encoding="utf-8")
    folder = _folder(
        tmp_path, topics=TOPICS, cases=CASES, forms=FORMS.format(flow="nope"), flow=flow
    )
    checked = check_files([folder], templates_dir=ROOT / "templates")
    report = {Path(c.path).name: [str(p) for p in sorted(c.problems)] for c in checked}
    assert report == {
        "cases.yaml": [
            f"{folder}/cases.yaml:7:24: case 'maker-a' refers to unknown topic 'nosuch'"
        ],
        "flow.yaml": [],
        "forms.yaml": [
            f"{folder}/forms.yaml:5:11: form 'demo': unknown flow 'nope'",
            f"{folder}/forms.yaml:12:54: form 'demo': field 'plan': unknown topic 'unknown_topic'",
        ],
        "topics.yaml": [],
    }


def test_a_form_in_one_language_continuing_in_a_flow_of_another_is_reported(
    tmp_path: Path,
) -> None:
    """A Japanese form whose chat continues in the English flow is a mistake."""
    flow = (ROOT / "flows" / "demo.en.yaml").read_text(encoding="utf-8")
    folder = _folder(tmp_path, topics=TOPICS, forms=FORMS.format(flow="demo-en"), flow=flow)
    forms = next(c for c in check_files([folder]) if c.path.endswith("forms.yaml"))
    assert [p.message for p in forms.problems] == [
        "form 'demo' is in 'ja' but flow 'demo-en' is in 'en'",
        "form 'demo': field 'plan': unknown topic 'unknown_topic'",
    ]


def test_an_id_defined_in_two_files_is_reported_in_the_second(tmp_path: Path) -> None:
    """Two flow files with one flow id: the later file says where the first one is."""
    flow = (ROOT / "flows" / "demo.en.yaml").read_text(encoding="utf-8")
    folder = _folder(tmp_path, a=flow, b=flow)
    a, b = check_files([folder])
    assert a.problems == []
    assert [str(p) for p in b.problems] == [
        f"{folder}/b.yaml:3:7: flow id 'demo-en' is also defined in {folder}/a.yaml"
    ]


def test_a_kind_not_checked_is_taken_from_the_context_files(tmp_path: Path) -> None:
    """The forms file alone is checked against the configured flows and topics."""
    forms = _folder(tmp_path, forms=FORMS.format(flow="demo-ja")) / "forms.yaml"
    context = [ROOT / "flows" / "demo.ja.yaml", ROOT / "flows" / "topics.yaml"]
    (checked,) = check_files([forms], context=context)
    assert [p.message for p in checked.problems] == [
        "form 'demo': field 'plan': unknown topic 'cost'",
        "form 'demo': field 'plan': unknown topic 'unknown_topic'",
    ]


def test_an_empty_folder_is_a_problem(tmp_path: Path) -> None:
    """Checking a folder with no YAML in it does not pass silently."""
    (checked,) = check_files([tmp_path])
    assert [str(p) for p in checked.problems] == [
        f"{tmp_path}:1:1: no .yaml or .yml file in this folder"
    ]
