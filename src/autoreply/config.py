"""The one validated settings object, read from ``AUTOREPLY_*`` variables and ``.env``."""

from __future__ import annotations

from datetime import time
from functools import cached_property
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from autoreply.domain.company import Company
from autoreply.errors import ConfigError

__all__ = ["Settings", "project_path"]

_PROJECT_ROOT = Path(__file__).resolve().parents[2]


def project_path(path: Path) -> Path:
    """Resolve an operator path: as given if it exists, else inside the source checkout.

    Relative paths are read from the working directory first, so an operator's own
    ``flows/`` wins; the checkout's copy is the fallback for an editable install run
    from elsewhere.
    """
    if path.is_absolute() or path.exists():
        return path
    candidate = _PROJECT_ROOT / path
    return candidate if candidate.exists() else path


class Settings(BaseSettings):
    """Every setting of the product; the defaults run the demo with nothing configured."""

    model_config = SettingsConfigDict(
        env_prefix="AUTOREPLY_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = Field(
        "sqlite+aiosqlite:///./var/autoreply.db",
        description="SQLAlchemy async URL: SQLite (aiosqlite) or PostgreSQL (asyncpg).",
    )
    flow: Path = Field(Path("flows/demo.ja.yaml"), description="The conversation flow file.")
    extra_flows: str = Field(
        "flows/demo.en.yaml",
        description="More flow files to serve (comma-separated), e.g. other languages.",
    )
    casestudies: Path = Field(Path("flows/casestudies.yaml"), description="Case-study library.")
    topics: Path = Field(Path("flows/topics.yaml"), description="Topic vocabulary (課題 tags).")
    templates_dir: Path = Field(Path("templates"), description="Operator-editable templates.")
    timezone: str = Field("Asia/Tokyo", description="Business timezone (IANA name).")
    business_hours: str = Field(
        "mon-fri 09:00-12:00,13:00-18:00",
        description="Weekly opening hours; several periods a day, groups separated by ';'.",
    )
    closures: str = Field(
        "12-29..01-03, 08-13..08-16",
        description="Company closures: yearly MM-DD..MM-DD or absolute YYYY-MM-DD..YYYY-MM-DD.",
    )
    holidays_country: str = Field(
        "JP", description="Public holidays (ISO country code; empty for none)."
    )
    fiscal_year_start_month: int = Field(4, ge=1, le=12, description="First month of 年度.")
    slot_duration_minutes: int = Field(30, ge=10, le=240, description="Meeting length.")
    slot_days_ahead: int = Field(
        7, ge=1, le=60, description="How many business days ahead slots are offered."
    )
    slot_count: int = Field(6, ge=1, le=13, description="Slots offered at once (LINE max 13).")
    slot_min_lead_minutes: int = Field(120, ge=0, description="Earliest slot after now.")
    slot_prep_minutes: int = Field(60, ge=0, description="Preparation time after opening.")
    slot_hold_minutes: int = Field(
        15,
        ge=1,
        le=240,
        description="A tapped slot is held this long after the lead's last message, "
        "until their details are complete (then confirmed).",
    )
    secret_key: str | None = Field(
        None,
        description="Signs rep sessions and links; unset: generated once into var/secret.key.",
    )
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="Where leads reach this service (links; urls starting / are under it).",
    )
    secure_cookies: bool = Field(False, description="Send cookies over HTTPS only (production).")
    idle_handoff_minutes: int = Field(
        30, ge=1, description="Hand off a conversation idle this long with something said."
    )
    score_pages: str = Field(
        "/pricing*", description="URL paths (comma-separated, * wildcards) that raise the score."
    )
    widget_origins: str = Field(
        "*", description="Sites allowed to call the chat API (comma-separated origins)."
    )
    forms: Path = Field(
        Path("flows/forms.yaml"), description="Web forms whose submitters get an auto-reply."
    )
    form_signing_secret: str | None = Field(
        None,
        description="HMAC-SHA256 key of server-to-server form posts (X-Autoreply-Signature).",
    )
    form_duplicate_minutes: int = Field(
        10, ge=0, description="The same form from the same address this soon again: one reply."
    )
    form_rate_per_minute: int = Field(
        10, ge=1, description="Form posts accepted per client address per minute."
    )
    form_max_bytes: int = Field(65536, ge=1024, description="Largest form body (413 above).")
    chat_starts_per_minute: int = Field(
        10, ge=1, description="Conversations a client address may start per minute (429 above)."
    )
    chat_starts_per_hour: int = Field(
        60, ge=1, description="Conversations a client address may start per hour (429 above)."
    )
    login_max_failures: int = Field(
        5, ge=1, description="Wrong passwords for one rep address that lock it for a while."
    )
    login_lockout_minutes: int = Field(
        15, ge=1, description="How long a locked rep address is refused, right password or not."
    )
    chat_page_url: str | None = Field(
        None,
        description="A page with the widget, where email links continue the chat (default /).",
    )
    link_days: int = Field(
        14, ge=1, description="How long links in emails (continue the chat, book) stay valid."
    )
    company_name: str = Field(
        "サンプル株式会社",
        description="The company, as Japanese emails and the rep's first line name it.",
    )
    company_name_en: str = Field(
        "Sample Inc.", description="The company's name in English emails and first lines."
    )
    company_address: str | None = Field(
        None, description="Postal address in email signatures (unset: left out)."
    )
    company_phone: str | None = Field(
        None, description="Phone number in email signatures (unset: left out)."
    )
    company_url: str | None = Field(
        "https://example.com/", description="Web site in email signatures (empty: left out)."
    )
    mail_from: str = Field(
        "サンプル株式会社 営業部 <sales@example.com>", description="From of every email."
    )
    mail_reply_to: Literal["team", "rep"] = Field(
        "team", description="Reply-To: the From address (team) or the assigned rep (rep)."
    )
    mail_dir: Path = Field(
        Path("var/mail"), description="Where emails go as .eml files when no SMTP host is set."
    )
    smtp_host: str | None = Field(None, description="SMTP server; unset: write .eml files.")
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP port.")
    smtp_tls: Literal["auto", "starttls", "tls", "none"] = Field(
        "auto",
        description="auto: STARTTLS when offered; starttls: required; tls: implicit (465).",
    )
    smtp_username: str | None = Field(None, description="SMTP login (AUTH), if any.")
    smtp_password: str | None = Field(None, description="SMTP password.")
    smtp_timeout_seconds: float = Field(
        30.0, gt=0, description="Timeout of connecting and of each SMTP reply."
    )
    outbox_max_age_hours: int = Field(
        72, ge=1, description="A message not delivered after this long is given up (failed)."
    )
    outbox_retry_seconds: int = Field(
        30, ge=1, description="First retry delay after a temporary failure; doubles, up to 1 h."
    )
    pre_meeting_time: str = Field(
        "17:00", description="The pre-meeting email goes the business day before, at this time."
    )
    meeting_url: str | None = Field(
        None, description="Online meeting link put into invites (LOCATION)."
    )
    routing: Path = Field(
        Path("flows/routing.yaml"),
        description="Who owns a handoff: teams, rules, targets (missing file: one team, all reps).",
    )
    sla_first_contact_minutes: int = Field(
        5, ge=1, le=1440, description="First contact due this many business minutes after notice."
    )
    sla_escalate_after_minutes: int = Field(
        10, ge=1, le=1440, description="No contact this long after the deadline: escalate."
    )
    slack_webhook_url: str | None = Field(
        None, description="Slack incoming webhook (the 'default' Slack target of routing)."
    )
    teams_webhook_url: str | None = Field(
        None, description="Microsoft Teams Workflows webhook (the 'default' Teams target)."
    )
    chatwork_api_url: str = Field(
        "https://api.chatwork.com", description="Chatwork API host (tests: a loopback server)."
    )
    chatwork_api_token: str | None = Field(None, description="Chatwork API token.")
    chatwork_room_id: str | None = Field(
        None, description="Chatwork room (the 'default' Chatwork target of routing)."
    )
    notify_timeout_seconds: float = Field(
        10.0, gt=0, le=120, description="Timeout of one request to Slack, Teams or Chatwork."
    )
    notify_owner_email: bool = Field(
        True, description="Also email each notification to the handoff's owner."
    )
    crm_webhook_url: str | None = Field(
        None, description="Where CRM events are POSTed (signed); unset: no CRM webhook."
    )
    crm_webhook_secret: str | None = Field(
        None, description="Secret the CRM webhook's signatures are made with (HMAC-SHA256)."
    )
    crm_webhooks: Path = Field(
        Path("flows/webhooks.yaml"),
        description="More CRM endpoints, each with its secret and events (missing file: none).",
    )
    meeting_reminder_time: str = Field(
        "08:00",
        pattern=r"^$|^([01]\d|2[0-3]):[0-5]\d$",
        description="Same-day reminder email to the lead at this local time; empty: none.",
    )
    cadence: Path = Field(
        Path("flows/cadence.yaml"),
        description="Follow-up cadence and tier aging rules (missing file: the built-in ones).",
    )
    retention_months: int | None = Field(
        None, ge=1, le=240, description="Purge leads with no activity for this many months."
    )
    privacy_policy_url: str = Field(
        "/privacy", description="The privacy notice (個人情報の取り扱い) forms link to."
    )
    privacy_policy_version: str = Field(
        "2026-12-01", max_length=40, description="Version of it a lead's consent records."
    )
    run_worker: bool = Field(
        True, description="`serve` also delivers the outbox and handles LINE events."
    )
    line_channel_secret: str | None = Field(
        None, description="LINE channel secret (webhook signatures); unset: LINE is off."
    )
    line_channel_access_token: str | None = Field(
        None, description="LINE channel access token (Messaging API)."
    )
    line_api_url: str = Field(
        "https://api.line.me", description="LINE Messaging API host (tests: a loopback server)."
    )
    line_reply_token_seconds: int = Field(
        50, ge=1, le=600, description="Use a reply token this long after receipt, then push."
    )
    host: str = Field("127.0.0.1", description="Address `serve` listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port `serve` listens on.")
    workers: int = Field(1, ge=1, le=32, description="Worker processes of `serve`.")
    demo: bool = Field(
        True, description="With no reps yet, add a demo rep so slots can be offered."
    )
    log_level: str = Field("INFO", description="Logging level.")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @field_validator("pre_meeting_time")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        try:
            time.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"not a time of day (HH:MM): {value!r}") from exc
        return value

    @cached_property
    def tz(self) -> ZoneInfo:
        """The business timezone as a ``ZoneInfo``."""
        return ZoneInfo(self.timezone)

    def path(self, name: str) -> Path:
        """An operator file setting (``flow``, ``casestudies``...) resolved for reading."""
        value = getattr(self, name)
        if not isinstance(value, Path):
            raise ConfigError(f"setting {name!r} is not a path")
        return project_path(value)

    @property
    def company(self) -> Company:
        """The sender company of signatures and first lines (blank values left out)."""
        return Company(
            name=self.company_name.strip() or "サンプル株式会社",
            name_en=self.company_name_en.strip() or self.company_name.strip(),
            address=(self.company_address or "").strip() or None,
            phone=(self.company_phone or "").strip() or None,
            url=(self.company_url or "").strip() or None,
        )
