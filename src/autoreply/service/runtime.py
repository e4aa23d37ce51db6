"""A running product as the entry points see it: the content, the database and the use cases."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from autoreply.channels.line.inbox import LineInbox
from autoreply.config import Settings
from autoreply.domain.forms import Forms
from autoreply.service.booking import Bookings
from autoreply.service.content import Content
from autoreply.service.conversations import ConversationService
from autoreply.service.followups import FollowUps
from autoreply.service.intake import FormIntake
from autoreply.service.limits import RateLimits
from autoreply.service.meeting_changes import MeetingChanges
from autoreply.service.owners import Owners
from autoreply.store.outbox import OutboxWorker
from autoreply.store.timers import Scheduler

__all__ = ["Runtime"]


@dataclass
class Runtime:
    """What a process needs to hold conversations and send what they queue; built and
    closed by ``bootstrap.open_runtime``."""

    settings: Settings
    content: Content
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    service: ConversationService
    reader: AsyncEngine  # for reads that must not queue behind writes (may be ``engine``)
    forms: Forms
    intake: FormIntake
    bookings: Bookings  # the booking page of the links in emails
    worker: OutboxWorker
    limits: RateLimits  # chat starts, form posts, login failures (shared by all processes)
    owners: Owners | None = None  # who owns handoffs, notifications, the SLA clock
    scheduler: Scheduler | None = None  # timers on the database (escalations, digests)
    line: LineInbox | None = None  # None: no LINE channel configured
    line_secret: str | None = field(default=None, repr=False)
    followups: FollowUps | None = None  # follow-up tasks, the 0.5次商談, tier aging
    meetings: MeetingChanges | None = None  # moving, marking, cancelling booked meetings
