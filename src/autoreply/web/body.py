"""Reading request bodies with a size limit, before anything else looks at them."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request

from autoreply.errors import BadRequestError, PayloadTooLargeError

__all__ = ["multipart_fields", "read_limited"]


async def read_limited(request: Request, limit: int) -> bytes:
    """The raw body; ``PayloadTooLargeError`` as soon as it is known to be larger than
    ``limit`` (from Content-Length before reading, else while streaming)."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def multipart_fields(request: Request, body: bytes) -> dict[str, str]:
    """The text fields of a multipart body already read (parsed from a replay of it);
    uploaded files are not fields, and are closed at once."""

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form: FormData = await Request(request.scope, replay).form()
    except Exception as exc:  # starlette raises its own parse errors
        raise BadRequestError(f"unreadable multipart body: {exc}") from exc
    try:
        return {k: v for k, v in form.items() if isinstance(v, str)}
    finally:
        await form.close()
