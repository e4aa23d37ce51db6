"""The command line, run as an operator runs it: a real process, real files, real database."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from autoreply.flows.kinds import kind_schema
from autoreply.flows.schema import flow_json_schema
from tests.conftest import ROOT, operator_env


def run(
    *args: str, cwd: Path, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m autoreply ARGS`` in ``cwd`` with a clean AUTOREPLY_* environment."""
    clean = operator_env(**(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "autoreply", *args],
        cwd=cwd,
        input=stdin,
        text=True,
        capture_output=True,
        env=clean,
        timeout=120,
        check=False,
    )


def test_flow_check_passes_the_shipped_flows(tmp_path: Path) -> None:
    """`flow check` on good files exits 0 and says so."""
    result = run(
        "flow",
        "check",
        str(ROOT / "flows" / "demo.ja.yaml"),
        str(ROOT / "flows" / "demo.en.yaml"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok") == 2


def test_flow_check_reports_problems_and_exits_1(tmp_path: Path) -> None:
    """`flow check` prints each problem as file:line:column and exits 1."""
    text = (ROOT / "flows" / "demo.ja.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        text.replace(
            "    on_decline: decline_contact\n", "    on_decline: nowhere\n    colour: red\n"
        ),
        encoding="utf-8",
    )
    result = run("flow", "check", str(broken), str(ROOT / "flows" / "demo.en.yaml"), cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(ln.startswith(f"{broken}:") and "unknown key 'colour'" in ln for ln in lines)
    assert lines[-1].endswith("demo.en.yaml: ok")


def test_flow_schema_is_published_and_current(tmp_path: Path) -> None:
    """`flow schema` prints the JSON Schema; docs/flow.schema.json is that same schema."""
    result = run("flow", "schema", cwd=tmp_path)
    assert result.returncode == 0
    printed = json.loads(result.stdout)
    assert printed == flow_json_schema()
    assert printed["properties"]["steps"]["additionalProperties"]
    committed = json.loads((ROOT / "docs" / "flow.schema.json").read_text(encoding="utf-8"))
    assert committed == printed, "run: autoreply flow schema > docs/flow.schema.json"


@pytest.mark.parametrize(
    ("kind", "key"),
    [
        ("casestudies", "cases"),
        ("topics", "topics"),
        ("forms", "forms"),
        ("routing", "routing"),
        ("cadence", "cadence"),
    ],
)
def test_every_kind_has_its_schema_published_current_and_named_by_its_files(
    tmp_path: Path, kind: str, key: str
) -> None:
    """`flow schema --kind K` prints docs/K.schema.json, and the shipped file points at it."""
    result = run("flow", "schema", "--kind", kind, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed == kind_schema(kind)
    assert printed["required"] == [key]
    committed = json.loads((ROOT / "docs" / f"{kind}.schema.json").read_text(encoding="utf-8"))
    assert committed == printed, (
        f"run: autoreply flow schema --kind {kind} > docs/{kind}.schema.json"
    )
    shipped = (ROOT / "flows" / f"{kind}.yaml").read_text(encoding="utf-8")
    assert shipped.startswith(f"# yaml-language-server: $schema=../docs/{kind}.schema.json\n")


def test_flow_check_of_the_shipped_folder_checks_every_file_by_its_kind(tmp_path: Path) -> None:
    """`flow check flows/` (and `check`) say ok for each shipped file and exit 0."""
    for command in (("flow", "check"), ("check",)):
        result = run(*command, str(ROOT / "flows"), cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        names = ["cadence", "casestudies", "demo.en", "demo.ja", "forms", "routing", "topics"]
        assert result.stdout.splitlines() == [f"{ROOT / 'flows' / n}.yaml: ok" for n in names]


def test_flow_check_of_a_folder_reports_every_problem_of_every_file(tmp_path: Path) -> None:
    """A broken topics file and a form naming an unknown flow: both reported, exit 1."""
    folder = tmp_path / "flows"
    folder.mkdir()
    for name in ("casestudies", "demo.ja", "demo.en", "topics", "forms"):
        text = (ROOT / "flows" / f"{name}.yaml").read_text(encoding="utf-8")
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    topics = folder / "topics.yaml"
    topics.write_text(
        topics.read_text(encoding="utf-8").replace(
            "    label: 人手不足\n", "    labels: 人手不足\n"
        ),
        encoding="utf-8",
    )
    forms = folder / "forms.yaml"
    forms.write_text(
        forms.read_text(encoding="utf-8").replace("    flow: demo-en\n", "    flow: demo-fr\n"),
        encoding="utf-8",
    )
    result = run("flow", "check", "flows", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert "flows/demo.ja.yaml: ok" in lines and "flows/casestudies.yaml: ok" in lines
    assert any(
        re.fullmatch(r"flows/topics\.yaml:\d+:5: unknown key 'labels'", line) for line in lines
    ), lines
    assert any(
        re.fullmatch(
            r"flows/forms\.yaml:\d+:11: form 'document-request-en': unknown flow 'demo-fr'", line
        )
        for line in lines
    ), lines


def test_chat_with_the_english_flow_starts_and_greets_in_english(tmp_path: Path) -> None:
    """`chat --flow flows/demo.en.yaml` starts (the forms' Japanese flow stays served)."""
    result = run("chat", "--flow", str(ROOT / "flows" / "demo.en.yaml"), cwd=tmp_path, stdin="")
    assert result.returncode == 0, result.stderr
    assert "bot> Thank you for getting in touch." in result.stdout
    assert "When are you planning to get started?" in result.stdout


def test_flow_graph_prints_mermaid(tmp_path: Path) -> None:
    """`flow graph` draws every step and the branch conditions."""
    result = run("flow", "graph", str(ROOT / "flows" / "demo.ja.yaml"), cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("flowchart TD")
    for step in ("s_greet", "s_ask_timing", "s_offer", "s_done", "-->|else|", "decline"):
        assert step in result.stdout


def test_casestudies_match_explains_itself(tmp_path: Path) -> None:
    """`casestudies match` shows the tokens, negated words, topics, ranked cases with their
    score parts, and why each matched."""
    result = run(
        "casestudies",
        "match",
        "Excelでの顧客管理が属人的になっている。チャットボットは不要です",
        "--industry",
        "製造業",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("tokens: excel で の 顧客 管理 が 属人 的")
    assert lines[1] == "negated: チャットボット"
    topics = next(line for line in lines if line.startswith("topics: "))
    assert "属人化 (属人的 ~ 属人的)" in topics
    assert "topics skipped (negated): 顧客対応・サポート (チャットボット)" in lines
    assert "1. [" in result.stdout and "score parts: topics" in result.stdout
    assert "課題: " in result.stdout


def test_timing_command_reads_japanese(tmp_path: Path) -> None:
    """`timing` shows how an answer is normalised."""
    result = run("timing", "来月中旬", "--at", "2026-11-21T23:00", "--json", cwd=tmp_path)
    data = json.loads(result.stdout)
    assert (data["start"], data["end"], data["bucket"]) == (
        "2026-12-11",
        "2026-12-20",
        "within_1_month",
    )
    assert data["steps"] and data["uncertain"] is False and data["waiting_for"] is None


def test_timing_command_shows_the_reasoning(tmp_path: Path) -> None:
    """Without --json, `timing` prints the reading, its bucket label and each step."""
    result = run("timing", "来月は厳しいので再来月以降で", "--at", "2026-11-21T23:00", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "ご本人の言葉: 「来月は厳しいので再来月以降で」"
    assert lines[1] == "読み取り: 2027年1月1日〜（3か月以内）"
    assert "  3. 『来月』は難しい（否定）→ この期間を除外" in lines
    assert "within_" not in result.stdout


def test_timing_command_says_when_it_is_unsure_and_what_the_lead_waits_for(tmp_path: Path) -> None:
    unsure = run("timing", "秋", "--at", "2026-11-21T23:00", cwd=tmp_path)
    both = "2026年11月21日〜2026年11月30日／2027年9月1日〜2027年11月30日"
    assert f"読み取りに迷いがあります（{both}）" in unsure.stdout
    assert "確認の質問: " in unsure.stdout
    waiting = run("timing", "予算が取れ次第", "--at", "2026-11-21T23:00", cwd=tmp_path)
    assert "読み取り: 未定" in waiting.stdout and "お待ちのこと: 予算の確保" in waiting.stdout
    english = run("timing", "Depends on budget approval", "--locale", "en", cwd=tmp_path)
    assert "reading: undecided" in english.stdout and "waiting for: budget" in english.stdout


BOOKING = (
    "\n".join(
        [
            "1",
            "夜間の問い合わせへの返信が遅れています",
            "1",
            "山田太郎",
            "株式会社サンプル",
            "taro@example.com",
        ]
    )
    + "\n"
)


def test_chat_holds_a_whole_conversation_and_prints_the_handoff(tmp_path: Path) -> None:
    """`chat` is a trial by default: the whole conversation and its handoff are printed, and
    nothing is left in ./var (no database, key, password or mail)."""
    result = run("chat", "--at", "2026-11-21T23:10", cwd=tmp_path, stdin=BOOKING)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("# trial chat: a throwaway database")
    assert "担当者の対応は11月24日(火) 9:00以降になります" in out
    assert "  1) 1か月以内" in out
    assert "===== 引き継ぎ（Tier A" in out
    assert "商談予約: 11月24日(火) 10:00" in out
    assert "最初の一言: 株式会社サンプル 山田太郎様" in out
    assert "# trial: 3 emails, not sent" in out
    assert "#   To: 山田太郎 <taro@example.com>  Subject: 【サンプル株式会社】" in out
    assert not (tmp_path / "var").exists()


async def _counts(url: str) -> dict[str, int]:
    """How many rows the tables a conversation writes hold."""
    from sqlalchemy import text

    from autoreply.store.db import create_engine

    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return {
                table: int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())
                for table in ("leads", "conversations", "handoffs", "bookings", "outbox")
            }
    finally:
        await engine.dispose()


async def test_a_trial_chat_leaves_the_configured_database_untouched(
    tmp_path: Path, migrated: str
) -> None:
    """A trial chat that books a slot and hands off adds no lead, handoff, booking or outbox
    row to AUTOREPLY_DATABASE_URL; `--live` (the operator's explicit choice) stores all of it."""
    env = {"AUTOREPLY_DATABASE_URL": migrated}
    before = await _counts(migrated)
    trial = run("chat", "--at", "2026-12-26T22:00", cwd=tmp_path, stdin=BOOKING, env=env)
    assert trial.returncode == 0, trial.stderr
    assert "商談予約: " in trial.stdout
    assert await _counts(migrated) == before

    live = run("chat", "--live", "--at", "2026-12-26T22:00", cwd=tmp_path, stdin=BOOKING, env=env)
    assert live.returncode == 0, live.stderr
    assert not live.stdout.startswith("# trial")
    after = await _counts(migrated)
    assert after["handoffs"] == after["bookings"] == 1
    assert after["outbox"] >= 1


def test_chat_database_option_stores_in_that_database(tmp_path: Path) -> None:
    """`--database URL` stores the conversation there, and nowhere else."""
    scratch = tmp_path / "scratch.db"
    result = run(
        "chat",
        "--database",
        f"sqlite+aiosqlite:///{scratch}",
        "--at",
        "2026-11-21T23:10",
        cwd=tmp_path,
        stdin="来年度\n",
    )
    assert result.returncode == 0, result.stderr
    assert scratch.exists() and not (tmp_path / "var" / "autoreply.db").exists()


def test_trial_chat_emails_never_reach_the_smtp_server(tmp_path: Path) -> None:
    """With an SMTP server configured, a trial's emails still go to files only (--mail-dir)."""
    from tests.mailserver import mail_server

    with mail_server() as smtp:
        env = {"AUTOREPLY_SMTP_HOST": "127.0.0.1", "AUTOREPLY_SMTP_PORT": str(smtp.port)}
        result = run(
            "chat",
            "--at",
            "2026-11-21T23:10",
            "--mail-dir",
            str(tmp_path / "mail"),
            cwd=tmp_path,
            stdin=BOOKING,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        assert smtp.recorder.received == []
    files = list((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 3
    assert f"# trial: 3 emails, written to {tmp_path / 'mail'}" in result.stdout


@pytest.mark.parametrize("value", ["2026-13-01", "saturday night", ""])
@pytest.mark.parametrize("command", ["chat", "timing 来月"])
def test_a_bad_at_is_a_one_line_usage_error(tmp_path: Path, command: str, value: str) -> None:
    """A moment that is no ISO date and time is refused argparse style (exit 2), naming the
    expected format, never with a traceback."""
    result = run(*command.split(), "--at", value, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    last = result.stderr.splitlines()[-1]
    assert last == (
        f"autoreply {command.split()[0]}: error: argument --at: "
        f"expected YYYY-MM-DDTHH:MM, e.g. 2026-11-21T23:10, got {value!r}"
    )
    assert result.stderr.startswith("usage: ")
    assert not (tmp_path / "var").exists()


def test_declining_the_meeting_at_1702_on_a_weekday_promises_the_owner(tmp_path: Path) -> None:
    """Inside business hours, with the demo rep on shift and emailed the notice at once, the
    promise names them and the SLA's minutes; never the current minute 「17:02以降」."""
    answers = "1\n夜間の問い合わせへの返信が遅れています\n7\ntaro@example.com\n"
    result = run("chat", "--at", "2026-12-02T17:02", cwd=tmp_path, stdin=answers)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "  7) 今回は予約しない" in out
    assert "メールアドレスまたはお電話番号を教えていただけますか" in out  # asked before promising
    assert (
        "bot> ありがとうございます。いただいた内容は担当のデモ担当 山田に引き継ぎ、"
        "5分以内にご連絡いたします。" in out
    )
    assert "To: demo-rep@example.com" in out  # and it is true: the owner was told at once
    assert "以降にご連絡" not in out and "17:02" not in out
    assert "理由: 予約なしで引き継ぎ" in out and "no_booking" not in out


def test_chat_end_of_input_hands_off_what_was_said(tmp_path: Path) -> None:
    """Leaving the chat halfway (end of input) still writes a handoff with the answers."""
    result = run("chat", "--at", "2026-11-21T23:10", cwd=tmp_path, stdin="来年度\n")
    assert result.returncode == 0, result.stderr
    assert "理由: 途中で離脱" in result.stdout and "abandoned" not in result.stdout
    assert "ご本人の言葉:「来年度」" in result.stdout


def test_db_upgrade_and_reps(tmp_path: Path) -> None:
    """`db upgrade` creates the database; `reps add` refuses bad and duplicate emails."""
    env = {"AUTOREPLY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}
    assert run("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    added = run(
        "reps",
        "add",
        "佐藤 次郎",
        "jiro@example.com",
        "--hours",
        "mon-fri 10:00-16:00",
        cwd=tmp_path,
        env=env,
    )
    assert added.returncode == 0, added.stderr
    again = run("reps", "add", "佐藤 次郎", "jiro@example.com", cwd=tmp_path, env=env)
    assert again.returncode == 1 and "already exists" in again.stderr
    bad = run("reps", "add", "x", "not-an-email", cwd=tmp_path, env=env)
    assert bad.returncode == 1 and "not an email address" in bad.stderr
    listed = run("reps", "list", cwd=tmp_path, env=env)
    assert "jiro@example.com\tmon-fri 10:00-16:00" in listed.stdout


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("AUTOREPLY_TIMEZONE", "Mars/Olympus", "AUTOREPLY_TIMEZONE: Value error, unknown timezone"),
        ("AUTOREPLY_BUSINESS_HOURS", "mon-fri 25:00-26:00", "AUTOREPLY_BUSINESS_HOURS: bad time"),
        ("AUTOREPLY_CLOSURES", "12-40..01-03", "AUTOREPLY_CLOSURES"),
        ("AUTOREPLY_SLOT_COUNT", "99", "AUTOREPLY_SLOT_COUNT"),
    ],
)
def test_bad_settings_are_clear_errors(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    """A wrong setting stops the command with a message that names it, not a traceback."""
    result = run("chat", cwd=tmp_path, env={variable: value})
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert message in result.stderr
