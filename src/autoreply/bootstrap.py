"""The composition root: builds everything from one ``Settings`` object."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from autoreply.clock import Clock, SystemClock
from autoreply.config import Settings, project_path
from autoreply.domain.booking import SlotRules
from autoreply.domain.calendar import BusinessCalendar, Closure, WeeklyHours
from autoreply.domain.casestudies import CaseLibrary
from autoreply.domain.topics import TopicVocabulary
from autoreply.errors import ConfigError
from autoreply.flows.engine import Engine
from autoreply.flows.loader import load_flow
from autoreply.texts import Texts

__all__ = ["Domain", "build_domain", "load_content", "read_yaml", "resolve_secret"]


def read_yaml(path: Path) -> Any:
    """Read an operator YAML file; problems become ``ConfigError`` naming the file."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc


def resolve_secret(settings: Settings) -> str:
    """AUTOREPLY_SECRET_KEY, else a key generated once into var/secret.key (readable by the
    owner only), so sessions and signed links survive a restart."""
    if settings.secret_key:
        return settings.secret_key
    path = Path("var") / "secret.key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret)
    return secret


def load_content(settings: Settings) -> tuple[TopicVocabulary, CaseLibrary]:
    """The topic vocabulary and case-study library named by the settings."""
    topics_path = settings.path("topics")
    vocabulary = TopicVocabulary.from_data(read_yaml(topics_path), source=str(topics_path))
    cases_path = settings.path("casestudies")
    library = CaseLibrary.from_data(read_yaml(cases_path), vocabulary, source=str(cases_path))
    return vocabulary, library


def build_calendar(settings: Settings) -> BusinessCalendar:
    """The business calendar from the settings; a bad value names its setting."""
    try:
        hours = WeeklyHours.parse(settings.business_hours)
    except ConfigError as exc:
        raise ConfigError(f"setting AUTOREPLY_BUSINESS_HOURS: {exc}") from exc
    try:
        closures = Closure.parse_many(settings.closures)
    except ConfigError as exc:
        raise ConfigError(f"setting AUTOREPLY_CLOSURES: {exc}") from exc
    try:
        return BusinessCalendar(
            tz=settings.tz,
            hours=hours,
            closures=closures,
            holidays_country=settings.holidays_country or None,
        )
    except ConfigError as exc:
        raise ConfigError(f"setting AUTOREPLY_HOLIDAYS_COUNTRY: {exc}") from exc


def slot_rules(settings: Settings) -> SlotRules:
    """Meeting-slot rules from the settings."""
    return SlotRules(
        duration=timedelta(minutes=settings.slot_duration_minutes),
        days_ahead=settings.slot_days_ahead,
        count=settings.slot_count,
        min_lead=timedelta(minutes=settings.slot_min_lead_minutes),
        prep_buffer=timedelta(minutes=settings.slot_prep_minutes),
    )


@dataclass
class Domain:
    """Everything pure the service needs, loaded and checked once at start."""

    settings: Settings
    calendar: BusinessCalendar
    vocabulary: TopicVocabulary
    library: CaseLibrary
    texts: Texts
    rules: SlotRules
    engines: dict[str, Engine] = field(default_factory=dict)
    default_flow: str = ""
    clock: Clock = field(default_factory=SystemClock)
    secret: str = field(default="", repr=False)

    def engine(self, flow_id: str | None = None) -> Engine:
        """The engine of a flow by id (the default flow when None)."""
        key = flow_id or self.default_flow
        try:
            return self.engines[key]
        except KeyError:
            raise ConfigError(f"unknown flow {key!r}") from None

    def flow_for(self, flow_id: str | None, locale: str | None = None) -> Engine | None:
        """The engine a channel asked for: by id, else the default flow if its language
        matches, else any flow in that language, else the default; None for an unknown id."""
        if flow_id:
            return self.engines.get(flow_id)
        default = self.engines[self.default_flow]
        if locale is None or default.flow.locale == locale:
            return default
        return next((e for e in self.engines.values() if e.flow.locale == locale), default)

    def add_flow(self, path: Path, *, default: bool = False) -> Engine:
        """Load, check and register one more flow file."""
        engine = Engine(load_flow(project_path(path), self.texts.dir))
        self.engines[engine.flow.id] = engine
        if default or not self.default_flow:
            self.default_flow = engine.flow.id
        return engine


def build_domain(settings: Settings, clock: Clock | None = None) -> Domain:
    """Load the flow, content and calendar named by the settings (raises on any problem)."""
    vocabulary, library = load_content(settings)
    domain = Domain(
        settings=settings,
        calendar=build_calendar(settings),
        vocabulary=vocabulary,
        library=library,
        texts=Texts(settings.path("templates_dir")),
        rules=slot_rules(settings),
        clock=clock or SystemClock(),
        secret=resolve_secret(settings),
    )
    domain.texts.check()
    domain.add_flow(settings.flow, default=True)
    for extra in (p.strip() for p in settings.extra_flows.split(",")):
        if extra:
            domain.add_flow(Path(extra))
    return domain
