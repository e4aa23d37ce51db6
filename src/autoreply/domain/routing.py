"""Routing (``flows/routing.yaml``): which team owns a handoff, which of its reps takes it,
and by when someone must have called. Every handoff gets an owner.

The routing file names the teams (their members, how one is picked, where the team and its
manager are told) and rules, the first matching one wins; the fallback team takes every
lead no rule matches. The decisions are pure: the service gives the lead's facts, the reps
with their shifts and load (``domain/shifts.py``), and the moment. The file's format is
``domain/routing_spec.py``; this module checks a file as a whole and decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from autoreply.domain import leads
from autoreply.domain.regions import region_matches, region_of
from autoreply.domain.routing_spec import (
    Notify,
    OnCall,
    RepContact,
    RoutingFile,
    RoutingSpec,
    Rule,
    Sla,
    Team,
    When,
)
from autoreply.domain.shifts import Candidate, next_on_shift, on_shift, pick_rep, shift_calendar
from autoreply.errors import FlowError, FlowProblem
from autoreply.yamlsource import Located, Path_, load_located, read_source

__all__ = [
    "CHANNELS",
    "Candidate",
    "Deadlines",
    "LeadFacts",
    "Notify",
    "OnCall",
    "RepContact",
    "Route",
    "Routing",
    "RoutingFile",
    "RoutingSpec",
    "Rule",
    "Sla",
    "Team",
    "When",
    "default_routing",
    "load_routing",
    "next_on_shift",
    "on_shift",
    "parse_routing",
    "pick_rep",
    "region_of",
    "routing_from_source",
    "shift_calendar",
]


#: How the "why" text names a channel.
CHANNELS: dict[str, str] = {
    "web": "Webチャット",
    "line": "LINE",
    "form": "フォーム",
    "email": "メール",
    "cli": "ターミナル",
}


@dataclass(frozen=True)
class LeadFacts:
    """What routing may look at of a lead (None: not known, and no rule on it matches)."""

    tier: str | None = None
    score: int | None = None
    channel: str | None = None
    industry: str | None = None
    region: str | None = None  # see ``region_of``
    form: str | None = None
    flow: str | None = None
    utm_source: str | None = None


@dataclass(frozen=True)
class Route:
    """The team that owns a lead, the rule that chose it (None: the fallback) and why, as
    the rep page says it."""

    team: Team
    rule_id: str | None
    why: str


@dataclass(frozen=True)
class Deadlines:
    """The SLA of one team, in business time."""

    first_contact: timedelta
    escalate_after: timedelta


def _fold(text: str) -> str:
    return text.strip().casefold()


def _one_of(value: str | None, wanted: Iterable[str]) -> str | None:
    """The lead's value if it is one of ``wanted`` (ignoring case), else None."""
    if value is None:
        return None
    return value if _fold(value) in {_fold(w) for w in wanted} else None


def _reasons(when: When, facts: LeadFacts) -> list[str] | None:
    """Why ``when`` holds for the lead, a phrase per criterion; None when it does not."""
    said: list[str] = []
    if when.tier is not None:
        tier = _one_of(facts.tier, when.tier)
        if tier is None:
            return None
        said.append(f"ランク{tier.strip().upper()}")
    if when.channel is not None:
        channel = _one_of(facts.channel, when.channel)
        if channel is None:
            return None
        said.append(CHANNELS.get(_fold(channel), channel))
    if when.region is not None:
        hit = next((r for r in when.region if facts.region and region_matches(r, facts.region)), "")
        if not hit:
            return None
        said.append(f"地域 {hit}")
    for label, wanted, value in (
        ("業種", when.industry, facts.industry),
        ("流入元", when.utm_source, facts.utm_source),
        ("フォーム", when.form, facts.form),
        ("フロー", when.flow, facts.flow),
    ):
        if wanted is not None:
            if _one_of(value, wanted) is None:
                return None
            said.append(f"{label} {value}")
    if when.score_min is not None or when.score_max is not None:
        low, high = when.score_min, when.score_max
        if facts.score is None or (low is not None and facts.score < low):
            return None
        if high is not None and facts.score > high:
            return None
        said.append(f"スコア{facts.score}")
    return said


class Routing:
    """The checked routing: teams by id, the rules in order and the fallback team."""

    def __init__(self, spec: RoutingSpec, source: str = "routing") -> None:
        self.spec = spec
        self.source = source
        self.teams = {team.id: team for team in spec.teams}
        self.rules = spec.rules
        self.fallback = self.teams[spec.fallback or spec.teams[0].id]
        self.on_call = spec.on_call
        self.reps = dict(spec.reps)

    def team(self, team_id: str | None) -> Team | None:
        """The team with this id (e.g. a lead's stored team), or None."""
        return self.teams.get(team_id) if team_id else None

    def route(self, facts: LeadFacts) -> Route:
        """The team that owns a lead with these facts: the first rule that matches, or the
        fallback, with the reason in a few words (「ルール tier_a_web（ランクA・Webチャット）」)."""
        for rule in self.rules:
            said = _reasons(rule.when, facts)
            if said is not None:
                why = "・".join(said) or "条件なし"
                return Route(self.teams[rule.team], rule.id, f"ルール {rule.id}（{why}）")
        return Route(self.fallback, None, "該当ルールなし（既定のチーム）")

    def deadlines(self, team: Team, default: Deadlines) -> Deadlines:
        """The team's SLA: its own minutes, else the file's, else ``default`` (the settings)."""
        first = team.sla.first_contact_minutes or self.spec.sla.first_contact_minutes
        escalate = team.sla.escalate_after_minutes or self.spec.sla.escalate_after_minutes
        return Deadlines(
            timedelta(minutes=first) if first else default.first_contact,
            timedelta(minutes=escalate) if escalate else default.escalate_after,
        )

    def on_call_target(self, tier: str | None) -> Notify | None:
        """Who is pinged after hours for a lead of this tier (None: nobody)."""
        if self.on_call is None or tier is None or tier.strip().upper() not in self.on_call.tiers:
            return None
        return self.on_call.notify

    def contact(self, email: str) -> RepContact | None:
        """How a rep is mentioned (by their email address), or None."""
        return self.reps.get(email.strip().lower())


def default_routing(rep_emails: Sequence[str]) -> Routing:
    """The routing when no file is configured: one team 「営業」 of every rep, round robin,
    told at the targets of the settings; it takes every lead."""
    members = dict.fromkeys(
        e.lower() for e in (leads.clean_email(raw) for raw in rep_emails) if e is not None
    )
    team = Team(id="sales", name="営業", members=tuple(members))
    return Routing(RoutingSpec(teams=(team,), fallback="sales"), source="default")


# -- loading --------------------------------------------------------------------------------


def _duplicates(items: Iterable[tuple[str, Path_]], what: str) -> list[tuple[Path_, str]]:
    seen: set[str] = set()
    found = []
    for name, path in items:
        if name in seen:
            found.append((path, f"duplicate {what} {name!r}"))
        seen.add(name)
    return found


def _when_problems(when: When, base: Path_) -> list[tuple[Path_, str]]:
    found: list[tuple[Path_, str]] = [
        ((*base, name), f"an empty {name} list matches no lead")
        for name in When.model_fields
        if getattr(when, name) == ()
    ]
    low, high = when.score_min, when.score_max
    if low is not None and high is not None and low > high:
        found.append(((*base, "score_max"), f"score_max {high} is below score_min {low}"))
    return found


def _problems(spec: RoutingSpec) -> tuple[list[tuple[Path_, str]], list[tuple[Path_, str]]]:
    """What is wrong with a well-formed routing file, as (path, why) at values and at keys."""
    top: Path_ = ("routing",)
    at_value = _duplicates(
        ((t.id, (*top, "teams", i, "id")) for i, t in enumerate(spec.teams)), "team id"
    )
    at_value += _duplicates(
        ((r.id, (*top, "rules", i, "id")) for i, r in enumerate(spec.rules)), "rule id"
    )
    teams = {t.id for t in spec.teams}
    for index, team in enumerate(spec.teams):
        here = (*top, "teams", index)
        if not team.members:
            at_value.append(((*here, "members"), f"team {team.id!r} has no members"))
        at_value += _duplicates(
            ((m, (*here, "members", i)) for i, m in enumerate(team.members)),
            "member",
        )
    catch_all: str | None = None
    for index, rule in enumerate(spec.rules):
        here = (*top, "rules", index)
        if rule.team not in teams:
            at_value.append(((*here, "team"), f"rule {rule.id!r}: unknown team {rule.team!r}"))
        at_value += _when_problems(rule.when, (*here, "when"))
        if catch_all is not None:
            at_value.append(
                (
                    (*here, "id"),
                    f"rule {rule.id!r} never applies: {catch_all!r} before it matches every lead",
                )
            )
        elif rule.when == When():
            catch_all = rule.id
    if spec.fallback is not None and spec.fallback not in teams:
        at_value.append(((*top, "fallback"), f"fallback: unknown team {spec.fallback!r}"))
    if spec.on_call is not None and not spec.on_call.tiers:
        at_value.append(((*top, "on_call", "tiers"), "an empty tiers list pings nobody"))
    at_key: list[tuple[Path_, str]] = []
    seen: set[str] = set()
    for email in spec.reps:
        cleaned = leads.clean_email(email)
        if cleaned is None:
            at_key.append(((*top, "reps", email), f"{email!r} is not an email address"))
        elif cleaned.lower() in seen:
            at_key.append(((*top, "reps", email), f"rep {cleaned.lower()!r} is listed twice"))
        else:
            seen.add(cleaned.lower())
    return at_value, at_key


def parse_routing(text: str, file: str) -> Routing:
    """Check and load a routing file; ``FlowError`` lists every problem as file:line:column."""
    return routing_from_source(load_located(text, file))


def routing_from_source(src: Located) -> Routing:
    """Check and load a routing file read with positions (see :func:`parse_routing`)."""
    spec = src.model(RoutingFile, "a routing file", "routing").routing
    if not spec.teams:
        raise FlowError([src.problem(("routing", "teams"), "routing needs at least one team")])
    at_value, at_key = _problems(spec)
    problems: list[FlowProblem] = [src.problem(path, why) for path, why in at_value]
    problems += [src.problem(path, why, key=True) for path, why in at_key]
    if problems:
        raise FlowError(problems)
    reps = {str(leads.clean_email(e)).lower(): contact for e, contact in spec.reps.items()}
    return Routing(spec.model_copy(update={"reps": reps}), source=src.file)


def load_routing(path: Path) -> Routing:
    """Read a routing file (``FlowError`` when it is missing or wrong: a configured routing
    that cannot be read must not silently become the default)."""
    return parse_routing(read_source(path), str(path))
