"""Topic vocabulary: normalise free text and detect which challenges (課題) a lead writes about."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from rapidfuzz import fuzz

from autoreply.errors import ConfigError, FlowError
from autoreply.yamlsource import Located, load_located

__all__ = [
    "FUZZY_CUTOFF",
    "MIN_PHRASE_LENGTH",
    "Phrase",
    "Topic",
    "TopicHit",
    "TopicSpec",
    "TopicVocabulary",
    "TopicsFile",
    "normalize",
    "parse_topics",
    "topics_from_source",
]

FUZZY_CUTOFF: Final = 88.0
"""Lowest ``rapidfuzz`` score (0-100) for which a fuzzy phrase match counts."""

MIN_PHRASE_LENGTH: Final = 2
"""Shortest usable phrase, in characters after :func:`normalize`."""

_EXACT_ONLY_MAX_LENGTH: Final = 3
_WHITESPACE: Final = re.compile(r"\s+")
_TOPIC_ID: Final = r"^[a-z][a-z0-9_]*$"


def normalize(text: str) -> str:
    """Return ``text`` in the form every fuzzy comparison in the product uses.

    NFKC (full-width ASCII and half-width katakana become their ordinary forms),
    casefolded, runs of whitespace collapsed to one space, stripped.
    """
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


@dataclass(frozen=True)
class Phrase:
    """A synonym or keyword compiled once, to be looked for in normalised text many times.

    Rules: an ASCII phrase (English, ``CRM``) matches on ASCII word boundaries, an
    optional plural ``s``/``es`` allowed; a multi-word ASCII phrase may also match
    fuzzily. Any other phrase (Japanese, ``CRM連携``) matches as a substring; if it is
    longer than three characters it may also match fuzzily: ``partial_ratio`` finds
    the best place in the text, and the words there, from the phrase's first
    character to its last two, must score ``ratio`` >= the cutoff (88). Exact matches
    score 100.
    """

    text: str
    norm: str
    exact_only: bool
    _pattern: re.Pattern[str] | None = field(repr=False, compare=False)

    @classmethod
    def compile(cls, text: str) -> Phrase:
        """Compile ``text``; raise ``ValueError`` if it is shorter than two characters."""
        norm = normalize(text)
        if len(norm) < MIN_PHRASE_LENGTH:
            raise ValueError(f"phrase {text!r} is shorter than {MIN_PHRASE_LENGTH} characters")
        if norm.isascii():
            pattern = re.compile(rf"(?<![0-9a-z]){re.escape(norm)}(?:e?s)?(?![0-9a-z])")
            return cls(text.strip(), norm, " " not in norm, pattern)
        return cls(text.strip(), norm, len(norm) <= _EXACT_ONLY_MAX_LENGTH, None)

    def find_exact(self, text_norm: str) -> bool:
        """Tell whether the phrase occurs as such in ``text_norm`` (already normalised)."""
        if self._pattern is not None:
            return self._pattern.search(text_norm) is not None
        return self.norm in text_norm

    def find_fuzzy(self, text_norm: str, cutoff: float = FUZZY_CUTOFF) -> tuple[float, str] | None:
        """Return ``(score, words of the text that matched)`` for a fuzzy match, or ``None``."""
        if self.exact_only or not text_norm:
            return None
        if len(text_norm) < len(self.norm):
            # partial_ratio would look for the (shorter) text inside the phrase.
            return self._anchored(text_norm, cutoff)
        alignment = fuzz.partial_ratio_alignment(self.norm, text_norm, score_cutoff=cutoff)
        if alignment is None:
            return None
        slack = max(2, len(self.norm) // 4)
        start = max(0, alignment.dest_start - slack)
        return self._anchored(text_norm[start : alignment.dest_end + slack], cutoff)

    def _anchored(self, region: str, cutoff: float) -> tuple[float, str] | None:
        """Score the part of ``region`` from the phrase's first to its last two characters.

        Japanese often carries the meaning in one character near an end (返信が遅い /
        返信が早い), so a fuzzy match must begin and end like the phrase.
        """
        tail = self.norm[-2:]
        first = region.find(self.norm[0])
        last = region.rfind(tail)
        if first < 0 or last <= first:
            return None
        span = region[first : last + len(tail)]
        score = float(fuzz.ratio(self.norm, span, score_cutoff=cutoff))
        return (score, span) if score else None

    def find(self, text_norm: str, cutoff: float = FUZZY_CUTOFF) -> tuple[float, str] | None:
        """Return ``(score, matched words)``: 100 and the phrase if exact, else a fuzzy match."""
        if self.find_exact(text_norm):
            return 100.0, self.text
        return self.find_fuzzy(text_norm, cutoff)


@dataclass(frozen=True)
class Topic:
    """One challenge a lead may write about; ``label`` is the Japanese display label."""

    id: str
    label: str
    synonyms: tuple[str, ...]


@dataclass(frozen=True)
class TopicHit:
    """A topic found in a text; ``matched`` is the synonym (or the words of the text) found."""

    topic_id: str
    label: str
    matched: str
    score: float


_NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
_TopicId = Annotated[str, StringConstraints(pattern=_TOPIC_ID)]


class TopicSpec(BaseModel):
    """One topic: how the rep sees it, and the words that say a lead writes about it."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    label: _NonEmpty
    synonyms: list[_NonEmpty] = Field(min_length=1)


class TopicsFile(BaseModel):
    """A topics file (``flows/topics.yaml``): topic id -> label and synonyms."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    topics: dict[_TopicId, TopicSpec] = Field(min_length=1)


def _phrases(topic: Topic) -> tuple[tuple[Phrase, ...], list[tuple[int, str]]]:
    """A topic's synonyms compiled (duplicates after normalising dropped), and the
    unusable ones as (index, why)."""
    phrases: dict[str, Phrase] = {}
    issues: list[tuple[int, str]] = []
    for index, synonym in enumerate(topic.synonyms):
        try:
            phrase = Phrase.compile(synonym)
        except ValueError as exc:
            issues.append((index, str(exc)))
            continue
        phrases.setdefault(phrase.norm, phrase)
    return tuple(phrases.values()), issues


def topics_from_source(src: Located) -> TopicVocabulary:
    """Check and load a topics file; ``FlowError`` lists every problem as file:line:column."""
    spec = src.model(TopicsFile, "a topics file", "topics")
    topics = [
        Topic(id=topic_id, label=item.label, synonyms=tuple(item.synonyms))
        for topic_id, item in spec.topics.items()
    ]
    problems = [
        src.problem(("topics", topic.id, "synonyms", index), f"topic {topic.id!r}: {why}")
        for topic in topics
        for index, why in _phrases(topic)[1]
    ]
    if problems:
        raise FlowError(problems)
    return TopicVocabulary(topics, source=src.file)


def parse_topics(text: str, file: str) -> TopicVocabulary:
    """Check and load a topics file from its text (see :func:`topics_from_source`)."""
    return topics_from_source(load_located(text, file))


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


class TopicVocabulary:
    """The topics the product knows, with their synonyms compiled for fast detection."""

    def __init__(self, topics: Sequence[Topic], *, source: str = "<topics>") -> None:
        """Compile ``topics``; raise ``ConfigError`` on a duplicate id or an unusable synonym."""
        self.topics: tuple[Topic, ...] = tuple(topics)
        self._by_id: dict[str, Topic] = {}
        compiled: list[tuple[Topic, tuple[Phrase, ...]]] = []
        for topic in self.topics:
            if topic.id in self._by_id:
                raise ConfigError(f"{source}: duplicate topic id {topic.id!r}")
            self._by_id[topic.id] = topic
            phrases, issues = _phrases(topic)
            if issues:
                raise ConfigError(f"{source}: topic {topic.id!r}: {issues[0][1]}")
            if not phrases:
                raise ConfigError(f"{source}: topic {topic.id!r} has no synonyms")
            compiled.append((topic, phrases))
        self._compiled: tuple[tuple[Topic, tuple[Phrase, ...]], ...] = tuple(compiled)

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, source: str = "<topics>") -> TopicVocabulary:
        """Build from parsed YAML (``{"topics": {id: {"label", "synonyms"}}}``), validated.

        Raise ``ConfigError`` naming ``source`` and the problem if the data is invalid.
        """
        try:
            spec = TopicsFile.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"{source}: invalid topics: {_describe(exc)}") from exc
        topics = [
            Topic(id=topic_id, label=item.label, synonyms=tuple(item.synonyms))
            for topic_id, item in spec.topics.items()
        ]
        return cls(topics, source=source)

    def get(self, topic_id: str) -> Topic | None:
        """Return the topic with this id, or ``None``."""
        return self._by_id.get(topic_id)

    def detect(self, text: str) -> list[TopicHit]:
        """Return the topics ``text`` talks about, best first, at most one hit per topic.

        Exact synonym matches (score 100) are preferred over fuzzy ones; ties keep the
        vocabulary's order. Empty or unrelated text gives ``[]``.
        """
        text_norm = normalize(text)
        if len(text_norm) < MIN_PHRASE_LENGTH:
            return []
        ranked: list[tuple[float, int, TopicHit]] = []
        for index, (topic, phrases) in enumerate(self._compiled):
            found = self._best(phrases, text_norm)
            if found is not None:
                score, matched = found
                hit = TopicHit(topic_id=topic.id, label=topic.label, matched=matched, score=score)
                ranked.append((-score, index, hit))
        ranked.sort(key=lambda item: (item[0], item[1]))
        return [hit for _, _, hit in ranked]

    @staticmethod
    def _best(phrases: tuple[Phrase, ...], text_norm: str) -> tuple[float, str] | None:
        for phrase in phrases:
            if phrase.find_exact(text_norm):
                return 100.0, phrase.text
        best: tuple[float, str] | None = None
        for phrase in phrases:
            found = phrase.find_fuzzy(text_norm)
            if found is not None and (best is None or found[0] > best[0]):
                best = found
        return best
