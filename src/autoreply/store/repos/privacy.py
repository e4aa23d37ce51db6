"""A lead's data rights (APPI): finding everything stored about one person, reading it
out, removing it, the privacy log, and the leads inactive long enough to be purged.

A person is the survivor lead and every lead merged into it (``merged_into_id``, followed
through chains), with what hangs off them: identities, conversations and their messages,
bookings, handoffs and their events, follow-ups, form submissions, outbox rows (by lead,
by conversation, or addressed to one of their addresses), the LINE events of their LINE
user ids, rate counters keyed by their addresses, and the timers about their rows.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, cast, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.store.models import (
    Base,
    Booking,
    Conversation,
    FollowUp,
    FormSubmission,
    HandoffEvent,
    HandoffFact,
    HandoffRow,
    InboundEvent,
    Lead,
    LeadIdentity,
    Message,
    OutboxRow,
    PrivacyLogEntry,
    RateCounter,
    Timer,
)

__all__ = [
    "TABLES",
    "TIMER_REFERENCES",
    "Footprint",
    "add_privacy_log",
    "delete_footprint",
    "footprint",
    "footprint_rows",
    "inactive_leads",
    "lead_ids_by_email",
    "lead_ids_by_line_user",
    "lock_leads",
    "person_of",
    "privacy_log",
]

#: The tables a person's data lives in, in the order an export lists them.
TABLES = (
    "leads",
    "lead_identities",
    "conversations",
    "messages",
    "bookings",
    "handoffs",
    "handoff_events",
    "follow_ups",
    "form_submissions",
    "outbox",
    "inbound_events",
    "rate_counters",
    "timers",
)

#: Payload keys of a timer that name a row of a lead (its id). A timer whose payload names
#: one of a deleted person's rows by one of these keys is deleted with them (SLA timers
#: carry ``handoff``; a new timer kind about a lead's rows should use these keys too).
TIMER_REFERENCES: Mapping[str, str] = {
    "lead": "leads",
    "lead_id": "leads",
    "conversation": "conversations",
    "conversation_id": "conversations",
    "handoff": "handoffs",
    "handoff_id": "handoffs",
    "booking": "bookings",
    "booking_id": "bookings",
    "follow_up": "follow_ups",
    "follow_up_id": "follow_ups",
}

_LINE = "line"


@dataclass
class Footprint:
    """Every stored row of one person, by table (see ``TABLES``)."""

    lead_id: int | None  # the survivor; None: only LINE events of an unknown user
    rows: dict[str, list[Base]] = field(default_factory=dict)

    def ids(self, table: str) -> list[int]:
        """The ids of the rows of ``table``."""
        return [int(getattr(row, "id")) for row in self.rows.get(table, [])]  # noqa: B009

    def counts(self) -> dict[str, int]:
        """How many rows per table (every table, zeros included)."""
        return {table: len(self.rows.get(table, [])) for table in TABLES}

    @property
    def empty(self) -> bool:
        """Nothing stored at all."""
        return not any(self.rows.values())


# -- who -------------------------------------------------------------------------------------


async def lead_ids_by_email(session: AsyncSession, email: str) -> list[int]:
    """Leads with this address on the record or as an identity (lower-cased)."""
    address = email.strip().lower()
    on_record = await session.scalars(select(Lead.id).where(func.lower(Lead.email) == address))
    as_identity = await session.scalars(
        select(LeadIdentity.lead_id).where(
            LeadIdentity.channel == "email", func.lower(LeadIdentity.external_id) == address
        )
    )
    return sorted({*on_record, *as_identity})


async def lead_ids_by_line_user(session: AsyncSession, user_id: str) -> list[int]:
    """The lead whose LINE identity is this user id (none or one)."""
    rows = await session.scalars(
        select(LeadIdentity.lead_id).where(
            LeadIdentity.channel == _LINE, LeadIdentity.external_id == user_id
        )
    )
    return sorted(set(rows))


async def person_of(session: AsyncSession, lead_id: int) -> list[int]:
    """The survivor of ``lead_id`` (its ``merged_into`` followed to the end) first, then
    every lead merged into it, directly or through others; empty if there is no such lead."""
    survivor = await session.get(Lead, lead_id)
    seen: set[int] = set()
    while survivor is not None and survivor.merged_into_id is not None:
        if survivor.id in seen:  # pragma: no cover - a merge never makes a cycle
            break
        seen.add(survivor.id)
        survivor = await session.get(Lead, survivor.merged_into_id)
    if survivor is None:
        return []
    ids = [survivor.id]
    frontier = [survivor.id]
    while frontier:
        merged = list(
            await session.scalars(
                select(Lead.id).where(Lead.merged_into_id.in_(frontier)).order_by(Lead.id)
            )
        )
        frontier = [i for i in merged if i not in ids]
        ids += frontier
    return ids


async def lock_leads(session: AsyncSession, lead_ids: Collection[int]) -> None:
    """Lock the person's leads and conversations for the rest of the transaction
    (PostgreSQL; SQLite's write transaction holds the whole database), so that a turn of
    theirs waits and then finds them gone."""
    if not lead_ids:
        return
    await session.execute(select(Lead.id).where(Lead.id.in_(lead_ids)).with_for_update())
    await session.execute(
        select(Conversation.id).where(Conversation.lead_id.in_(lead_ids)).with_for_update()
    )


# -- what --------------------------------------------------------------------------------------


async def _all(session: AsyncSession, query: Any) -> list[Base]:
    return list((await session.scalars(query)).unique())


async def footprint(
    session: AsyncSession,
    lead_ids: Sequence[int],
    *,
    line_users: Iterable[str] = (),
    emails: Iterable[str] = (),
) -> Footprint:
    """Every row of the person made of ``lead_ids`` (survivor first), plus the LINE events
    of ``line_users`` and rate counters and outbox rows of ``emails`` given besides theirs."""
    found = Footprint(lead_ids[0] if lead_ids else None)
    rows = found.rows
    ids = list(lead_ids)
    rows["leads"] = await _all(session, select(Lead).where(Lead.id.in_(ids)).order_by(Lead.id))
    rows["lead_identities"] = await _all(
        session,
        select(LeadIdentity).where(LeadIdentity.lead_id.in_(ids)).order_by(LeadIdentity.id),
    )
    rows["conversations"] = await _all(
        session,
        select(Conversation).where(Conversation.lead_id.in_(ids)).order_by(Conversation.id),
    )
    conversations = found.ids("conversations")
    rows["messages"] = await _all(
        session,
        select(Message).where(Message.conversation_id.in_(conversations)).order_by(Message.id),
    )
    rows["bookings"] = await _all(
        session,
        select(Booking)
        .where(or_(Booking.lead_id.in_(ids), Booking.conversation_id.in_(conversations)))
        .order_by(Booking.id),
    )
    rows["handoffs"] = await _all(
        session,
        select(HandoffRow)
        .where(or_(HandoffRow.lead_id.in_(ids), HandoffRow.conversation_id.in_(conversations)))
        .order_by(HandoffRow.id),
    )
    handoffs = found.ids("handoffs")
    rows["handoff_events"] = await _all(
        session,
        select(HandoffEvent).where(HandoffEvent.handoff_id.in_(handoffs)).order_by(HandoffEvent.id),
    )
    rows["follow_ups"] = await _all(
        session,
        select(FollowUp)
        .where(or_(FollowUp.lead_id.in_(ids), FollowUp.handoff_id.in_(handoffs)))
        .order_by(FollowUp.id),
    )
    rows["form_submissions"] = await _all(
        session,
        select(FormSubmission)
        .where(
            or_(
                FormSubmission.lead_id.in_(ids),
                FormSubmission.conversation_id.in_(conversations),
            )
        )
        .order_by(FormSubmission.id),
    )
    addresses = _addresses(rows, emails)
    rows["outbox"] = await _all(
        session,
        select(OutboxRow)
        .where(
            or_(
                OutboxRow.lead_id.in_(ids),
                OutboxRow.conversation_id.in_(conversations),
                func.lower(OutboxRow.recipient).in_(addresses),
            )
        )
        .order_by(OutboxRow.id),
    )
    users = sorted(
        {
            *line_users,
            *(
                str(getattr(row, "external_id"))  # noqa: B009
                for row in rows["lead_identities"]
                if getattr(row, "channel") == _LINE  # noqa: B009
            ),
        }
    )
    rows["inbound_events"] = await _line_events(session, users)
    rows["rate_counters"] = await _all(
        session,
        select(RateCounter)
        .where(func.lower(RateCounter.key).in_(addresses))
        .order_by(RateCounter.bucket, RateCounter.window_start),
    )
    rows["timers"] = await _timers_about(session, found)
    return found


def _addresses(rows: Mapping[str, list[Base]], emails: Iterable[str]) -> list[str]:
    found = {e.strip().lower() for e in emails if e.strip()}
    for row in rows.get("leads", []):
        if getattr(row, "email", None):
            found.add(str(row.email).lower())  # type: ignore[attr-defined]
    for row in rows.get("lead_identities", []):
        if getattr(row, "channel") == "email":  # noqa: B009
            found.add(str(row.external_id).lower())  # type: ignore[attr-defined]
    for row in rows.get("form_submissions", []):
        found.add(str(row.email).lower())  # type: ignore[attr-defined]
    return sorted(found)


async def _line_events(session: AsyncSession, users: Sequence[str]) -> list[Base]:
    """Stored LINE events whose source is one of ``users`` (the JSON is searched as text
    for the id, then read: the same query on both databases)."""
    if not users:
        return []
    text = cast(InboundEvent.payload, String)
    candidates = await session.scalars(
        select(InboundEvent)
        .where(
            InboundEvent.source == _LINE,
            or_(*(text.contains(user, autoescape=True) for user in users)),
        )
        .order_by(InboundEvent.id)
    )
    wanted = set(users)
    return [row for row in candidates if _line_user(row.payload) in wanted]


def _line_user(payload: Mapping[str, Any]) -> str | None:
    source = payload.get("source")
    if isinstance(source, Mapping):
        user = source.get("userId")
        return user if isinstance(user, str) else None
    return None


async def _timers_about(session: AsyncSession, found: Footprint) -> list[Base]:
    """Timers about the person's rows: any timer under an SLA key of one of their handoffs,
    and pending timers whose payload names one of their rows (``TIMER_REFERENCES``).
    (A fired or cancelled timer of another kind holds ids only, nothing personal.)"""
    ids = {table: set(found.ids(table)) for table in set(TIMER_REFERENCES.values())}
    if not any(ids.values()):
        return []
    sla = [f"sla:{h}" for h in sorted(ids["handoffs"])]
    keyed = [or_(Timer.key == k, Timer.key.startswith(f"{k}:", autoescape=True)) for k in sla]
    candidates = await session.scalars(
        select(Timer).where(or_(Timer.status == "pending", *keyed)).order_by(Timer.id)
    )
    about: list[Base] = []
    for row in candidates:
        if any(row.key == k or row.key.startswith(f"{k}:") for k in sla):
            about.append(row)
            continue
        payload = row.payload if isinstance(row.payload, Mapping) else {}
        for key, table in TIMER_REFERENCES.items():
            value = payload.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value in ids[table]:
                about.append(row)
                break
    return about


def footprint_rows(found: Footprint) -> dict[str, list[dict[str, Any]]]:
    """Every row of ``found`` as plain values by column name (moments as ISO 8601 text),
    table by table in ``TABLES`` order: what an export hands over."""
    return {
        table: [
            {
                prop.columns[0].name: _plain(getattr(row, prop.key))
                for prop in row.__mapper__.column_attrs
            }
            for row in found.rows.get(table, [])
        ]
        for table in TABLES
    }


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


# -- removing -----------------------------------------------------------------------------------


async def delete_footprint(session: AsyncSession, found: Footprint) -> dict[str, int]:
    """Delete every row of ``found``, children before parents (foreign keys hold on both
    databases at every statement); how many rows per table."""
    counts = found.counts()
    leads = found.ids("leads")
    conversations = found.ids("conversations")
    handoffs = found.ids("handoffs")
    bookings = found.ids("bookings")
    submissions = found.ids("form_submissions")
    by_id = (
        ("timers", Timer),
        ("inbound_events", InboundEvent),
        ("outbox", OutboxRow),
        ("handoff_events", HandoffEvent),
        ("follow_ups", FollowUp),
    )
    for table, model in by_id:
        await _delete_ids(session, model, found.ids(table))
    for row in found.rows.get("rate_counters", []):
        await session.execute(
            delete(RateCounter).where(
                RateCounter.bucket == row.bucket,  # type: ignore[attr-defined]
                RateCounter.key == row.key,  # type: ignore[attr-defined]
                RateCounter.window_start == row.window_start,  # type: ignore[attr-defined]
            )
        )
    if bookings:  # a rescheduled meeting points at the one it replaced
        await session.execute(
            update(Booking)
            .where(Booking.rescheduled_from_id.in_(bookings))
            .values(rescheduled_from_id=None)
        )
    await _delete_ids(session, Booking, bookings)
    if submissions:
        await session.execute(
            update(FormSubmission)
            .where(FormSubmission.duplicate_of_id.in_(submissions))
            .values(duplicate_of_id=None)
        )
    await _delete_ids(session, FormSubmission, submissions)
    if conversations:
        await session.execute(delete(Message).where(Message.conversation_id.in_(conversations)))
    for start in range(0, len(handoffs), 500):  # what the dashboard worked out of them
        chunk = handoffs[start : start + 500]
        await session.execute(delete(HandoffFact).where(HandoffFact.handoff_id.in_(chunk)))
    await _delete_ids(session, HandoffRow, handoffs)
    await _delete_ids(session, Conversation, conversations)
    await _delete_ids(session, LeadIdentity, found.ids("lead_identities"))
    if leads:
        await session.execute(
            update(Lead).where(Lead.merged_into_id.in_(leads)).values(merged_into_id=None)
        )
    await _delete_ids(session, Lead, leads)
    session.expunge_all()  # the loaded rows are gone: nothing may write them back
    return counts


async def _delete_ids(session: AsyncSession, model: type[Base], ids: Sequence[int]) -> None:
    column = getattr(model, "id")  # noqa: B009
    for start in range(0, len(ids), 500):
        await session.execute(delete(model).where(column.in_(ids[start : start + 500])))


# -- the log and retention -------------------------------------------------------------------


def add_privacy_log(
    session: AsyncSession,
    *,
    action: str,
    lead_id: int | None,
    actor: str,
    counts: Mapping[str, int],
    now: datetime,
) -> PrivacyLogEntry:
    """Record an export, deletion or purge: ids and counts only, never personal data."""
    entry = PrivacyLogEntry(
        at=now, action=action, lead_id=lead_id, actor=actor, counts=dict(counts)
    )
    session.add(entry)
    return entry


async def privacy_log(session: AsyncSession, limit: int = 50) -> list[PrivacyLogEntry]:
    """The latest privacy log entries, newest first."""
    rows = await session.scalars(
        select(PrivacyLogEntry).order_by(PrivacyLogEntry.id.desc()).limit(limit)
    )
    return list(rows)


async def inactive_leads(session: AsyncSession, cutoff: datetime, limit: int) -> list[int]:
    """Surviving leads (not merged into another) with no activity since ``cutoff``: the
    lead itself, its conversations, their messages, its bookings (made or taking place)
    and its form submissions all before it. Oldest first, at most ``limit``."""
    lead = Lead.__table__.c
    recent_conversation = exists().where(
        Conversation.lead_id == lead.id, Conversation.updated_at >= cutoff
    )
    recent_message = exists().where(
        Message.conversation_id == Conversation.id,
        Conversation.lead_id == lead.id,
        Message.created_at >= cutoff,
    )
    recent_booking = exists().where(
        Booking.lead_id == lead.id,
        or_(Booking.created_at >= cutoff, Booking.start_at >= cutoff),
    )
    recent_form = exists().where(
        FormSubmission.lead_id == lead.id, FormSubmission.received_at >= cutoff
    )
    rows = await session.scalars(
        select(Lead.id)
        .where(
            and_(
                Lead.merged_into_id.is_(None),
                Lead.updated_at < cutoff,
                ~recent_conversation,
                ~recent_message,
                ~recent_booking,
                ~recent_form,
            )
        )
        .order_by(Lead.updated_at, Lead.id)
        .limit(limit)
        # Another retention run at this moment (another process) skips the leads this
        # one is purging, instead of purging and logging them a second time.
        .with_for_update(skip_locked=True, of=Lead)
    )
    return list(rows)
