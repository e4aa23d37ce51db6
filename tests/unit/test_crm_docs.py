"""docs/crm.md stays true: its webhooks file passes the loader, its receiver accepts what
the product signs and refuses the rest, and every CSV column it lists exists."""

from __future__ import annotations

import json
import re
from typing import Any

from autoreply.channels.crm.sign import SIGNATURE_HEADER, headers
from autoreply.domain.crm_export import header
from autoreply.domain.webhooks import configured_webhooks, parse_webhooks
from tests.conftest import ROOT

DOC = (ROOT / "docs" / "crm.md").read_text(encoding="utf-8")


def block(language: str, after: str) -> str:
    found = re.search(rf"{re.escape(after)}.*?```{language}\n(.+?)\n```", DOC, re.S)
    assert found, f"no {language} block after {after!r}"
    return found.group(1)


def test_the_documented_webhooks_file_is_valid() -> None:
    text = block("yaml", "## Settings and the webhooks file")
    endpoints = parse_webhooks(text, "docs/crm.md")
    env = {e.secret_env: "x" * 32 for e in endpoints}
    hooks = configured_webhooks(None, None, endpoints, env)
    assert [h.name for h in hooks] == ["salesforce", "hubspot"]
    assert hooks[1].events is None and hooks[0].wants("meeting.no_show")


def test_the_documented_receiver_accepts_what_is_signed_and_nothing_else() -> None:
    code = block("python", "## Verifying a request")
    scope: dict[str, Any] = {}
    exec(compile(code, "docs/crm.md", "exec"), scope)
    secret = scope["SECRET"]
    body = json.dumps({"id": "e-1", "type": "lead.created"}).encode()
    import time

    now = int(time.time())
    signed = headers(secret, now, body, event_id="e-1", event_type="lead.created")
    assert scope["handle"](signed, body) == 204
    assert scope["handle"](signed, body) == 200  # the same event again: acknowledged
    assert scope["handle"](signed, body + b" ") == 401
    old = headers(secret, now - 301, body, event_id="e-1", event_type="lead.created")
    assert scope["handle"](old, body) == 401
    assert scope["handle"]({}, body) == 401
    assert scope["verify"](secret, signed[SIGNATURE_HEADER], body, now) == now


def test_the_documented_columns_are_the_csv_header_in_order() -> None:
    listed = " ".join(DOC.split("Columns: ", 1)[1].split("\n\n", 1)[0].split())
    at = 0
    for title in header():
        found = listed.find(title, at)
        assert found >= 0, f"{title} is not listed (in order) in docs/crm.md"
        at = found + len(title)
