"""An analysed message: the tokens a morphological analyser found, with negation marked.

Pure: the analyser itself (SudachiPy, see ``autoreply.text``) is built in the composition
root and handed in as an :class:`Analyser`. A message is analysed once and the same
:class:`Analysed` value is given to topic detection and case matching.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final, Protocol

__all__ = [
    "BOUNDARY_POS",
    "Analysed",
    "Analyser",
    "PlainAnalyser",
    "Token",
    "mark_negation",
]

BOUNDARY_POS: Final = frozenset({"補助記号", "接続詞"})
"""Parts of speech that end a clause (punctuation, conjunctions); negation never crosses one."""

_CONNECTIVE: Final = "接続助詞"
"""A connective particle (が, けど, ので, て) also ends a clause, unless a negation cue holds it."""

# Japanese cues, on normalised forms, that negate the clause before them:
# 〜は不要, 〜はいらない, 〜は必要ない, 〜ではない, 〜は問題ない, 〜には困っていない...
_JA_CUES: Final[tuple[tuple[str, ...], ...]] = (
    ("不要",),
    ("要る", "ない"),
    ("いる", "ない"),
    ("要る", "ます", "ず"),
    ("いる", "ます", "ず"),
    ("必要", "無い"),
    ("必要", "ない"),
    ("必要", "有る", "ない"),
    ("必要", "有る", "ます", "ず"),
    ("だ", "は", "無い"),
    ("だ", "は", "ない"),
    ("だ", "は", "有る", "ます", "ず"),
    ("じゃ", "無い"),
    ("じゃ", "ない"),
    ("問題", "無い"),
    ("問題", "ない"),
    ("問題", "有る", "ます", "ず"),
    ("困る", "て", "居る", "ない"),
    ("困る", "て", "居る", "ます", "ず"),
    ("困る", "ない"),
    ("困る", "ます", "ず"),
    ("足りる", "て", "居る"),
    ("間に合う", "て", "居る"),
    ("関係", "無い"),
    ("関係", "ない"),
)
_JA_WINDOW: Final = 6
"""How many tokens before a Japanese cue it can negate (within the clause)."""

# English cues, on lower-case surfaces: the words after them are negated ("we don't need
# a call centre", "no need for chatbots", "not interested in CRM") ...
_EN_FORWARD: Final[tuple[tuple[str, ...], ...]] = (
    ("not", "need"),
    ("not", "needed"),
    ("no", "need"),
    ("not", "interested"),
    ("not", "looking", "for"),
    ("never", "need"),
)
# ... or before them ("chatbots are not a problem", "CRM is fine", "no CRM needed").
_EN_BACKWARD: Final[tuple[tuple[str, ...], ...]] = (
    ("not", "a", "problem"),
    ("not", "an", "issue"),
    ("no", "problem"),
    ("is", "fine"),
    ("are", "fine"),
    ("not", "required"),
    ("not", "necessary"),
)
_EN_NO_ENDS: Final = frozenset({"needed", "required", "necessary", "thanks"})
_EN_WINDOW: Final = 5
_EN_CLAUSE_WORDS: Final = frozenset({"but", "and", "although", "though", "however"})


@dataclass(frozen=True, slots=True)
class Token:
    """One morpheme (or English word).

    ``norm`` is the normalised form matching compares (問合せ / 問い合せ -> 問い合わせ,
    an English word's stem); ``pos`` the part of speech (名詞, 動詞, 助詞, 補助記号...,
    ``英語`` for an English word); ``content`` whether it carries meaning (a noun, verb,
    adjective or English content word, not a particle or an auxiliary); ``negated``
    whether a negation cue of its clause says the lead does *not* have this problem.
    """

    surface: str
    norm: str
    pos: str
    content: bool
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Analysed:
    """A message analysed once: its text (as given) and its tokens in order."""

    text: str
    tokens: tuple[Token, ...]

    @property
    def empty(self) -> bool:
        """Whether the message has no token that carries meaning."""
        return not any(t.content for t in self.tokens)

    def terms(self) -> list[str]:
        """Normalised content words that are not negated, in order (duplicates kept)."""
        return [t.norm for t in self.tokens if t.content and not t.negated]

    def negated_words(self) -> tuple[str, ...]:
        """The negated words as the lead wrote them (a run of negated content tokens is
        one word: コール + センター -> コールセンター), without duplicates."""
        words: list[str] = []
        run = ""
        for token in (*self.tokens, None):
            if token is not None and token.content and token.negated:
                spaced = run and token.pos == "英語" and run[-1].isascii()
                run += (" " if spaced else "") + token.surface
                continue
            if run:
                words.append(run)
            run = ""
        return tuple(dict.fromkeys(words))


class Analyser(Protocol):
    """Turns a message into tokens; must never raise on any text (empty, huge, emoji...)."""

    def analyse(self, text: str) -> Analysed:
        """Tokenise ``text``, normalise each token and mark negation."""
        ...


def _by_first(cues: tuple[tuple[str, ...], ...]) -> dict[str, tuple[tuple[str, ...], ...]]:
    index: dict[str, list[tuple[str, ...]]] = {}
    for cue in cues:
        index.setdefault(cue[0], []).append(cue)
    return {first: tuple(found) for first, found in index.items()}


_JA_FIRST: Final = _by_first(_JA_CUES)
_EN_FORWARD_FIRST: Final = _by_first(_EN_FORWARD)
_EN_BACKWARD_FIRST: Final = _by_first(_EN_BACKWARD)


def _is_boundary(token: Token) -> bool:
    return token.pos in BOUNDARY_POS or (token.pos == "英語" and token.norm in _EN_CLAUSE_WORDS)


def _starts(seq: Sequence[str], at: int, cue: tuple[str, ...]) -> bool:
    return tuple(seq[at : at + len(cue)]) == cue


def mark_negation(tokens: Sequence[Token]) -> tuple[Token, ...]:
    """Mark the tokens a negation cue of their clause negates (see ``docs/content.md``).

    Japanese: a cue (不要, いらない, 必要ない, ではない, 問題ない, 困っていない...)
    negates up to six tokens before it, back to the start of its clause (punctuation,
    a conjunction or a connective particle such as が・ので・けど ends a clause). English:
    "don't need", "no need", "not interested (in)" negate up to five words after them,
    "… is fine", "… not a problem", "no … needed" up to five words before them, within
    the clause (punctuation, "but", "and" end it). A bare ない is not a cue:
    「人が足りない」「夜間の対応ができていない」 are problems, not negations.
    """
    if not tokens:
        return ()
    norms = [t.norm for t in tokens]
    lower = [t.surface.casefold() if t.pos == "英語" else t.norm for t in tokens]
    negated = [False] * len(tokens)
    cue_at: set[int] = set()  # the cue's own words carry no topic (不要, need...)
    for at, token in enumerate(tokens):
        if token.pos == "英語":
            for cue in _EN_FORWARD_FIRST.get(lower[at], ()):
                if _starts(lower, at, cue):
                    _mark(tokens, negated, range(at + len(cue), len(tokens)), _EN_WINDOW)
                    cue_at.update(range(at, at + len(cue)))
            if lower[at] == "no":
                _mark_no(tokens, lower, negated, at)
            for cue in _EN_BACKWARD_FIRST.get(lower[at], ()):
                if _starts(lower, at, cue):
                    _mark(tokens, negated, range(at - 1, -1, -1), _EN_WINDOW)
                    cue_at.update(range(at, at + len(cue)))
            continue
        for cue in _JA_FIRST.get(norms[at], ()):
            if _starts(norms, at, cue):
                _mark(tokens, negated, range(at - 1, -1, -1), _JA_WINDOW)
                cue_at.update(range(at, at + len(cue)))
                break
    return tuple(
        replace(t, negated=flag or t.negated, content=t.content and at not in cue_at)
        if (flag and not t.negated) or (at in cue_at and t.content)
        else t
        for at, (t, flag) in enumerate(zip(tokens, negated, strict=True))
    )


def _mark_no(tokens: Sequence[Token], lower: list[str], negated: list[bool], at: int) -> None:
    """``no X needed`` / ``no X required``: mark X when the end word follows in the clause."""
    for end in range(at + 1, min(len(tokens), at + 2 + _EN_WINDOW)):
        if _is_boundary(tokens[end]):
            return
        if lower[end] in _EN_NO_ENDS:
            for index in range(at + 1, end):
                negated[index] = tokens[index].pos != "空白"
            return


def _mark(tokens: Sequence[Token], negated: list[bool], order: range, window: int) -> None:
    seen = 0
    for index in order:
        token = tokens[index]
        if _is_boundary(token) or token.pos == _CONNECTIVE:
            return
        if token.pos == "空白":
            continue
        negated[index] = True
        seen += 1
        if seen >= window:
            return


_RUNS: Final = re.compile(
    r"(?P<word>[a-z]+)|(?P<num>[0-9]+)|(?P<space>\s+)"
    r"|(?P<kana>[\u3040-\u309f]+)|(?P<kata>[\u30a1-\u30fa\u30fc-\u30ff]+)|(?P<kanji>[\u3400-\u9fff]+)"
    r"|(?P<other>.)",
    re.DOTALL,
)
_PLAIN_POS: Final = {
    "word": "英語",
    "num": "名詞",
    "space": "空白",
    "kana": "助詞",
    "kata": "名詞",
    "kanji": "名詞",
}


class PlainAnalyser:
    """An analyser without a dictionary: NFKC, casefolded, split by script runs.

    For checking operator files (does a keyword have a word in it?) and as the
    pre-Sudachi baseline of ``bench/matching.py``; the product uses the SudachiPy
    analyser (``autoreply.text.SudachiAnalyser``) built in the composition root.
    """

    def analyse(self, text: str) -> Analysed:
        """Split ``text`` into runs of one script; punctuation and symbols end clauses."""
        folded = unicodedata.normalize("NFKC", text).casefold()
        tokens = []
        for found in _RUNS.finditer(folded):
            kind = found.lastgroup or "other"
            surface = found.group()
            if kind == "other":
                if not surface.isprintable() or surface.isspace():
                    continue
                pos = "補助記号"
            else:
                pos = _PLAIN_POS[kind]
            tokens.append(Token(surface, surface, pos, pos in ("名詞", "英語")))
        return Analysed(text, mark_negation(tokens))
