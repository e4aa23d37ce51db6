"""Signing CRM webhook requests, and checking a signature as a receiver does (pure).

The convention of the common webhook senders (Stripe, Slack): the header

    X-Autoreply-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">

made with the webhook's secret over the exact bytes sent. A receiver recomputes it over
the body it received (before parsing it), compares in constant time, and refuses a
timestamp outside its replay window (five minutes either way), so a captured request
cannot be played again later. The timestamp is fresh on every attempt; the body (and the
event id in it) is the same on every retry.

``verify`` needs only the standard library, so a receiver may copy it as it is
(``docs/crm.md`` shows it in a whole receiver).
"""

from __future__ import annotations

import hashlib
import hmac

from autoreply.errors import AutoreplyError

__all__ = [
    "EVENT_ID_HEADER",
    "EVENT_TYPE_HEADER",
    "SIGNATURE_HEADER",
    "TOLERANCE_SECONDS",
    "SignatureError",
    "headers",
    "signature",
    "verify",
]

SIGNATURE_HEADER = "X-Autoreply-Signature"
EVENT_ID_HEADER = "X-Autoreply-Event-Id"
EVENT_TYPE_HEADER = "X-Autoreply-Event-Type"
TOLERANCE_SECONDS = 300


class SignatureError(AutoreplyError, ValueError):
    """A request whose signature header is missing, malformed, wrong or too old."""


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` with ``secret``."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def headers(
    secret: str, timestamp: int, body: bytes, *, event_id: str, event_type: str
) -> dict[str, str]:
    """The headers of one attempt: the signature (``t=...,v1=...``), the event's id and type."""
    return {
        SIGNATURE_HEADER: f"t={timestamp},v1={signature(secret, timestamp, body)}",
        EVENT_ID_HEADER: event_id,
        EVENT_TYPE_HEADER: event_type,
    }


def verify(
    secret: str,
    header: str | None,
    body: bytes,
    now: float,
    tolerance: float = TOLERANCE_SECONDS,
) -> int:
    """Check ``X-Autoreply-Signature`` against the raw ``body`` at ``now`` (unix seconds);
    returns the signed timestamp, raises ``SignatureError`` saying why it is refused.

    Several ``v1=`` values are allowed (one of them must match), so a sender may sign with
    an old and a new secret while they are rotated.
    """
    if not header:
        raise SignatureError("no signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError("malformed signature header")
        if key == "t":
            if not value.isascii() or not value.isdigit() or timestamp is not None:
                raise SignatureError("malformed timestamp")
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None:
        raise SignatureError("no timestamp in the signature header")
    if not candidates:
        raise SignatureError("no v1 signature in the signature header")
    if abs(now - timestamp) > tolerance:
        raise SignatureError("timestamp outside the replay window")
    expected = signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, c) for c in candidates if c.isascii()):
        raise SignatureError("signature does not match")
    return timestamp
