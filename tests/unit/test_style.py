"""The style guide's forbidden variants (docs/style.md) appear in no shipped text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

GUIDE = ROOT / "docs" / "style.md"
ALLOW = "style: allow"
# What a lead types, not what we write: the parsers' vocabularies and the topic keywords.
LEADS_WORDS = {
    "src/autoreply/domain/timing.py",
    "src/autoreply/flows/intents.py",
    "src/autoreply/flows/answers.py",
    "src/autoreply/domain/topics.py",
    "src/autoreply/domain/leads.py",
    "src/autoreply/domain/analysis.py",
    "src/autoreply/text/sudachi.py",
    "flows/topics.yaml",
}
_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
_ROW = re.compile(r"^\|\s*`(?P<pattern>(?:[^`])+)`\s*\|\s*(?P<preferred>[^|]+?)\s*\|\s*$")


def forbidden(guide: str) -> list[tuple[re.Pattern[str], str]]:
    """The rows of the guide's "Forbidden variants" table: (pattern, preferred)."""
    section = guide.split("## Forbidden variants", 1)[1]
    rows = []
    for line in section.splitlines():
        found = _ROW.match(line)
        if found:
            pattern = found["pattern"].replace("\\|", "|")  # a | escaped for the table
            rows.append((re.compile(pattern), found["preferred"]))
    return rows


def shipped() -> list[Path]:
    """Every operator template and flow, and the product's Python (its Japanese strings)."""
    files = [p for p in (ROOT / "templates").rglob("*") if p.is_file()]
    files = [p for p in files if "rep" not in p.relative_to(ROOT / "templates").parts[:1]]
    files += sorted((ROOT / "flows").glob("*.yaml"))
    files += sorted((ROOT / "src" / "autoreply").rglob("*.py"))
    return [p for p in files if p.relative_to(ROOT).as_posix() not in LEADS_WORDS]


def offences(path: Path, rules: list[tuple[re.Pattern[str], str]], root: Path = ROOT) -> list[str]:
    """``file:line: 「found」 -> preferred`` for each forbidden variant in the file."""
    found = []
    python = path.suffix == ".py"
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if ALLOW in line or (python and not _JAPANESE.search(line)):
            continue
        for pattern, preferred in rules:
            for match in pattern.finditer(line):
                where = path.relative_to(root).as_posix()
                found.append(f"{where}:{number}: 「{match.group(0)}」 -> {preferred}")
    return found


def test_the_guide_lists_the_variants_the_issue_named() -> None:
    """The table is read, and it catches each variant of the issue (and not the preferred)."""
    rules = forbidden(GUIDE.read_text(encoding="utf-8"))
    assert len(rules) >= 8

    def caught(text: str) -> bool:
        return any(p.search(text) for p, _ in rules)

    for bad in (
        "こちらからキャンセルできます",
        "打ち合わせのご予約",
        "事例をお送りします",
        "ご連絡しました",
        "資料請求いただきありがとうございます",
        "会社名を教えていただけますか？",
        "御社の課題",
    ):
        assert caught(bad), bad
    for good in (
        "こちらからキャンセルいただけます",
        "お打ち合わせのご予約",
        "事例をお送りいたします",
        "ご連絡いたしました",
        "資料をご請求いただきありがとうございます",
        "貴社名を教えていただけますか？",
        "貴社の課題",
        "承知いたしました",
        "お待ちしております",
    ):
        assert not caught(good), good


def test_an_offending_line_is_named_by_file_and_line(tmp_path: Path) -> None:
    rules = forbidden(GUIDE.read_text(encoding="utf-8"))
    sample = tmp_path / "templates" / "probe.j2"
    sample.parent.mkdir()
    sample.write_text("ok です\n打ち合わせのご予約\n{# 打ち合わせ style: allow #}\n", "utf-8")
    assert offences(sample, rules, tmp_path) == [
        "templates/probe.j2:2: 「打ち合わせ」 -> お打ち合わせ"
    ]


@pytest.mark.parametrize("path", shipped(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_shipped_text_uses_a_forbidden_variant(path: Path) -> None:
    rules = forbidden(GUIDE.read_text(encoding="utf-8"))
    problems = offences(path, rules)
    assert not problems, "\n".join(problems)
