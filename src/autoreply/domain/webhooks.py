"""The CRM webhooks file (``flows/webhooks.yaml``, top-level key ``webhooks:``) and the
endpoint of the settings: where events go, with which secret, which events.

    webhooks:
      - name: salesforce
        url: https://example.my.salesforce-sites.com/services/apexrest/autoreply
        secret_env: AUTOREPLY_CRM_SALESFORCE_SECRET
        events: [lead.created, handoff.created, meeting.held]

A secret is never written in the file (files are committed): ``secret_env`` names the
environment variable holding it, read at start. A URL is https, or http to this machine
(127.0.0.1, ::1, localhost) for a receiver on the same host. ``events`` omitted: all.
The name ``default`` is the settings' endpoint (``AUTOREPLY_CRM_WEBHOOK_URL`` and
``AUTOREPLY_CRM_WEBHOOK_SECRET``). Problems are reported as file:line:column.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError

from autoreply.domain.crm_events import EVENT_TYPES, Webhook
from autoreply.errors import ConfigError, FlowError, FlowProblem
from autoreply.yamlsource import Located, load_located, read_source

__all__ = [
    "DEFAULT_NAME",
    "MIN_SECRET_LENGTH",
    "Endpoint",
    "WebhooksFile",
    "check_secret",
    "check_url",
    "configured_webhooks",
    "load_webhooks",
    "parse_webhooks",
    "settings_webhook",
    "webhooks_from_source",
]

DEFAULT_NAME = "default"
MIN_SECRET_LENGTH = 16
_NAME = r"^[a-z0-9][a-z0-9_-]{0,59}$"
_ENV = r"^[A-Za-z_][A-Za-z0-9_]*$"


def check_url(url: str) -> str | None:
    """Why ``url`` cannot be a webhook (None: it can): https, or http to loopback only."""
    parts = urlsplit(url)
    if any(c.isspace() for c in url) or not parts.netloc or not parts.hostname:
        return "is not an absolute URL"
    if parts.scheme == "https":
        return None
    if parts.scheme != "http":
        return "must be https (or http to this machine)"
    host = parts.hostname
    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return "must be https: plain http only to this machine (127.0.0.1, ::1, localhost)"


def check_secret(secret: str | None) -> str | None:
    """Why ``secret`` cannot sign webhooks (None: it can)."""
    if not secret or not secret.strip():
        return "is required"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"needs at least {MIN_SECRET_LENGTH} characters"
    return None


def _url(value: str) -> str:
    why = check_url(value)
    if why is not None:
        raise PydanticCustomError("webhook_url", "{value} " + why, {"value": repr(value)})
    return value


def _event(value: str) -> str:
    if value not in EVENT_TYPES:
        raise PydanticCustomError(
            "event_type",
            "{value} is not an event type (one of: {known})",
            {"value": repr(value), "known": ", ".join(EVENT_TYPES)},
        )
    return value


_Url = Annotated[
    str,
    AfterValidator(_url),
    WithJsonSchema({"type": "string", "pattern": r"^https?://\S+$", "format": "uri"}),
]
_Event = Annotated[
    str, AfterValidator(_event), WithJsonSchema({"type": "string", "enum": list(EVENT_TYPES)})
]


class Endpoint(BaseModel):
    """One CRM endpoint: its name (in the outbox and the logs), URL, the environment
    variable with its secret, and the events it wants (omitted: all)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, StringConstraints(pattern=_NAME)]
    url: _Url
    secret_env: Annotated[str, StringConstraints(pattern=_ENV)]
    events: tuple[_Event, ...] | None = None


class WebhooksFile(BaseModel):
    """A webhooks file (``flows/webhooks.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    webhooks: tuple[Endpoint, ...]


def webhooks_from_source(src: Located) -> tuple[Endpoint, ...]:
    """Check a webhooks file read with positions: the format, names unique and not
    ``default``, an event not named twice (``FlowError`` lists every problem)."""
    spec = src.model(WebhooksFile, "a webhooks file", "webhooks").webhooks
    problems: list[FlowProblem] = []
    seen: set[str] = set()
    for index, hook in enumerate(spec):
        where = ("webhooks", index, "name")
        if hook.name == DEFAULT_NAME:
            problems.append(
                src.problem(where, "the name 'default' is the settings' webhook; choose another")
            )
        elif hook.name in seen:
            problems.append(src.problem(where, f"webhook name {hook.name!r} is used twice"))
        seen.add(hook.name)
        if hook.events is not None and not hook.events:
            problems.append(
                src.problem(("webhooks", index, "events"), "events is empty (omit it for all)")
            )
        for twice in sorted({e for e in hook.events or () if (hook.events or ()).count(e) > 1}):
            problems.append(
                src.problem(("webhooks", index, "events"), f"event {twice!r} is listed twice")
            )
    if problems:
        raise FlowError(problems)
    return spec


def parse_webhooks(text: str, file: str) -> tuple[Endpoint, ...]:
    """Check and load a webhooks file's text."""
    return webhooks_from_source(load_located(text, file))


def load_webhooks(path: Path) -> tuple[Endpoint, ...]:
    """A webhooks file; a missing file is none at all."""
    if not path.exists():
        return ()
    return parse_webhooks(read_source(path), str(path))


def settings_webhook(url: str | None, secret: str | None) -> Webhook | None:
    """The settings' endpoint ``default`` (None without a URL); ``ConfigError`` naming the
    setting when the URL or secret will not do."""
    if not url:
        return None
    why = check_url(url)
    if why is not None:
        raise ConfigError(f"setting AUTOREPLY_CRM_WEBHOOK_URL {why}")
    why = check_secret(secret)
    if why is not None:
        raise ConfigError(f"setting AUTOREPLY_CRM_WEBHOOK_SECRET {why} with a webhook URL")
    return Webhook(DEFAULT_NAME, url, str(secret))


def configured_webhooks(
    url: str | None,
    secret: str | None,
    endpoints: tuple[Endpoint, ...],
    env: Mapping[str, str],
    file: str = "",
) -> tuple[Webhook, ...]:
    """Every webhook: the settings' ``default`` first, then the file's in order, each with
    its secret from ``env``; ``ConfigError`` for a secret that is not set."""
    hooks: list[Webhook] = []
    default = settings_webhook(url, secret)
    if default is not None:
        hooks.append(default)
    problems = []
    for endpoint in endpoints:
        value = env.get(endpoint.secret_env)
        why = check_secret(value)
        if why is not None:
            problems.append(
                f"{file}: webhook {endpoint.name!r}: the secret in ${endpoint.secret_env} {why}"
            )
            continue
        events = frozenset(endpoint.events) if endpoint.events is not None else None
        hooks.append(Webhook(endpoint.name, endpoint.url, str(value), events))
    if problems:
        raise ConfigError("\n".join(problems))
    return tuple(hooks)
