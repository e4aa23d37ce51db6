"""Topic vocabulary: normalise free text and detect which challenges (課題) a lead writes about."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from autoreply.domain.analysis import Analysed, Analyser, PlainAnalyser, Token
from autoreply.errors import ConfigError, FlowError
from autoreply.yamlsource import Located, load_located

_Owner = TypeVar("_Owner")

__all__ = [
    "Occurrence",
    "Phrase",
    "PhraseIndex",
    "Topic",
    "TopicHit",
    "TopicSpec",
    "TopicVocabulary",
    "TopicsFile",
    "join_words",
    "normalize",
    "parse_topics",
    "topics_from_source",
    "words_of",
]

_WHITESPACE: Final = re.compile(r"\s+")
_TOPIC_ID: Final = r"^[a-z][a-z0-9_]*$"
_PUNCT: Final = "補助記号"
"""Analysed messages a vocabulary remembers (see :meth:`TopicVocabulary.analyse`)."""


def normalize(text: str) -> str:
    """Return ``text`` in the form every plain string comparison in the product uses.

    NFKC (full-width ASCII and half-width katakana become their ordinary forms),
    casefolded, runs of whitespace collapsed to one space, stripped. Topic and case
    matching compare the analyser's normalised token forms instead (see :class:`Phrase`).
    """
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def words_of(message: Analysed) -> tuple[Token, ...]:
    """The tokens phrases are matched against: all but punctuation and symbols."""
    return tuple(t for t in message.tokens if t.pos != _PUNCT)


def join_words(tokens: Sequence[Token]) -> str:
    """The lead's words again: Japanese tokens run together, English words spaced."""
    out = ""
    for token in tokens:
        if out and token.pos == "英語" and out[-1].isascii() and out[-1].isalnum():
            out += " "
        out += token.surface
    return out


@dataclass(frozen=True)
class Phrase:
    """A synonym or keyword analysed once, to be looked for in analysed messages.

    Rules: the phrase is analysed with the same analyser as the messages and matches
    a run of the message's tokens with the same normalised forms, in order (問合せ,
    問い合せ and 問い合わせ are one form; ``inquiries`` and ``inquiry`` one stem), so a
    one-character keyword (``人``) matches the word 人 and never the 人 of 人手. The
    last token of a phrase of two or more tokens may also be the start of the
    message's token (``対応が遅`` matches 対応が遅れて), Japanese only. Punctuation is
    ignored on both sides. An occurrence whose words a negation cue marks
    (「〜は不要」, "we don't need …") is *negated*: it is reported, not counted.
    """

    text: str
    norms: tuple[str, ...]
    last_surface: str
    prefix_last: bool

    @classmethod
    def compile(cls, text: str, analyser: Analyser) -> Phrase:
        """Analyse ``text``; raise ``ValueError`` if it has no word in it."""
        words = words_of(analyser.analyse(text))
        if not words:
            raise ValueError(f"phrase {text!r} has no word in it")
        last = words[-1]
        return cls(
            text.strip(),
            tuple(t.norm for t in words),
            last.surface,
            len(words) >= 2 and last.pos != "英語",
        )

    def matches_at(self, words: Sequence[Token], at: int) -> bool:
        """Whether the phrase's tokens are ``words[at:]``'s first tokens."""
        n = len(self.norms)
        if at + n > len(words):
            return False
        for offset in range(n - 1):
            if words[at + offset].norm != self.norms[offset]:
                return False
        last = words[at + n - 1]
        if last.norm == self.norms[-1]:
            return True
        return self.prefix_last and last.surface.startswith(self.last_surface)

    def find(self, message: Analysed) -> Occurrence[None] | None:
        """The phrase's first counted occurrence in ``message``, else its first negated one."""
        index = PhraseIndex[None]()
        index.add(self, None)
        found = index.find(message)
        counted = [o for o in found if not o.negated]
        return (counted or found)[0] if found else None


@dataclass(frozen=True)
class Occurrence(Generic[_Owner]):
    """A phrase found in a message: whose it is, the lead's words, and whether negated."""

    owner: _Owner
    phrase: Phrase
    words: str
    negated: bool
    start: int


class PhraseIndex(Generic[_Owner]):
    """Phrases by their first normalised form: finding all of them costs one dictionary
    look-up per token of the message, however many phrases there are."""

    def __init__(self) -> None:
        self._by_first: dict[str, list[tuple[Phrase, _Owner]]] = {}

    def add(self, phrase: Phrase, owner: _Owner) -> None:
        """Look for ``phrase`` on behalf of ``owner`` (a topic, a case...)."""
        self._by_first.setdefault(phrase.norms[0], []).append((phrase, owner))

    def find(self, message: Analysed) -> list[Occurrence[_Owner]]:
        """Every occurrence of every phrase in ``message``, in the message's order."""
        words = words_of(message)
        found: list[Occurrence[_Owner]] = []
        for at, token in enumerate(words):
            for phrase, owner in self._by_first.get(token.norm, ()):
                if phrase.matches_at(words, at):
                    span = words[at : at + len(phrase.norms)]
                    meaning = [t for t in span if t.content] or list(span)
                    negated = any(t.negated for t in meaning)
                    found.append(Occurrence(owner, phrase, join_words(span), negated, at))
        return found


@dataclass(frozen=True)
class Topic:
    """One challenge a lead may write about; ``label`` is the Japanese display label."""

    id: str
    label: str
    synonyms: tuple[str, ...]


@dataclass(frozen=True)
class TopicHit:
    """A topic found in a text: ``matched`` is the synonym found, ``words`` the lead's words
    there; ``negated`` when every occurrence was negated (skipped, see :class:`Phrase`)."""

    topic_id: str
    label: str
    matched: str
    words: str = ""
    negated: bool = False


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


def _phrases(topic: Topic, analyser: Analyser) -> tuple[tuple[Phrase, ...], list[tuple[int, str]]]:
    """A topic's synonyms analysed (duplicates after analysis dropped), and the unusable
    ones as (index, why)."""
    phrases: dict[tuple[str, ...], Phrase] = {}
    issues: list[tuple[int, str]] = []
    for index, synonym in enumerate(topic.synonyms):
        try:
            phrase = Phrase.compile(synonym, analyser)
        except ValueError as exc:
            issues.append((index, str(exc)))
            continue
        phrases.setdefault(phrase.norms, phrase)
    return tuple(phrases.values()), issues


def topics_from_source(src: Located, analyser: Analyser | None = None) -> TopicVocabulary:
    """Check and load a topics file; ``FlowError`` lists every problem as file:line:column.

    ``analyser`` defaults to :class:`PlainAnalyser` (enough to check the file); the
    product passes the SudachiPy analyser built in the composition root.
    """
    analyser = analyser or PlainAnalyser()
    spec = src.model(TopicsFile, "a topics file", "topics")
    topics = [
        Topic(id=topic_id, label=item.label, synonyms=tuple(item.synonyms))
        for topic_id, item in spec.topics.items()
    ]
    problems = [
        src.problem(("topics", topic.id, "synonyms", index), f"topic {topic.id!r}: {why}")
        for topic in topics
        for index, why in _phrases(topic, analyser)[1]
    ]
    if problems:
        raise FlowError(problems)
    return TopicVocabulary(topics, analyser=analyser, source=src.file)


def parse_topics(text: str, file: str, analyser: Analyser | None = None) -> TopicVocabulary:
    """Check and load a topics file from its text (see :func:`topics_from_source`)."""
    return topics_from_source(load_located(text, file), analyser)


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


class TopicVocabulary:
    """The topics the product knows, their synonyms analysed once for fast detection.

    ``analyser`` (default :class:`PlainAnalyser`) analyses the synonyms at load and the
    messages given as text; the product passes the SudachiPy analyser. Detection: a
    topic is found when one of its synonyms occurs in the message (see :class:`Phrase`)
    and not every occurrence is negated; a topic found only negated is *skipped*.
    """

    def __init__(
        self,
        topics: Sequence[Topic],
        *,
        analyser: Analyser | None = None,
        source: str = "<topics>",
    ) -> None:
        """Analyse ``topics``; raise ``ConfigError`` on a duplicate id or an unusable synonym."""
        self.analyser: Analyser = analyser or PlainAnalyser()
        self.topics: tuple[Topic, ...] = tuple(topics)
        self._by_id: dict[str, Topic] = {}
        self._order: dict[str, int] = {}
        self._index: PhraseIndex[Topic] = PhraseIndex()
        self.phrases: dict[str, tuple[Phrase, ...]] = {}
        for topic in self.topics:
            if topic.id in self._by_id:
                raise ConfigError(f"{source}: duplicate topic id {topic.id!r}")
            self._by_id[topic.id] = topic
            self._order[topic.id] = len(self._order)
            phrases, issues = _phrases(topic, self.analyser)
            if issues:
                raise ConfigError(f"{source}: topic {topic.id!r}: {issues[0][1]}")
            if not phrases:
                raise ConfigError(f"{source}: topic {topic.id!r} has no synonyms")
            self.phrases[topic.id] = phrases
            for phrase in phrases:
                self._index.add(phrase, topic)

    @classmethod
    def from_data(
        cls,
        data: Mapping[str, Any],
        *,
        analyser: Analyser | None = None,
        source: str = "<topics>",
    ) -> TopicVocabulary:
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
        return cls(topics, analyser=analyser, source=source)

    def get(self, topic_id: str) -> Topic | None:
        """Return the topic with this id, or ``None``."""
        return self._by_id.get(topic_id)

    def analyse(self, text: str | Analysed) -> Analysed:
        """``text`` analysed with the vocabulary's analyser (an analysed message as is).

        Callers analyse a message once and hand the result to :meth:`scan`, :meth:`detect`
        and ``CaseLibrary.match`` (the engine keeps one per turn); nothing is remembered here.
        """
        return text if isinstance(text, Analysed) else self.analyser.analyse(text)

    def scan(self, message: str | Analysed) -> tuple[list[TopicHit], list[TopicHit]]:
        """The topics found in ``message`` and the topics skipped (found only negated).

        Found topics come best first: found at more places first, then the
        earlier in the message, then the vocabulary's order; one hit per topic.
        """
        return self._scan(self.analyse(message))

    def _scan(self, analysed: Analysed) -> tuple[list[TopicHit], list[TopicHit]]:
        counted: dict[str, list[Occurrence[Topic]]] = {}
        negated: dict[str, Occurrence[Topic]] = {}
        for occurrence in self._index.find(analysed):
            topic_id = occurrence.owner.id
            if occurrence.negated:
                negated.setdefault(topic_id, occurrence)
            else:
                counted.setdefault(topic_id, []).append(occurrence)

        def rank(topic_id: str) -> tuple[int, int, int]:
            found = counted[topic_id]
            distinct = len({o.start for o in found})
            return (-distinct, found[0].start, self._order[topic_id])

        hits = [
            self._hit(counted[topic_id][0], negated=False) for topic_id in sorted(counted, key=rank)
        ]
        skipped = [
            self._hit(occurrence, negated=True)
            for topic_id, occurrence in negated.items()
            if topic_id not in counted
        ]
        return hits, skipped

    def detect(self, message: str | Analysed) -> list[TopicHit]:
        """Return the topics ``message`` talks about, best first (see :meth:`scan`).

        Empty or unrelated text, and topics the lead negates, give ``[]``.
        """
        return self.scan(message)[0]

    @staticmethod
    def _hit(occurrence: Occurrence[Topic], *, negated: bool) -> TopicHit:
        topic = occurrence.owner
        return TopicHit(
            topic_id=topic.id,
            label=topic.label,
            matched=occurrence.phrase.text,
            words=occurrence.words,
            negated=negated,
        )
