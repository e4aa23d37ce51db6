"""The Messaging API client from the settings (off without a channel), and replies as LINE
messages for the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from linebot.v3.messaging import AsyncApiClient, AsyncMessagingApi, Configuration

from autoreply.channels.base import Channel, Outgoing
from autoreply.channels.line import wire
from autoreply.channels.line.transport import REQUEST_TIMEOUT, LineTransport
from autoreply.config import Settings
from autoreply.flows.turns import Reply
from autoreply.links import Links
from autoreply.store.models import Conversation
from autoreply.texts import Texts

__all__ = ["LineApi", "line_api", "line_channel", "line_outgoing"]


@dataclass
class LineApi:
    """The Messaging API client and what is built on it."""

    api: AsyncMessagingApi
    transport: LineTransport
    channel_secret: str

    async def display_name(self, user_id: str) -> str | None:
        """The user's LINE display name (the profile API)."""
        profile = await self.api.get_profile(user_id, _request_timeout=REQUEST_TIMEOUT)
        name = getattr(profile, "display_name", None)
        return str(name) if name else None


@asynccontextmanager
async def line_api(settings: Settings) -> AsyncIterator[LineApi | None]:
    """The client (inside the running loop: it opens an aiohttp session), closed after;
    None when no channel is configured."""
    if not (settings.line_channel_secret and settings.line_channel_access_token):
        yield None
        return
    configuration = Configuration(
        access_token=settings.line_channel_access_token,
        host=settings.line_api_url.rstrip("/"),
    )
    client = AsyncApiClient(configuration)
    try:
        api = AsyncMessagingApi(client)
        yield LineApi(
            api,
            LineTransport(api, reply_token_seconds=settings.line_reply_token_seconds),
            settings.line_channel_secret,
        )
    finally:
        await client.close()


def line_outgoing(texts: Texts, links: Links) -> Outgoing:
    """Renders a turn's replies as LINE messages, five to a request (one outbox row each)."""

    def render(
        conversation: Conversation, replies: Sequence[Reply], locale: str
    ) -> list[dict[str, Any]]:
        labels = wire.Labels(
            read_story=texts.render("line/read_story", locale),
            cases_alt=texts.render("line/cases_alt", locale),
            cancel_booking=texts.render("line/cancel_booking", locale),
            reschedule_booking=texts.render("line/reschedule_booking", locale),
        )
        messages = wire.render(
            replies,
            case_link=lambda case_id: links.case(conversation.public_id, case_id),
            labels=labels,
        )
        step = wire.MAX_MESSAGES
        return [{"messages": messages[i : i + step]} for i in range(0, len(messages), step)]

    return render


def line_channel(api: LineApi, texts: Texts, links: Links) -> Channel:
    """The LINE channel: pushed replies (reply token while fresh, else push) from the outbox."""
    return Channel("line", transport=api.transport, outgoing=line_outgoing(texts, links))
