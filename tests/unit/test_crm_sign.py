"""Signing CRM webhooks and verifying them as a receiver does (channels/crm/sign.py)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from autoreply.channels.crm.sign import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    SignatureError,
    headers,
    signature,
    verify,
)

SECRET = "whsec-test-0123456789abcdef"
BODY = '{"id":"e1","type":"lead.created","lead":{"name":"山田 太郎"}}'.encode()
T = 1_796_000_000


def signed(t: int = T, body: bytes = BODY, secret: str = SECRET) -> str:
    return headers(secret, t, body, event_id="e1", event_type="lead.created")[SIGNATURE_HEADER]


def test_the_header_is_t_and_v1_the_hmac_of_t_dot_body() -> None:
    """The convention: t=<seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">."""
    made = headers(SECRET, T, BODY, event_id="e1", event_type="lead.created")
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert made == {
        SIGNATURE_HEADER: f"t={T},v1={expected}",
        EVENT_ID_HEADER: "e1",
        EVENT_TYPE_HEADER: "lead.created",
    }
    assert signature(SECRET, T, BODY) == expected


def test_a_good_signature_within_the_window_passes() -> None:
    assert verify(SECRET, signed(), BODY, T) == T
    assert verify(SECRET, signed(), BODY, T + 299) == T
    assert verify(SECRET, signed(), BODY, T - 299) == T  # the sender's clock a little ahead


@pytest.mark.parametrize(
    ("header", "body", "now", "why"),
    [
        (signed(), BODY.replace("山田".encode(), "田中".encode()), T, "does not match"),
        (signed(secret="another-secret-0123456789"), BODY, T, "does not match"),
        (signed(), BODY, T + 301, "replay window"),  # old: replayed later
        (signed(), BODY, T - 301, "replay window"),  # from the future
        (None, BODY, T, "no signature header"),
        ("", BODY, T, "no signature header"),
        ("garbage", BODY, T, "malformed"),
        ("t=abc,v1=00", BODY, T, "malformed timestamp"),
        ("t=-5,v1=00", BODY, T, "malformed timestamp"),
        (f"t={T},t={T},v1=00", BODY, T, "malformed timestamp"),
        (f"v1={signature(SECRET, T, BODY)}", BODY, T, "no timestamp"),
        (f"t={T}", BODY, T, "no v1"),
        (f"t={T},v0={signature(SECRET, T, BODY)}", BODY, T, "no v1"),
        (f"t={T},v1=ｆｆ", BODY, T, "does not match"),  # non-ASCII never compares
        (f"t={T + 1},v1={signature(SECRET, T, BODY)}", BODY, T, "does not match"),
    ],
)
def test_anything_else_is_refused_saying_why(
    header: str | None, body: bytes, now: int, why: str
) -> None:
    with pytest.raises(SignatureError, match=why):
        verify(SECRET, header, body, now)


def test_one_of_several_v1_values_may_match_while_a_secret_is_rotated() -> None:
    old = signature("old-secret-0123456789", T, BODY)
    header = f"t={T},v1={old},v1={signature(SECRET, T, BODY)}"
    assert verify(SECRET, header, BODY, T) == T
    assert verify("old-secret-0123456789", header, BODY, T) == T
    with pytest.raises(SignatureError):
        verify("third-secret-0123456789", header, BODY, T)


def test_the_window_can_be_narrowed() -> None:
    with pytest.raises(SignatureError, match="replay window"):
        verify(SECRET, signed(), BODY, T + 61, tolerance=60)
