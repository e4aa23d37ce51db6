"""What a notification says to a rep, before any target (Slack, Teams, Chatwork, email)
lays it out: a ``Notice`` of one kind with one or more ``LeadLine`` s.

Pure data, stored as the outbox row's payload (``Notice.to_dict``) and read back by the
target's transport (``Notice.from_dict``), which renders it with its own ``render.py``.
Every text in it is already written in the rep's language; renderers only lay it out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

__all__ = ["KINDS", "LABELS", "LeadLine", "Notice", "NoticeKind", "label"]

NoticeKind = Literal["hot_lead", "tier_a", "digest", "escalation", "manager", "on_call", "assigned"]
KINDS: tuple[str, ...] = get_args(NoticeKind)


@dataclass(frozen=True)
class LeadLine:
    """One handoff as a notification shows it. ``*_text`` fields are display strings."""

    handoff_id: int
    url: str  # the handoff page
    contacted_url: str | None  # a signed link that marks it contacted (None: already is)
    who: str  # 「山田 太郎 様（サンプル商事）」
    tier: str  # "A" | "B" | "C"
    tier_why: str  # 「料金ページを2回閲覧、1か月以内」
    channel_text: str  # 「Webチャット」
    timing_text: str | None  # the reading and the lead's own words
    challenge_text: str | None  # in the lead's words
    first_line: str  # the suggested opening line
    booking_text: str | None  # 「12月8日(火) 10:00 デモ担当 山田」
    owner_text: str | None  # 「担当: 山田（インサイドセールス）」
    deadline_text: str | None  # 「初回連絡の期限: 12月8日(火) 9:05」
    deadline_at: str | None  # ISO 8601
    trigger_text: str | None = None  # what made it hot now (「事例を最後まで閲覧」)
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class Notice:
    """One notification: its kind, a title and an optional intro line, and the leads."""

    kind: NoticeKind
    title: str  # 「【Tier A】新しいリード: 山田 太郎 様（サンプル商事）」
    intro: str | None
    leads: tuple[LeadLine, ...]
    locale: str = "ja"
    mention: str | None = None  # a target-specific mention (Slack <@U…>, Chatwork account id)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["leads"] = [asdict(line) for line in self.leads]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Notice:
        leads = tuple(LeadLine(**line) for line in data.get("leads", ()))
        return cls(
            kind=data["kind"],
            title=data["title"],
            intro=data.get("intro"),
            leads=leads,
            locale=data.get("locale", "ja"),
            mention=data.get("mention"),
        )


#: The words every target uses around the fields, in the rep's language.
LABELS: dict[str, dict[str, str]] = {
    "ja": {
        "tier": "ランク",
        "why": "根拠",
        "channel": "経路",
        "timing": "導入時期",
        "challenge": "課題",
        "first_line": "最初の一言",
        "booking": "予約済みのお打ち合わせ",
        "owner": "担当",
        "deadline": "初回連絡の期限",
        "trigger": "きっかけ",
        "contact": "連絡先",
        "open": "引き継ぎを開く",
        "contacted": "連絡済みにする",
        "more": "ほか{count}件",
    },
    "en": {
        "tier": "Tier",
        "why": "Why",
        "channel": "Channel",
        "timing": "Timing",
        "challenge": "Challenge",
        "first_line": "First line",
        "booking": "Booked meeting",
        "owner": "Owner",
        "deadline": "First contact due",
        "trigger": "Trigger",
        "contact": "Contact",
        "open": "Open the handoff",
        "contacted": "Mark contacted",
        "more": "{count} more",
    },
}


def label(locale: str, key: str, **values: Any) -> str:
    """A field label in ``locale`` (Japanese for ``ja*``, else English)."""
    words = LABELS["ja" if locale.lower().startswith("ja") else "en"]
    return words[key].format(**values) if values else words[key]
