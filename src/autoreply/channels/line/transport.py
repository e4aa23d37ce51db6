"""The LINE transport for the outbox: reply with the event's token while it is fresh, else push.

One outbox row is one Messaging API request (at most five messages; the service splits a
turn's replies that way). The first attempt of a row with a fresh reply token replies;
an answer of 400 (the token is used or expired) falls back to a push at once. Every push
carries an ``X-Line-Retry-Key`` derived from the row, so a push retried after a timeout or
a 5xx is executed once by LINE (a repeat answers 409, which means it was accepted). 429
and 5xx are temporary (the outbox retries with backoff); any other 4xx is final.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import aiohttp
from linebot.v3.messaging import (
    ApiException,
    AsyncMessagingApi,
    Message,
    PushMessageRequest,
    ReplyMessageRequest,
)

from autoreply.errors import PermanentDeliveryError, TemporaryDeliveryError
from autoreply.store.outbox import OutboxItem

__all__ = ["LineTransport", "retry_key"]

log = logging.getLogger(__name__)
_KEYS = uuid.UUID("8f1d5f8e-5a0b-4b7e-9d4c-6a2f3c1e7b90")  # namespace of our retry keys
REQUEST_TIMEOUT = 10.0


def retry_key(item: OutboxItem) -> str:
    """The same UUID for every attempt of one row (and a different one for every row)."""
    return str(uuid.uuid5(_KEYS, item.dedupe_key))


def _messages(payload: Mapping[str, Any]) -> list[Message]:
    return [Message.from_dict(m) for m in payload.get("messages", [])]


def _retry_after(exc: ApiException) -> float | None:
    headers = exc.headers or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class LineTransport:
    """Sends outbox rows of the ``line`` channel with line-bot-sdk's async client."""

    def __init__(self, api: AsyncMessagingApi, *, reply_token_seconds: float = 50) -> None:
        self.api = api
        self.reply_token_seconds = reply_token_seconds

    async def send(self, item: OutboxItem, now: datetime) -> None:
        messages = _messages(item.payload)
        if not messages:
            return
        if self._fresh_token(item, now):
            try:
                await self.api.reply_message(
                    ReplyMessageRequest(
                        reply_token=str(item.payload["reply_token"]), messages=messages
                    ),
                    _request_timeout=REQUEST_TIMEOUT,
                )
                return
            except ApiException as exc:
                if exc.status != 400:
                    raise self._error("reply", exc) from exc
                log.info("outbox row %d: reply token refused (%s), pushing", item.id, exc.status)
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                # The reply may or may not have gone out; the retry pushes (once, by key).
                raise TemporaryDeliveryError(f"reply: {type(exc).__name__}: {exc}") from exc
        try:
            await self.api.push_message(
                PushMessageRequest(to=item.recipient, messages=messages),
                x_line_retry_key=retry_key(item),
                _request_timeout=REQUEST_TIMEOUT,
            )
        except ApiException as exc:
            if exc.status == 409:
                return  # LINE accepted this very push before (same retry key)
            raise self._error("push", exc) from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise TemporaryDeliveryError(f"push: {type(exc).__name__}: {exc}") from exc

    def _fresh_token(self, item: OutboxItem, now: datetime) -> bool:
        token, received = item.payload.get("reply_token"), item.payload.get("received_at")
        if item.attempts != 1 or not isinstance(token, str) or not isinstance(received, str):
            return False  # a retried row pushes: the first attempt may have used the token
        age = (now - datetime.fromisoformat(received)).total_seconds()
        return 0 <= age < self.reply_token_seconds

    @staticmethod
    def _error(what: str, exc: ApiException) -> Exception:
        status = int(exc.status or 0)
        text = f"{what}: {status} {str(exc.body or exc.reason or '')[:300]}"
        if status == 429 or status >= 500:
            return TemporaryDeliveryError(text, retry_after=_retry_after(exc))
        return PermanentDeliveryError(text)
