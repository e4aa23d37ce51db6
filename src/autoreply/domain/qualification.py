"""The 0.5次商談 record: the CRM fields a rep captures (課題 / 意思決定者 / 検討時期 / 予算感 /
懸念点 / 次アクション and its due date, 商談化, a note), their limits and the choices the form
offers. Pure.

The keys are those of ``domain.crm_events.QualificationPart``, so the stored JSON, the
event and the CSV export say the same thing. Every text field is free text: the choices
(``CHOICES``) are offered as suggestions (a datalist), because a manager's picklist never
covers every answer ("予算は来期に申請予定、月10万円程度") and a rep must not have to
bend the truth to fit one.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

__all__ = [
    "CHOICES",
    "FIELDS",
    "LABELS",
    "Qualification",
    "prefill",
]

_Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
_Long = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]

#: The fields in the order the form and the page show them.
FIELDS: tuple[str, ...] = (
    "challenge",
    "decision_maker",
    "timeline",
    "budget",
    "concerns",
    "next_action",
    "next_action_due",
    "qualified",
    "note",
)
#: The CRM's names of the fields (the pages' labels live in templates/rep/_labels.html).
LABELS: dict[str, str] = {
    "challenge": "課題",
    "decision_maker": "意思決定者",
    "timeline": "検討時期",
    "budget": "予算感",
    "concerns": "懸念点",
    "next_action": "次アクション",
    "next_action_due": "次アクションの期日",
    "qualified": "商談化",
    "note": "メモ",
}
#: Suggestions for the short fields (free text is always allowed).
CHOICES: dict[str, tuple[str, ...]] = {
    "decision_maker": ("ご本人（決裁者）", "上長・部門長", "経営層", "情報システム部門", "未確認"),
    "timeline": ("1か月以内", "3か月以内", "半年以内", "1年以内", "未定"),
    "budget": ("予算確保済み", "予算申請中・来期予定", "予算未定", "予算なし", "未確認"),
    "next_action": (
        "資料送付",
        "見積提示",
        "デモ実施",
        "初回商談の設定",
        "フォローコール",
        "社内検討待ち",
    ),
}


class Qualification(BaseModel):
    """What a rep records as the 0.5次商談: every field optional, text trimmed and limited
    (200 characters for the short ones, 2,000 for 課題, 懸念点 and the note), the due date
    a calendar date, 商談化 yes / no / not decided (None)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    challenge: _Long | None = None
    decision_maker: _Short | None = None
    timeline: _Short | None = None
    budget: _Short | None = None
    concerns: _Long | None = None
    next_action: _Short | None = None
    next_action_due: date | None = Field(None, description="ISO date, e.g. 2026-12-10")
    qualified: bool | None = None
    note: _Long | None = None

    @field_validator(
        "challenge", "decision_maker", "timeline", "budget", "concerns", "next_action", "note"
    )
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    def to_part(self) -> dict[str, Any]:
        """The stored JSON, in the keys of ``crm_events.QualificationPart``."""
        data = self.model_dump()
        data["next_action_due"] = self.next_action_due.isoformat() if self.next_action_due else None
        return data

    def is_empty(self) -> bool:
        """Nothing at all recorded (the form sent blank)."""
        return all(v is None for v in self.model_dump().values())


def prefill(record: Mapping[str, Any], stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """What the form starts with: the recorded 0.5次商談 if there is one, else what the bot
    already learnt (課題 in the lead's words, 検討時期 as the bot read it)."""
    if stored:
        return {name: stored.get(name) for name in FIELDS}
    timing = record.get("timing") or {}
    timeline = None
    if isinstance(timing, dict):
        said, described = timing.get("text"), timing.get("described")
        # The lead's own words first, the bot's reading after them: 「来月中旬（12月中旬ごろ）」.
        if said and described and said != described:
            timeline = f"{said}（{described}）"
        else:
            timeline = said or described
    values: dict[str, Any] = dict.fromkeys(FIELDS)
    values["challenge"] = record.get("challenge") or None
    values["timeline"] = timeline
    return values
