"""The recipe every channel follows, and what a channel plugs into the product.

A channel is a folder (or a module) under ``channels/`` with up to three parts:

1. **wire** (pure): its inbound wire format -> the neutral ``flows.turns.Inbound`` (or, for a
   form, the fields a ``domain.forms.FormSpec`` checks), and the neutral replies
   (``Text``, ``Choices``, ``Cards``, ``SlotPicker``) -> its wire format. ``web.py``,
   ``line/wire.py``, ``email/form.py`` and ``email/render.py``.
2. **transport**: sends the outbox rows of its name (``store.outbox.Transport``), raising
   ``TemporaryDeliveryError`` to be retried later or ``PermanentDeliveryError`` to give
   up. ``line/transport.py``, ``email/transport.py``.
3. **its HTTP route** in ``web/routes/`` (never here): read the request, call the wire and a
   use case, answer.

``bootstrap.open_runtime`` gives each channel's ``Channel`` to the outbox worker (its
transport) and to the turn (its renderer, for channels that push their replies).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from autoreply.flows.turns import Reply
from autoreply.store.models import Conversation
from autoreply.store.outbox import Transport

__all__ = ["Channel", "Outgoing", "Transport"]


class Outgoing(Protocol):
    """Renders a turn's replies into outbox payloads, one per request the channel will make
    (for channels that push their replies instead of answering in the HTTP response)."""

    def __call__(
        self, conversation: Conversation, replies: Sequence[Reply], locale: str
    ) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class Channel:
    """What one channel plugs in: its name (the conversation's ``channel`` and the outbox
    row's), how its rows are sent, and how a turn's replies are pushed (None: the replies
    are answered in the HTTP response, as the widget's are)."""

    name: str
    transport: Transport | None = None
    outgoing: Outgoing | None = None
