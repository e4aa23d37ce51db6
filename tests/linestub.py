"""A loopback HTTP server standing in for the LINE Messaging API.

It records every request, behaves like LINE where tests rely on it (a reply token works
once; a push repeated with the same ``X-Line-Retry-Key`` answers 409 and is not delivered
again), and answers 400/429/500 on demand. ``delivered`` is what users would see.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


def sign(secret: str, body: bytes) -> str:
    """``x-line-signature`` exactly as LINE computes it."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class Request:
    """One request the stand-in received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class LineStub:
    """State of the stand-in; ``fail`` holds (path, status, body, headers) answered first."""

    requests: list[Request] = field(default_factory=list)
    delivered: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (user, message)
    fail: list[tuple[str, int, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    reply_tokens: dict[str, str] = field(default_factory=dict)  # token -> user
    used_tokens: set[str] = field(default_factory=set)
    retry_keys: set[str] = field(default_factory=set)
    profiles: dict[str, str] = field(default_factory=dict)
    url: str = ""

    def calls(self, path: str) -> list[Request]:
        """The requests to one endpoint, in order."""
        return [r for r in self.requests if r.path == path]

    def texts(self, user: str) -> list[str]:
        """What a user has seen as text, in order."""
        return [m.get("text", "") for u, m in self.delivered if u == user and m["type"] == "text"]

    def last(self, user: str) -> dict[str, Any]:
        """The last message a user got."""
        return next(m for u, m in reversed(self.delivered) if u == user)

    def _failure(self, path: str) -> web.Response | None:
        for index, (where, status, body, headers) in enumerate(self.fail):
            if where == path:
                del self.fail[index]
                return web.json_response(body, status=status, headers=headers)
        return None

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        self.requests.append(Request(request.method, request.path, dict(request.headers), body))
        failure = self._failure(request.path)
        if failure is not None:
            return failure
        if request.headers.get("Authorization") != "Bearer test-access-token":
            return web.json_response({"message": "Authentication failed"}, status=401)
        if request.path == "/v2/bot/message/reply":
            if "X-Line-Retry-Key" in request.headers:
                return web.json_response({"message": "retry key not allowed"}, status=400)
            token = body["replyToken"]
            user = self.reply_tokens.get(token)
            if user is None or token in self.used_tokens:
                return web.json_response({"message": "Invalid reply token"}, status=400)
            self.used_tokens.add(token)
            return self._deliver(user, body["messages"])
        if request.path == "/v2/bot/message/push":
            key = request.headers.get("X-Line-Retry-Key")
            if key in self.retry_keys:
                return web.json_response(
                    {"message": "The retry key is already accepted"}, status=409
                )
            if key:
                self.retry_keys.add(key)
            return self._deliver(body["to"], body["messages"])
        if request.path.startswith("/v2/bot/profile/"):
            user = request.path.rsplit("/", 1)[1]
            name = self.profiles.get(user)
            if name is None:
                return web.json_response({"message": "Not found"}, status=404)
            return web.json_response({"userId": user, "displayName": name, "language": "ja"})
        return web.json_response({"message": "Not found"}, status=404)

    def _deliver(self, user: str, messages: list[dict[str, Any]]) -> web.Response:
        if not 1 <= len(messages) <= 5:
            return web.json_response({"message": "1 to 5 messages"}, status=400)
        for message in messages:
            self.delivered.append((user, message))
        return web.json_response({"sentMessages": [{"id": str(len(self.delivered))}]})


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def line_stub() -> AsyncIterator[LineStub]:
    """The stand-in, listening on loopback for one test."""
    stub = LineStub()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", stub.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = _free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    stub.url = f"http://127.0.0.1:{port}"
    try:
        yield stub
    finally:
        await runner.cleanup()
