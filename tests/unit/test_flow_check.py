"""The flow checker reports every operator mistake as ``file:line:column: problem``."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoreply.errors import FlowError
from autoreply.flows.loader import check_flow_file, load_flow, parse_flow
from tests.conftest import ROOT

HEAD = """\
flow: t
locale: ja
slots:
  timing: {type: timing}
  challenge: {type: text, topics: true}
intents:
  human: {say: 引き継ぎます, follow_up: false}
  stop: {say: 停止します}
  restart: {say: 最初から}
messages:
  after_end: ありがとうございました
steps:
"""

VALID_STEPS = """\
  greet:
    say: こんにちは
  ask_timing:
    ask: timing
    say: 時期は？
    choices:
      - {label: すぐ, value: within_1_month}
  done:
    end: true
"""


def _problems(steps: str, head: str = HEAD) -> list[str]:
    try:
        parse_flow(head + steps, "f.yaml")
    except FlowError as exc:
        return [str(p) for p in exc.problems]
    return []


def test_a_valid_flow_has_no_problems() -> None:
    """The minimal flow used as the base of every case below is itself fine."""
    assert _problems(VALID_STEPS) == []


CASES = [
    pytest.param(
        "  greet:\n    say: hi\n    colour: red\n  done:\n    end: true\n",
        "f.yaml:15:5: unknown key 'colour'",
        id="unknown-key",
    ),
    pytest.param(
        "  greet:\n    say: hi\n    next: nowhere\n  done:\n    end: true\n",
        "f.yaml:15:11: step 'nowhere' does not exist",
        id="missing-step",
    ),
    pytest.param(
        "  q:\n    ask: budget\n    say: 予算は？\n  done:\n    end: true\n",
        "f.yaml:14:10: slot 'budget' is not declared under 'slots'",
        id="missing-slot",
    ),
    pytest.param(
        "  greet:\n    say: '{{ slots.budget }}'\n  done:\n    end: true\n",
        "f.yaml:14:10: slot 'budget' is not declared under 'slots'",
        id="template-missing-slot",
    ),
    pytest.param(
        "  greet:\n    say: '{{ unknown_thing }}'\n  done:\n    end: true\n",
        "f.yaml:14:10: unknown name 'unknown_thing'",
        id="template-unknown-name",
    ),
    pytest.param(
        "  greet:\n    say: '{% if open_now %}x'\n  done:\n    end: true\n",
        "f.yaml:14:10: template syntax:",
        id="template-syntax",
    ),
    pytest.param(
        "  greet:\n    say: {template: nothere.j2}\n  done:\n    end: true\n",
        "f.yaml:14:21: template 'nothere.j2' not found",
        id="template-file-missing",
    ),
    pytest.param(
        "  greet:\n    say: hi\n    next: done\n"
        "  orphan:\n    say: never\n  done:\n    end: true\n",
        "f.yaml:16:3: step 'orphan' is unreachable",
        id="unreachable",
    ),
    pytest.param(
        "  a:\n    say: x\n  b:\n    goto: a\n",
        "f.yaml:13:3: loop that may never wait for the lead: a -> b -> a",
        id="loop-without-ask",
    ),
    pytest.param(
        "  a:\n    branch:\n      - if: score >\n        goto: done\n      - else: done\n"
        "  done:\n    end: true\n",
        "f.yaml:15:13: condition syntax:",
        id="condition-syntax",
    ),
    pytest.param(
        "  a:\n    branch:\n      - if: budget > 3\n        goto: done\n      - else: done\n"
        "  done:\n    end: true\n",
        "f.yaml:15:13: unknown name 'budget'",
        id="condition-unknown-name",
    ),
    pytest.param(
        "  a:\n    branch:\n      - if: tier == 'A'\n        goto: done\n  done:\n    end: true\n",
        "f.yaml:15:7: a branch needs a final 'else'",
        id="branch-without-else",
    ),
    pytest.param(
        "  q:\n    ask: timing\n    say: 時期は？\n    choices:\n"
        "      - {label: 一か月以内にぜひ導入したいと考えております, value: within_1_month}\n"
        "  done:\n    end: true\n",
        "f.yaml:17:17: choice label '一か月以内にぜひ導入したいと考えております' has 21 characters",
        id="label-too-long",
    ),
    pytest.param(
        "  q:\n    ask: challenge\n    say: 課題は？\n    choices:\n"
        + "".join(f"      - {{label: c{i}, value: v{i}}}\n" for i in range(14))
        + "  done:\n    end: true\n",
        "f.yaml:17:7: 14 choices (LINE shows at most 13)",
        id="too-many-choices",
    ),
    pytest.param(
        "  q:\n    ask: timing\n    say: 時期は？\n    choices:\n"
        "      - {label: すぐ, value: soon}\n  done:\n    end: true\n",
        "f.yaml:17:28: a timing choice value must be one of",
        id="timing-choice-value",
    ),
    pytest.param(
        "  q:\n    ask: challenge\n    say: x\n    confirm: y\n  done:\n    end: true\n",
        "f.yaml:16:14: 'confirm' is only for timing slots",
        id="confirm-on-a-text-slot",
    ),
    pytest.param(
        "  q:\n    ask: challenge\n    say: x\n    confirm_uncertain: false\n"
        "  done:\n    end: true\n",
        "f.yaml:16:24: 'confirm_uncertain' is only for timing slots",
        id="confirm-uncertain-on-a-text-slot",
    ),
    pytest.param(
        "  q:\n    ask: timing\n    say: x\n    confirm: '{{ nosuch }}'\n  done:\n    end: true\n",
        "f.yaml:16:14: unknown name 'nosuch'",
        id="confirm-template-unknown-name",
    ),
    pytest.param(
        "  q:\n    ask: timing\n    say: x\n    max_tries: 9\n  done:\n    end: true\n",
        "f.yaml:16:16: steps.q.max_tries: Input should be less than or equal to 5",
        id="out-of-range",
    ),
    pytest.param(
        "  q:\n    bogus: 1\n  done:\n    end: true\n",
        "f.yaml:14:5: steps.q: a step needs one of: ask, branch",
        id="no-step-kind",
    ),
    pytest.param(
        "  a:\n    ask: challenge\n    say: x\n    skip_if_known: true\n  b:\n    goto: a\n",
        "f.yaml:13:3: loop that may never wait for the lead: a -> b -> a",
        id="loop-through-skippable-question",
    ),
    pytest.param(
        "  a:\n    offer_slots: {}\n    say: x\n    decline_label: いいえ\n    on_decline: a\n",
        "f.yaml:13:3: loop that may never wait for the lead: a -> a",
        id="loop-through-slot-offer",
    ),
    pytest.param(
        "  greet:\n    say: '{% if slots.challenge is nosuchtest %}x{% endif %}'\n"
        "  done:\n    end: true\n",
        "f.yaml:14:10: unknown test 'nosuchtest'",
        id="unknown-jinja-test",
    ),
    pytest.param(
        "  greet:\n    say: |\n      こんにちは\n      {% if %}\n  done:\n    end: true\n",
        "f.yaml:16:10: template syntax:",
        id="template-syntax-in-block-scalar",
    ),
    pytest.param(
        "  a:\n    branch:\n      - if: tier == 'A'\n        goto: yes\n      - else: done\n"
        "  done:\n    end: true\n",
        "f.yaml:16:15: steps.a.branch.0.goto: Input should be a valid string",
        id="branch-goto-not-text",
    ),
    pytest.param(
        "  1:\n    say: hi\n  done:\n    end: true\n",
        "f.yaml:13:3: key '1' is not text: put it in quotes",
        id="numeric-step-name",
    ),
    pytest.param(
        "  greet:\n    say: hi\n",
        "f.yaml:13:3: step 'greet' is last but does not end",
        id="runs-off-the-end",
    ),
    pytest.param(
        "  greet:\n    say: hi\n  greet:\n    end: true\n",
        "f.yaml:15:3: duplicate key 'greet'",
        id="duplicate-step",
    ),
]


@pytest.mark.parametrize(("steps", "expected"), CASES)
def test_problem_is_reported_with_its_position(steps: str, expected: str) -> None:
    """Each mistake is reported once, pointing at the line and column where it is."""
    problems = _problems(steps)
    assert any(p.startswith(expected) for p in problems), problems


def test_a_branch_rule_error_names_only_that_rule() -> None:
    """A broken rule is not also told it lacks 'else' or that 'if' is unknown."""
    problems = _problems(
        "  a:\n    branch:\n      - if: tier == 'A'\n        goto: yes\n      - else: done\n"
        "  done:\n    end: true\n"
    )
    assert len(problems) == 1, problems


def test_slots_get_is_not_a_slot_name() -> None:
    """`slots.get('x')` reads a slot by name; 'get' is not reported as an undeclared slot."""
    assert (
        _problems("  greet:\n    say: \"{{ slots.get('challenge') }}\"\n  done:\n    end: true\n")
        == []
    )


def test_yaml_syntax_error_is_located() -> None:
    """Broken YAML names the file, line and column of the problem."""
    problems = _problems("  greet:\n    say: [unclosed\n  done:\n    end: true\n")
    assert problems and problems[0].startswith("f.yaml:15:") and "YAML syntax" in problems[0]


def test_missing_top_level_keys_are_named() -> None:
    """A flow without intents or steps says which keys are missing."""
    problems = _problems("", head="flow: t\nlocale: ja\n")
    assert "f.yaml:1:1: missing required key 'intents'" in problems
    assert "f.yaml:1:1: missing required key 'steps'" in problems


def test_all_problems_are_reported_at_once() -> None:
    """An operator sees every problem in one run, not one per run."""
    problems = _problems("  a:\n    say: x\n    extra: 1\n  done:\n    end: true\n    other: 2\n")
    assert len(problems) >= 2


def test_unreadable_and_empty_files(tmp_path: Path) -> None:
    """A missing or empty file is a located problem, not a crash."""
    missing = check_flow_file(tmp_path / "missing.yaml")
    assert missing and "cannot read" in missing[0].message
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    assert check_flow_file(empty)[0].message == "the file is empty"


def test_template_files_are_loaded_and_checked(tmp_path: Path) -> None:
    """``say: {template: ...}`` reads the templates folder and checks the file."""
    (tmp_path / "greet.j2").write_text("{{ next_opening | when }}に連絡します", encoding="utf-8")
    (tmp_path / "bad.j2").write_text("{% if %}", encoding="utf-8")
    good = HEAD + "  greet:\n    say: {template: greet.j2}\n  done:\n    end: true\n"
    flow = parse_flow(good, "f.yaml", tmp_path)
    assert flow.template("steps", "greet", "say") is not None
    bad = HEAD + "  greet:\n    say: {template: bad.j2}\n  done:\n    end: true\n"
    with pytest.raises(FlowError, match=r"template 'bad.j2' line 1"):
        parse_flow(bad, "f.yaml", tmp_path)


@pytest.mark.parametrize("name", ["demo.ja.yaml", "demo.en.yaml"])
def test_shipped_flows_are_valid(name: str) -> None:
    """The flows shipped in flows/ pass every check."""
    flow = load_flow(ROOT / "flows" / name, ROOT / "templates")
    assert flow.locale == name.split(".")[1]


PROMISING_HEAD = """\
flow: p
locale: ja
slots:
  email: {type: email}
  contact: {type: contact}
intents:
  human: {say: 引き継ぎます, goto: reach}
  stop: {say: 停止します}
  restart: {say: 最初から}
messages:
  after_end: ありがとうございました
steps:
"""

ASK_AND_PROMISE = """\
  greet:
    say: こんにちは
  reach:
    branch:
      - if: reachable
        goto: promise
      - else: ask_contact
  ask_contact:
    ask: contact
    say: ご連絡先は？
    choices:
      - {label: 伝えない, value: declined}
    free_text: true
    on_fail: honest
  promise:
    handoff: later
    say: ご連絡いたします
    next: done
  honest:
    handoff: later
    follow_up: false
    say: ご連絡はいたしかねます
  done:
    end: true
"""


def test_a_flow_that_asks_before_it_promises_passes() -> None:
    """Asking for a contact or checking ``reachable`` on every path is what the check wants."""
    assert _problems(ASK_AND_PROMISE, PROMISING_HEAD) == []


@pytest.mark.parametrize(
    ("steps", "head", "expected"),
    [
        pytest.param(
            "  greet:\n    say: こんにちは\n  reach:\n    handoff: later\n"
            "    say: ご連絡いたします\n  done:\n    end: true\n",
            PROMISING_HEAD,
            "f.yaml:16:14: handoff 'reach' promises a follow-up, but a path reaches it without "
            "asking for an email address or phone number",
            id="handoff-without-contact",
        ),
        pytest.param(
            ASK_AND_PROMISE.replace("      - if: reachable\n        goto: promise\n", "").replace(
                "      - else: ask_contact",
                "      - if: channel == 'line'\n        goto: promise\n      - else: ask_contact",
            ),
            PROMISING_HEAD,
            "f.yaml:28:14: handoff 'promise' promises a follow-up",
            id="a-branch-on-something-else-is-not-reachable",
        ),
        pytest.param(
            ASK_AND_PROMISE,
            PROMISING_HEAD.replace("goto: reach", "goto: done"),
            "f.yaml:7:30: after asking for a person, a path from 'done' ends without asking",
            id="human-goto-ends-without-contact",
        ),
        pytest.param(
            ASK_AND_PROMISE,
            PROMISING_HEAD.replace("{say: 引き継ぎます, goto: reach}", "{say: 引き継ぎます}"),
            "f.yaml:7:10: asking for a person promises a follow-up: add 'goto'",
            id="human-without-goto",
        ),
    ],
)
def test_promises_the_flow_cannot_keep_are_reported(steps: str, head: str, expected: str) -> None:
    """A handoff (or 担当者と話したい) reached with no way to reach the lead is reported at
    its line: the check fails the flows that promised 「ご連絡いたします」 without asking."""
    problems = _problems(steps, head)
    assert any(p.startswith(expected) for p in problems), problems


def test_a_held_slot_that_is_never_confirmed_is_reported() -> None:
    """An offer whose pick can reach the end without ``confirm_booking`` is reported."""
    offer = """\
  greet:
    say: こんにちは
  offer:
    offer_slots: {count: 3}
    say: ご都合は？
    decline_label: 予約しない
    on_decline: reach
  ask_email:
    ask: email
    say: メールアドレスは？
  booked:
    handoff: booked
    say: 承りました
    next: done
""" + ASK_AND_PROMISE.replace("  greet:\n    say: こんにちは\n", "")
    problems = _problems(offer, PROMISING_HEAD)
    assert any(p.startswith("f.yaml:16:18: a picked slot is only held") for p in problems), problems
    fixed = offer.replace(
        "    handoff: booked\n", "    handoff: booked\n    confirm_booking: true\n"
    )
    assert _problems(fixed, PROMISING_HEAD) == []
