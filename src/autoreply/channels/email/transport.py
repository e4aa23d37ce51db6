"""Mail transports for the outbox: an SMTP server (aiosmtplib), or a folder of .eml files."""

from __future__ import annotations

import asyncio
import email.policy
import logging
import re
from datetime import datetime
from email.parser import BytesHeaderParser
from email.utils import format_datetime
from pathlib import Path

import aiosmtplib

from autoreply.channels.base import Channel
from autoreply.config import Settings
from autoreply.errors import PermanentDeliveryError, TemporaryDeliveryError
from autoreply.store.outbox import OutboxItem, Transport

__all__ = ["FolderTransport", "SmtpTransport", "email_channel", "message_bytes"]

log = logging.getLogger(__name__)
_DATE = re.compile(r"^Date: [^\r\n]*$", re.MULTILINE)


def message_bytes(item: OutboxItem, now: datetime) -> bytes:
    """The queued message; a scheduled one (the pre-meeting mail) is dated when it goes."""
    text = str(item.payload["message"])
    if item.payload.get("scheduled"):
        head, sep, body = text.partition("\r\n\r\n")
        text = _DATE.sub(lambda _: f"Date: {format_datetime(now)}", head, count=1) + sep + body
    return text.encode("ascii")


def _sender(raw: bytes) -> str:
    """The envelope sender: the address of the message's From."""
    headers = BytesHeaderParser(policy=email.policy.default).parsebytes(raw)
    addresses = getattr(headers["From"], "addresses", ())
    return str(addresses[0].addr_spec) if addresses else ""


class SmtpTransport:
    """Sends through an SMTP server; 4xx and network trouble are temporary, 5xx final.

    A server that refuses our login or our sender address is a configuration problem,
    not the recipient's: those are retried (and logged) rather than failing the lead.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        tls: str = "auto",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.host, self.port, self.tls = host, port, tls
        self.username, self.password, self.timeout = username, password, timeout

    async def send(self, item: OutboxItem, now: datetime) -> None:
        raw = message_bytes(item, now)
        try:
            await aiosmtplib.send(
                raw,
                sender=_sender(raw),
                recipients=[item.recipient],
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                timeout=self.timeout,
                use_tls=self.tls == "tls",
                start_tls=True
                if self.tls == "starttls"
                else (False if self.tls in ("tls", "none") else None),
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            text = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            if codes and all(500 <= c < 600 for c in codes):
                raise PermanentDeliveryError(f"recipient refused: {text}") from exc
            raise TemporaryDeliveryError(f"recipient deferred: {text}") from exc
        except (aiosmtplib.SMTPAuthenticationError, aiosmtplib.SMTPSenderRefused) as exc:
            log.error(
                "mail server refused our login or sender (%s): check AUTOREPLY_SMTP_*", exc.code
            )
            raise TemporaryDeliveryError(f"{exc.code} {exc.message}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise PermanentDeliveryError(f"{exc.code} {exc.message}") from exc
            raise TemporaryDeliveryError(f"{exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TemporaryDeliveryError(f"{type(exc).__name__}: {exc}") from exc


class FolderTransport:
    """Writes each message to ``<folder>/<queued at>-<id>-<kind>.eml`` (no SMTP server).

    The file name comes from the outbox row, so writing again after a crash replaces the
    same file instead of adding a copy (and a fresh database never overwrites old mail).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def send(self, item: OutboxItem, now: datetime) -> None:
        queued = item.created_at.strftime("%Y%m%d-%H%M%S")
        path = self.folder / f"{queued}-{item.id:06d}-{item.kind}.eml"
        try:
            await asyncio.to_thread(self._write, path, message_bytes(item, now))
        except OSError as exc:
            raise TemporaryDeliveryError(f"cannot write {path}: {exc.strerror}") from exc
        log.info(
            "email to %s written to %s (no SMTP server configured)", _masked(item.recipient), path
        )

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_bytes(data)
        partial.replace(path)


def _masked(address: str) -> str:
    """taro@example.com -> t***@example.com (logs name no one in full)."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def email_channel(settings: Settings) -> Channel:
    """The email channel: SMTP when a host is set, else a folder of .eml files (the
    embedded default). Its messages are rendered when queued, so it pushes no replies."""
    if settings.smtp_host:
        transport: Transport = SmtpTransport(
            settings.smtp_host,
            settings.smtp_port,
            tls=settings.smtp_tls,
            username=settings.smtp_username,
            password=settings.smtp_password,
            timeout=settings.smtp_timeout_seconds,
        )
    else:
        folder = (
            settings.mail_dir if settings.mail_dir.is_absolute() else settings.mail_dir.resolve()
        )
        log.info("no SMTP server set (AUTOREPLY_SMTP_HOST): emails are written to %s", folder)
        transport = FolderTransport(folder)
    return Channel("email", transport=transport)
