"""What the operator configured, loaded and checked once at start: flows, content, calendar."""

from __future__ import annotations

from dataclasses import dataclass, field

from autoreply.clock import Clock, SystemClock
from autoreply.config import Settings
from autoreply.domain.booking import SlotRules
from autoreply.domain.calendar import BusinessCalendar
from autoreply.domain.casestudies import CaseLibrary
from autoreply.domain.crm_events import Webhook
from autoreply.domain.topics import TopicVocabulary
from autoreply.errors import ConfigError
from autoreply.flows.engine import Engine
from autoreply.texts import Texts

__all__ = ["Content"]


@dataclass
class Content:
    """Everything pure the use cases need: the flows' engines, the case-study library and
    topic vocabulary, the business calendar, the operator's texts, the slot rules, the
    clock and secret every use case shares, and the CRM webhooks events go to. Built by
    ``bootstrap.build_content``."""

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
    webhooks: tuple[Webhook, ...] = ()  # CRM endpoints that events are sent to

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

    def register(self, engine: Engine, *, default: bool = False) -> Engine:
        """Serve one more flow (the first registered, or ``default``, is the default)."""
        self.engines[engine.flow.id] = engine
        if default or not self.default_flow:
            self.default_flow = engine.flow.id
        return engine
