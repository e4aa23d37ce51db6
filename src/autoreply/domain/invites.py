"""Calendar invitations (iCalendar, RFC 5545/5546) for booked meetings: request and cancel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, Timezone, vCalAddress, vText

__all__ = ["Invite", "Person", "invite_ics"]

PRODID = "-//autoreply//meeting invites//JA"


@dataclass(frozen=True)
class Person:
    """Someone on the invite: a display name (may be empty) and an address."""

    name: str
    email: str


@dataclass(frozen=True)
class Invite:
    """One meeting as the calendars of rep and lead should hold it.

    ``uid`` stays the same for the life of the booking, so a cancel (with a higher
    ``sequence``) replaces the request in the attendee's calendar instead of adding one.
    """

    uid: str
    start: datetime
    end: datetime
    summary: str
    description: str
    organizer: Person
    attendees: tuple[Person, ...]
    stamp: datetime
    location: str | None = None
    sequence: int = 0


def _address(person: Person) -> vCalAddress:
    address = vCalAddress(f"mailto:{person.email}")
    if person.name:
        address.params["CN"] = vText(person.name)
    return address


def invite_ics(invite: Invite, method: Literal["REQUEST", "CANCEL"]) -> bytes:
    """The ``.ics`` bytes (CRLF line endings, VTIMEZONE for the meeting's zone).

    Times keep the zone they are given in (Asia/Tokyo for the business calendar), so
    calendars show the meeting at the business time whatever the reader's zone.
    """
    for moment in (invite.start, invite.end, invite.stamp):
        if moment.tzinfo is None:
            raise ValueError("invite times must be timezone-aware")
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", method)
    event = Event()
    event.add("uid", invite.uid)
    event.add("dtstamp", invite.stamp)
    event.add("dtstart", invite.start)
    event.add("dtend", invite.end)
    event.add("summary", invite.summary)
    event.add("description", invite.description)
    if invite.location:
        event.add("location", invite.location)
    event.add("organizer", _address(invite.organizer))
    for person in invite.attendees:
        attendee = _address(person)
        attendee.params["ROLE"] = "REQ-PARTICIPANT"
        attendee.params["PARTSTAT"] = "NEEDS-ACTION"
        attendee.params["RSVP"] = "TRUE"
        event.add("attendee", attendee)
    event.add("sequence", invite.sequence)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    event.add("transp", "OPAQUE")
    zone = invite.start.tzinfo
    if isinstance(zone, ZoneInfo):
        calendar.subcomponents.insert(0, _vtimezone(zone.key))
    calendar.add_component(event)
    calendar.add_missing_timezones()  # any other zone (none when given business times)
    ics: bytes = calendar.to_ical()
    return ics


@lru_cache(maxsize=8)
def _vtimezone(key: str) -> Timezone:
    """The VTIMEZONE of a zone, built once (icalendar walks every transition: slow)."""
    return Timezone.from_tzinfo(ZoneInfo(key), tzid=key)
