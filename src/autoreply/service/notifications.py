"""Telling people: what a notification says and where it goes, queued through the outbox.

A notification is a ``domain.notices.Notice`` written here from the handoff record (its
texts from ``templates/notify/notice.<locale>.j2``) and queued once per target in the
transaction of what caused it: a Slack, Teams or Chatwork row carries the notice (its
transport lays it out), an email row carries the finished message. Each row's dedupe key
is the event and the target, so an event told twice is posted once.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.channels.email.render import MailRenderer, serialize
from autoreply.domain.calendar import format_when
from autoreply.domain.invites import Person
from autoreply.domain.notices import LeadLine, Notice, NoticeKind
from autoreply.domain.phones import show_phone
from autoreply.links import Links
from autoreply.service.content import Content
from autoreply.store import repos
from autoreply.store.models import HandoffRow, Rep

__all__ = ["Notifications", "Target"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """One place a notification goes: a channel (slack, teams, chatwork, email) and its
    recipient there (a webhook URL, a room id, an address)."""

    channel: str
    recipient: str
    mention: str | None = None  # Slack user id / Chatwork account id of the person meant


@dataclass(frozen=True)
class About:
    """One handoff to tell about, with who owns it now."""

    row: HandoffRow
    channel: str
    owner: Rep | None
    team_name: str | None
    trigger: str | None = None


class Notifications:
    """Writes notices and queues them; ``channels`` are the targets with a transport."""

    def __init__(
        self,
        content: Content,
        links: Links,
        renderer: MailRenderer | None,
        channels: Iterable[str],
    ) -> None:
        self.content = content
        self.links = links
        self.renderer = renderer
        self.channels = frozenset(channels)

    # -- writing -----------------------------------------------------------------------

    def text(self, part: str, locale: str, **values: Any) -> str:
        """One text of ``templates/notify/notice.<locale>.j2`` (``part``: title, intro, why…)."""
        return self.content.texts.render("notify/notice", locale, part=part, **values)

    def deadline_text(self, row: HandoffRow, locale: str) -> str | None:
        """The first-contact deadline as a rep reads it (「12月8日(火) 9:05」)."""
        if row.due_at is None:
            return None
        return format_when(row.due_at.astimezone(self.content.calendar.tz), locale)

    def lead_line(self, about: About, locale: str, now: datetime) -> LeadLine:
        """One handoff as the notice shows it."""
        row, r = about.row, about.row.record
        lead = r.get("lead") or {}
        contacted = None
        if row.contacted_at is None and about.owner is not None:
            contacted = self.links.contacted(row.id, about.owner.id, now)
        owner = None
        if about.owner is not None:
            owner = self.text("owner", locale, owner=about.owner.name, team=about.team_name)
        return LeadLine(
            handoff_id=row.id,
            url=self.links.handoff_page(row.id),
            contacted_url=contacted,
            who=self.text("who", locale, r=r),
            tier=row.tier,
            tier_why=self.text("why", locale, r=r),
            channel_text=self.text("channel", locale, r=r),
            timing_text=self.text("timing", locale, r=r) or None,
            challenge_text=r.get("challenge") or None,
            first_line=str(r.get("first_line") or ""),
            booking_text=self.text("booking", locale, r=r) or None,
            owner_text=owner,
            deadline_text=self.deadline_text(row, locale),
            deadline_at=row.due_at.isoformat() if row.due_at else None,
            trigger_text=about.trigger,
            email=lead.get("email"),
            phone=show_phone(lead.get("phone")) or None,
        )

    def notice(
        self,
        kind: NoticeKind,
        abouts: Sequence[About],
        now: datetime,
        *,
        locale: str = "ja",
        team_name: str | None = None,
        **values: Any,
    ) -> Notice:
        """A notice of ``kind`` about one handoff (or, for a digest, several)."""
        first = abouts[0]
        r = first.row.record
        words: dict[str, Any] = {
            "kind": kind,
            "r": r,
            "count": len(abouts),
            "team": team_name,
            "owner": first.owner.name if first.owner else None,
            "deadline": self.deadline_text(first.row, locale),
            "trigger": first.trigger,
            **values,
        }
        return Notice(
            kind=kind,
            title=self.text("title", locale, **words),
            intro=self.text("intro", locale, **words) or None,
            leads=tuple(self.lead_line(a, locale, now) for a in abouts),
            locale=locale,
        )

    # -- queueing ----------------------------------------------------------------------

    async def send(
        self,
        session: AsyncSession,
        notice: Notice,
        targets: Iterable[Target],
        *,
        event: str,
        now: datetime,
        lead_id: int | None = None,
    ) -> int:
        """Queue ``notice`` for each target with a transport; ``event`` names what is told
        (``hot:17``), so telling it again queues nothing. Returns how many rows were new."""
        queued = 0
        seen: set[tuple[str, str]] = set()
        for target in targets:
            if (target.channel, target.recipient) in seen:
                continue
            seen.add((target.channel, target.recipient))
            if target.channel not in self.channels:
                log.warning(
                    "notification target %s is not configured; %s not posted there",
                    target.channel,
                    event,
                )
                continue
            payload = self._payload(notice, target, now)
            if payload is None:
                continue
            digest = hashlib.sha256(target.recipient.encode()).hexdigest()[:16]
            queued += await repos.enqueue(
                session,
                channel=target.channel,
                kind=f"notify_{notice.kind}",
                recipient=target.recipient,
                payload=payload,
                dedupe_key=f"notify:{event}:{target.channel}:{digest}",
                now=now,
                lead_id=lead_id,
            )
        return queued

    def _payload(self, notice: Notice, target: Target, now: datetime) -> dict[str, Any] | None:
        if target.mention:
            notice = Notice(
                notice.kind,
                notice.title,
                notice.intro,
                notice.leads,
                notice.locale,
                mention=target.mention,
            )
        if target.channel != "email":
            return {"notice": notice.to_dict()}
        if self.renderer is None:
            return None
        mail = self.renderer.render(
            "rep_notice",
            notice.locale,
            to=Person(name="", email=target.recipient),
            now=now,
            variables={"notice": notice.to_dict()},
        )
        return {"message": serialize(mail.message), "subject": mail.subject}
