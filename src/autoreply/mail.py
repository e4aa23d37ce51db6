"""The email side of a running product, built from the settings: forms, renderer, outbox."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autoreply.bootstrap import Domain
from autoreply.channels.email.render import MailRenderer, parse_sender
from autoreply.channels.email.transport import FolderTransport, SmtpTransport
from autoreply.domain.forms import Forms, load_forms
from autoreply.errors import ConfigError, FlowError
from autoreply.store.outbox import OutboxWorker, Transport

__all__ = ["check_forms", "load_checked_forms", "mail_renderer", "mail_transport", "outbox_worker"]

log = logging.getLogger(__name__)


def mail_renderer(domain: Domain) -> MailRenderer:
    """The email templates, compiled now (a broken one stops the start)."""
    settings = domain.settings
    renderer = MailRenderer(settings.path("templates_dir"), parse_sender(settings.mail_from))
    renderer.check()
    return renderer


def check_forms(forms: Forms, domain: Domain, renderer: MailRenderer) -> list[str]:
    """What in the forms file does not fit the rest of the configuration."""
    problems = []
    for form in forms.by_id.values():
        where = f"{forms.source}: form {form.id!r}"
        engine = domain.flow_for(form.flow, form.locale)
        if engine is None:
            problems.append(f"{where}: unknown flow {form.flow!r}")
        if form.require_signature and not domain.settings.form_signing_secret:
            problems.append(
                f"{where}: require_signature is set but AUTOREPLY_FORM_SIGNING_SECRET is not"
            )
        if not renderer.has(form.reply_template):
            problems.append(f"{where}: no template email/{form.reply_template}.ja.txt.j2")
        for name, spec in form.fields.items():
            if spec.slot and engine is not None and spec.slot not in engine.flow.spec.slots:
                problems.append(
                    f"{where}: field {name!r} fills slot {spec.slot!r}, "
                    f"which flow {engine.flow.id!r} does not have"
                )
            for choice in spec.choices:
                for topic in choice.topics:
                    if domain.vocabulary.get(topic) is None:
                        problems.append(f"{where}: field {name!r}: unknown topic {topic!r}")
    return problems


def load_checked_forms(domain: Domain, renderer: MailRenderer) -> Forms:
    """The forms of ``AUTOREPLY_FORMS``, checked against flows, topics and templates."""
    try:
        forms = load_forms(domain.settings.path("forms"))
    except FlowError as exc:
        raise ConfigError(str(exc)) from exc
    problems = check_forms(forms, domain, renderer)
    if problems:
        raise ConfigError("\n".join(problems))
    return forms


def mail_transport(domain: Domain) -> Transport:
    """SMTP when a host is set, else a folder of .eml files (the embedded default)."""
    settings = domain.settings
    if settings.smtp_host:
        return SmtpTransport(
            settings.smtp_host,
            settings.smtp_port,
            tls=settings.smtp_tls,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout=settings.smtp_timeout_seconds,
        )
    folder = settings.mail_dir if settings.mail_dir.is_absolute() else settings.mail_dir.resolve()
    log.info("no SMTP server set (AUTOREPLY_SMTP_HOST): emails are written to %s", folder)
    return FolderTransport(folder)


def outbox_worker(
    domain: Domain,
    sessions: async_sessionmaker[AsyncSession],
    transports: dict[str, Transport],
    *,
    postgres: bool,
    readers: async_sessionmaker[AsyncSession] | None = None,
) -> OutboxWorker:
    """The worker for these transports with the settings' retry policy."""
    settings = domain.settings
    return OutboxWorker(
        sessions,
        transports,
        domain.clock,
        retry_seconds=settings.outbox_retry_seconds,
        max_age=timedelta(hours=settings.outbox_max_age_hours),
        lease=timedelta(seconds=max(300.0, settings.smtp_timeout_seconds * 6)),
        postgres=postgres,
        readers=readers,
    )
