"""The routing file's format (``flows/routing.yaml``, top-level key ``routing:``): teams,
rules, deadlines and where people are told, as pydantic models with extra keys refused and
values checked where they are written (an address, a webhook URL, a Chatwork room id).

The checks that need the whole file (ids unique, a rule's team exists) are in
``domain/routing.py``, which loads it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from autoreply.domain import leads

__all__ = [
    "DEFAULT_NOTIFY",
    "ChannelName",
    "Notify",
    "OnCall",
    "RepContact",
    "RoutingFile",
    "RoutingSpec",
    "Rule",
    "Sla",
    "Team",
    "Tier",
    "When",
]

_ID = r"^[a-z0-9][a-z0-9_-]*$"
_Id = Annotated[str, StringConstraints(pattern=_ID)]
_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
_Minutes = Annotated[int, Field(ge=1, le=7 * 24 * 60)]
Tier = Literal["A", "B", "C"]
ChannelName = Literal["web", "line", "form", "email", "cli"]


def _refused(code: str, why: str, value: str) -> PydanticCustomError:
    """A refusal that names the value as written: ``'x' is not an email address``."""
    return PydanticCustomError(code, "{value} " + why, {"value": repr(value)})


def _email(value: str) -> str:
    cleaned = leads.clean_email(value)
    if cleaned is None:
        raise _refused("email", "is not an email address", value)
    return cleaned.lower()


def _target(value: str) -> str:
    parts = urlsplit(value)
    if value == "default" or (
        parts.scheme in ("http", "https") and parts.netloc and not any(c.isspace() for c in value)
    ):
        return value
    raise _refused("target", "is neither 'default' nor an http(s) webhook URL", value)


def _room(value: str) -> str:
    if value == "default" or (value.isascii() and value.isdigit()):
        return value
    raise _refused("room", "is neither 'default' nor a Chatwork room id (digits)", value)


def _account(value: str) -> str:
    if value.isascii() and value.isdigit():
        return value
    raise _refused("account", "is not a Chatwork account id (digits)", value)


def _int_as_text(value: Any) -> Any:
    """YAML reads an unquoted 123456 as a number; a room or account id is its digits."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


_Email = Annotated[str, AfterValidator(_email), WithJsonSchema({"type": "string"})]
_Target = Annotated[
    str,
    AfterValidator(_target),
    WithJsonSchema({"type": "string", "pattern": r"^(default|https?://\S+)$"}),
]
_Room = Annotated[
    str,
    BeforeValidator(_int_as_text),
    AfterValidator(_room),
    WithJsonSchema({"type": "string", "pattern": r"^(default|[0-9]+)$"}),
]
_Account = Annotated[
    str,
    BeforeValidator(_int_as_text),
    AfterValidator(_account),
    WithJsonSchema({"type": "string", "pattern": r"^[0-9]+$"}),
]
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{2,}")


def _slack_user(value: str) -> str:
    if _SLACK_USER.fullmatch(value):
        return value
    raise _refused("slack_user", "is not a Slack member id (e.g. U0123ABC)", value)


_SlackUser = Annotated[
    str,
    AfterValidator(_slack_user),
    WithJsonSchema({"type": "string", "pattern": f"^{_SLACK_USER.pattern}$"}),
]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sla(_Spec):
    """Deadlines in business minutes; a value not given falls back to the next level (the
    team's, then the file's, then the settings')."""

    first_contact_minutes: _Minutes | None = None  # from the handoff to the first call
    escalate_after_minutes: _Minutes | None = None  # a missed deadline: to the next rep


class Notify(_Spec):
    """Where a team (or its manager) is told: ``default`` is the target of the settings."""

    slack: _Target | None = None  # an incoming-webhook URL or "default"
    teams: _Target | None = None  # a Teams workflow webhook URL or "default"
    chatwork_room: _Room | None = None  # a room id or "default"
    email: tuple[_Email, ...] = ()


#: Where a team without ``notify:`` is told: every target the settings configure.
DEFAULT_NOTIFY = Notify(slack="default", teams="default", chatwork_room="default")


class Team(_Spec):
    """A team that owns leads: its reps (by email address, in order) and how one is picked."""

    id: _Id
    name: _Text
    members: tuple[_Email, ...]
    pick: Literal["round_robin", "least_loaded"] = "round_robin"
    notify: Notify = DEFAULT_NOTIFY
    manager: Notify | None = None  # where a second missed deadline goes
    sla: Sla = Sla()


class When(_Spec):
    """What a rule looks at; every criterion given must hold, any value of a list will do."""

    tier: tuple[Tier, ...] | None = None
    channel: tuple[ChannelName, ...] | None = None
    region: tuple[_Text, ...] | None = None
    industry: tuple[_Text, ...] | None = None
    utm_source: tuple[_Text, ...] | None = None
    form: tuple[_Text, ...] | None = None
    flow: tuple[_Text, ...] | None = None
    score_min: int | None = None
    score_max: int | None = None


class Rule(_Spec):
    """A routing rule: leads it matches go to ``team``."""

    id: _Id
    when: When
    team: _Id


class OnCall(_Spec):
    """After hours, leads of these tiers also ping this target."""

    tiers: tuple[Tier, ...]
    notify: Notify


class RepContact(_Spec):
    """How a rep is mentioned in the team's channel."""

    slack: _SlackUser | None = None  # member id, e.g. U0123ABC
    chatwork: _Account | None = None  # account id


class RoutingSpec(_Spec):
    """The routing of handoffs to teams and reps."""

    sla: Sla = Sla()
    teams: tuple[Team, ...]
    rules: tuple[Rule, ...] = ()  # the first match wins
    fallback: _Id | None = None  # the team no rule matched leads go to (default: the first)
    on_call: OnCall | None = None
    reps: dict[str, RepContact] = {}  # rep email address -> mentions


class RoutingFile(_Spec):
    """A routing file (``flows/routing.yaml``)."""

    routing: RoutingSpec
