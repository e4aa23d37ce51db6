"""Cutting text on grapheme clusters (autoreply.graphemes) and every place that cuts with
it: notices for Slack, Teams and Chatwork, LINE labels and alt texts, templates' truncate."""

from __future__ import annotations

import json

import pytest
from jinja2.sandbox import SandboxedEnvironment

from autoreply.channels.chatwork.render import chatwork_body
from autoreply.channels.layout import clip, fit
from autoreply.channels.line.wire import Labels, render
from autoreply.channels.slack.render import slack_message
from autoreply.channels.teams.render import teams_message
from autoreply.flows.templating import make_environment
from autoreply.flows.turns import Choices, Option
from autoreply.graphemes import clip as gclip
from autoreply.graphemes import clusters, cut, truncate, utf16_len
from tests.notifystub import sample_lead, sample_notice

FAMILY = "👨‍👩‍👧‍👦"  # 7 code points, one cluster
FLAG = "🇯🇵"  # 2 regional indicators
E_ACUTE = "e\u0301"  # e + combining acute accent
GA = "か\u3099"  # か + combining voiced sound mark (が, decomposed)
HALVES = ("\u200d", "\U0001f468", "\U0001f1ef")  # a joiner or a half that a bad cut leaves


def whole(text: str, source: str) -> bool:
    """Whether ``text`` (a cut of ``source``) ends on a cluster boundary of ``source``."""
    body = text.removesuffix("…").rstrip()
    joined = ""
    for cluster in clusters(source):
        if joined == body:
            return True
        joined += cluster
    return joined == body


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        (f"家族{FAMILY}です", 4, "家族…"),
        (f"家族{FAMILY}です", 10, f"家族{FAMILY}…"),
        (FLAG * 3, 3, f"{FLAG}…"),
        (FLAG * 3, 5, f"{FLAG}{FLAG}…"),
        (f"caf{E_ACUTE}s", 5, "caf…"),
        (f"caf{E_ACUTE}s", 6, f"caf{E_ACUTE}s"),
        (f"{GA}{GA}{GA}", 4, f"{GA}…"),
        ("夜間の問い合わせ対応が遅れています", 9, "夜間の問い合わせ…"),
        ("短い", 10, "短い"),
    ],
)
def test_clip_cuts_between_clusters(text: str, limit: int, expected: str) -> None:
    assert gclip(text, limit) == expected
    assert len(gclip(text, limit)) <= limit


@pytest.mark.parametrize("text", [f"お問い合わせ{FAMILY}{FLAG}{E_ACUTE}{GA}" * 3, FAMILY * 10])
def test_every_limit_gives_whole_clusters(text: str) -> None:
    """Whatever the limit, the cut never ends inside a cluster (no lone joiner, half flag,
    or mark without its letter)."""
    for limit in range(len(text) + 2):
        for got in (gclip(text, limit), cut(text, limit), clip(text, limit)):
            assert len(got) <= max(limit, 0) and whole(got, text), (limit, got)


def test_utf16_limit_counts_emoji_twice() -> None:
    """LINE counts UTF-16 units: the cut fits them, whole clusters still."""
    text = "あ" + FAMILY + "い"
    assert utf16_len(FAMILY) == 11
    assert cut(text, 11, utf16_len) == "あ"
    assert cut(text, 12, utf16_len) == "あ" + FAMILY


def test_fit_escapes_after_cutting_on_clusters() -> None:
    got = fit("<" + FAMILY * 5, 20, lambda t: t.replace("<", "&lt;"))
    assert got.startswith("&lt;") and got.endswith("…") and len(got) <= 20
    assert whole(got.replace("&lt;", "<"), "<" + FAMILY * 5)


def test_templates_truncate_on_clusters_like_jinja_otherwise() -> None:
    """The ``truncate`` filter of every product environment cuts on clusters; on plain text
    it answers what Jinja's own does (leeway 5, killwords, end)."""
    env = make_environment()
    family = env.from_string("{{ t | truncate(8, True, '…') }}").render(t="家族" + FAMILY * 3)
    assert family == "家族" + "…"
    plain = SandboxedEnvironment()
    for text, args in [
        ("夜間の問い合わせ対応が遅れていてとても困っています", (10, True, "…")),
        ("night inquiries are answered too late by us", (20, False, "...")),
        ("short", (10, True, "…")),
        ("exactly twelve", (10, True, "…")),  # within the leeway: kept whole
    ]:
        ours = truncate(text, *args)
        theirs = plain.from_string("{{ t | truncate(a, b, c) }}").render(
            t=text, a=args[0], b=args[1], c=args[2]
        )
        assert ours == theirs, (text, ours, theirs)


def _no_halves(payload: str) -> None:
    for bad in (FAMILY[:3] + "…", FLAG[0] + "…", "\u200d…"):
        assert bad not in payload, bad


def test_notices_never_show_half_an_emoji() -> None:
    """Slack, Teams and Chatwork cut long values on clusters: the issue's 「👨‍👩‍…」 is gone."""
    lead = sample_lead(1, who=FAMILY * 120, challenge_text=FAMILY * 400, first_line=FLAG * 999)
    notice = sample_notice(lead)
    for rendered in (slack_message(notice), teams_message(notice)):
        text = json.dumps(rendered, ensure_ascii=False)
        _no_halves(text)
        assert "…" in text
    body = chatwork_body(notice)
    _no_halves(body)
    assert "…" in body


def test_line_labels_and_alt_text_keep_clusters() -> None:
    options = tuple(Option(f"{FAMILY}" * 4 + f"{i}", f"v{i}") for i in range(3))
    messages = render(
        [Choices("どれにしますか？", options)],
        case_link=lambda case_id: f"https://example.com/{case_id}",
        labels=Labels(read_story="事例を見る", cases_alt="導入事例："),
    )
    for item in messages[-1]["quickReply"]["items"]:
        label = item["action"]["label"]
        assert len(label) <= 20 and label == FAMILY * 2 + "…"
