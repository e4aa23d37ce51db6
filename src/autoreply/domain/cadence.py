"""The follow-up cadence (``flows/cadence.yaml``, top-level key ``cadence:``): which tasks a
handoff gets at its first contact (二次架電 and the next actions), when each is due, and
after how many days without a reaction a lead's tier falls to C (aging). Pure: the file's
models, its loader (``file:line:column`` problems), and the date arithmetic.

Offsets are written ``<n>m``, ``<n>h`` (business minutes / hours, counted only while the
business calendar is open) or ``<n>d`` (business days: the same time of day on the n-th
business day after, kept inside that day's hours). "Within 24 hours" in the field means
"by this time on the next business day", which is ``1d``; ``24h`` would be 24 *business*
hours, nearly three working days.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)

from autoreply.domain.calendar import BusinessCalendar
from autoreply.domain.promise import after_business_time
from autoreply.errors import FlowError, FlowProblem
from autoreply.yamlsource import Located, Path_, load_located, read_source

__all__ = [
    "DEFAULT_CADENCE",
    "KIND_LABELS",
    "TASK_KINDS",
    "AgingSpec",
    "Cadence",
    "CadenceFile",
    "CadenceRule",
    "CadenceSpec",
    "Offset",
    "PlannedTask",
    "TaskKind",
    "TaskSpec",
    "cadence_from_source",
    "default_cadence",
    "due_after",
    "last_reaction",
    "load_cadence",
    "next_daily_run",
    "parse_cadence",
    "start_of_day",
]

TaskKind = Literal["second_call", "send_material", "reminder_mail", "follow_call", "next_action"]
TASK_KINDS: tuple[str, ...] = get_args(TaskKind)
#: How a task kind reads (the pages use templates/rep/_labels.html; this is for the CRM).
KIND_LABELS: dict[str, str] = {
    "second_call": "二次架電",
    "send_material": "資料送付",
    "reminder_mail": "リマインドメール",
    "follow_call": "フォローコール予定",
    "next_action": "次アクション",
}
_ID = r"^[a-z0-9][a-z0-9_-]*$"
_OFFSET = re.compile(r"^([1-9][0-9]{0,4})(m|h|d)$")
_LIMITS = {"m": 60 * 24 * 90, "h": 24 * 90, "d": 90}  # at most about 90 days ahead
Tier = Literal["A", "B", "C"]


@dataclass(frozen=True)
class Offset:
    """An amount of business time: ``amount`` of ``unit`` (m, h or d)."""

    amount: int
    unit: str

    @classmethod
    def parse(cls, text: str) -> Offset:
        """``"2h"`` -> Offset(2, "h"); ``ValueError`` naming the format otherwise."""
        found = _OFFSET.match(text.strip()) if isinstance(text, str) else None
        if found is None:
            raise ValueError(
                f"{text!r} is not an offset: write <number>m, <number>h or <number>d "
                "(business minutes, hours or days), e.g. 2h or 1d"
            )
        amount, unit = int(found.group(1)), found.group(2)
        if amount > _LIMITS[unit]:
            raise ValueError(f"{text!r} is more than 90 days ahead")
        return cls(amount, unit)

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


def _offset(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(f"{value} has no unit: write {value}h (business hours) or {value}d")
    if not isinstance(value, str):
        raise ValueError("an offset is text such as 2h or 1d")
    return str(Offset.parse(value))


_OffsetText = Annotated[
    str,
    BeforeValidator(_offset),
    WithJsonSchema({"type": "string", "pattern": _OFFSET.pattern}),
    Field(
        description="business time: <n>m, <n>h or <n>d (business days), e.g. 2h, 1d",
    ),
]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskSpec(_Spec):
    """One task a rule makes: its kind and when it is due after the first contact."""

    kind: Literal["second_call", "send_material", "reminder_mail", "follow_call"]
    after: _OffsetText


class CadenceRule(_Spec):
    """Handoffs of these tiers, not booked at their first contact, get these tasks."""

    id: Annotated[str, StringConstraints(pattern=_ID)]
    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
        | None
    ) = None
    tiers: tuple[Tier, ...]
    tasks: tuple[TaskSpec, ...]


def _default_days() -> dict[Literal["A", "B"], int]:
    return {"A": 14, "B": 30}


class AgingSpec(_Spec):
    """A lead with no reaction for ``after_days[tier]`` calendar days falls to Tier C; the
    check runs once a day at ``at`` (local business time)."""

    at: Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = "06:00"
    after_days: dict[Literal["A", "B"], Annotated[int, Field(ge=1, le=365)]] = Field(
        default_factory=_default_days
    )


class CadenceSpec(_Spec):
    """The follow-up cadence: rules (the first naming a tier applies) and aging."""

    rules: tuple[CadenceRule, ...] = ()
    aging: AgingSpec | None = AgingSpec()


class CadenceFile(_Spec):
    """A cadence file (``flows/cadence.yaml``)."""

    cadence: CadenceSpec


@dataclass(frozen=True)
class PlannedTask:
    """A task to create: its kind, the rule that made it, when it is due."""

    kind: str
    rule: str
    due_at: datetime


@dataclass(frozen=True)
class Cadence:
    """A loaded cadence file, ready to plan tasks and aging."""

    spec: CadenceSpec
    source: str = "<built-in>"

    def rule_for(self, tier: str) -> CadenceRule | None:
        """The first rule naming ``tier`` (None: that tier gets no tasks)."""
        return next((r for r in self.spec.rules if tier in r.tiers), None)

    def rule_name(self, rule_id: str) -> str:
        """How a rule reads on the pages: its ``name``, else its id."""
        rule = next((r for r in self.spec.rules if r.id == rule_id), None)
        return (rule.name or rule.id) if rule is not None else rule_id

    def plan(
        self, calendar: BusinessCalendar, tier: str, contacted_at: datetime
    ) -> list[PlannedTask]:
        """The tasks a handoff of ``tier`` first contacted at ``contacted_at`` gets."""
        rule = self.rule_for(tier)
        if rule is None:
            return []
        return [
            PlannedTask(t.kind, rule.id, due_after(calendar, contacted_at, Offset.parse(t.after)))
            for t in rule.tasks
        ]

    def aging_days(self, tier: str) -> int | None:
        """After how many days without a reaction a ``tier`` lead falls to C (None: never)."""
        if self.spec.aging is None:
            return None
        days: dict[str, int] = {str(k): v for k, v in self.spec.aging.after_days.items()}
        return days.get(tier)

    @property
    def aging_at(self) -> time | None:
        """The local time the daily aging check runs (None: no aging)."""
        if self.spec.aging is None or not self.spec.aging.after_days:
            return None
        return time.fromisoformat(self.spec.aging.at)

    def aged(self, tier: str, reacted_at: datetime, now: datetime) -> bool:
        """Whether a ``tier`` lead last reacting at ``reacted_at`` has aged by ``now``."""
        days = self.aging_days(tier)
        return days is not None and now - reacted_at >= timedelta(days=days)


# -- time ------------------------------------------------------------------------------------


def _within_day(calendar: BusinessCalendar, day: date, at: time) -> datetime:
    """``at`` on ``day`` kept inside that day's business hours (before the opening: the
    opening; in a break: its end; after the close: the close)."""
    periods = calendar.periods_on(day)
    moment = datetime.combine(day, at, calendar.tz)
    for begin, end in periods:
        if moment < begin:
            return begin
        if moment <= end:
            return moment
    return periods[-1][1]


def due_after(calendar: BusinessCalendar, start: datetime, offset: Offset) -> datetime:
    """When a task ``offset`` after ``start`` is due, in business time.

    Minutes and hours count only open time (``after_business_time``); days are business
    days: Friday 15:00 + 1d is Monday 15:00 (a holiday Monday: Tuesday 15:00).
    """
    if offset.unit in ("m", "h"):
        minutes = offset.amount * (60 if offset.unit == "h" else 1)
        return after_business_time(calendar, start, timedelta(minutes=minutes))
    local = start.astimezone(calendar.tz)
    day = local.date()
    for _ in range(offset.amount):
        day = calendar.next_business_day(day)
    return _within_day(calendar, day, local.time().replace(second=0, microsecond=0))


def start_of_day(calendar: BusinessCalendar, day: date) -> datetime:
    """The opening of ``day`` if it is a business day, else the next opening (a task due
    "on" a date, such as the 次アクション of a 0.5次商談)."""
    periods = calendar.periods_on(day)
    if periods:
        return periods[0][0]
    return calendar.next_opening(datetime.combine(day, time(23, 59), calendar.tz))


def next_daily_run(tz: Any, now: datetime, at: time) -> datetime:
    """The next ``at`` (local time in ``tz``) strictly after ``now``."""
    local = now.astimezone(tz)
    planned = datetime.combine(local.date(), at, tz)
    if planned <= local:
        planned = datetime.combine(local.date() + timedelta(days=1), at, tz)
    return planned


def _times(values: Iterable[Any]) -> Iterable[datetime]:
    for value in values:
        if not isinstance(value, str) or not value:
            continue
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            continue
        if parsed.tzinfo is not None:
            yield parsed


def last_reaction(record: Mapping[str, Any]) -> datetime | None:
    """The lead's latest reaction a handoff record shows: a message they wrote, a case
    study clicked, viewed or read, a behaviour trigger (pricing views, a return, a form),
    a page of the site viewed with the chat open."""
    found: list[datetime] = []
    transcript = record.get("transcript") or ()
    found += _times(
        t.get("at") for t in transcript if isinstance(t, dict) and t.get("direction") == "in"
    )
    for key in ("cases_clicked", "cases_viewed", "cases_read"):
        table = record.get(key) or {}
        if isinstance(table, dict):
            found += _times(table.values())
    triggers = record.get("triggers") or ()
    found += _times(t.get("at") for t in triggers if isinstance(t, dict))
    source = record.get("source") or {}
    pages = source.get("pages") or () if isinstance(source, dict) else ()
    found += _times(p.get("at") for p in pages if isinstance(p, dict))
    return max(found, default=None)


# -- loading ---------------------------------------------------------------------------------


def _problems(spec: CadenceSpec) -> list[tuple[Path_, str]]:
    found: list[tuple[Path_, str]] = []
    seen_ids: dict[str, int] = {}
    covered: dict[str, str] = {}
    for index, rule in enumerate(spec.rules):
        here: Path_ = ("cadence", "rules", index)
        if not rule.tiers:
            found.append(((*here, "tiers"), f"rule {rule.id!r} names no tier"))
        if not rule.tasks:
            found.append(((*here, "tasks"), f"rule {rule.id!r} makes no task"))
        if rule.id in seen_ids:
            found.append(((*here, "id"), f"rule id {rule.id!r} is used twice"))
        seen_ids.setdefault(rule.id, index)
        for position, tier in enumerate(rule.tiers):
            if tier in covered:
                found.append(
                    (
                        (*here, "tiers", position),
                        f"rule {rule.id!r}: tier {tier} is already covered by rule "
                        f"{covered[tier]!r} (the first rule naming a tier applies)",
                    )
                )
            else:
                covered[tier] = rule.id
    return found


def cadence_from_source(src: Located) -> Cadence:
    """Check and load a cadence file read with positions (``FlowError``: every problem as
    file:line:column)."""
    spec = src.model(CadenceFile, "a cadence file", "cadence").cadence
    problems: list[FlowProblem] = [src.problem(path, why) for path, why in _problems(spec)]
    if problems:
        raise FlowError(problems)
    return Cadence(spec, source=src.file)


def parse_cadence(text: str, file: str) -> Cadence:
    """Check and load a cadence file's text (see :func:`cadence_from_source`)."""
    return cadence_from_source(load_located(text, file))


def load_cadence(path: Path) -> Cadence:
    """Read a cadence file (``FlowError`` when it is wrong)."""
    return parse_cadence(read_source(path), str(path))


#: What a team starts with (also the shipped ``flows/cadence.yaml``): Tier A is called again
#: the next business day, Tier B within three; each with the next actions of its rule.
DEFAULT_CADENCE = """\
cadence:
  rules:
    - id: tier-a
      name: Tier A（翌営業日に二次架電）
      tiers: [A]
      tasks:
        - kind: send_material
          after: 2h
        - kind: second_call
          after: 1d
        - kind: follow_call
          after: 5d
    - id: tier-b
      name: Tier B（3営業日以内に二次架電）
      tiers: [B]
      tasks:
        - kind: reminder_mail
          after: 1d
        - kind: second_call
          after: 3d
        - kind: follow_call
          after: 10d
  aging:
    at: "06:00"
    after_days:
      A: 14
      B: 30
"""


def default_cadence() -> Cadence:
    """The built-in cadence (used when the configured file does not exist)."""
    return parse_cadence(DEFAULT_CADENCE, "<built-in cadence>")
