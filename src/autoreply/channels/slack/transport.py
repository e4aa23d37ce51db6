"""The Slack transport for the outbox: a notice posted to an incoming webhook.

A row's recipient is the webhook URL (``https://hooks.slack.com/services/…``) and its
payload ``{"notice": Notice.to_dict()}``. slack-sdk's ``AsyncWebhookClient`` posts it with
its own retries off: the outbox retries, with backoff that survives a restart. Slack
answers 200 ``ok``; 429 (with ``Retry-After``), 5xx, timeouts and connection trouble are
retried; 403 ``invalid_token``, 404 ``no_service``, 410 ``channel_is_archived`` and
other 4xx are final. A webhook has no idempotency key: a request that timed out after
Slack took it is posted again on the retry.
"""

from __future__ import annotations

import math
from datetime import datetime

import aiohttp
from slack_sdk.webhook.async_client import AsyncWebhookClient

from autoreply.channels.base import Channel
from autoreply.channels.delivery import (
    Answer,
    check,
    check_url,
    notice_of,
    retry_after,
    unreachable,
)
from autoreply.channels.slack.render import slack_message
from autoreply.store.outbox import OutboxItem

__all__ = ["SlackTransport", "slack_channel"]


class SlackTransport:
    """Sends ``slack`` outbox rows; ``timeout`` bounds each request (whole seconds, rounded
    up: the SDK's unit)."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout

    async def send(self, item: OutboxItem, now: datetime) -> None:
        message = slack_message(notice_of(item))
        check_url("slack", item.recipient)
        client = AsyncWebhookClient(
            url=item.recipient, timeout=max(1, math.ceil(self.timeout)), retry_handlers=[]
        )
        try:
            response = await client.send_dict(message)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise unreachable("slack", exc) from exc
        answer = Answer(response.status_code, response.headers, response.body or "")
        check("slack", answer, retry_after(answer.headers, now))


def slack_channel(timeout: float) -> Channel:
    """The Slack notification target: outbox rows of channel ``slack``, nothing pushed
    from a turn."""
    return Channel(name="slack", transport=SlackTransport(timeout), outgoing=None)
