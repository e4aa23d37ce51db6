"""The one validated settings object, read from ``AUTOREPLY_*`` variables and ``.env``."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    secret_key: str | None = Field(
        None,
        description="Signs rep sessions and links; unset: generated once into var/secret.key.",
    )
    public_url: str = Field(
        "http://127.0.0.1:8000",
        description="Where leads reach this service (links in messages: cancel a booking).",
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
