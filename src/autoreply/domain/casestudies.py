"""Case studies (導入事例): a validated library and matching a lead's challenges to cases."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from autoreply.domain.topics import MIN_PHRASE_LENGTH, Phrase, TopicVocabulary, normalize
from autoreply.errors import ConfigError, FlowError
from autoreply.yamlsource import Located, Path_

__all__ = [
    "INDUSTRY_BOOST",
    "KEYWORD_WEIGHT",
    "MAIN_TOPIC_WEIGHT",
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

INDUSTRY_BOOST: Final = 15.0
"""Points added when the lead's industry matches the case's industry."""

_CASE_ID: Final = r"^[a-z0-9][a-z0-9_-]*$"
_URL: Final = r"^(https?://\S+|/([^/\s]\S*)?)$"
"""An absolute http(s) URL, or a path under the public URL (``/cases/<id>``, never ``//host``)."""
_JAPANESE: Final = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff66-\uff9f]")
_INDUSTRY_SEPARATORS: Final = re.compile(r"[・/、,()\s]+")


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
    """A case chosen for a lead: score 0-100 and the words that made it match."""

    case: CaseStudy
    score: float
    matched: tuple[str, ...]
    industry_boost: bool

    def explain(self, locale: str = "ja") -> str:
        """Say why the case matched, for the rep's handoff (``ja``, anything else is English).

        ``"一致: 人手不足, 問い合わせ対応 / 業種: 製造業"`` or
        ``"matched: 人手不足, 問い合わせ対応, industry: 製造業"``.
        """
        if locale.casefold().startswith("ja"):
            text = "一致: " + (", ".join(self.matched) or "なし")
            return text + f" / 業種: {self.case.industry}" if self.industry_boost else text
        text = "matched: " + (", ".join(self.matched) or "none")
        return text + f", industry: {self.case.industry}" if self.industry_boost else text


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
    cases: Sequence[CaseStudy], topic: Callable[[str], object | None] | None = None
) -> list[tuple[Path_, str]]:
    """What is wrong with these cases, as (data path in the file, why): a duplicate id, an
    unusable keyword and, given ``topic`` (a lookup by id), a topic it does not know."""
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
                Phrase.compile(keyword)
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
    """The case-study library of a file, checked against ``vocabulary`` (``FlowError``)."""
    return CaseLibrary(cases_from_source(src, vocabulary.get), vocabulary, source=src.file)


def _unique(words: Sequence[str]) -> tuple[str, ...]:
    """Drop words equal to an earlier one after normalisation, keeping the order."""
    seen: dict[str, str] = {}
    for word in words:
        seen.setdefault(normalize(word), word)
    return tuple(seen.values())


@dataclass(frozen=True)
class _Entry:
    case: CaseStudy
    keywords: tuple[Phrase, ...]
    industry_norm: str
    industry_parts: tuple[Phrase, ...]


class CaseLibrary:
    """The case studies the product may send, and how to pick the right ones for a lead.

    Scoring of :meth:`match`, for each case:

    * The lead's topics are the ``topics`` given (unknown ids are ignored) plus the
      topics ``vocabulary.detect(text)`` finds in the text.
    * ``t`` = topics the case shares with the lead; ``k`` = case keywords found in the
      normalised text (ASCII on word boundaries, up to three characters as an exact
      substring, longer ones also fuzzily with ``partial_ratio`` >= 88).
    * Evidence = ``100 * (1 - 0.5**t * 0.7**k)`` (a noisy OR): one shared topic gives 50
      (strong evidence, enough for the default ``min_score``), two 75; one keyword 30,
      two 51; a topic and a keyword 65. The case's first topic is its main theme: when
      it is shared it weighs 0.55 instead of 0.5 (55 alone, 77.5 with another topic).
      Evidence never reaches 100 on its own.
    * Industry boost: +15 when ``industry`` (normalised) names the case's industry or
      one of its parts (``IT`` or ``ソフトウェア`` for ``IT・ソフトウェア``), only for a
      case that already has evidence. The score is capped at 100 and rounded to 0.1.
    * Cases in ``exclude`` (already sent) are skipped; the rest with score >=
      ``min_score`` are returned best first, ties by case id, at most ``limit``.
    * ``matched`` lists the labels of the shared topics (in the case's topic order),
      then the keywords found (in the case's keyword order), without duplicates.
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
        self._by_id: dict[str, CaseStudy] = {}
        issues = case_issues(self.cases, vocabulary.get)
        if issues:
            raise ConfigError(f"{source}: {issues[0][1]}")
        entries: list[_Entry] = []
        for case in self.cases:
            self._by_id[case.id] = case
            keywords = tuple(Phrase.compile(keyword) for keyword in case.keywords)
            industry_norm = normalize(case.industry)
            parts = {industry_norm, *_INDUSTRY_SEPARATORS.split(industry_norm)}
            industry_parts = tuple(
                Phrase.compile(part) for part in sorted(parts) if len(part) >= MIN_PHRASE_LENGTH
            )
            entries.append(_Entry(case, keywords, industry_norm, industry_parts))
        self._entries: tuple[_Entry, ...] = tuple(entries)

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

    def with_urls(self, resolve: Callable[[str], str]) -> CaseLibrary:
        """The same library with every case's ``url`` passed through ``resolve``.

        The composition root makes relative URLs (``/cases/<id>``) absolute with it, so
        that every link handed to a lead works from a mail client or LINE.
        """
        cases = [replace(case, url=resolve(case.url)) for case in self.cases]
        return CaseLibrary(cases, self._vocabulary)

    def get(self, case_id: str) -> CaseStudy | None:
        """Return the case with this id, or ``None``."""
        return self._by_id.get(case_id)

    def match(
        self,
        text: str,
        *,
        topics: Sequence[str] = (),
        industry: str | None = None,
        limit: int = 3,
        min_score: float = 50.0,
        exclude: Collection[str] = (),
    ) -> list[CaseMatch]:
        """Return the cases best suited to a lead's challenges, best first (see the class doc).

        Never raises on the lead's input: empty or unrelated text (and no topics) gives ``[]``.
        """
        if limit <= 0:
            return []
        text_norm = normalize(text)
        wanted: dict[str, str] = {}
        for topic_id in topics:
            topic = self._vocabulary.get(topic_id)
            if topic is not None:
                wanted[topic.id] = topic.label
        for hit in self._vocabulary.detect(text):
            wanted[hit.topic_id] = hit.label
        if not wanted and len(text_norm) < MIN_PHRASE_LENGTH:
            return []
        industry_norm = normalize(industry) if industry else ""
        excluded = frozenset(exclude)
        results: list[CaseMatch] = []
        for entry in self._entries:
            if entry.case.id in excluded:
                continue
            shared = [wanted[t] for t in entry.case.topics if t in wanted]
            found = [kw.text for kw in entry.keywords if kw.find(text_norm) is not None]
            if not shared and not found:
                continue
            doubt = (1.0 - TOPIC_WEIGHT) ** len(shared) * (1.0 - KEYWORD_WEIGHT) ** len(found)
            if entry.case.topics and entry.case.topics[0] in wanted:
                doubt *= (1.0 - MAIN_TOPIC_WEIGHT) / (1.0 - TOPIC_WEIGHT)
            evidence = 100.0 * (1.0 - doubt)
            boost = bool(industry_norm) and self._industry_matches(entry, industry_norm)
            score = round(min(100.0, evidence + (INDUSTRY_BOOST if boost else 0.0)), 1)
            if score < min_score:
                continue
            results.append(CaseMatch(entry.case, score, _unique([*shared, *found]), boost))
        results.sort(key=lambda m: (-m.score, m.case.id))
        return results[:limit]

    @staticmethod
    def _industry_matches(entry: _Entry, industry_norm: str) -> bool:
        if len(industry_norm) >= MIN_PHRASE_LENGTH and industry_norm in entry.industry_norm:
            return True
        return any(part.find(industry_norm) is not None for part in entry.industry_parts)
