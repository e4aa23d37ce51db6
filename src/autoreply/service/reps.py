"""Sales reps: accounts (argon2 passwords, API tokens, hours) and the handoff queue they work."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Literal, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.clock import SystemClock
from autoreply.domain.calendar import WeeklyHours
from autoreply.domain.leads import clean_email
from autoreply.errors import BadRequestError, ConfigError, ConflictError, NotFoundError
from autoreply.service import sessions
from autoreply.service.owners import Owners
from autoreply.signing import new_token, token_hash, verify_token
from autoreply.store import repos
from autoreply.store.models import Booking, HandoffRow, OutboxRow, Rep

__all__ = [
    "CHANNELS",
    "MIN_PASSWORD_LENGTH",
    "ROLES",
    "SEARCH_MAX",
    "STATUSES",
    "Channel",
    "LeadHistory",
    "Status",
    "all_reps",
    "authenticate",
    "check_password",
    "contacted_by",
    "create_rep",
    "demo_password",
    "find_rep",
    "get_handoff",
    "hash_password",
    "issue_token",
    "lead_history",
    "list_handoffs",
    "mark_contacted",
    "new_password",
    "normalise_email",
    "normalise_hours",
    "notification_problems",
    "rep_by_id",
    "rep_for_token",
    "seed_demo_rep",
    "set_active",
    "set_away",
    "set_hours",
    "set_password",
    "validate_password",
]

MIN_PASSWORD_LENGTH = 10
Status = Literal["waiting", "contacted", "all"]
Channel = Literal["web", "line", "form", "email", "cli", "all"]
STATUSES: tuple[str, ...] = get_args(Status)
CHANNELS: tuple[str, ...] = get_args(Channel)
SEARCH_MAX = repos.MAX_QUERY_LENGTH  # the longest search of the queue

# RFC 9106's second recommended profile (argon2id, 64 MiB, t=3): argon2-cffi's default.
_hasher = PasswordHasher()


# -- passwords and tokens (pure) ---------------------------------------------------------


def new_password() -> str:
    """A strong random password (about 120 bits), easy to copy: URL-safe characters."""
    return secrets.token_urlsafe(15)


def validate_password(password: str) -> str:
    """The password if it is usable; ``BadRequestError`` if it is too short."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise BadRequestError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return password


def hash_password(password: str) -> str:
    """The argon2id hash stored instead of a password (slow on purpose: ~0.1-0.5 s)."""
    return _hasher.hash(password)


@cache
def _cached_hash(password: str) -> str:
    """One hash per process and password: the demo password is seeded into every fresh
    database, and unknown addresses are checked against a fixed dummy hash."""
    return hash_password(password)


def demo_password(path: Path) -> tuple[str, str]:
    """The demo rep's password and its hash: read from ``path``, or generated once into it
    (readable by the owner only), so it survives a database reset."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another process was first: read theirs
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(new_password() + "\n")
    password = path.read_text(encoding="utf-8").strip()
    return password, _cached_hash(password)


def check_password(password: str, stored: str | None) -> tuple[bool, str | None]:
    """Whether ``password`` matches ``stored``, and a new hash when the old one should be
    upgraded (argon2's parameters changed since it was made), else None.

    >>> ok, new_hash = check_password("correct horse battery", hash_password("x" * 10))
    >>> ok, new_hash
    (False, None)
    """
    if not stored:
        return False, None
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False, None
    return True, hash_password(password) if _hasher.check_needs_rehash(stored) else None


def normalise_email(email: str) -> str:
    """The stored form of a rep's address (lower case); ``ConfigError`` if it is not one."""
    address = clean_email(email)
    if address is None:
        raise ConfigError(f"not an email address: {email!r}")
    return address.lower()


def normalise_hours(hours: str) -> str:
    """Working hours in canonical form, e.g. ``"mon-fri 10:00-16:00"``; raises ``ConfigError``."""
    parsed = WeeklyHours.parse(hours)
    if not any(parsed.days):
        raise ConfigError(f"hours {hours!r} name no working time at all")
    return str(parsed)


# -- accounts ------------------------------------------------------------------------------


async def find_rep(session: AsyncSession, email: str) -> Rep:
    """The rep with this address; ``NotFoundError`` if there is none."""
    address = clean_email(email)
    rep = None
    if address is not None:
        rep = await repos.rep_by_email(session, address.lower())
    if rep is None:
        raise NotFoundError(f"no rep with email {email!r}")
    return rep


async def create_rep(
    session: AsyncSession,
    name: str,
    email: str,
    *,
    now: datetime,
    hours: str | None = None,
    password: str | None = None,
    password_hash: str | None = None,
    role: str = "rep",
) -> Rep:
    """Add an active rep (``role`` rep, or manager: sees the notification problems and is
    who the demo's escalations end with); ``ConflictError`` if the address is taken.

    ``password`` is hashed (off the event loop); ``password_hash`` is stored as given.
    """
    if not name.strip():
        raise ConfigError("a rep needs a name")
    address = normalise_email(email)
    canonical_hours = normalise_hours(hours) if hours is not None else None
    if password is not None:
        password_hash = await asyncio.to_thread(hash_password, validate_password(password))
    rep = Rep(
        name=name.strip(),
        email=address,
        hours=canonical_hours,
        active=True,
        created_at=now,
        password_hash=password_hash,
        role=_role(role),
    )
    return await repos.add_rep(session, rep)


ROLES = ("rep", "manager")


def _role(role: str) -> str:
    if role not in ROLES:
        raise ConfigError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return role


async def set_password(
    session: AsyncSession, email: str, password: str, *, now: datetime | None = None
) -> Rep:
    """Replace a rep's password (the old one stops working at once) and end the rep's
    sessions (``now``: when; the system clock if not given)."""
    rep = await find_rep(session, email)
    rep.password_hash = await asyncio.to_thread(hash_password, validate_password(password))
    await sessions.end_all(session, rep.id, now or SystemClock().now())
    return rep


async def set_active(session: AsyncSession, email: str, active: bool, now: datetime) -> Rep:
    """Deactivate a rep (no login, no handoffs; every session ends at once) or
    reactivate one."""
    rep = await find_rep(session, email)
    rep.active = active
    if not active:
        await sessions.end_all(session, rep.id, now)
    return rep


async def issue_token(session: AsyncSession, email: str) -> str:
    """A new API token for the rep, returned once; only its SHA-256 is kept, and the
    previous token stops working."""
    rep = await find_rep(session, email)
    token = new_token()
    rep.api_token_hash = token_hash(token)
    await session.flush()
    return token


async def notification_problems(session: AsyncSession) -> list[OutboxRow]:
    """Notifications that failed for good or are being retried (the admins' page)."""
    return await repos.notification_rows(session)


async def set_away(
    session: AsyncSession, rep: Rep, away: bool, until: datetime | None = None
) -> Rep:
    """Mark a rep away (no new handoffs, never picked by an escalation) or back; ``until``
    ends it by itself."""
    row = await repos.get_rep(session, rep.id)
    if row is None:
        raise NotFoundError(f"no rep {rep.id}")
    row.away, row.away_until = away, until if away else None
    return row


async def set_hours(session: AsyncSession, email: str, hours: str) -> Rep:
    """Set a rep's own working hours (meetings are only offered inside them)."""
    rep = await find_rep(session, email)
    rep.hours = normalise_hours(hours)
    return rep


async def authenticate(session: AsyncSession, email: str, password: str) -> Rep | None:
    """The active rep with this address and password, else None.

    An unknown address costs as long as a wrong password, so timing does not tell which
    addresses have accounts. An outdated hash is upgraded on the way.
    """
    address = clean_email(email)
    rep = None
    if address is not None:
        rep = await repos.rep_by_email(session, address.lower())
    stored = rep.password_hash if rep is not None else None
    ok, new_hash = await asyncio.to_thread(
        check_password, password, stored or _cached_hash("timing-equaliser")
    )
    if rep is None or not stored or not ok or not rep.active:
        return None
    if new_hash is not None:
        rep.password_hash = new_hash
    return rep


async def rep_by_id(session: AsyncSession, rep_id: int) -> Rep | None:
    """A rep by id (a logged-in session's), None if gone."""
    return await repos.get_rep(session, rep_id)


async def rep_for_token(session: AsyncSession, token: str) -> Rep | None:
    """The active rep holding this API token, else None."""
    if not token:
        return None
    rep = await repos.rep_by_token(session, token_hash(token))
    if rep is None or not rep.active or not verify_token(token, rep.api_token_hash):
        return None
    return rep


DEMO_REP = ("デモ担当 山田", "demo-rep@example.com")


async def seed_demo_rep(session: AsyncSession, password_hash: str, now: datetime) -> Rep | None:
    """With no reps at all, add the demo rep (so meetings can be offered at once); the rep,
    or None when there were reps already (or another worker seeded it at this moment)."""
    if await repos.count_reps(session):
        return None
    try:
        return await create_rep(
            session, DEMO_REP[0], DEMO_REP[1], now=now, password_hash=password_hash, role="manager"
        )
    except ConflictError:
        return None


async def all_reps(session: AsyncSession) -> list[Rep]:
    """Every rep, oldest first (``autoreply reps list``)."""
    return await repos.all_reps(session)


# -- the handoff queue ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Filters:
    status: str
    channel: str


def _filters(status: str, channel: str) -> _Filters:
    if status not in STATUSES:
        raise BadRequestError(f"status must be one of {', '.join(STATUSES)}")
    if channel not in CHANNELS:
        raise BadRequestError(f"channel must be one of {', '.join(CHANNELS)}")
    return _Filters(status, channel)


async def list_handoffs(
    session: AsyncSession,
    *,
    status: str = "waiting",
    channel: str = "all",
    q: str = "",
    now: datetime,
    limit: int = 200,
) -> Sequence[repos.QueueEntry]:
    """One handoff per lead (one person is one lead, however many conversations), in the
    order reps work them: Tier A first, then newest; with its channel, the number of the
    lead's handoffs and the lead's meetings. ``q`` searches the lead's name, company,
    email and LINE name, the challenge and what the lead wrote (empty: no search)."""
    wanted = _filters(status, channel)
    if len(q) > SEARCH_MAX:
        raise BadRequestError(f"q is longer than {SEARCH_MAX} characters")
    return await repos.handoffs(
        session, status=wanted.status, channel=wanted.channel, limit=limit, q=q, now=now
    )


async def get_handoff(session: AsyncSession, handoff_id: int) -> tuple[HandoffRow, str]:
    """One handoff with its channel; ``NotFoundError`` if there is none."""
    found = await repos.handoff_with_channel(session, handoff_id)
    if found is None:
        raise NotFoundError(f"no handoff {handoff_id}")
    return found


@dataclass(frozen=True)
class LeadHistory:
    """Everything one lead did with us: every handoff (conversation) and every meeting."""

    handoffs: Sequence[tuple[HandoffRow, str]]
    bookings: Sequence[tuple[Booking, Rep]]


async def lead_history(session: AsyncSession, lead_id: int) -> LeadHistory:
    """All handoffs and meetings of one lead, newest first."""
    return LeadHistory(
        await repos.handoffs_of_lead(session, lead_id),
        await repos.bookings_of_lead(session, lead_id),
    )


async def contacted_by(session: AsyncSession, row: HandoffRow) -> Rep | None:
    """The rep who first contacted the lead of a handoff, if one did."""
    return None if row.contacted_by is None else await repos.get_rep(session, row.contacted_by)


async def mark_contacted(
    session: AsyncSession,
    handoff_id: int,
    rep: Rep,
    now: datetime,
    owners: Owners | None = None,
) -> HandoffRow:
    """Record that a rep reached the lead: this handoff and the lead's other handoffs still
    waiting (one person, one call). The first contact stands: the time to first human
    contact is a KPI, so a second click does not move it. ``owners`` stops their SLA
    clocks on the record."""
    row = await repos.lock_handoff(session, handoff_id)
    if row is None:
        raise NotFoundError(f"no handoff {handoff_id}")
    if row.contacted_at is None:
        changed = await repos.lock_waiting_handoffs_of_lead(session, row.lead_id)
        for waiting in changed:
            waiting.status = "contacted"
            waiting.contacted_at = now
            waiting.contacted_by = rep.id
            waiting.updated_at = now
        if owners is not None:
            await owners.contacted(session, changed, rep, now)
        await session.flush()
    return row
