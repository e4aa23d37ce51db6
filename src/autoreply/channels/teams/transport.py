"""The Microsoft Teams transport for the outbox: a notice posted to a Workflows webhook.

A row's recipient is the URL of a Power Automate workflow "Post to a channel when a
webhook request is received" and its payload ``{"notice": Notice.to_dict()}``. The card
is POSTed as UTF-8 JSON (``channels.delivery.post``: a session per request, nothing to
close). Workflows answers 202 Accepted once it has taken the request; 429 (with
``Retry-After``), 5xx and timeouts are retried, any other 4xx is final. The flow posts
to the channel after answering, so a card the flow itself cannot post shows in the
flow's run history, not here.
"""

from __future__ import annotations

import json
from datetime import datetime

from autoreply.channels.base import Channel
from autoreply.channels.delivery import check, notice_of, post, retry_after
from autoreply.channels.teams.render import teams_message
from autoreply.store.outbox import OutboxItem

__all__ = ["TeamsTransport", "teams_channel"]


class TeamsTransport:
    """Sends ``teams`` outbox rows; ``timeout`` bounds each request (seconds)."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout

    async def send(self, item: OutboxItem, now: datetime) -> None:
        body = json.dumps(teams_message(notice_of(item)), ensure_ascii=False).encode()
        answer = await post(
            "teams",
            item.recipient,
            body,
            content_type="application/json; charset=utf-8",
            seconds=self.timeout,
        )
        check("teams", answer, retry_after(answer.headers, now))


def teams_channel(timeout: float) -> Channel:
    """The Teams notification target: outbox rows of channel ``teams``, nothing pushed
    from a turn."""
    return Channel(name="teams", transport=TeamsTransport(timeout), outgoing=None)
