"""A CRM webhook receiver on loopback, as a customer would write one: it checks every
request's signature with ``channels.crm.sign.verify`` over the raw body (before parsing),
answers 401 to a bad one, 422 to an event not valid against its JSON Schema
(``docs/crm/<type>.schema.json``), and dedupes on the event id (a second copy is answered 200 and
not recorded twice).

It can be told to answer the next requests with a status (503 a few times, then recover;
400 to make the sender give up) or to hang. ``requests`` is every request as it came;
``events`` the distinct events accepted, in arrival order.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from aiohttp import web

from autoreply.channels.crm.sign import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    SignatureError,
    verify,
)
from autoreply.domain.crm_schema import event_schema

HANG = 0


@dataclass
class Received:
    """One request: its path, headers, raw body, what verify() said, the status answered."""

    path: str
    headers: dict[str, str]
    body: bytes
    verified: str  # "ok" or why it was refused
    status: int | None = None

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


@dataclass
class CrmStub:
    """State of the receiver; ``url(path)`` is an endpoint of it."""

    secret: str
    now: Callable[[], float] = time.time  # the receiver's clock (tests: the sender's FixedClock)
    base: str = ""
    secrets: dict[str, str] = field(default_factory=dict)  # endpoint path -> its own secret
    requests: list[Received] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    seen_ids: set[str] = field(default_factory=set)
    failures: list[int] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str = "hook") -> str:
        return f"{self.base}/{path}"

    def fail(self, status: int, *, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``status`` (0: never answer)."""
        self.failures.extend([status] * times)

    def accepted(self) -> list[Received]:
        return [r for r in self.requests if r.status is not None and 200 <= r.status < 300]

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            secret = self.secrets.get(request.path.strip("/"), self.secret)
            verify(secret, request.headers.get(SIGNATURE_HEADER), raw, self.now())
            verdict = "ok"
        except SignatureError as exc:
            verdict = str(exc)
        received = Received(request.path, dict(request.headers), raw, verdict)
        self.requests.append(received)
        response = await self._answer(received, request)
        received.status = response.status
        return response

    async def _answer(self, received: Received, request: web.Request) -> web.Response:
        if self.failures:
            status = self.failures.pop(0)
            if status == HANG:
                await self.release.wait()
                return web.Response(status=504)
            return web.Response(status=status, text=f"stub says {status}")
        if received.verified != "ok":
            return web.Response(status=401, text=received.verified)
        event = received.event
        try:  # every event any test sends is valid against its published schema
            jsonschema.validate(event, event_schema(str(event.get("type"))))
        except (jsonschema.ValidationError, ValueError) as exc:
            received.verified = f"invalid event: {exc}"
            return web.Response(status=422, text=str(exc)[:200])
        if request.headers.get(EVENT_ID_HEADER) != event.get("id") or request.headers.get(
            EVENT_TYPE_HEADER
        ) != event.get("type"):
            return web.Response(status=400, text="headers do not match the body")
        if event["id"] not in self.seen_ids:  # a duplicate is acknowledged, not applied
            self.seen_ids.add(event["id"])
            self.events.append(event)
        return web.Response(status=204)


@asynccontextmanager
async def crm_stub(secret: str, now: Callable[[], float] = time.time) -> AsyncIterator[CrmStub]:
    """The receiver, listening on 127.0.0.1 for one test."""
    stub = CrmStub(secret, now)
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", stub.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    stub.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield stub
    finally:
        stub.release.set()
        await runner.cleanup()
