"""Global intents (a person, stop, start over) recognised fuzzily in any step."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Literal

from rapidfuzz import fuzz

from autoreply.domain.topics import normalize

__all__ = ["BUILTIN_PHRASES", "IntentMatcher", "IntentName"]

IntentName = Literal["human", "stop", "restart"]

#: Phrases every flow understands, in both languages; flows may add their own.
BUILTIN_PHRASES: Mapping[IntentName, tuple[str, ...]] = {
    "human": (
        "担当者と話したい",
        "担当者と話せますか",
        "担当の方と話したい",
        "人と話したい",
        "人間と話したい",
        "営業の方と話したい",
        "担当者につないで",
        "担当者に代わって",
        "オペレーター",
        "有人対応",
        "talk to a human",
        "talk to a person",
        "speak to a human",
        "speak to someone",
        "real person",
        "human please",
        "agent",
    ),
    "stop": (
        "配信停止",
        "配信を停止",
        "停止して",
        "ストップ",
        "もう連絡しないで",
        "連絡不要",
        "やめてください",
        "unsubscribe",
        "stop",
        "stop messaging me",
    ),
    "restart": ("最初から", "はじめから", "やり直し", "最初からやり直す", "start over", "restart"),
}

_PUNCT = re.compile(r"[\s。、，．・！？!?.,…~〜ー-]+$|^[\s。、，．・！？!?.,…]+")
THRESHOLD = 88.0
#: How much longer than a phrase a message may be and still be "about" it ("I want to ...").
_SLACK = 10


def _clean(text: str) -> str:
    return _PUNCT.sub("", normalize(text))


class IntentMatcher:
    """Match a message against intent phrases after NFKC normalisation.

    The whole message must be about the intent: a long message that merely contains
    a phrase (「営業担当者と話す時間がない」) is not a request for a person. Short phrases
    (3 characters or fewer) must match exactly.
    """

    def __init__(self, extra: Mapping[IntentName, Iterable[str]] | None = None) -> None:
        table: dict[IntentName, list[str]] = {k: list(v) for k, v in BUILTIN_PHRASES.items()}
        for name, phrases in (extra or {}).items():
            table[name].extend(phrases)
        self._phrases: list[tuple[IntentName, str]] = [
            (name, _clean(p)) for name, phrases in table.items() for p in phrases if _clean(p)
        ]

    def match(self, text: str) -> IntentName | None:
        """The intent this message expresses, or None."""
        message = _clean(text)
        if not message or len(message) > 40:
            return None
        best: tuple[float, IntentName | None] = (0.0, None)
        for name, phrase in self._phrases:
            if message == phrase:
                return name
            if len(phrase) <= 3 or len(message) <= 3:
                continue
            score = fuzz.ratio(message, phrase)
            if len(message) <= len(phrase) + _SLACK:
                score = max(score, fuzz.partial_ratio(phrase, message) - 2)
            if score > best[0]:
                best = (score, name)
        return best[1] if best[0] >= THRESHOLD else None
