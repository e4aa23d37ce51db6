"""What the chat notification targets (Slack, Teams, Chatwork) share when they send: the
notice an outbox row holds, one POST with aiohttp, and the far end's answer classified.

The classification is the outbox's contract (``store.outbox.Transport``): 2xx is
delivered; 408, 429 and 5xx, timeouts and connection trouble are temporary (retried with
backoff, or after the far end's ``Retry-After``); any other answer is final, since sending
the same request again cannot change it (a revoked webhook, a wrong token, a room we may
not post to). Error texts name the status and the far end's words, never the URL: a
webhook URL is a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import aiohttp

from autoreply.domain.notices import Notice
from autoreply.errors import DeliveryError, PermanentDeliveryError, TemporaryDeliveryError
from autoreply.store.outbox import OutboxItem

__all__ = ["Answer", "check", "check_url", "notice_of", "post", "retry_after", "unreachable"]

_ERROR_TEXT = 300  # characters of the far end's answer kept in the row's error


@dataclass(frozen=True)
class Answer:
    """What the far end answered: status, headers (read case-insensitively) and body."""

    status: int
    headers: Mapping[str, str]
    text: str


def notice_of(item: OutboxItem) -> Notice:
    """The row's ``Notice``; a row that holds none can never be sent (final)."""
    try:
        return Notice.from_dict(dict(item.payload["notice"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise PermanentDeliveryError(
            f"{item.channel}: outbox row {item.id} holds no notice ({type(exc).__name__}: {exc})"
        ) from exc


def check_url(target: str, url: str) -> None:
    """A webhook URL must be absolute http(s); anything else is a setting to fix (final)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PermanentDeliveryError(f"{target}: the recipient is not an http(s) URL")


def retry_after(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds the far end asked us to wait (``Retry-After`` as seconds or as an HTTP
    date, relative to ``now``), or None when it said nothing readable."""
    value = (headers.get("Retry-After") or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def check(target: str, answer: Answer, wait: float | None = None) -> None:
    """Return on 2xx; else raise: temporary for 408, 429 and 5xx (``wait``: the far end's
    ``Retry-After``), final for the rest, naming the status and the far end's words."""
    if 200 <= answer.status < 300:
        return
    words = " ".join(answer.text.split())[:_ERROR_TEXT]
    text = f"{target}: {answer.status} {words}".rstrip()
    if answer.status in (408, 429) or answer.status >= 500:
        raise TemporaryDeliveryError(text, retry_after=wait)
    raise PermanentDeliveryError(text)


def unreachable(target: str, exc: Exception) -> DeliveryError:
    """The delivery error for a request that got no answer: a malformed URL is final (and
    not repeated: it is a secret), a timeout or connection trouble temporary."""
    if isinstance(exc, aiohttp.InvalidURL):
        return PermanentDeliveryError(f"{target}: the recipient URL is not valid")
    return TemporaryDeliveryError(f"{target}: {type(exc).__name__}: {exc}".rstrip(": "))


async def post(
    target: str,
    url: str,
    body: bytes,
    *,
    content_type: str,
    seconds: float,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    """POST ``body`` to ``url`` and read the answer, within ``seconds`` in all.

    One session per request: notifications are a few a minute at most, so a pooled
    connection saves little, and nothing is left open to close at shutdown. Redirects are
    not followed (a webhook that moved is answered 3xx: final).
    """
    check_url(target, url)
    request_headers = {"Content-Type": content_type, **(headers or {})}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds)) as session,
            session.post(
                url, data=body, headers=request_headers, allow_redirects=False
            ) as response,
        ):
            text = await response.text(errors="replace")
            return Answer(response.status, response.headers, text)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise unreachable(target, exc) from exc
