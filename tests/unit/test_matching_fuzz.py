"""Fuzz: the analyser, topic detection and case matching never raise on any text.

Next to the route fuzz test (tests/integration/test_fuzz.py): empty, huge, emoji,
control characters, lone surrogates, mixed scripts, and texts made of the vocabulary's
own words with negation cues around them.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoreply.bootstrap import build_analyser, load_library
from autoreply.domain.analysis import Analysed, PlainAnalyser
from autoreply.text import MAX_CHARS
from tests.conftest import make_settings

ANALYSER = build_analyser()
VOCABULARY, LIBRARY = load_library(make_settings(), ANALYSER)
WORDS = sorted(
    {s for t in VOCABULARY.topics for s in t.synonyms} | {"不要", "いらない", "no", "not"}
)
SCRIPTS = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\u200b",
        "\ufeff",
        "🙂",
        "👨‍👩‍👧",
        "\ud800",
        "ｱｲｳ",
        "ＡＢＣ",
        "。",
        "、",
        "n't",
        "ではない",
        "は不要",
        "\n",
        "\t",
        "a" * 50,
        "問合せ",
        "𠮷",
    ]
)
TEXTS = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec=None), max_size=300),
    st.lists(st.one_of(SCRIPTS, st.sampled_from(WORDS)), max_size=40).map("".join),
)
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(message: Analysed) -> None:
    assert all(t.norm and t.surface for t in message.tokens)
    hits, skipped = VOCABULARY.scan(message)
    assert not {h.topic_id for h in hits} & {h.topic_id for h in skipped}
    for match in LIBRARY.match(message, industry="製造業", limit=5, min_score=0):
        assert 0 < match.score <= 100
        assert match.explain() and match.explain("en")


@FUZZ
@given(TEXTS)
def test_the_analyser_and_the_matcher_never_raise(text: str) -> None:
    _check(ANALYSER.analyse(text))
    _check(LIBRARY.analyse(text))


@FUZZ
@given(TEXTS)
def test_the_plain_analyser_never_raises(text: str) -> None:
    assert isinstance(PlainAnalyser().analyse(text), Analysed)


def test_a_huge_message_is_analysed_up_to_the_cap_without_an_error() -> None:
    text = "夜間の問い合わせ対応が遅れています。" * 10_000  # ~180,000 characters, ~540 kB
    message = ANALYSER.analyse(text)
    assert sum(len(t.surface) for t in message.tokens) <= MAX_CHARS
    assert VOCABULARY.detect(message)
    assert LIBRARY.match(message)
    one_run = "あ" * 60_000  # one script run far over Sudachi's ~49,000-byte input limit
    assert ANALYSER.analyse(one_run).tokens
