"""Topic and case matching at 1,000 case studies, and what it costs a chat turn.

    PYTHONPATH=src python bench/matching.py
    PYTHONPATH=src python bench/matching.py --cases 1000 --messages 300 --turns 200
    PYTHONPATH=src python bench/matching.py --old-rev c5ace8f   # the pre-Sudachi matcher

1. The analyser: SudachiPy's dictionary load time and the process's RSS before and after.
2. A library of ``--cases`` generated case studies (sentences of the shipped stories
   recombined, random keywords and topics) plus the shipped ones; ``--messages`` lead
   messages (the challenge table's texts and generated ones, Japanese and English).
   For each message, CPU time (``time.thread_time``: other processes on a shared
   machine do not count) of: tokenisation (``analyser.analyse``), matching
   (``vocabulary.detect`` + ``library.match`` on the analysed message), and both.
3. The chat turn that answers the challenge (topic detection + case recommendation) on
   the shipped content, CPU time per turn, in the same run: with the SudachiPy analyser
   (the product), with ``PlainAnalyser`` (no dictionary), and with the matcher of
   ``--old-rev`` loaded from git (the rapidfuzz string matcher before issue 14).

Prints one table. Exit status 0 (a benchmark never gates), 2 if it could not run.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.conftest import make_settings, tokyo  # noqa: E402
from tests.unit.test_challenge_table import ROWS  # noqa: E402

from autoreply.bootstrap import build_content  # noqa: E402
from autoreply.clock import FixedClock  # noqa: E402
from autoreply.domain.analysis import PlainAnalyser  # noqa: E402
from autoreply.domain.booking import RepAvailability  # noqa: E402
from autoreply.domain.casestudies import CaseLibrary, CaseStudy  # noqa: E402
from autoreply.domain.topics import TopicVocabulary  # noqa: E402
from autoreply.flows.turns import Context, Inbound, State  # noqa: E402
from autoreply.text import MAX_CHARS, SudachiAnalyser  # noqa: E402

TARGET_P99_MS = 5.0
NOW = tokyo(2026, 11, 21, 23, 10)


def rss_mb() -> float:
    """The process's resident set size now (Linux), in MB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / 1e6


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def generated_cases(shipped: CaseLibrary, count: int, rng: random.Random) -> list[CaseStudy]:
    """``count`` cases made of the shipped stories' sentences, keywords and topics."""
    sentences = [s + "。" for case in shipped.cases for s in case.summary.split("。") if s.strip()]
    titles = [case.title for case in shipped.cases]
    keywords = sorted({k for case in shipped.cases for k in case.keywords})
    topics = [t.id for t in shipped.vocabulary.topics]
    industries = sorted({case.industry for case in shipped.cases})
    cases = []
    for n in range(count):
        cases.append(
            CaseStudy(
                id=f"gen-{n:04d}",
                title=rng.choice(titles),
                customer=f"株式会社サンプル{n}",
                industry=rng.choice(industries),
                company_size="従業員100名",
                topics=tuple(rng.sample(topics, rng.randint(1, 3))),
                keywords=tuple(rng.sample(keywords, rng.randint(2, 6))),
                summary="".join(rng.sample(sentences, rng.randint(3, 5))),
                url=f"/cases/gen-{n:04d}",
            )
        )
    return cases


def messages(vocabulary: TopicVocabulary, count: int, rng: random.Random) -> list[str]:
    """The challenge table's texts, then generated ones up to ``count``."""
    texts = [row[0] for row in ROWS]
    synonyms = [s for topic in vocabulary.topics for s in topic.synonyms]
    openers = ["弊社では", "現在、", "営業部として", "正直なところ", "We find that ", ""]
    closers = [
        "が課題です。",
        "に困っています。",
        "をどうにかしたいです。",
        " is our problem.",
        "。",
    ]
    while len(texts) < count:
        words = "、".join(rng.sample(synonyms, rng.randint(1, 3)))
        filler = rng.choice(texts[: len(ROWS)])
        texts.append(rng.choice(openers) + words + rng.choice(closers) + filler)
    return texts[:count]


def old_matcher(rev: str, settings: Any) -> tuple[Any, Any] | None:
    """The vocabulary and library of the matcher at ``rev`` (from git), or None."""

    def source(path: str) -> str:
        return subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{rev}:{path}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    try:
        topics_src = source("src/autoreply/domain/topics.py")
        cases_src = source("src/autoreply/domain/casestudies.py")
    except (OSError, subprocess.CalledProcessError):
        return None
    topics_mod = types.ModuleType("old_topics")
    sys.modules["old_topics"] = topics_mod
    exec(compile(topics_src, "old_topics.py", "exec"), topics_mod.__dict__)
    cases_src = cases_src.replace("from autoreply.domain.topics import", "from old_topics import")
    cases_mod = types.ModuleType("old_casestudies")
    sys.modules["old_casestudies"] = cases_mod
    exec(compile(cases_src, "old_casestudies.py", "exec"), cases_mod.__dict__)
    from autoreply.yamlsource import load_located, read_source

    def located(name: str) -> Any:
        path = settings.path(name)
        return load_located(read_source(path), str(path))

    vocabulary = topics_mod.topics_from_source(located("topics"))
    library = cases_mod.library_from_source(located("casestudies"), vocabulary)

    class Vocabulary:  # what the engine asks of a vocabulary, on the old string API
        def analyse(self, text: str) -> str:
            return text

        def detect(self, text: str) -> Any:
            return vocabulary.detect(text)

    class Library:
        def analyse(self, text: str) -> str:
            return text

        def match(self, text: str, **kwargs: Any) -> Any:
            return library.match(text, **kwargs)

    return Vocabulary(), Library()


def turn_cpu_ms(content: Any, vocabulary: Any, library: Any, texts: list[str]) -> float:
    """CPU time per chat turn that answers the challenge (detect + recommend), in ms."""
    engine = content.engine()
    ctx = Context(
        now=NOW,
        calendar=content.calendar,
        library=library,
        vocabulary=vocabulary,
        reps=[RepAvailability("1")],
        slot_rules=content.rules,
    )
    state = engine.turn(State(), Inbound("start"), ctx).state
    state = engine.turn(state, Inbound("choice", value="within_1_month"), ctx).state
    assert state.step is not None
    for text in texts[:5]:  # warm-up
        engine.turn(state, Inbound("text", text=text), ctx)
    start = time.process_time()
    for text in texts:
        engine.turn(state, Inbound("text", text=text), ctx)
    return (time.process_time() - start) / len(texts) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--old-rev", default="c5ace8f")
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    before = rss_mb()
    started = time.perf_counter()
    analyser = SudachiAnalyser()
    analyser.analyse("辞書の読み込み")
    load_s = time.perf_counter() - started
    after = rss_mb()

    settings = make_settings()
    content = build_content(settings, FixedClock(NOW))
    shipped = content.library
    vocabulary = TopicVocabulary(shipped.vocabulary.topics, analyser=analyser)
    all_cases = [*shipped.cases, *generated_cases(shipped, args.cases, rng)]
    started = time.perf_counter()
    library = CaseLibrary(all_cases, vocabulary)
    index_s = time.perf_counter() - started
    texts = messages(vocabulary, args.messages, rng)

    tokenise, match, both = [], [], []
    clock = time.thread_time  # CPU time of this thread: other processes on a shared machine
    for text in texts:  # do not count (wall-clock figures include their scheduling)
        t0 = clock()
        message = analyser.analyse(text)
        t1 = clock()
        vocabulary.detect(message)
        library.match(message, limit=3)
        t2 = clock()
        tokenise.append((t1 - t0) * 1000)
        match.append((t2 - t1) * 1000)
        both.append((t2 - t0) * 1000)
    huge = "夜間の問い合わせ対応が遅れています。" * 5000
    t0 = time.perf_counter()
    library.match(huge)
    huge_ms = (time.perf_counter() - t0) * 1000

    turn_texts = [texts[i % len(texts)] for i in range(args.turns)]
    sudachi_vocabulary = content.vocabulary
    rows = [("SudachiPy (this branch)", sudachi_vocabulary, shipped)]
    plain_vocabulary = TopicVocabulary(shipped.vocabulary.topics, analyser=PlainAnalyser())
    plain_library = CaseLibrary(shipped.cases, plain_vocabulary)
    rows.append(("PlainAnalyser (no dictionary)", plain_vocabulary, plain_library))
    old = old_matcher(args.old_rev, settings)
    if old is not None:
        rows.append((f"old matcher ({args.old_rev}, rapidfuzz)", old[0], old[1]))

    print(f"## Matching at {len(all_cases)} case studies, {len(texts)} messages\n")
    print("| CPU per message (ms) | p50 | p95 | p99 | max |")
    print("|---|---:|---:|---:|---:|")
    for name, values in (("tokenisation", tokenise), ("matching", match), ("both", both)):
        p99 = percentile(values, 99)
        mark = f" ({'met' if p99 < TARGET_P99_MS else 'MISSED'})" if name == "both" else ""
        print(
            f"| {name} | {percentile(values, 50):.2f} | {percentile(values, 95):.2f} "
            f"| **{p99:.2f}**{mark} | {max(values):.2f} |"
        )
    print(f"\ntarget: p99 of both < {TARGET_P99_MS} ms")
    print(f"a {len(huge):,}-character message (analysed up to {MAX_CHARS:,}): {huge_ms:.1f} ms")
    print(f"index of {len(all_cases)} cases built in {index_s * 1000:.0f} ms")
    print(
        f"analyser load: {load_s * 1000:.0f} ms, RSS {before:.0f} MB -> {after:.0f} MB "
        f"(+{after - before:.0f} MB)\n"
    )
    print(f"## Chat turn answering the challenge (shipped content), {args.turns} turns\n")
    print("| matcher | CPU per turn (ms) |")
    print("|---|---:|")
    for name, vocab, lib in rows:
        print(f"| {name} | {turn_cpu_ms(content, vocab, lib, turn_texts):.2f} |")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, RuntimeError, AssertionError) as exc:
        print(f"could not run: {exc}", file=sys.stderr)
        sys.exit(2)
