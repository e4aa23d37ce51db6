"""Secrets in URLs: hashed tokens at rest, HMAC-signed links, constant-time checks."""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["new_token", "sign", "token_hash", "verify", "verify_token"]


def new_token() -> str:
    """An unguessable token (192 bits), URL-safe."""
    return secrets.token_urlsafe(24)


def token_hash(token: str) -> str:
    """What is stored instead of a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def verify_token(token: str, stored_hash: str | None) -> bool:
    """Whether ``token`` matches the stored hash (constant time)."""
    if not stored_hash:
        return False
    return hmac.compare_digest(token_hash(token), stored_hash)


def sign(secret: str, *parts: str) -> str:
    """An HMAC-SHA256 signature over the parts (for links that must not be forged)."""
    message = "\x1f".join(parts).encode("utf-8")
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()[:32]


def verify(secret: str, signature: str, *parts: str) -> bool:
    """Whether ``signature`` was made by ``sign(secret, *parts)`` (constant time; any text,
    non-ASCII included, is simply not a signature)."""
    given = signature.encode("utf-8", "replace")
    return hmac.compare_digest(sign(secret, *parts).encode("ascii"), given)
