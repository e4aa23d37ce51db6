"""LINE webhook events: stored first (answered at once), handled afterwards, each exactly once.

The webhook only stores events, de-duplicated by ``webhookEventId`` (LINE redelivers, and
may deliver twice anyway), and answers 200 within milliseconds. A processor handles stored
events in LINE's order (``timestamp``): each turn marks its event handled in the turn's own
transaction, so an event is never handled twice, and one stored but not yet handled when
the process dies is handled after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from autoreply.channels.line.wire import LineEvent, inbound_of
from autoreply.errors import AlreadyHandledError, BadRequestError, NotFoundError
from autoreply.service.conversations import ConversationService
from autoreply.store import repos
from autoreply.store.outbox import wait_or_wake

__all__ = ["SOURCE", "LineInbox"]

log = logging.getLogger(__name__)
SOURCE = "line"
MAX_ATTEMPTS = 5

Profile = Callable[[str], Awaitable[str | None]]


def _moment(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp / 1000, UTC)


class LineInbox:
    """Stores LINE webhook events and turns them into conversation turns."""

    def __init__(
        self,
        service: ConversationService,
        *,
        profile: Profile,
        poll_seconds: float = 5.0,
    ) -> None:
        self.service = service
        self.uow = service.uow
        self.clock = service.content.clock
        self.profile = profile
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()

    # -- the webhook side ----------------------------------------------------------------

    async def store(self, events: Sequence[LineEvent]) -> int:
        """Keep the events (a repeat of a known ``webhookEventId`` is dropped); how many
        were new. One transaction: either all of a request's events are kept or none."""
        now = self.clock.now()
        new = 0
        async with self.uow.write() as session:
            for event in events:
                if await repos.record_inbound(
                    session, SOURCE, event.id, now, event.raw, _moment(event.timestamp)
                ):
                    new += 1
        if new:
            self._wake.set()
        return new

    # -- the processor --------------------------------------------------------------------

    async def run(self) -> None:
        """Handle stored events until cancelled (woken by the webhook, else polling)."""
        while True:
            self._wake.clear()
            try:
                while await self.process_pending():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be down: try again later
                log.warning("LINE events could not be handled now: %s: %s", type(exc).__name__, exc)
            await wait_or_wake(self._wake, self.poll_seconds)

    async def process_pending(self, limit: int = 50) -> int:
        """Handle the oldest stored events (by LINE's timestamp); how many were handled."""
        async with self.uow.read() as session:
            rows = await repos.pending_inbound(
                session, SOURCE, max_attempts=MAX_ATTEMPTS, limit=limit
            )
        for row_id, payload, received_at in rows:
            await self._handle(row_id, payload, received_at)
        return len(rows)

    async def _handle(self, row_id: int, event: dict[str, Any], received_at: datetime) -> None:
        extra = {"channel": "line", "event": event.get("webhookEventId")}
        try:
            await self._dispatch(row_id, event, received_at)
        except AlreadyHandledError:
            return
        except Exception as exc:
            log.exception("LINE event could not be handled", extra=extra)
            await self._failed(row_id, f"{type(exc).__name__}: {exc}")

    async def _dispatch(self, row_id: int, event: dict[str, Any], received_at: datetime) -> None:
        kind = event.get("type")
        source = event.get("source") or {}
        user = source.get("userId") if isinstance(source, dict) else None
        extra = {"channel": "line", "type": kind}
        if not isinstance(source, dict) or source.get("type") != "user" or not user:
            log.info("LINE event from a group, room or unknown source: not answered", extra=extra)
            await self._done(row_id)
            return
        if event.get("mode") == "standby":
            log.info("LINE event in standby mode: not answered", extra=extra)
            await self._done(row_id)
            return
        context = _reply_context(event, received_at)
        occurred = _moment(int(event["timestamp"]))
        if kind == "follow":
            await self._follow(row_id, user, context, occurred)
        elif kind == "unfollow":
            await self._unfollow(row_id, user)
        elif kind in ("message", "postback"):
            inbound = inbound_of(event)
            if inbound is None:
                log.info("LINE %s without anything to answer", kind, extra=extra)
                await self._done(row_id)
                return
            conversation_id = await self._conversation_of(user)
            if conversation_id is None:
                # Someone who added us before this service ran: greet them first.
                await self._follow(None, user, None, occurred)
                conversation_id = await self._conversation_of(user)
            if conversation_id is None:  # pragma: no cover - the greeting just made one
                raise NotFoundError(f"no LINE conversation with {user!r} after greeting")
            try:
                await self.service.handle(
                    conversation_id,
                    inbound,
                    strict_taps=True,
                    reply_context=context,
                    inbound_event=row_id,
                )
            except BadRequestError as exc:
                # A tap on an old message (its question was answered since): not answered.
                log.info("LINE tap refused: %s", exc, extra=extra)
                await self._done(row_id)
        else:
            log.info("LINE event of a type not used here: %s", kind, extra=extra)
            await self._done(row_id)

    async def _follow(
        self,
        row_id: int | None,
        user: str,
        context: dict[str, Any] | None,
        occurred: datetime,
    ) -> None:
        name = await self._display_name(user)
        async with self.uow.write() as session:
            lead_id = await repos.lead_of_identity(session, SOURCE, user)
            lead = None if lead_id is None else await repos.get_lead(session, lead_id)
            if lead is not None:  # following again after a block: reachable again
                lead.unreachable_at = None
        await self.service.start(
            channel=SOURCE,
            identities=[(SOURCE, user)],
            facts={"display_name": name} if name else None,
            source={"line": {"followed_at": occurred.isoformat()}},
            occurred_at=occurred,
            reply_context=context,
            inbound_event=row_id,
        )

    async def _unfollow(self, row_id: int, user: str) -> None:
        now = self.clock.now()
        async with self.uow.write() as session:
            await repos.claim_inbound(session, row_id, now)
            lead_id = await repos.lead_of_identity(session, SOURCE, user)
            lead = None if lead_id is None else await repos.get_lead(session, lead_id)
            if lead is not None:
                lead.unreachable_at = now
            cancelled = await repos.cancel_pending(
                session, "the user blocked the account", channel=SOURCE, recipient=user
            )
        log.info(
            "LINE user unfollowed: marked unreachable, %d queued messages dropped",
            cancelled,
            extra={"channel": "line", "lead": lead_id},
        )

    async def _conversation_of(self, user: str) -> str | None:
        async with self.uow.read() as session:
            return await repos.latest_on_contact(session, SOURCE, user)

    async def _display_name(self, user: str) -> str | None:
        try:
            return await self.profile(user)
        except Exception as exc:  # a profile is nice to have: greet without it
            log.info("LINE profile unavailable: %s", type(exc).__name__)
            return None

    async def _done(self, row_id: int) -> None:
        async with self.uow.write() as session:
            with contextlib.suppress(AlreadyHandledError):
                await repos.claim_inbound(session, row_id, self.clock.now())

    async def _failed(self, row_id: int, error: str) -> None:
        async with self.uow.write() as session:
            await repos.inbound_failed(session, row_id, error)


def _reply_context(event: dict[str, Any], received_at: datetime) -> dict[str, Any] | None:
    token = event.get("replyToken")
    if not isinstance(token, str) or not token:
        return None
    return {"reply_token": token, "received_at": received_at.isoformat()}
