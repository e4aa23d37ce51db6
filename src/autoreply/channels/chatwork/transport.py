"""The Chatwork transport for the outbox: a notice posted to a room with the REST API v2.

A row's recipient is the room id (digits) and its payload ``{"notice": Notice.to_dict()}``;
the message is ``POST {api_url}/v2/rooms/{room_id}/messages`` with the API token in
``X-ChatWorkToken`` and a form-encoded ``body`` (``channels.delivery.post``: a session
per request, nothing to close). 429 (Chatwork allows 300 requests in 5 minutes per token)
is retried after ``Retry-After`` or, without it, when ``x-ratelimit-reset`` (epoch
seconds) says the window opens again; 5xx and timeouts are retried too. 400, 401 (the
token), 403 (not a member of the room), 404 (no such room) and a room id that is not a
number are final.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlencode

from autoreply.channels.base import Channel
from autoreply.channels.chatwork.render import chatwork_body
from autoreply.channels.delivery import check, notice_of, post, retry_after
from autoreply.errors import ConfigError, PermanentDeliveryError
from autoreply.store.outbox import OutboxItem

__all__ = ["ChatworkTransport", "chatwork_channel", "rate_limit_wait"]


def rate_limit_wait(headers: Mapping[str, str], now: datetime) -> float | None:
    """How long Chatwork asked us to wait: ``Retry-After``, else until ``x-ratelimit-reset``
    (at least a second), else None (the outbox's own backoff)."""
    wait = retry_after(headers, now)
    if wait is not None:
        return wait
    try:
        reset = float(headers.get("x-ratelimit-reset") or "")
    except ValueError:
        return None
    return max(1.0, reset - now.timestamp())


class ChatworkTransport:
    """Sends ``chatwork`` outbox rows with one API token; ``timeout`` bounds each request."""

    def __init__(self, api_url: str, token: str, timeout: float = 10.0) -> None:
        if not token.strip():
            raise ConfigError("Chatwork needs an API token (AUTOREPLY_CHATWORK_API_TOKEN)")
        self.api_url = api_url.rstrip("/")
        self.token = token.strip()
        self.timeout = timeout

    async def send(self, item: OutboxItem, now: datetime) -> None:
        room = item.recipient.strip()
        if not (room.isascii() and room.isdigit()):
            raise PermanentDeliveryError(f"chatwork: the room id {room[:40]!r} is not a number")
        body = chatwork_body(notice_of(item))
        answer = await post(
            "chatwork",
            f"{self.api_url}/v2/rooms/{room}/messages",
            urlencode({"body": body, "self_unread": "0"}).encode(),
            content_type="application/x-www-form-urlencoded",
            headers={"X-ChatWorkToken": self.token},
            seconds=self.timeout,
        )
        check("chatwork", answer, rate_limit_wait(answer.headers, now))


def chatwork_channel(api_url: str, token: str, timeout: float) -> Channel:
    """The Chatwork notification target: outbox rows of channel ``chatwork`` (recipient:
    the room id), nothing pushed from a turn."""
    return Channel(
        name="chatwork", transport=ChatworkTransport(api_url, token, timeout), outgoing=None
    )
