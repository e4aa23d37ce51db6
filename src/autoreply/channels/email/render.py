"""Email as a channel: operator templates rendered into multipart messages (render, then send).

Every message is UTF-8 text and HTML (``multipart/alternative``, base64 bodies, RFC 2047
headers, so Japanese display names and subjects survive every relay), with Message-ID,
Date and ``Auto-Submitted`` (RFC 3834) so that mail systems do not answer it
automatically. Meeting mail carries its ``.ics`` both as the ``text/calendar`` alternative
(calendar clients act on it) and as an attachment.
"""

from __future__ import annotations

import email.policy
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Any, Literal

from jinja2 import ChainableUndefined, FileSystemLoader, TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment

from autoreply.domain.company import Company
from autoreply.domain.invites import Person
from autoreply.domain.leads import one_line
from autoreply.errors import ConfigError
from autoreply.flows.templating import compile_all, make_environment

__all__ = ["Calendar", "MailRenderer", "Rendered", "parse_sender", "serialize"]

AutoSubmitted = Literal["auto-replied", "auto-generated"]


@dataclass(frozen=True)
class Calendar:
    """An invite to put into a message: the ``.ics`` bytes and its iTIP method."""

    ics: bytes
    method: Literal["REQUEST", "CANCEL"]


@dataclass(frozen=True)
class Rendered:
    """A message ready for the outbox: the envelope recipient and the whole message."""

    recipient: str
    subject: str
    message: EmailMessage


def parse_sender(value: str, setting: str = "AUTOREPLY_MAIL_FROM") -> Person:
    """``"サンプル株式会社 <sales@example.com>"`` as a person; a bad value names the setting."""
    name, addr = parseaddr(value)
    if "@" not in addr or addr.startswith("@") or addr.endswith("@"):
        raise ConfigError(f"setting {setting}: {value!r} is not 'Name <address>' or an address")
    return Person(name=name, email=addr)


def _address(person: Person) -> Address:
    """The header form of a person; the display name (a lead's name, from any channel) is
    made one line, so it can never add a header or break the message."""
    username, _, domain = person.email.partition("@")
    return Address(display_name=one_line(person.name), username=username, domain=domain)


def serialize(message: EmailMessage) -> str:
    """The message as sent over SMTP (CRLF line endings, 7-bit)."""
    return message.as_string(policy=email.policy.SMTP)


class MailRenderer:
    """Renders ``templates/email/<name>.<locale>.{subject,txt,html}.j2`` into messages.

    HTML templates are autoescaped (a lead's text is text, never markup); the subject and
    text part are not. A locale without its own template falls back to Japanese.
    """

    def __init__(self, templates_dir: Path, sender: Person, company: Company | None = None) -> None:
        self.dir = templates_dir
        self.sender = sender
        self.company = company or Company()
        self.text = make_environment(templates_dir)
        self.html = SandboxedEnvironment(
            loader=FileSystemLoader(str(templates_dir)),
            autoescape=True,
            undefined=ChainableUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.html.filters.update(self.text.filters)
        for env in (self.text, self.html):  # the signatures' name, address and phone
            env.globals["company"] = self.company

    def check(self) -> None:
        """Compile every email template now, so a broken edit stops the start."""
        if (self.dir / "email").is_dir():
            compile_all(self.text, self.dir, "email/*.j2")
            compile_all(self.html, self.dir, "email/*.html.j2")

    def has(self, name: str) -> bool:
        """Whether a template of that name exists (in Japanese at least)."""
        return (self.dir / "email" / f"{name}.ja.txt.j2").exists()

    def _render(self, name: str, locale: str, part: str, variables: dict[str, Any]) -> str:
        env = self.html if part == "html" else self.text
        suffix = f".{part}.j2" if part else ".j2"
        for candidate in (f"email/{name}.{locale}{suffix}", f"email/{name}.ja{suffix}"):
            try:
                template = env.get_template(candidate)
            except TemplateNotFound:
                continue
            return template.render({"locale": locale, **variables}).strip()
        raise ConfigError(f"template email/{name}.{locale}{suffix} not found in {self.dir}")

    def part(self, name: str, locale: str, variables: dict[str, Any]) -> str:
        """A piece of text from ``email/<name>.<locale>.j2`` (an invite's summary...)."""
        return self._render(name, locale, "", variables)

    def subject(self, name: str, locale: str, variables: dict[str, Any]) -> str:
        """The one-line subject of the message ``render`` would make from these variables."""
        return one_line(self._render(name, locale, "subject", variables))

    def render(
        self,
        name: str,
        locale: str,
        *,
        to: Person,
        now: datetime,
        variables: dict[str, Any],
        auto_submitted: AutoSubmitted = "auto-generated",
        reply_to: Person | None = None,
        calendar: Calendar | None = None,
        message_id: str | None = None,
    ) -> Rendered:
        """One message from the templates named ``name``, addressed to ``to``; a stable
        ``message_id`` keeps the same Message-ID for a message written again."""
        subject = self.subject(name, locale, variables)
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = _address(self.sender)
        message["To"] = _address(to)
        if reply_to is not None and reply_to.email != self.sender.email:
            message["Reply-To"] = _address(reply_to)
        message["Date"] = format_datetime(now)
        message["Message-ID"] = message_id or make_msgid(
            domain=self.sender.email.rpartition("@")[2]
        )
        message["Auto-Submitted"] = auto_submitted
        message["X-Auto-Response-Suppress"] = "All"  # Exchange: no out-of-office replies
        message.set_content(
            self._render(name, locale, "txt", variables) + "\n", charset="utf-8", cte="base64"
        )
        message.add_alternative(
            self._render(name, locale, "html", variables) + "\n",
            subtype="html",
            charset="utf-8",
            cte="base64",
        )
        if calendar is not None:
            message.add_alternative(
                calendar.ics,
                maintype="text",
                subtype="calendar",
                params={"method": calendar.method, "charset": "UTF-8"},
                cte="base64",
            )
            message.add_attachment(
                calendar.ics,
                maintype="application",
                subtype="ics",
                filename="invite.ics",
                cte="base64",
            )
        return Rendered(recipient=to.email, subject=subject, message=message)
