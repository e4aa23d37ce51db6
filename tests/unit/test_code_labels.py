"""No code reaches Japanese output (issue 15): every reason, timing bucket, channel, status,
score and trigger code has a Japanese and an English label in the one label source
(``templates/rep/_labels.html``), and the rep pages, the notices and the text summary
rendered with every code show labels only."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from autoreply.domain.timing import TimingBucket
from autoreply.service import reps
from autoreply.service.content import Content
from autoreply.store.repos import QueueEntry
from autoreply.web.pages import Pages
from tests.conftest import ROOT

AT = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
SRC = ROOT / "src" / "autoreply"


def _codes() -> dict[str, set[str]]:
    """Every code the product writes, read from where it is made (not from the labels)."""
    handoff = {"asked_for_human", "form", "booked", "idle", "abandoned", "flow_changed"}
    handoff |= {"completed"}  # service/handoffs.py: a flow's `end: completed`
    for flow in (ROOT / "flows").glob("*.yaml"):
        handoff |= set(re.findall(r"^\s*handoff:\s*(\w+)\s*$", flow.read_text(), re.M))
    scoring = (SRC / "domain" / "scoring.py").read_text()
    triggers = (SRC / "domain" / "triggers.py").read_text()
    trigger_codes = re.search(r"TriggerCode = Literal\[([^\]]+)\]", triggers)
    assert trigger_codes
    score = set(re.findall(r'Reason\(\s*"(\w+)"', scoring))
    score |= set(re.findall(r'"(\w+)"', trigger_codes.group(1))) | {"cases_opened"}
    return {
        "handoff_reasons": handoff,
        "bucket_labels": {b.value for b in TimingBucket},
        "channel_labels": set(reps.CHANNELS),
        "status_labels": set(reps.STATUSES),
        "score_reasons": score,
        "waiting_for_labels": {"budget", "internal_review", "information", "other"},
    }


CODES = _codes()


@pytest.fixture(scope="module")
def pages() -> Pages:
    return Pages(ROOT / "templates", ZoneInfo("Asia/Tokyo"))


def test_the_codes_were_found() -> None:
    """The reading above finds the codes (a refactor that hides them fails here first)."""
    assert {"booked", "no_booking", "abandoned", "idle", "flow_changed"} <= CODES["handoff_reasons"]
    assert {"timing", "challenge", "booked", "case_read", "pricing_views"} <= CODES["score_reasons"]
    assert "cli" in CODES["channel_labels"] and "within_1_month" in CODES["bucket_labels"]


@pytest.mark.parametrize("lang", ["ja", "en"])
def test_every_code_has_a_label_in_each_language(pages: Pages, lang: str) -> None:
    labels = getattr(pages.env.get_template("rep/_labels.html").module, lang)
    for kind, codes in CODES.items():
        missing = codes - set(labels[kind])
        assert not missing, f"{lang} {kind}: no label for {sorted(missing)}"
        for code in codes:
            label = labels[kind][code]
            # English may say a plain word as it is ("undecided"), never a code's form
            assert label != code if lang == "ja" else "_" not in label, f"{kind}: {code}"


def _all_codes() -> set[str]:
    return {c for codes in CODES.values() for c in codes}


def _raw_codes(text: str) -> list[str]:
    """The codes that appear as words in ``text`` (case-sensitive: 「LINE」 is a label)."""
    return sorted(
        c for c in _all_codes() if re.search(rf"(?<![A-Za-z0-9_/.\-]){c}(?![A-Za-z0-9_])", text)
    )


class _Text(HTMLParser):
    """The text a person sees (no tags, attributes, scripts or styles)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _visible(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(parser.parts)


def _record(bucket: str, waiting_for: str, channel: str) -> dict[str, Any]:
    return {
        "lead": {"name": "山田太郎", "company": "株式会社サンプル", "email": "t@example.com"},
        "channel": channel,
        "challenge": "夜間の問い合わせ対応",
        "timing": {
            "bucket": bucket,
            "described": "2026年12月",
            "text": "来月",
            "waiting_for": waiting_for,
        },
        "reasons": [
            {"code": c, "points": 5, "detail": bucket if c == "timing" else "2"}
            for c in sorted(CODES["score_reasons"])
        ],
        "triggers": [
            {"code": c, "at": AT.isoformat(), "detail": "2"} for c in sorted(CODES["score_reasons"])
        ],
        "source": {},
        "transcript": [],
        "cases_sent": [],
        "first_line": "お問い合わせありがとうございます。",
        "first_response_seconds": 1.5,
        "score": 90,
        "tier": "A",
    }


def _combos() -> list[tuple[str, str, str, str, str]]:
    """Every value of every code at least once: (reason, bucket, waiting_for, channel, status)."""
    lists = [sorted(CODES[k]) for k in ("handoff_reasons", "bucket_labels")]
    lists += [sorted(CODES[k]) for k in ("waiting_for_labels", "channel_labels", "status_labels")]
    longest = max(len(v) for v in lists)
    return [tuple(v[i % len(v)] for v in lists) for i in range(longest)]  # type: ignore[misc]


def _row(reason: str, status: str, record: dict[str, Any]) -> SimpleNamespace:
    return SimpleNamespace(
        id=1,
        tier="A",
        score=90,
        reason=reason,
        status=status,
        record=record,
        created_at=AT,
        contacted_at=AT if status == "contacted" else None,
        due_at=AT,
        owner_id=None,
        routed_by=None,
        notified_at=None,
        notify_at=None,
        lead_id=1,
    )


@pytest.mark.parametrize("combo", _combos())
def test_the_rep_pages_show_labels_not_codes(pages: Pages, combo: tuple[str, ...]) -> None:
    reason, bucket, waiting_for, channel, status = combo
    record = _record(bucket, waiting_for, channel)
    row = _row(reason, status, record)
    follow = SimpleNamespace(open_now=True, until=AT, at=AT)
    listing = pages.env.get_template("rep/handoffs.html").render(
        rep=SimpleNamespace(name="佐藤", role="manager", away=False),
        rows=[QueueEntry(row, channel, 2, AT, None)],  # type: ignore[arg-type]
        names={},
        now=AT,
        status=status,
        channel=channel,
        q="",
        statuses=reps.STATUSES,
        channels=reps.CHANNELS,
        follow_up=follow,
    )
    assert _raw_codes(_visible(listing)) == [], combo
    history = SimpleNamespace(handoffs=[(row, channel), (row, channel)], bookings=[])
    detail = pages.env.get_template("rep/handoff.html").render(
        rep=SimpleNamespace(name="佐藤", role="rep", away=False),
        h=row,
        r=record,
        channel=channel,
        history=history,
        owned=SimpleNamespace(owner=None, team=None, steps=[], sla=SimpleNamespace(state="")),
        everyone=[],
    )
    assert "夜間の問い合わせ対応" in detail  # it did render the record
    assert _raw_codes(_visible(detail)) == [], combo


@pytest.mark.parametrize("combo", _combos())
def test_the_japanese_summary_and_notices_show_labels_not_codes(
    content: Content, combo: tuple[str, ...]
) -> None:
    reason, bucket, waiting_for, channel, _ = combo
    record = {**_record(bucket, waiting_for, channel), "reason": reason}
    summary = content.texts.render("handoff/summary", "ja", r=record)
    assert "山田太郎" in summary
    assert _raw_codes(summary) == [], combo
    for part in ("title", "intro", "why", "timing", "channel", "booking"):
        text = content.texts.render(
            "notify/notice", "ja", part=part, kind="hot_lead", r=record, count=1
        )
        assert _raw_codes(text) == [], (part, combo)
    trigger = content.texts.render(
        "notify/notice", "ja", part="trigger", codes=sorted(CODES["score_reasons"]), r=record
    )
    assert trigger and _raw_codes(trigger) == []


@pytest.mark.parametrize("combo", _combos())
def test_the_english_summary_uses_english_labels(content: Content, combo: tuple[str, ...]) -> None:
    reason, bucket, waiting_for, channel, _ = combo
    record = {**_record(bucket, waiting_for, channel), "reason": reason}
    summary = content.texts.render("handoff/summary", "en", r=record)
    labels = content.texts.env.get_template("rep/_labels.html").module.en  # type: ignore[attr-defined]
    assert f"Reason: {labels['handoff_reasons'][reason]}" in summary
    assert f"Channel: {labels['channel_labels'][channel]}" in summary
    assert f"({labels['bucket_labels'][bucket]}; in their words" in summary
    assert not re.search(
        r"[ぁ-んァ-ン]",
        summary.replace("山田太郎", "")
        .replace("株式会社サンプル", "")
        .replace("夜間の問い合わせ対応", "")
        .replace("お問い合わせありがとうございます。", "")
        .replace("来月", ""),
    )


def test_the_python_channel_names_are_the_templates(pages: Pages) -> None:
    """Routing's 「why」 and the dashboard name channels in Python (the domain reads no
    templates): the same names as the label source, for every channel."""
    from autoreply.domain.routing import CHANNELS as ROUTING_NAMES
    from autoreply.service.reports import CHANNEL_LABELS

    ja = pages.env.get_template("rep/_labels.html").module.ja  # type: ignore[attr-defined]
    expected = {c: ja["channel_labels"][c] for c in reps.CHANNELS if c != "all"}
    assert dict(ROUTING_NAMES) == expected
    assert dict(CHANNEL_LABELS) == expected
