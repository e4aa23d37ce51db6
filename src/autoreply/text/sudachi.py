"""The product's analyser: SudachiPy (Japanese) and Snowball (English) behind one Protocol."""

from __future__ import annotations

import re
import unicodedata
from typing import Final

import snowballstemmer
from sudachipy import Dictionary, SplitMode

from autoreply.domain.analysis import Analysed, Token, mark_negation

__all__ = ["CHUNK_CHARS", "MAX_CHARS", "SudachiAnalyser"]

MAX_CHARS: Final = 4_000
"""Characters of a message that are analysed; the rest is ignored (a lead's challenge is a
few lines; a pasted document must not cost seconds)."""

CHUNK_CHARS: Final = 2_000
"""Longest piece handed to Sudachi at once (it refuses input over ~49,000 bytes)."""

_CONTENT_POS: Final = frozenset({"名詞", "動詞", "形容詞", "形状詞"})
_FUNCTION_SUB: Final = frozenset({"非自立可能", "数詞", "助数詞可能"})
_RUNS: Final = re.compile(
    r"(?P<word>[a-z]+(?:'[a-z]+)?)|(?P<num>[0-9]+(?:[.,][0-9]+)*)|(?P<space>\s+)"
    r"|(?P<punct>[!-/:-@\[-`{-~])|(?P<other>[^\x00-\x7f]+)|(?P<ctrl>[\x00-\x7f])"
)
_SPLIT_AT: Final = re.compile(r"[。．.!?！？\n]")
# Snowball has no stop list; these English function words never make a match on their own.
_EN_STOP: Final = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "am",
        "do",
        "does",
        "did",
        "not",
        "no",
        "we",
        "our",
        "us",
        "i",
        "my",
        "me",
        "you",
        "your",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "there",
        "have",
        "has",
        "had",
        "can",
        "could",
        "will",
        "would",
        "should",
        "may",
        "might",
        "must",
        "so",
        "very",
        "too",
        "also",
        "just",
        "than",
        "then",
        "them",
        "they",
        "their",
        "he",
        "she",
        "his",
        "her",
        "what",
        "which",
        "who",
        "whom",
        "when",
        "where",
        "how",
        "all",
        "any",
        "some",
        "about",
        "into",
        "out",
        "up",
        "more",
        "most",
        "such",
        "only",
        "own",
        "same",
        "other",
        "each",
        "both",
        "few",
    ]
)
_CONTRACTIONS: Final = {"can't": ("can", "not"), "won't": ("will", "not"), "n't": ("not",)}


class SudachiAnalyser:
    """Tokenise with SudachiPy (mode A: the finest units, so that compounds match by
    their parts), take each morpheme's normalised form (問合せ -> 問い合わせ, ｴｸｾﾙ ->
    エクセル); English words are split out before Sudachi and stemmed with Snowball
    (inquiries / inquiry -> inquiri). Never raises: a message is cut to
    :data:`MAX_CHARS` and handed to Sudachi in pieces of at most :data:`CHUNK_CHARS`.

    Not thread-safe (one Sudachi tokenizer); the service runs turns on one event loop.
    """

    def __init__(self, dictionary: str = "core") -> None:
        """Load the dictionary (``sudachidict_<dictionary>``): do this once per process."""
        self._dictionary = Dictionary(dict=dictionary)
        self._tokenizer = self._dictionary.tokenizer(mode=SplitMode.A)
        self._stemmer = snowballstemmer.stemmer("english")
        self._stems: dict[str, str] = {}

    def analyse(self, text: str) -> Analysed:
        """Tokens of ``text`` with normalised forms, parts of speech and negation marks."""
        folded = unicodedata.normalize("NFKC", text[:MAX_CHARS]).replace("’", "'").casefold()
        tokens: list[Token] = []
        for found in _RUNS.finditer(folded):
            kind = found.lastgroup
            surface = found.group()
            if kind == "word":
                tokens.extend(self._english(surface))
            elif kind == "num":
                tokens.append(Token(surface, surface, "名詞", False))
            elif kind == "space":
                continue  # words are tokens already; a phrase matches across spaces
            elif kind == "punct":
                tokens.append(Token(surface, surface, "補助記号", False))
            elif kind == "other":
                tokens.extend(self._japanese(surface))
        return Analysed(text, mark_negation(tokens))

    def _english(self, word: str) -> list[Token]:
        parts: tuple[str, ...]
        if word in _CONTRACTIONS:
            parts = _CONTRACTIONS[word]
        elif word.endswith("n't"):
            parts = (word[:-3], "not")
        elif "'" in word:
            parts = (word.split("'", 1)[0],)
        else:
            parts = (word,)
        out = []
        for part in parts:
            stem = self._stems.get(part)
            if stem is None:
                stem = self._stemmer.stemWord(part)
                if len(self._stems) < 50_000:
                    self._stems[part] = stem
            out.append(Token(part, stem, "英語", part not in _EN_STOP))
        return out

    def _japanese(self, run: str) -> list[Token]:
        out: list[Token] = []
        for piece in _pieces(run):
            try:
                morphemes = self._tokenizer.tokenize(piece)
            except Exception:  # a lead's text must never break a turn
                out.append(Token(piece, piece, "名詞", True))
                continue
            for m in morphemes:
                pos = m.part_of_speech()
                surface = m.surface()
                if not surface or pos[0] == "空白":
                    continue
                content = (
                    pos[0] in _CONTENT_POS
                    and pos[1] not in _FUNCTION_SUB
                    and pos[2] not in _FUNCTION_SUB
                )
                out.append(Token(surface, m.normalized_form(), pos[0], content))
                if pos[0] == "助詞" and pos[1] == "接続助詞":
                    out[-1] = Token(surface, m.normalized_form(), "接続助詞", False)
        return out


def _pieces(run: str) -> list[str]:
    """``run`` in pieces of at most CHUNK_CHARS, cut after a sentence end where possible."""
    pieces = []
    while len(run) > CHUNK_CHARS:
        window = run[:CHUNK_CHARS]
        ends = [m.end() for m in _SPLIT_AT.finditer(window)]
        cut = ends[-1] if ends and ends[-1] > CHUNK_CHARS // 2 else CHUNK_CHARS
        pieces.append(run[:cut])
        run = run[cut:]
    if run:
        pieces.append(run)
    return pieces
