"""The CRM transport for the outbox: one event POSTed, signed, to its webhook.

A row (queued by ``service.events.emit``) has the recipient ``<webhook>:lead:<id>`` (one
ordered queue per lead and endpoint: the worker sends a lead's next event only after the
one before it is delivered or given up) and the payload ``{"webhook": name, "event":
body}``. The body is the event as compact UTF-8 JSON, the same bytes on every attempt
(the same event id); the signature header is made per attempt with a fresh timestamp over
exactly those bytes (``sign.py``).

2xx is delivered; 408, 429 (its ``Retry-After`` honoured), 5xx, timeouts and connection
trouble are retried with the outbox's backoff; any other answer (400, 401, 404, a 3xx: a
moved endpoint is not followed) is final, and the row shows as failed on
``/rep/notifications``. A row whose webhook is no longer configured is final too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from autoreply.channels.base import Channel
from autoreply.channels.crm.sign import headers
from autoreply.channels.delivery import check, post, retry_after
from autoreply.domain.crm_events import Webhook
from autoreply.errors import PermanentDeliveryError
from autoreply.store.outbox import OutboxItem

__all__ = ["CrmTransport", "body_of", "crm_channel"]

USER_AGENT = "autoreply-webhooks/1"


def body_of(event: Mapping[str, Any]) -> bytes:
    """The request body of an event: compact JSON, UTF-8 (Japanese as itself)."""
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class CrmTransport:
    """Sends ``crm`` outbox rows to the webhooks they name (by name, from the settings and
    the webhooks file); ``timeout`` bounds each request."""

    def __init__(self, webhooks: Iterable[Webhook], timeout: float = 10.0) -> None:
        self.webhooks = {w.name: w for w in webhooks}
        self.timeout = timeout

    async def send(self, item: OutboxItem, now: datetime) -> None:
        name = item.payload.get("webhook")
        event = item.payload.get("event")
        if not isinstance(event, Mapping) or not isinstance(event.get("id"), str):
            raise PermanentDeliveryError(f"crm: outbox row {item.id} holds no event")
        hook = self.webhooks.get(str(name))
        if hook is None:
            raise PermanentDeliveryError(f"crm: webhook {name!r} is no longer configured")
        body = body_of(event)
        signed = headers(
            hook.secret,
            int(now.timestamp()),
            body,
            event_id=event["id"],
            event_type=str(event.get("type", "")),
        )
        target = f"crm {hook.name}"
        answer = await post(
            target,
            hook.url,
            body,
            content_type="application/json; charset=utf-8",
            seconds=self.timeout,
            headers={**signed, "User-Agent": USER_AGENT},
        )
        check(target, answer, retry_after(answer.headers, now))


def crm_channel(webhooks: Iterable[Webhook], timeout: float) -> Channel:
    """The CRM webhooks: outbox rows of channel ``crm``, nothing pushed from a turn."""
    return Channel(name="crm", transport=CrmTransport(webhooks, timeout), outgoing=None)
