"""The handoff CSV for CRMs and Excel (pure): its columns with Japanese headers, one
handoff's values, and the encoding Excel in Japan opens correctly.

- UTF-8 with a byte order mark (Excel otherwise reads UTF-8 as Shift_JIS), CRLF line ends,
  a field quoted when it holds a comma, a quote (doubled) or a line break;
- a text cell starting with ``=``, ``+``, ``-``, ``@`` (or a tab or carriage return) gets
  a leading ``'``, so a spreadsheet shows it as text and never runs it as a formula
  (CSV injection); numbers we write ourselves are left as they are;
- times in the business timezone as ``YYYY-MM-DD HH:MM`` (Excel reads them as dates).

The 0.5次商談 columns are the keys of ``crm_events.QualificationPart`` (課題, 意思決定者,
検討時期, 予算感, 懸念点, 次アクション …) read from ``handoffs.qualification``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, tzinfo
from typing import Any

from autoreply.domain.crm_events import QualificationPart
from autoreply.domain.phones import e164_phone

__all__ = [
    "BOM",
    "COLUMNS",
    "QUALIFICATION_COLUMNS",
    "csv_lines",
    "flat_source",
    "guard",
    "header",
    "text_of",
]

BOM = "\ufeff"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
UTM_KEYS = ("source", "medium", "campaign", "term", "content")

#: The 0.5次商談 fields, in the order of ``QualificationPart``, headed by their Japanese
#: names (the field's description up to the first space or colon).
QUALIFICATION_COLUMNS: tuple[tuple[str, str], ...] = tuple(
    (
        f"qualification.{name}",
        {
            "next_action_due": "次アクション期日",
            "qualified": "商談化",
            "note": "0.5次商談メモ",
        }.get(name, (field.description or name).split(" ")[0].split(":")[0]),
    )
    for name, field in QualificationPart.model_fields.items()
)

#: Every column: (key in a handoff's values, header).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("handoff_id", "引き継ぎID"),
    ("handoff_url", "引き継ぎURL"),
    ("created_at", "引き継ぎ日時"),
    ("status", "対応状況"),
    ("reason", "引き継ぎ理由"),
    ("channel", "チャネル"),
    ("lead_id", "リードID"),
    ("lead_created_at", "リード登録日時"),
    ("name", "氏名"),
    ("company", "会社名"),
    ("email", "メールアドレス"),
    ("phone", "電話番号"),
    ("industry", "業種"),
    ("display_name", "LINE表示名"),
    ("opted_out", "配信停止"),
    ("consent_at", "個人情報同意日時"),
    ("consent_version", "同意した版"),
    ("owner", "担当者"),
    ("owner_email", "担当者メール"),
    ("team", "チーム"),
    ("due_at", "初回連絡期限"),
    ("contacted_at", "初回連絡日時"),
    ("contacted_by", "初回連絡者"),
    ("bot_first_response_seconds", "自動応答の初回応答(秒)"),
    ("timing", "導入時期(区分)"),
    ("timing_said", "導入時期(原文)"),
    ("challenge", "課題(会話より)"),
    ("topics", "関心トピック"),
    ("tier", "ティア"),
    ("score", "スコア"),
    ("first_line", "要約"),
    ("source.page", "流入ページ"),
    ("source.referrer", "参照元"),
    *((f"source.utm_{k}", f"utm_{k}") for k in UTM_KEYS),
    ("source.form_id", "フォーム"),
    ("meeting_start", "商談日時"),
    ("meeting_status", "商談ステータス"),
    ("meeting_outcome", "商談結果"),
    ("meeting_rep", "商談担当"),
    ("qualified_at", "0.5次商談完了日時"),
    ("qualified_by", "0.5次商談記録者"),
    *QUALIFICATION_COLUMNS,
    ("followups", "フォロー件数"),
    ("followups_open", "未完了フォロー件数"),
)


def flat_source(source: Mapping[str, Any] | None) -> dict[str, str]:
    """Where a lead came from as flat text values: ``page``, ``title``, ``referrer``,
    ``utm_source`` … (nested ``utm`` or already flat), ``form_id``; empty values left out."""
    source = source or {}
    flat: dict[str, str] = {}
    for key, value in source.items():
        if isinstance(value, str | int | float) and not isinstance(value, bool) and value != "":
            flat["page" if key == "url" else str(key)] = str(value)
    utm = source.get("utm")
    if isinstance(utm, Mapping):
        for key in UTM_KEYS:
            value = utm.get(key)
            if isinstance(value, str) and value:
                flat[f"utm_{key}"] = value
    return flat


def guard(text: str) -> str:
    """A text cell a spreadsheet will not read as a formula."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def text_of(value: Any, tz: tzinfo) -> str:
    """One value as a cell: times in ``tz``, booleans as 1/0, lists joined by " / ",
    numbers as written, text guarded."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, datetime):
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return guard(" / ".join(str(v) for v in value))
    return guard(str(value))


def header() -> list[str]:
    return [title for _, title in COLUMNS]


def csv_lines(rows: Iterable[Mapping[str, Any]], tz: tzinfo, *, first: bool) -> str:
    """CSV text of ``rows`` (each a mapping of column key -> value), CRLF line ends; with
    ``first``, the BOM and the header row before them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    if first:
        out.write(BOM)
        writer.writerow(header())
    for row in rows:
        writer.writerow(_cells(row, tz))
    return out.getvalue()


def _cells(row: Mapping[str, Any], tz: tzinfo) -> Sequence[str]:
    """The row's cells; the phone number in E.164 (``+81312345678``), as other systems
    import it (people see it nationally, ``domain.phones.show_phone``)."""
    values = {**row, "phone": e164_phone(row.get("phone"))} if row.get("phone") else row
    return [text_of(values.get(key), tz) for key, _ in COLUMNS]
