"""Case studies (導入事例): a validated library and matching a lead's challenges to cases."""

from __future__ import annotations

import copy
import math
import re
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from autoreply.domain.analysis import Analysed, Analyser, PlainAnalyser
from autoreply.domain.topics import Phrase, PhraseIndex, TopicVocabulary, normalize, words_of
from autoreply.errors import ConfigError, FlowError
from autoreply.yamlsource import Located, Path_

__all__ = [
    "BM25_B",
    "BM25_K1",
    "INDUSTRY_BOOST",
    "KEYWORD_WEIGHT",
    "MAIN_TOPIC_WEIGHT",
    "MIN_IDF_SHARE",
    "TEXT_WEIGHT",
    "TOPIC_WEIGHT",
    "CaseLibrary",
    "CaseMatch",
    "CaseSpec",
    "CaseStudy",
    "CasesFile",
    "case_issues",
    "cases_from_source",
    "library_from_source",
]

TOPIC_WEIGHT: Final = 0.5
"""Evidence one shared topic gives, as a share of the doubt that remains (noisy OR)."""

MAIN_TOPIC_WEIGHT: Final = 0.55
"""Evidence when the shared topic is the case's main theme (its first topic)."""

KEYWORD_WEIGHT: Final = 0.3
"""Evidence one case keyword found in the text gives, combined the same way."""

TEXT_WEIGHT: Final = 0.35
"""Evidence one unit of text relevance gives (a rare word of the lead's found in the
case's text counts up to one unit, see :class:`CaseLibrary`), combined the same way."""

BM25_K1: Final = 1.2
"""BM25 term-frequency saturation."""

BM25_B: Final = 0.75
"""BM25 length normalisation."""

MIN_IDF_SHARE: Final = 0.2
"""A word in so many cases that its idf is below this share of a rare word's is the
library's stop word: it gives no text relevance (and costs nothing to look up)."""

INDUSTRY_BOOST: Final = 15.0
"""Points added when the lead's industry matches the case's industry."""

_CASE_ID: Final = r"^[a-z0-9][a-z0-9_-]*$"
_URL: Final = r"^(https?://\S+|/([^/\s]\S*)?)$"
"""An absolute http(s) URL, or a path under the public URL (``/cases/<id>``, never ``//host``)."""
_JAPANESE: Final = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff66-\uff9f]")
_INDUSTRY_SEPARATORS: Final = re.compile(r"[・/、,()\s]+")
_MIN_INDUSTRY_PART: Final = 2


@dataclass(frozen=True)
class CaseStudy:
    """One published customer story; ``topics`` are topic ids of the vocabulary."""

    id: str
    title: str
    customer: str
    industry: str
    company_size: str
    topics: tuple[str, ...]
    keywords: tuple[str, ...]
    summary: str
    url: str

    @property
    def locale(self) -> str:
        """``ja`` when the story is written in Japanese (kana or kanji in it), else ``en``."""
        return "ja" if _JAPANESE.search(self.title + self.summary) else "en"


@dataclass(frozen=True)
class CaseMatch:
    """A case chosen for a lead: score 0-100, and why.

    ``topics`` are the labels of the topics the case shares with the lead, ``keywords``
    the case keywords found, ``words`` the lead's words found in the case's own text
    (title, summary, keywords, its topics' labels and synonyms; best first), ``skipped``
    the lead's words that would have counted for this case but were negated, and
    ``parts`` the score's parts in points (``topics``, ``keywords``, ``text`` evidence
    alone, ``industry`` boost). ``matched`` is topics, keywords and words together.
    """

    case: CaseStudy
    score: float
    matched: tuple[str, ...]
    industry_boost: bool
    topics: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    parts: Mapping[str, float] = field(default_factory=dict)

    def explain(self, locale: str = "ja") -> str:
        """Say why the case matched, for the rep (``ja``, anything else is English).

        ``"課題: 人手不足 / キーワード: 夜間 / 事例の内容: 見積, 翌朝 / 否定のため除外:
        コールセンター / 業種: 製造業"`` or ``"topics: 人手不足; keywords: 夜間; in the
        story: 見積, 翌朝; skipped (negated): コールセンター; industry: 製造業"``.
        """
        ja = locale.casefold().startswith("ja")
        sep, join = (" / ", "、") if ja else ("; ", ", ")
        names = (
            ("課題", "キーワード", "事例の内容", "否定のため除外", "業種")
            if ja
            else ("topics", "keywords", "in the story", "skipped (negated)", "industry")
        )
        said = [
            f"{name}: {join.join(values)}"
            for name, values in zip(
                names[:4], (self.topics, self.keywords, self.words, self.skipped), strict=True
            )
            if values
        ]
        if self.industry_boost:
            said.append(f"{names[4]}: {self.case.industry}")
        if not said:
            return "一致: なし" if ja else "matched: none"
        return sep.join(said)


_NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class CaseSpec(BaseModel):
    """One case study as written in the file (topics are ids of the topics file)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    id: Annotated[str, StringConstraints(pattern=_CASE_ID)]
    title: _NonEmpty
    customer: _NonEmpty
    industry: _NonEmpty
    company_size: _NonEmpty
    topics: list[_NonEmpty] = Field(min_length=1)
    keywords: list[_NonEmpty]
    summary: _NonEmpty
    url: Annotated[str, StringConstraints(strip_whitespace=True, pattern=_URL)]


class CasesFile(BaseModel):
    """A case-study file (``flows/casestudies.yaml``): the list of published cases."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    cases: list[CaseSpec]


def _describe(exc: ValidationError, data: Any) -> str:
    """List pydantic's problems, naming a case by its id when the data has one."""
    raw_cases = data.get("cases") if isinstance(data, Mapping) else None
    parts = []
    for error in exc.errors(include_url=False):
        loc = list(error["loc"])
        where = ".".join(str(part) for part in loc) or "(top level)"
        if len(loc) >= 2 and loc[0] == "cases" and isinstance(loc[1], int):
            where = f"cases[{loc[1]}]"
            if isinstance(raw_cases, list) and loc[1] < len(raw_cases):
                raw = raw_cases[loc[1]]
                if isinstance(raw, Mapping) and isinstance(raw.get("id"), str):
                    where += f" (case {raw['id']!r})"
            if len(loc) > 2:
                where += "." + ".".join(str(part) for part in loc[2:])
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def _cases(spec: CasesFile) -> tuple[CaseStudy, ...]:
    return tuple(
        CaseStudy(
            id=item.id,
            title=item.title,
            customer=item.customer,
            industry=item.industry,
            company_size=item.company_size,
            topics=tuple(dict.fromkeys(item.topics)),
            keywords=tuple(dict.fromkeys(item.keywords)),
            summary=item.summary,
            url=item.url,
        )
        for item in spec.cases
    )


def case_issues(
    cases: Sequence[CaseStudy],
    topic: Callable[[str], object | None] | None = None,
    analyser: Analyser | None = None,
) -> list[tuple[Path_, str]]:
    """What is wrong with these cases, as (data path in the file, why): a duplicate id, a
    keyword without a word in it and, given ``topic`` (a lookup by id), a topic it does
    not know."""
    analyser = analyser or PlainAnalyser()
    issues: list[tuple[Path_, str]] = []
    seen: set[str] = set()
    for index, case in enumerate(cases):
        here: Path_ = ("cases", index)
        if case.id in seen:
            issues.append(((*here, "id"), f"duplicate case id {case.id!r}"))
        seen.add(case.id)
        for position, topic_id in enumerate(case.topics):
            if topic is not None and topic(topic_id) is None:
                issues.append(
                    (
                        (*here, "topics", position),
                        f"case {case.id!r} refers to unknown topic {topic_id!r}",
                    )
                )
        for position, keyword in enumerate(case.keywords):
            try:
                Phrase.compile(keyword, analyser)
            except ValueError as exc:
                issues.append(((*here, "keywords", position), f"case {case.id!r}: keyword {exc}"))
    return issues


def cases_from_source(
    src: Located, topic: Callable[[str], object | None] | None = None
) -> tuple[CaseStudy, ...]:
    """Check a case-study file (and its topics, given ``topic``, a lookup by id); ``FlowError``
    lists every problem as file:line:column."""
    spec = src.model(CasesFile, "a case-study file", "cases")
    cases = _cases(spec)
    issues = case_issues(cases, topic)
    if issues:
        raise FlowError([src.problem(path, why) for path, why in issues])
    return cases


def library_from_source(src: Located, vocabulary: TopicVocabulary) -> CaseLibrary:
    """The case-study library of a file, checked against ``vocabulary`` (``FlowError``);
    keywords and texts are analysed with the vocabulary's analyser."""
    spec = src.model(CasesFile, "a case-study file", "cases")
    cases = _cases(spec)
    issues = case_issues(cases, vocabulary.get, vocabulary.analyser)
    if issues:
        raise FlowError([src.problem(path, why) for path, why in issues])
    return CaseLibrary(cases, vocabulary, source=src.file)


def _unique(words: Sequence[str]) -> tuple[str, ...]:
    """Drop words equal to an earlier one after normalisation, keeping the order."""
    seen: dict[str, str] = {}
    for word in words:
        seen.setdefault(normalize(word), word)
    return tuple(seen.values())


@dataclass(frozen=True)
class _Entry:
    case: CaseStudy
    industry_norm: str
    industry_parts: tuple[str, ...]
    terms: frozenset[str]


class CaseLibrary:
    """The case studies the product may send, and how to pick the right ones for a lead.

    Every text is analysed with the vocabulary's analyser (SudachiPy in the product):
    the lead's message once per call (or given already analysed), the cases at load.
    Scoring of :meth:`match`, for each case:

    * The lead's topics are the ``topics`` given (unknown ids are ignored) plus the
      topics the vocabulary finds in the message; topics found only negated
      (「コールセンターは不要」) do not count and are reported as skipped.
    * ``t`` = topics the case shares with the lead; ``k`` = case keywords found in the
      message, not negated (token sequences on normalised forms, see ``Phrase``).
    * ``x`` = text relevance: BM25 (k1 1.2, b 0.75) of the lead's content words (nouns,
      verbs, adjectives, English stems; negated words and repeats left out) against
      the case's document (title, summary, keywords, its topics' labels and synonyms).
      Each word's part is divided by its largest possible value (``idf`` of a word
      found in one case only, times ``k1 + 1``), so a rare word found once in a case of
      average length counts about 0.45 and no word more than 1: ``x`` does not grow
      with the size of the library.
    * Evidence = ``100 * (1 - 0.5**t * 0.7**k * 0.5**x)`` (a noisy OR): one shared topic
      gives 50 (strong evidence, enough for the default ``min_score``), two 75; one
      keyword 30, two 51; a topic and a keyword 65; text alone needs ``x >= 1``
      (about two rare words of the lead found in the case's story). The case's first
      topic is its main theme: when it is shared it weighs 0.55 instead of 0.5.
      Evidence never reaches 100 on its own.
    * Industry boost: +15 when ``industry`` (normalised) names the case's industry or
      one of its parts (``IT`` or ``ソフトウェア`` for ``IT・ソフトウェア``), only for a
      case that already has evidence. The score is capped at 100 and rounded to 0.1.
    * Cases in ``exclude`` (already sent) are skipped; the rest with score >=
      ``min_score`` are returned best first, ties by case id, at most ``limit``.

    ``min_score`` therefore means: 50 = one shared topic, or two keywords, or a keyword
    and some text, or text alone that is clearly about the case.
    """

    def __init__(
        self,
        cases: Sequence[CaseStudy],
        vocabulary: TopicVocabulary,
        *,
        source: str = "<casestudies>",
    ) -> None:
        """Index ``cases``; raise ``ConfigError`` on a duplicate id, unknown topic, bad keyword."""
        self.cases: tuple[CaseStudy, ...] = tuple(cases)
        self._vocabulary = vocabulary
        analyser = vocabulary.analyser
        self._by_id: dict[str, CaseStudy] = {}
        issues = case_issues(self.cases, vocabulary.get, analyser)
        if issues:
            raise ConfigError(f"{source}: {issues[0][1]}")
        self._keywords: PhraseIndex[int] = PhraseIndex()
        self._by_topic: dict[str, list[int]] = {}
        self._by_main: dict[str, list[int]] = {}
        self._position: dict[str, int] = {}
        entries: list[_Entry] = []
        documents: list[Counter[str]] = []
        for position, case in enumerate(self.cases):
            self._by_id[case.id] = case
            for keyword in case.keywords:
                self._keywords.add(Phrase.compile(keyword, analyser), position)
            self._position.setdefault(case.id, position)
            for topic_id in case.topics:
                self._by_topic.setdefault(topic_id, []).append(position)
            if case.topics:
                self._by_main.setdefault(case.topics[0], []).append(position)
            industry_norm = normalize(case.industry)
            parts = {industry_norm, *_INDUSTRY_SEPARATORS.split(industry_norm)}
            industry_parts = tuple(p for p in sorted(parts) if len(p) >= _MIN_INDUSTRY_PART)
            document = self._document(case)
            documents.append(document)
            entries.append(
                _Entry(
                    case,
                    industry_norm,
                    industry_parts,
                    frozenset(document),
                )
            )
        self._entries: tuple[_Entry, ...] = tuple(entries)
        self._postings = _bm25_postings(documents)
        self._weights: list[dict[str, float]] = [{} for _ in documents]
        for term, postings in self._postings.items():
            for position, weight in postings:
                self._weights[position][term] = weight

    def _document(self, case: CaseStudy) -> Counter[str]:
        """The case's words for text relevance (negation is ignored in the operator's text)."""
        texts = [case.title, case.summary, *case.keywords]
        analyser = self._vocabulary.analyser
        return Counter(
            token.norm for text in texts for token in analyser.analyse(text).tokens if token.content
        )

    @classmethod
    def from_data(
        cls,
        data: Mapping[str, Any],
        vocabulary: TopicVocabulary,
        *,
        source: str = "<casestudies>",
    ) -> CaseLibrary:
        """Build from parsed YAML (``{"cases": [...]}``), validated against ``vocabulary``.

        Raise ``ConfigError`` naming ``source`` (and the case) if the data is invalid,
        a case refers to an unknown topic, or two cases share an id.
        """
        try:
            spec = CasesFile.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"{source}: invalid case studies: {_describe(exc, data)}") from exc
        return cls(_cases(spec), vocabulary, source=source)

    @property
    def vocabulary(self) -> TopicVocabulary:
        """The topic vocabulary the cases refer to (and whose analyser they use)."""
        return self._vocabulary

    def with_urls(self, resolve: Callable[[str], str]) -> CaseLibrary:
        """The same library with every case's ``url`` passed through ``resolve``.

        The composition root makes relative URLs (``/cases/<id>``) absolute with it, so
        that every link handed to a lead works from a mail client or LINE.
        """
        resolved = copy.copy(self)  # the same index: nothing is analysed again
        resolved.cases = tuple(replace(case, url=resolve(case.url)) for case in self.cases)
        resolved._by_id = {case.id: case for case in resolved.cases}
        resolved._entries = tuple(
            replace(entry, case=case)
            for entry, case in zip(self._entries, resolved.cases, strict=True)
        )
        return resolved

    def get(self, case_id: str) -> CaseStudy | None:
        """Return the case with this id, or ``None``."""
        return self._by_id.get(case_id)

    def analyse(self, text: str | Analysed) -> Analysed:
        """``text`` analysed once, to hand to :meth:`match` and ``vocabulary.detect``."""
        return self._vocabulary.analyse(text)

    def match(
        self,
        text: str | Analysed,
        *,
        topics: Sequence[str] = (),
        industry: str | None = None,
        limit: int = 3,
        min_score: float = 50.0,
        exclude: Collection[str] = (),
    ) -> list[CaseMatch]:
        """Return the cases best suited to a lead's challenges, best first (see the class doc).

        ``text`` is the lead's message, or the same already analysed (tokenise once).
        Never raises on the lead's input: empty or unrelated text (and no topics) gives ``[]``.
        """
        if limit <= 0:
            return []
        message = self.analyse(text)
        wanted: dict[str, str] = {}
        for topic_id in topics:
            topic = self._vocabulary.get(topic_id)
            if topic is not None:
                wanted[topic.id] = topic.label
        found_topics, skipped_topics = self._vocabulary.scan(message)
        covered: set[int] = set()
        for hit in found_topics:
            wanted[hit.topic_id] = hit.label
        negated_topics = {h.topic_id: h.words for h in skipped_topics if h.topic_id not in wanted}
        keywords: dict[int, list[str]] = {}
        negated_keywords: dict[int, list[str]] = {}
        for occurrence in self._keywords.find(message):
            into = negated_keywords if occurrence.negated else keywords
            into.setdefault(occurrence.owner, []).append(occurrence.phrase.text)
            if not occurrence.negated:
                end = occurrence.start + len(occurrence.phrase.norms)
                covered.update(range(occurrence.start, end))
        text_units, surfaces = self._relevance(message, covered)
        negated_terms = {t.norm: t.surface for t in message.tokens if t.content and t.negated}

        industry_norm = normalize(industry) if industry else ""
        # Scores first (cheap, every candidate), the explanation for the few returned. A
        # case with text alone needs enough of it to reach min_score even with the boost.
        reach = 1.0 - (min_score - INDUSTRY_BOOST) / 100.0
        text_floor = math.log(reach) / math.log(1.0 - TEXT_WEIGHT) if 0.0 < reach < 1.0 else 0.0
        shared: Counter[int] = Counter()
        mains: set[int] = set()
        for topic_id in wanted:
            shared.update(self._by_topic.get(topic_id, ()))
            mains.update(self._by_main.get(topic_id, ()))
        candidates = set(keywords) | set(shared)
        candidates.update(p for p, units in text_units.items() if units >= text_floor)
        candidates.difference_update(self._position[i] for i in exclude if i in self._position)
        scored: list[tuple[float, str, int, float, float, float, bool]] = []
        main_share = (1.0 - MAIN_TOPIC_WEIGHT) / (1.0 - TOPIC_WEIGHT)
        keyword_base = 1.0 - KEYWORD_WEIGHT
        text_base = 1.0 - TEXT_WEIGHT
        topic_base = 1.0 - TOPIC_WEIGHT
        for position in candidates:
            topic_doubt = topic_base ** shared.get(position, 0)
            if position in mains:
                topic_doubt *= main_share
            found_keywords = keywords.get(position)
            keyword_doubt = keyword_base ** len(set(found_keywords)) if found_keywords else 1.0
            units = text_units.get(position)
            text_doubt = text_base**units if units else 1.0
            evidence = 100.0 * (1.0 - topic_doubt * keyword_doubt * text_doubt)
            if evidence <= 0.0 or evidence + INDUSTRY_BOOST < min_score:
                continue
            entry = self._entries[position]
            boost = bool(industry_norm) and self._industry_matches(entry, industry_norm)
            score = round(min(100.0, evidence + (INDUSTRY_BOOST if boost else 0.0)), 1)
            if score >= min_score:
                scored.append(
                    (-score, entry.case.id, position, topic_doubt, keyword_doubt, text_doubt, boost)
                )
        scored.sort()
        results: list[CaseMatch] = []
        for neg_score, _, position, topic_doubt, keyword_doubt, text_doubt, boost in scored[:limit]:
            entry = self._entries[position]
            case = entry.case
            shared_labels = [wanted[t] for t in case.topics if t in wanted]
            found = list(dict.fromkeys(keywords.get(position, ())))
            weights = self._weights[position]
            case_words = [
                surfaces[norm]
                for norm in sorted((n for n in surfaces if n in weights), key=lambda n: -weights[n])
            ][:5]
            skipped = [
                *(negated_topics[t] for t in case.topics if t in negated_topics),
                *negated_keywords.get(position, ()),
                *(surface for norm, surface in negated_terms.items() if norm in entry.terms),
            ]
            results.append(
                CaseMatch(
                    case,
                    -neg_score,
                    _unique([*shared_labels, *found, *case_words]),
                    boost,
                    topics=tuple(shared_labels),
                    keywords=tuple(found),
                    words=tuple(case_words),
                    skipped=_unique(skipped),
                    parts={
                        "topics": round(100.0 * (1.0 - topic_doubt), 1),
                        "keywords": round(100.0 * (1.0 - keyword_doubt), 1),
                        "text": round(100.0 * (1.0 - text_doubt), 1),
                        "text_units": round(text_units.get(position, 0.0), 2),
                        "industry": INDUSTRY_BOOST if boost else 0.0,
                    },
                )
            )
        return results

    def _relevance(
        self, message: Analysed, covered: set[int]
    ) -> tuple[dict[int, float], dict[str, str]]:
        """BM25 units per case, and the lead's scoring words (normalised form -> as written).

        Words already counted as a case keyword (``covered``, positions in the message's
        words) are left out, so that a keyword does not count twice.
        """
        surfaces: dict[str, str] = {}
        for at, token in enumerate(words_of(message)):
            if token.content and not token.negated and at not in covered and len(token.norm) > 1:
                surfaces.setdefault(token.norm, token.surface)
        units: dict[int, float] = {}
        for norm in list(surfaces):
            postings = self._postings.get(norm)
            if not postings:
                del surfaces[norm]
                continue
            for position, weight in postings:
                units[position] = units.get(position, 0.0) + weight
        return units, surfaces

    def _industry_matches(self, entry: _Entry, industry_norm: str) -> bool:
        if len(industry_norm) >= _MIN_INDUSTRY_PART and industry_norm in entry.industry_norm:
            return True
        return any(part in industry_norm for part in entry.industry_parts)


def _bm25_postings(documents: Sequence[Counter[str]]) -> dict[str, list[tuple[int, float]]]:
    """Term -> [(document, weight)], each weight BM25's part for that term, divided by its
    largest possible value (so in (0, 1]).

    Hand-written rather than ``rank_bm25``: that library scores every document for every
    query term (a dense array) and returns only totals, while matching needs the few
    documents a word is in, and each word's part, for the explanation.
    """
    count = len(documents)
    if not count:
        return {}
    average = sum(sum(d.values()) for d in documents) / count or 1.0
    frequency: Counter[str] = Counter()
    for document in documents:
        frequency.update(document.keys())
    best_idf = math.log(1.0 + (count - 0.5) / 1.5)
    postings: dict[str, list[tuple[int, float]]] = {}
    for position, document in enumerate(documents):
        length = sum(document.values())
        norm = BM25_K1 * (1.0 - BM25_B + BM25_B * length / average)
        for term, tf in document.items():
            n = frequency[term]
            share = math.log(1.0 + (count - n + 0.5) / (n + 0.5)) / best_idf
            if share < MIN_IDF_SHARE:
                continue
            part = share * tf / (tf + norm)
            postings.setdefault(term, []).append((position, part))
    return postings
