"""The composition root: builds the running product from one ``Settings`` object.

Only entry points import this module (the command line, the web app factory): everything
else receives what it needs from here, so that a test can build its own.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autoreply.channels.base import Channel
from autoreply.channels.chatwork.transport import chatwork_channel
from autoreply.channels.crm.transport import crm_channel
from autoreply.channels.email.render import MailRenderer, parse_sender
from autoreply.channels.email.transport import email_channel
from autoreply.channels.line.client import line_api, line_channel
from autoreply.channels.line.inbox import LineInbox
from autoreply.channels.slack.transport import slack_channel
from autoreply.channels.teams.transport import teams_channel
from autoreply.clock import Clock, SystemClock
from autoreply.config import Settings, project_path
from autoreply.domain.analysis import Analyser
from autoreply.domain.booking import SlotRules
from autoreply.domain.cadence import Cadence, default_cadence, load_cadence
from autoreply.domain.calendar import BusinessCalendar, Closure, WeeklyHours
from autoreply.domain.casestudies import CaseLibrary, library_from_source
from autoreply.domain.crm_events import Webhook
from autoreply.domain.forms import FlowFacts, Forms, load_forms
from autoreply.domain.routing import Routing, default_routing, load_routing
from autoreply.domain.topics import TopicVocabulary, topics_from_source
from autoreply.domain.webhooks import configured_webhooks, load_webhooks
from autoreply.errors import ConfigError, FlowError
from autoreply.flows.engine import Engine
from autoreply.flows.kinds import Checked, check_files, flow_facts
from autoreply.flows.loader import load_flow
from autoreply.links import Links, absolute_url
from autoreply.service import reps
from autoreply.service.booking import Bookings
from autoreply.service.content import Content
from autoreply.service.conversations import ConversationService
from autoreply.service.deliveries import Deliveries
from autoreply.service.followups import FollowUps
from autoreply.service.intake import FormIntake
from autoreply.service.limits import DatabaseCounters, LimitPolicy, RateLimits
from autoreply.service.meeting_changes import MeetingChanges
from autoreply.service.meetings import REMINDER, MeetingMail
from autoreply.service.notifications import Notifications
from autoreply.service.owners import Owners
from autoreply.service.privacy import RETENTION, Privacy
from autoreply.service.runtime import Runtime
from autoreply.store.db import (
    create_engine,
    create_read_engine,
    is_sqlite,
    migration_status,
    read_session_factory,
    session_factory,
    upgrade,
)
from autoreply.store.outbox import OutboxWorker, RetryPolicy
from autoreply.store.timers import Scheduler
from autoreply.texts import Texts
from autoreply.yamlsource import Located, load_located, read_source

__all__ = [
    "add_flow",
    "build_analyser",
    "build_calendar",
    "build_content",
    "check_forms",
    "check_operator_files",
    "configured_files",
    "load_checked_forms",
    "load_library",
    "mail_renderer",
    "open_runtime",
    "open_session",
    "rate_limits",
    "resolve_secret",
    "run_worker",
    "slot_rules",
]

log = logging.getLogger(__name__)
DEMO_PASSWORD_FILE = Path("var") / "demo-rep-password.txt"


# -- what the operator wrote ----------------------------------------------------------------


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


def _located(path: Path) -> Located:
    return load_located(read_source(path), str(path))


@functools.cache
def build_analyser() -> Analyser:
    """The product's text analyser (SudachiPy with ``sudachidict_core``, Snowball for
    English), loaded once per process: the dictionary takes ~50 ms and ~70 MB."""
    from autoreply.text import SudachiAnalyser

    return SudachiAnalyser()


def load_library(
    settings: Settings, analyser: Analyser | None = None
) -> tuple[TopicVocabulary, CaseLibrary]:
    """The topic vocabulary and case-study library named by the settings (``FlowError``
    lists every problem as file:line:column), analysed with ``analyser`` (default: the
    product's, :func:`build_analyser`)."""
    analyser = analyser or build_analyser()
    vocabulary = topics_from_source(_located(settings.path("topics")), analyser)
    library = library_from_source(_located(settings.path("casestudies")), vocabulary)
    # A url of one leading "/" is a page of this service (the demo's /cases/<id>).
    resolved = library.with_urls(lambda url: absolute_url(settings.public_url, url))
    return vocabulary, resolved


def configured_files(settings: Settings) -> list[Path]:
    """The operator files the settings name: flows, topics, case studies, forms."""
    extras = [project_path(Path(p.strip())) for p in settings.extra_flows.split(",") if p.strip()]
    names = ("flow", "topics", "casestudies", "forms", "routing", "cadence")
    files = [settings.path("flow"), *extras, *(settings.path(n) for n in names[1:])]
    optional = (settings.path("routing"), settings.path("cadence"))  # missing: built-in
    return [f for f in files if f.exists() or f not in optional]


def check_operator_files(settings: Settings, paths: list[Path]) -> list[Checked]:
    """``autoreply flow check``: each file (or folder of files) by its kind, against each
    other and, for a kind none of them is, against the configured files."""
    templates = settings.path("templates_dir")
    renderer = MailRenderer(templates, parse_sender(settings.mail_from), settings.company)
    return check_files(
        paths, templates_dir=templates, template=renderer.has, context=configured_files(settings)
    )


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


def add_flow(content: Content, path: Path, *, default: bool = False) -> Engine:
    """Load, check and serve one more flow file."""
    engine = Engine(load_flow(project_path(path), content.texts.dir))
    return content.register(engine, default=default)


def build_content(settings: Settings, clock: Clock | None = None) -> Content:
    """Load the flows, content and calendar named by the settings (raises on any problem)."""
    vocabulary, library = load_library(settings)
    content = Content(
        settings=settings,
        calendar=build_calendar(settings),
        vocabulary=vocabulary,
        library=library,
        texts=Texts(settings.path("templates_dir"), settings.company),
        rules=slot_rules(settings),
        clock=clock or SystemClock(),
        secret=resolve_secret(settings),
    )
    content.texts.check()
    content.webhooks = load_checked_webhooks(settings)
    add_flow(content, settings.flow, default=True)
    for extra in (p.strip() for p in settings.extra_flows.split(",")):
        if extra:
            add_flow(content, Path(extra))
    return content


# -- email -----------------------------------------------------------------------------------


def mail_renderer(settings: Settings) -> MailRenderer:
    """The email templates, compiled now (a broken one stops the start)."""
    renderer = MailRenderer(
        settings.path("templates_dir"), parse_sender(settings.mail_from), settings.company
    )
    renderer.check()
    return renderer


def check_forms(forms: Forms, content: Content, renderer: MailRenderer) -> list[str]:
    """What in the forms file does not fit the rest of the configuration, as
    ``file:line:column: problem`` lines (the same checks as ``flow check``, and the settings)."""

    def flow_for(flow_id: str | None, locale: str) -> FlowFacts | None:
        engine = content.flow_for(flow_id, locale)
        return None if engine is None else flow_facts(engine.flow)

    problems = forms.reference_problems(flow_for, content.vocabulary.get, renderer.has)
    if not content.settings.form_signing_secret:
        problems += [
            forms.problem(
                ("forms", form.id, "require_signature"),
                f"form {form.id!r}: require_signature is set "
                "but AUTOREPLY_FORM_SIGNING_SECRET is not",
            )
            for form in forms.by_id.values()
            if form.require_signature
        ]
    return [str(problem) for problem in sorted(problems)]


def load_checked_forms(content: Content, renderer: MailRenderer) -> Forms:
    """The forms of ``AUTOREPLY_FORMS``, checked against flows, topics and templates."""
    try:
        forms = load_forms(content.settings.path("forms"))
    except FlowError as exc:
        raise ConfigError(str(exc)) from exc
    problems = check_forms(forms, content, renderer)
    if problems:
        raise ConfigError("\n".join(problems))
    return forms


def load_checked_routing(settings: Settings) -> Routing:
    """The routing file of ``AUTOREPLY_ROUTING``; without one, one team of every rep."""
    path = settings.path("routing")
    if not path.exists():
        return default_routing([])
    try:
        return load_routing(path)
    except FlowError as exc:
        raise ConfigError(str(exc)) from exc


def load_checked_cadence(settings: Settings) -> Cadence:
    """The follow-up cadence of ``AUTOREPLY_CADENCE``; without the file, the built-in one."""
    path = settings.path("cadence")
    if not path.exists():
        return default_cadence()
    try:
        return load_cadence(path)
    except FlowError as exc:
        raise ConfigError(str(exc)) from exc


def load_checked_webhooks(settings: Settings) -> tuple[Webhook, ...]:
    """The CRM webhooks: the settings' ``default`` and those of ``AUTOREPLY_CRM_WEBHOOKS``
    (a missing file: none), each secret read from its environment variable."""
    path = settings.path("crm_webhooks")
    try:
        endpoints = load_webhooks(path)
    except FlowError as exc:
        raise ConfigError(str(exc)) from exc
    return configured_webhooks(
        settings.crm_webhook_url, settings.crm_webhook_secret, endpoints, os.environ, str(path)
    )


def notification_channels(settings: Settings) -> list[Channel]:
    """Slack, Teams and Chatwork (their recipients are webhook URLs and room ids; Chatwork
    needs its token)."""
    timeout = settings.notify_timeout_seconds
    channels = [slack_channel(timeout), teams_channel(timeout)]
    if settings.chatwork_api_token:
        channels.append(
            chatwork_channel(settings.chatwork_api_url, settings.chatwork_api_token, timeout)
        )
    return channels


def retry_policy(settings: Settings) -> RetryPolicy:
    """How the outbox retries: the settings' backoff, age limit and claim lease."""
    return RetryPolicy(
        first_retry_seconds=settings.outbox_retry_seconds,
        max_age=timedelta(hours=settings.outbox_max_age_hours),
        lease=timedelta(seconds=max(300.0, settings.smtp_timeout_seconds * 6)),
    )


def rate_limits(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> RateLimits:
    """The rate limits, counted where every process sees them: the database."""
    return RateLimits(DatabaseCounters(sessions), clock, LimitPolicy.from_settings(settings))


# -- the running product -------------------------------------------------------------------


@asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    migrate: bool = True,
    demo_password_file: Path = DEMO_PASSWORD_FILE,
) -> AsyncIterator[Runtime]:
    """Load and check everything, migrate the database, seed the demo, and clean up after.

    ``demo_password_file`` is where the demo rep's password is kept (a trial chat keeps it
    in its own throwaway folder, not in ``var/``).
    """
    content = build_content(settings, clock or SystemClock())
    if migrate:
        await upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    reader = create_read_engine(settings.database_url, engine)
    async with AsyncExitStack() as stack:
        stack.push_async_callback(engine.dispose)
        if reader is not engine:
            stack.push_async_callback(reader.dispose)
        sessions = session_factory(engine)
        readers = read_session_factory(reader)
        renderer = mail_renderer(settings)
        forms = load_checked_forms(content, renderer)
        links = Links(content.secret, settings.public_url, timedelta(days=settings.link_days))
        line = await stack.enter_async_context(line_api(settings))
        channels = [email_channel(settings), *notification_channels(settings)]
        channels.append(crm_channel(content.webhooks, settings.notify_timeout_seconds))
        if line is not None:
            channels.append(line_channel(line, content.texts, links))
        routing = load_checked_routing(settings)
        worker = OutboxWorker(
            sessions,
            {c.name: c.transport for c in channels if c.transport is not None},
            content.clock,
            retry_policy(settings),
            postgres=not is_sqlite(settings.database_url),
            readers=readers,
            ordered=frozenset({"line", "crm"}),  # one lead's CRM events in order
        )
        meetings = MeetingMail(content, renderer, links)
        worker.composers["email"] = meetings.compose
        notifications = Notifications(
            content, links, renderer, [c.name for c in channels if c.transport is not None]
        )
        owners = Owners(content, routing, notifications)
        privacy = Privacy(settings, content.clock)
        owners.followups = followups = FollowUps(content, load_checked_cadence(settings))
        scheduler = Scheduler(
            sessions,
            content.clock,
            {
                "digest": owners.digest,
                "escalate": owners.escalate,
                "followup_due": followups.due,
                "aging": followups.aging.age,
                RETENTION: privacy.run,
                REMINDER: meetings.remind,
            },
            postgres=not is_sqlite(settings.database_url),
            readers=readers,
            on_queued=worker.wake,
        )
        service = ConversationService(
            content,
            sessions,
            readers=readers,
            outgoing={c.name: c.outgoing for c in channels if c.outgoing is not None},
            links=links,
            meetings=meetings,
            queued=worker.wake,
            owners=owners,
        )
        deliveries = Deliveries(service)
        worker.on_sent = deliveries.delivered
        worker.on_failed = deliveries.undeliverable
        current, head = await migration_status(engine)
        if current != head:
            log.warning(
                "database schema is %s, code expects %s: run `autoreply db upgrade`",
                current,
                head,
            )
        else:
            await privacy.start(sessions)  # the daily retention run is set
            await followups.aging.start(sessions, content.clock.now())  # the daily aging run
            if settings.demo:
                await seed_demo(sessions, content.clock, demo_password_file)
        yield Runtime(
            settings,
            content,
            engine,
            sessions,
            service,
            reader,
            forms,
            FormIntake(service, renderer),
            bookings := Bookings(service),
            worker,
            rate_limits(settings, sessions, content.clock),
            owners,
            scheduler,
            LineInbox(service, profile=line.display_name) if line else None,
            line.channel_secret if line else None,
            followups=followups,
            meetings=MeetingChanges(service, bookings),
        )


async def run_worker(settings: Settings, *, once: bool = False, migrate: bool = True) -> int:
    """``autoreply worker``: the background work without HTTP: deliver the outbox and
    handle stored LINE events (until interrupted, or only what is due now with ``once``).
    Returns how many rows and events it handled with ``once``."""
    async with open_runtime(settings, migrate=migrate) as runtime:
        if once:
            total = 0
            while True:
                count = await runtime.line.process_pending() if runtime.line else 0
                count += await runtime.scheduler.run_once() if runtime.scheduler else 0
                count += await runtime.worker.run_once()
                if not count:
                    return total
                total += count
        log.info(
            "worker running: outbox%s (Ctrl+C stops it)", " and LINE events" * bool(runtime.line)
        )
        jobs = [runtime.worker.run(), *([runtime.line.run()] if runtime.line else [])]
        if runtime.scheduler is not None:
            jobs.append(runtime.scheduler.run())
        await asyncio.gather(*jobs)
    return 0  # pragma: no cover - the jobs end only by cancellation


async def seed_demo(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    password_file: Path = DEMO_PASSWORD_FILE,
) -> None:
    """With no reps at all, add one demo rep so meetings can be offered right away.

    The demo rep can log in to the rep pages: its password is generated once into
    ``var/demo-rep-password.txt`` (owner-only) and reused for later fresh databases.
    """
    password, hashed = await asyncio.to_thread(reps.demo_password, password_file)
    async with sessions() as session, session.begin():
        seeded = await reps.seed_demo_rep(session, hashed, clock.now())
    if seeded:
        # Demo only: the operator needs this login to try the rep pages.
        log.info("demo rep login: %s / %s, also in %s", seeded.email, password, password_file)


@asynccontextmanager
async def open_session(settings: Settings) -> AsyncIterator[AsyncSession]:
    """A migrated database and one transaction on it, for the command line."""
    await upgrade(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            yield session
    finally:
        await engine.dispose()
