"""The CRM webhooks file and the settings' endpoint: format, file:line errors, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoreply.domain.crm_events import Webhook
from autoreply.domain.webhooks import (
    check_url,
    configured_webhooks,
    load_webhooks,
    parse_webhooks,
    settings_webhook,
)
from autoreply.errors import ConfigError, FlowError
from autoreply.flows.kinds import check_files

GOOD = """\
webhooks:
  - name: salesforce
    url: https://example.my.salesforce-sites.com/services/apexrest/autoreply
    secret_env: SF_SECRET
    events: [lead.created, handoff.created, meeting.held]
  - name: local
    url: http://127.0.0.1:8080/hook
    secret_env: LOCAL_SECRET
"""
ENV = {"SF_SECRET": "s" * 32, "LOCAL_SECRET": "l" * 20}


def problems(text: str) -> list[str]:
    with pytest.raises(FlowError) as caught:
        parse_webhooks(text, "w.yaml")
    return [str(p) for p in caught.value.problems]


def test_a_good_file_loads_with_secrets_from_the_environment() -> None:
    endpoints = parse_webhooks(GOOD, "w.yaml")
    hooks = configured_webhooks("https://crm.example.com/in", "d" * 16, endpoints, ENV, "w.yaml")
    assert hooks == (
        Webhook("default", "https://crm.example.com/in", "d" * 16),
        Webhook(
            "salesforce",
            "https://example.my.salesforce-sites.com/services/apexrest/autoreply",
            "s" * 32,
            frozenset({"lead.created", "handoff.created", "meeting.held"}),
        ),
        Webhook("local", "http://127.0.0.1:8080/hook", "l" * 20),
    )
    assert hooks[1].wants("meeting.held") and not hooks[1].wants("meeting.booked")
    assert hooks[2].wants("meeting.booked")  # no events: all


def test_a_missing_file_is_no_webhooks(tmp_path: Path) -> None:
    assert load_webhooks(tmp_path / "webhooks.yaml") == ()
    assert configured_webhooks(None, None, (), {}) == ()


def test_problems_name_the_line_and_say_what_is_wrong() -> None:
    text = """\
webhooks:
  - name: Bad Name
    url: http://crm.example.com/hook
    secret_env: X
  - name: default
    url: https://ok.example.com
    secret_env: Y
    events: [lead.created, meeting.held_up]
  - name: dup
    url: ftp://files.example.com
    secret: inline-secret
  - name: dup
    url: https://ok.example.com
    secret_env: 1BAD
    events: []
"""
    found = problems(text)
    assert any(p.startswith("w.yaml:2:") and "name" in p for p in found), found
    assert any(p.startswith("w.yaml:3:") and "must be https" in p for p in found), found
    assert any(
        p.startswith("w.yaml:8:") and "'meeting.held_up' is not an event type" in p for p in found
    ), found
    assert any(p.startswith("w.yaml:10:") and "must be https" in p for p in found), found
    assert any(p.startswith("w.yaml:11:") and "secret" in p for p in found), found
    assert any(p.startswith("w.yaml:14:") and "secret_env" in p for p in found), found


def test_names_must_be_unique_and_not_default() -> None:
    text = """\
webhooks:
  - name: default
    url: https://a.example.com
    secret_env: A
  - name: hub
    url: https://b.example.com
    secret_env: B
  - name: hub
    url: https://c.example.com
    secret_env: C
    events: [lead.created, lead.created]
  - name: none
    url: https://d.example.com
    secret_env: D
    events: []
"""
    assert problems(text) == [
        "w.yaml:2:11: the name 'default' is the settings' webhook; choose another",
        "w.yaml:8:11: webhook name 'hub' is used twice",
        "w.yaml:11:13: event 'lead.created' is listed twice",
        "w.yaml:15:13: events is empty (omit it for all)",
    ]


def test_not_a_webhooks_file() -> None:
    assert problems("webhooks: {}\n")[0].startswith("w.yaml:1:")
    assert "webhooks" in problems("hooks: []\n")[0]


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://crm.example.com/hook", True),
        ("http://127.0.0.1:9000/x", True),
        ("http://127.8.9.1/x", True),
        ("http://[::1]:8080/x", True),
        ("http://localhost:8080/x", True),
        ("http://crm.example.com/hook", False),
        ("http://10.0.0.5/hook", False),
        ("ftp://crm.example.com", False),
        ("https://", False),
        ("crm.example.com/hook", False),
        ("https://crm.example.com/a b", False),
    ],
)
def test_https_or_plain_http_to_this_machine_only(url: str, ok: bool) -> None:
    assert (check_url(url) is None) is ok


def test_the_settings_endpoint_needs_a_good_url_and_a_secret() -> None:
    assert settings_webhook(None, None) is None
    assert settings_webhook("", "x" * 16) is None
    with pytest.raises(ConfigError, match="AUTOREPLY_CRM_WEBHOOK_SECRET is required"):
        settings_webhook("https://crm.example.com/in", None)
    with pytest.raises(ConfigError, match="at least 16 characters"):
        settings_webhook("https://crm.example.com/in", "short")
    with pytest.raises(ConfigError, match="AUTOREPLY_CRM_WEBHOOK_URL must be https"):
        settings_webhook("http://crm.example.com/in", "x" * 16)


def test_a_file_webhook_whose_secret_variable_is_unset_stops_the_start() -> None:
    endpoints = parse_webhooks(GOOD, "w.yaml")
    with pytest.raises(ConfigError) as caught:
        configured_webhooks(None, None, endpoints, {"SF_SECRET": "short"}, "w.yaml")
    assert str(caught.value).splitlines() == [
        "w.yaml: webhook 'salesforce': the secret in $SF_SECRET needs at least 16 characters",
        "w.yaml: webhook 'local': the secret in $LOCAL_SECRET is required",
    ]


def test_flow_check_knows_the_kind(tmp_path: Path) -> None:
    """``autoreply flow check`` checks a webhooks file by its top-level key."""
    good = tmp_path / "webhooks.yaml"
    good.write_text(GOOD, encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text("webhooks:\n  - name: x\n    url: http://example.com\n", encoding="utf-8")
    [checked_bad, checked_good] = check_files([bad, good])
    assert checked_good.kind is not None and checked_good.kind.name == "webhooks"
    assert checked_good.problems == []
    assert checked_bad.problems and all(p.file == str(bad) for p in checked_bad.problems)
    assert any("must be https" in p.message for p in checked_bad.problems)


def test_the_published_schema_is_current() -> None:
    """docs/webhooks.schema.json is ``autoreply flow schema --kind webhooks``."""
    import json

    from autoreply.flows.kinds import kind_schema
    from tests.conftest import ROOT

    committed = json.loads((ROOT / "docs" / "webhooks.schema.json").read_text(encoding="utf-8"))
    assert committed == kind_schema("webhooks"), (
        "run: autoreply flow schema --kind webhooks > docs/webhooks.schema.json"
    )
    assert committed["required"] == ["webhooks"]
