"""The chat notification targets' renderers: what a rep reads in Slack, Teams and Chatwork,
that a lead's words cannot mention anyone or break the layout, and that a long digest
stays within each target's limits."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest

from autoreply.channels.chatwork.render import MAX_LENGTH, chatwork_body, length
from autoreply.channels.layout import fields
from autoreply.channels.slack.render import MAX_BLOCKS, slack_message
from autoreply.channels.teams.render import MAX_BYTES, teams_message
from autoreply.domain.notices import LeadLine, Notice
from tests.conftest import ROOT
from tests.notifystub import (
    BASE,
    Seen,
    chatwork_seen,
    chatwork_tags,
    sample_lead,
    sample_notice,
    slack_seen,
    teams_seen,
)

OPEN, CONTACTED = "引き継ぎを開く", "連絡済みにする"
HOSTILE = sample_lead(
    7,
    who="<script>& [toall][/info] <!channel> **太字** [偽](https://evil.example)",
    challenge_text="<!here> [To:999] 至急 & <@U999>",
    first_line="[/info]<!channel> __よろしく__ `code`",
)


def seen(target: str, notice: Notice) -> Seen:
    """What a rep reads of ``notice`` rendered for ``target``."""
    if target == "slack":
        return slack_seen(slack_message(notice))
    if target == "teams":
        return teams_seen(teams_message(notice))
    return chatwork_seen({"body": chatwork_body(notice)})


TARGETS = ("slack", "teams", "chatwork")
MENTION = {"slack": "U123ABC", "teams": "sato@example.com", "chatwork": "1234567"}


@pytest.mark.parametrize("target", TARGETS)
def test_a_rep_reads_the_title_the_leads_words_the_first_line_and_both_links(
    target: str,
) -> None:
    """Title, intro, the lead's facts in the lead's words, the suggested first line, and
    the two buttons (or links) with exactly the handoff's URLs."""
    lead = sample_lead(12)
    shown = seen(target, sample_notice(lead, mention=MENTION[target]))
    for words in (
        "【Tier A】新しいリード: 山田 太郎1 様（サンプル商事）",
        "営業時間外に新しいリードが届きました。",
        "山田 太郎12 様（サンプル商事）",
        "A（料金ページを2回閲覧、1か月以内）",
        "Webチャット",
        "1か月以内（「来月には決めたい」）",
        "夜間の問い合わせ対応が遅れています",
        "佐藤（インサイドセールス）",
        "12月8日(火) 9:05",
        "12月8日(火) 10:00 デモ担当 山田",
        "事例を最後まで閲覧",
        "夜分にお問い合わせいただきありがとうございます。夜間対応の件でご連絡いたしました。",
    ):
        assert words in shown.text, (target, words)
    assert "担当: 担当" not in shown.text and "期限: 初回連絡の期限" not in shown.text
    assert shown.mentions == [MENTION[target]]
    links = shown.buttons if target != "chatwork" else shown.links
    if target == "chatwork":
        assert f"{OPEN}: {lead.url}" in shown.text
        assert f"{CONTACTED}: {lead.contacted_url}" in shown.text
        assert [url for _, url in links] == [lead.url, lead.contacted_url]
    else:
        assert links == [(OPEN, lead.url), (CONTACTED, lead.contacted_url)]


@pytest.mark.parametrize("target", TARGETS)
def test_a_handoff_already_contacted_has_no_contacted_link(target: str) -> None:
    """``contacted_url`` None: only the link that opens the handoff."""
    lead = sample_lead(3, contacted_url=None)
    shown = seen(target, sample_notice(lead))
    urls = [url for _, url in (shown.links if target == "chatwork" else shown.buttons)]
    assert urls == [lead.url]
    assert CONTACTED not in shown.text


def test_slack_the_mention_and_the_fallback_text() -> None:
    """The notice's member id notifies as <@U…>; the fallback text is the title; a
    mention that is not a member id is shown as text and notifies nobody."""
    message = slack_message(sample_notice(mention="U123ABC"))
    assert message["blocks"][1]["text"]["text"].startswith("<@U123ABC> ")
    assert message["text"] == "【Tier A】新しいリード: 山田 太郎1 様（サンプル商事）"
    odd = slack_seen(slack_message(sample_notice(mention="!channel")))
    assert odd.mentions == [] and "@!channel" in odd.text


@pytest.mark.parametrize("target", TARGETS)
def test_a_leads_markup_notifies_nobody_links_nowhere_and_reads_as_written(
    target: str,
) -> None:
    """A lead named ``<script>& [toall][/info] <!channel> …`` is shown as those very
    characters: only the notice's own mention notifies, no link hides where it goes
    (a bare URL stays a visible URL), and the layout has exactly the parts of any
    one-lead notice."""
    plain = sample_notice(sample_lead(7), mention=MENTION[target])
    hostile = sample_notice(HOSTILE, title=f"新しいリード: {HOSTILE.who}", mention=MENTION[target])
    shown = seen(target, hostile)
    assert shown.mentions == [MENTION[target]]
    ours = [HOSTILE.url, HOSTILE.contacted_url]
    assert [(text, url) for text, url in shown.links if text != url and url not in ours] == []
    if target == "chatwork":
        assert "［toall］［/info］" in shown.text and "［To:999］" in shown.text
        assert chatwork_tags(chatwork_body(hostile)) == chatwork_tags(chatwork_body(plain))
        return
    assert "<script>& [toall][/info] <!channel> **太字** [偽](https://evil.example)" in shown.text
    assert "<!here> [To:999] 至急 & <@U999>" in shown.text
    assert "[/info]<!channel> __よろしく__ `code`" in shown.text
    if target == "slack":
        message = slack_message(hostile)
        mrkdwn = [message["text"]] + [
            t["text"]
            for b in message["blocks"]
            for t in ([b["text"]] if "text" in b else []) + b.get("fields", [])
            if t["type"] == "mrkdwn"
        ]
        assert not [t for t in mrkdwn if "<!" in t or "<@U999" in t or "<https" in t]
        kinds = [b["type"] for b in slack_message(hostile)["blocks"]]
        assert kinds == [b["type"] for b in slack_message(plain)["blocks"]]
    else:
        card = teams_message(hostile)["attachments"][0]["content"]
        assert [e["type"] for e in card["body"]] == [
            e["type"] for e in teams_message(plain)["attachments"][0]["content"]["body"]
        ]


def _digest(count: int, **changes: Any) -> Notice:
    leads = tuple(sample_lead(n, **changes) for n in range(1, count + 1))
    return sample_notice(*leads, kind="digest", title=f"未対応のリード {count}件", intro=None)


def _slack_texts(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for b in message["blocks"] for t in ([b["text"]] if "text" in b else [])]


def test_a_slack_digest_of_60_leads_stays_within_slacks_limits() -> None:
    """At most 50 blocks, 3000 characters a text, 10 fields of 2000 a section, and
    「ほか50件」 linking to the first lead not shown."""
    notice = _digest(60, challenge_text="課題&" * 1500)
    message = slack_message(notice)
    blocks = message["blocks"]
    assert len(blocks) <= MAX_BLOCKS
    assert all(len(t["text"]) <= 3000 for t in _slack_texts(message))
    sections = [b for b in blocks if "fields" in b]
    assert all(len(b["fields"]) <= 10 for b in sections)
    assert all(len(f["text"]) <= 2000 for b in sections for f in b["fields"])
    assert all(
        not f["text"].endswith(("&", "&a", "&am", "&amp")) for b in sections for f in b["fields"]
    )
    shown = slack_seen(message)
    assert len(shown.buttons) == 20  # ten leads, two buttons each
    assert shown.links == [("ほか50件", notice.leads[10].url)]
    assert "課題&課題&" in shown.text and "…" in shown.text


def test_a_teams_digest_of_60_leads_shows_ten_and_stays_under_the_size_limit() -> None:
    """Ten leads and 「ほか50件」; leads with long texts are fewer, never past the size."""
    notice = _digest(60)
    shown = teams_seen(teams_message(notice))
    assert len(shown.buttons) == 20
    assert shown.links == [("ほか50件", notice.leads[10].url)]
    heavy = _digest(60, challenge_text="課" * 3000, first_line="言" * 3000)
    message = teams_message(heavy)
    assert len(json.dumps(message, ensure_ascii=False).encode()) <= MAX_BYTES
    seen_heavy = teams_seen(message)
    leads_shown = len(seen_heavy.buttons) // 2
    assert 1 <= leads_shown < 10
    assert seen_heavy.links == [(f"ほか{60 - leads_shown}件", heavy.leads[leads_shown].url)]


def test_a_chatwork_digest_of_60_leads_is_cut_cleanly_at_the_length_limit() -> None:
    """Leads with long texts: whole leads up to 65,535 characters, then 「ほか…件」 with
    the next lead's link, and the box still closed."""
    notice = _digest(60, challenge_text="課題" * 1000, first_line="😀" * 900)
    body = chatwork_body(notice)
    assert length(body) <= MAX_LENGTH
    tags = chatwork_tags(body)
    assert tags[:3] == ["[info]", "[title]", "[/title]"] and tags[-1] == "[/info]"
    shown = chatwork_seen({"body": body})
    leads_shown = shown.text.count(f"{OPEN}: ")
    assert 1 <= leads_shown < 60
    assert tags.count("[hr]") == leads_shown  # between leads, and before 「ほか…件」
    more = f"ほか{60 - leads_shown}件: {notice.leads[leads_shown].url}"
    assert more in shown.text
    small = chatwork_body(_digest(60))
    assert "ほか" not in small and small.count(f"{OPEN}: ") == 60


def test_english_notices_use_english_words() -> None:
    """A notice in ``en`` labels its fields and buttons in English."""
    lead = sample_lead(1, tier_why="viewed pricing twice")
    notice = sample_notice(lead, locale="en")
    assert slack_seen(slack_message(notice)).buttons[0] == ("Open the handoff", lead.url)
    assert "Tier: A (viewed pricing twice)" in teams_seen(teams_message(notice)).text
    assert "Mark contacted: " in chatwork_body(notice)


def test_rendering_is_deterministic_and_survives_the_outbox_payload() -> None:
    """The same notice, and the notice read back from its outbox payload, render the
    same bytes."""
    notice = _digest(12)
    again = Notice.from_dict(json.loads(json.dumps(notice.to_dict())))
    assert slack_message(again) == slack_message(notice)
    assert teams_message(again) == teams_message(notice)
    assert chatwork_body(again) == chatwork_body(notice)


def test_fields_leave_out_what_is_unknown_and_keep_the_order() -> None:
    """Tier first, then channel, timing, challenge, owner, deadline, booking, trigger;
    empty ones are not shown; a value carrying its own label shows it once."""
    lead: LeadLine = sample_lead(1, timing_text=None, booking_text="  ", trigger_text=None)
    assert fields(lead, "ja") == [
        ("ランク", "A（料金ページを2回閲覧、1か月以内）"),
        ("経路", "Webチャット"),
        ("課題", "夜間の問い合わせ対応が遅れています"),
        ("担当", "佐藤（インサイドセールス）"),
        ("初回連絡の期限", "12月8日(火) 9:05"),
    ]
    assert BASE in lead.url


def test_the_documented_examples_are_what_is_sent() -> None:
    """docs/notifications.md shows the Chatwork body and the Slack blocks these render."""
    lead = sample_lead(12, who="山田 太郎 様（サンプル商事）", trigger_text=None, booking_text=None)
    notice = sample_notice(lead, title="【Tier A】新しいリード: 山田 太郎 様（サンプル商事）")
    doc = (ROOT / "docs" / "notifications.md").read_text(encoding="utf-8")
    chatwork = re.search(r"```text\n(\[To:.+?)\n```", doc, re.S)
    assert chatwork and chatwork.group(1) == chatwork_body(
        dataclasses.replace(notice, mention="1234567")
    )
    slack = re.search(r"## Slack.+?```json\n(.+?)\n```", doc, re.S)
    assert slack and json.loads(slack.group(1)) == slack_message(
        dataclasses.replace(notice, mention="U123ABC")
    )
