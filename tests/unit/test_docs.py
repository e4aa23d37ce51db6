"""The README stays true: every setting with its default, and CI runs its test command."""

from __future__ import annotations

import re

from autoreply.config import Settings
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented_with_its_default() -> None:
    """Each Settings field has a README row `AUTOREPLY_NAME | default`."""
    for name, field in Settings.model_fields.items():
        row = re.search(rf"^\| `AUTOREPLY_{name.upper()}` \| `([^`]*)` \|", README, re.M)
        assert row, f"AUTOREPLY_{name.upper()} is not in the README table"
        default = "(unset)" if field.default is None else str(field.default)
        assert row.group(1) == default, name


def test_the_readme_has_two_quick_start_commands_and_ci_runs_the_test_one() -> None:
    """Quick start is exactly install+run and install+test; .ci/run calls the latter verbatim."""
    quick = README.split("## Quick start", 1)[1].split("## Commands", 1)[0]
    commands = re.findall(r"```sh\n(.+?)\n```", quick)
    assert commands[:2] == [
        "pip install -e . && autoreply serve",
        "pip install -e '.[test]' && pytest",
    ]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci.splitlines()
    assert "set -euo pipefail" in ci and "AUTOREPLY_TEST_REQUIRE_POSTGRES=1" in ci


def test_the_documented_flow_example_is_valid() -> None:
    """The complete example in docs/flows.md passes every check and runs to the end."""
    from autoreply.flows.loader import parse_flow

    doc = (ROOT / "docs" / "flows.md").read_text(encoding="utf-8")
    example = re.search(r"## A complete example\n\n```yaml\n(.+?)\n```", doc, re.S)
    assert example
    flow = parse_flow(example.group(1), "docs/flows.md", ROOT / "templates")
    assert flow.id == "night-ja" and len(flow.order) == 17
