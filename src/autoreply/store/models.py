"""Database tables (SQLAlchemy 2, typed); the same schema on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "Base",
    "Booking",
    "Conversation",
    "FollowUp",
    "FormSubmission",
    "HandoffEvent",
    "HandoffFact",
    "HandoffRow",
    "InboundEvent",
    "Lead",
    "LeadIdentity",
    "Message",
    "OutboxRow",
    "PrivacyLogEntry",
    "RateCounter",
    "Rep",
    "RepSession",
    "Timer",
    "UTCDateTime",
]


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on every backend (SQLite drops zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with stable constraint names (Alembic needs them)."""

    metadata = MetaData(naming_convention=_NAMING)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class Lead(Base):
    """One person, however many channels they reached us on."""

    __tablename__ = "leads"
    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    name: Mapped[str | None] = mapped_column(String(200))
    company: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    display_name: Mapped[str | None] = mapped_column(String(200))
    industry: Mapped[str | None] = mapped_column(String(100))
    opted_out_at: Mapped[datetime | None]
    unreachable_at: Mapped[datetime | None]
    email_failed_at: Mapped[datetime | None]  # our mail to them bounced for good (5xx)
    email_error: Mapped[str | None] = mapped_column(Text)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("reps.id"))  # kept across handoffs
    team: Mapped[str | None] = mapped_column(String(100))
    consent_at: Mapped[datetime | None]  # agreed to the privacy notice (個人情報の取り扱い)
    consent_version: Mapped[str | None] = mapped_column(String(40))  # which version of it
    identities: Mapped[list[LeadIdentity]] = relationship(back_populates="lead")


class LeadIdentity(Base):
    """How a channel knows a lead: a web session, a LINE user id, an email address."""

    __tablename__ = "lead_identities"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_identity"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime]
    lead: Mapped[Lead] = relationship(back_populates="identities")


class Rep(Base):
    """A sales rep who takes handoffs and meetings."""

    __tablename__ = "reps"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    hours: Mapped[str | None] = mapped_column(String(400))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    password_hash: Mapped[str | None] = mapped_column(String(200))
    api_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(20), default="rep", server_default="rep")
    away: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    away_until: Mapped[datetime | None]  # back by itself at this moment (None: until unset)


class Conversation(Base):
    """A conversation with a flow: where it is and what it collected."""

    __tablename__ = "conversations"
    __table_args__ = (
        # the dashboard's leads of a date range, counted from the index alone
        Index("ix_conversations_dashboard", "created_at", "channel", "lead_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(64), unique=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    flow_id: Mapped[str] = mapped_column(String(100))
    flow_version: Mapped[int] = mapped_column(Integer)
    step: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    state: Mapped[dict[str, Any]]
    source: Mapped[dict[str, Any]]
    contact: Mapped[str | None] = mapped_column(String(320))
    token_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    first_response_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class Message(Base):
    """Every message, in both directions, with its time."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_conversation", "conversation_id", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    direction: Mapped[str] = mapped_column(String(3))  # "in" | "out"
    kind: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class HandoffRow(Base):
    """The record a rep opens before the first call; one per conversation."""

    __tablename__ = "handoffs"
    __table_args__ = (
        # The dashboard's date range, and what tells it a handoff changed, read from the
        # index alone (on SQLite the columns after ``record`` sit behind its overflow pages).
        Index(
            "ix_handoffs_dashboard",
            "created_at",
            "updated_at",
            "contacted_at",
            "qualified_at",
            "qualified",
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), unique=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    reason: Mapped[str] = mapped_column(String(100))
    tier: Mapped[str] = mapped_column(String(1))
    score: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="waiting")
    record: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    contacted_at: Mapped[datetime | None]
    contacted_by: Mapped[int | None] = mapped_column(ForeignKey("reps.id"))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("reps.id"), index=True)
    team: Mapped[str | None] = mapped_column(String(100))
    routed_by: Mapped[str | None] = mapped_column(String(200))  # the rule that matched
    notify_at: Mapped[datetime | None]  # when a person is first told (now, or next opening)
    notified_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]  # first-contact deadline (business time)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: 0.5次商談 recorded as done: when, by whom, and its structured fields
    #: (課題 / 意思決定者 / 検討時期 / 予算感 / 懸念点 / 次アクション, see domain.qualification).
    qualified_at: Mapped[datetime | None]
    qualified_by: Mapped[int | None] = mapped_column(ForeignKey("reps.id"))
    qualification: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: The rep's verdict after the 0.5次商談: True a real opportunity (商談化), False not.
    qualified: Mapped[bool | None] = mapped_column(Boolean)
    #: The tier fell to C because the lead did not react for the cadence's days (aging).
    aged_at: Mapped[datetime | None]


class HandoffEvent(Base):
    """One step in a handoff's life, for the record: assigned, notified, reassigned,
    escalated, contacted, a behaviour trigger. ``actor_id`` None means the system did it."""

    __tablename__ = "handoff_events"
    __table_args__ = (Index("ix_handoff_events_handoff", "handoff_id", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"))
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(30))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("reps.id"))
    rep_id: Mapped[int | None] = mapped_column(ForeignKey("reps.id"))  # the owner after it
    detail: Mapped[dict[str, Any]]


class HandoffFact(Base):
    """What the dashboard counts of one handoff that is costly to work out on every view
    (business minutes to the first contact, in or after hours, the figures inside the
    record's JSON) and copies of the handoff's columns it filters and counts by, computed
    from the handoff as it was at ``computed_from`` (its ``updated_at``), ``contacted_at``,
    ``qualified_at`` and ``qualified``; recomputed when any differs (see
    ``service/reports.py``). No foreign key: deleting a handoff (privacy) is never held up
    by it; the dashboard deletes the facts of handoffs that are gone before it counts."""

    __tablename__ = "handoff_facts"
    __table_args__ = (Index("ix_handoff_facts_created_at", "created_at"),)
    handoff_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    computed_from: Mapped[datetime]
    # copies of the handoff's own columns, so the dashboard reads this narrow table only
    created_at: Mapped[datetime]
    conversation_id: Mapped[int] = mapped_column(Integer)
    contacted_at: Mapped[datetime | None]
    contacted_by: Mapped[int | None] = mapped_column(Integer)
    owner_id: Mapped[int | None] = mapped_column(Integer)
    team: Mapped[str | None] = mapped_column(String(100))
    due_at: Mapped[datetime | None]
    qualified_at: Mapped[datetime | None]
    qualified: Mapped[bool | None] = mapped_column(Boolean)
    week: Mapped[date] = mapped_column(Date)  # Monday of the creation week (business tz)
    channel: Mapped[str] = mapped_column(String(20))
    campaign: Mapped[str] = mapped_column(String(300), default="")
    in_hours: Mapped[bool] = mapped_column(Boolean)  # the lead arrived while open
    bot_seconds: Mapped[float | None] = mapped_column(Float)
    contact_seconds: Mapped[float | None] = mapped_column(Float)  # business seconds
    cases_sent: Mapped[int] = mapped_column(Integer, default=0)
    cases_opened: Mapped[int] = mapped_column(Integer, default=0)
    pre_meeting_sent: Mapped[bool] = mapped_column(Boolean, default=False)
    pre_meeting_viewed: Mapped[bool] = mapped_column(Boolean, default=False)


class Timer(Base):
    """Something to do at a moment (an SLA escalation, a morning digest): a row, so it
    survives restarts and runs once across processes. ``key`` is unique: scheduling the
    same thing twice is one timer. Status: pending, done (fired), failed, cancelled."""

    __tablename__ = "timers"
    __table_args__ = (Index("ix_timers_due", "status", "due_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(200), unique=True)
    due_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class Booking(Base):
    """A meeting slot for a lead with a rep: ``held`` (tapped, details still to come, until
    ``expires_at``), ``confirmed``, or done with (``cancelled``, ``expired``, ``released``).
    One held or confirmed booking per rep and start."""

    __tablename__ = "bookings"
    __table_args__ = (
        Index(
            "uq_bookings_rep_start_active",
            "rep_id",
            "start_at",
            unique=True,
            sqlite_where=text("status IN ('confirmed', 'held')"),
            postgresql_where=text("status IN ('confirmed', 'held')"),
        ),
        Index("ix_bookings_conversation_status", "conversation_id", "status"),
        # the dashboard's meetings of a range of conversations, from the index alone
        Index("ix_bookings_dashboard", "conversation_id", "status", "outcome"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    rep_id: Mapped[int] = mapped_column(ForeignKey("reps.id"))
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]  # a hold's end; None once confirmed
    cancel_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    #: The invite's revision (iCalendar SEQUENCE): each update or cancel sends one more.
    sequence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: What happened at the meeting, marked by a rep: ``held`` or ``no_show``.
    outcome: Mapped[str | None] = mapped_column(String(20))
    outcome_at: Mapped[datetime | None]
    outcome_by: Mapped[int | None] = mapped_column(ForeignKey("reps.id"))
    #: A rescheduled meeting is a new booking pointing at the one it replaced (status
    #: ``rescheduled``); the invite keeps the first booking's UID.
    rescheduled_from_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"))


class FollowUp(Base):
    """A follow-up task on a handoff (二次架電, 資料送付, リマインドメール, フォローコール予定),
    made by the cadence rules (``rule``) or by a rep. Status: open, done, cancelled."""

    __tablename__ = "follow_ups"
    __table_args__ = (
        Index("ix_follow_ups_open", "status", "due_at"),
        Index("ix_follow_ups_handoff", "handoff_id", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"))
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    rule: Mapped[str | None] = mapped_column(String(100))
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), default="open")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("reps.id"))
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    done_by: Mapped[int | None] = mapped_column(ForeignKey("reps.id"))
    note: Mapped[str | None] = mapped_column(Text)


class RepSession(Base):
    """A rep's logged-in session, so that logging out really ends it (the cookie only
    names it): ``id`` is the SHA-256 of the random token in the cookie."""

    __tablename__ = "rep_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rep_id: Mapped[int] = mapped_column(ForeignKey("reps.id"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class PrivacyLogEntry(Base):
    """That a lead's data was exported, deleted or purged, without any personal data:
    the lead's number, what was done, by whom, and how many rows of each table."""

    __tablename__ = "privacy_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(20))  # export, delete, purge
    lead_id: Mapped[int | None] = mapped_column(Integer)  # no foreign key: the lead is gone
    actor: Mapped[str] = mapped_column(String(200))  # "rep:3", "cli", "retention"
    counts: Mapped[dict[str, Any]]


class OutboxRow(Base):
    """Something to send, written in the same transaction as what caused it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(320))
    payload: Mapped[dict[str, Any]]
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_until: Mapped[datetime | None]  # a worker is sending it; reclaimable after this
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id"))


class FormSubmission(Base):
    """One form post as it arrived (duplicates too, so nothing is lost)."""

    __tablename__ = "form_submissions"
    __table_args__ = (Index("ix_form_submissions_recent", "form_id", "email", "received_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    form_id: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254))
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    fields: Mapped[dict[str, Any]]
    source: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("form_submissions.id"))


class InboundEvent(Base):
    """An inbound event id already seen (LINE redeliveries, form resubmissions)."""

    __tablename__ = "inbound_events"
    __table_args__ = (
        UniqueConstraint("source", "event_id", name="uq_inbound_event"),
        Index("ix_inbound_events_pending", "source", "processed_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime]
    occurred_at: Mapped[datetime | None]
    payload: Mapped[dict[str, Any]]
    processed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)


class RateCounter(Base):
    """One rate-limit counter: hits of ``key`` (a client address, an email) in ``bucket``
    (chat starts, form posts, login failures) during the window starting at
    ``window_start``. Shared by every process on the database; pruned after
    ``expires_at``. A lockout is a row whose ``expires_at`` is its end."""

    __tablename__ = "rate_counters"
    __table_args__ = (Index("ix_rate_counters_expires_at", "expires_at"),)
    bucket: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime]
