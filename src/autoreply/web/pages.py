"""Server-rendered HTML pages: one sandboxed, autoescaping Jinja2 environment for the web app."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.responses import HTMLResponse
from jinja2 import ChainableUndefined, FileSystemLoader, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from autoreply.domain.calendar import format_when
from autoreply.flows.templating import compile_all, make_environment

__all__ = ["Pages"]


class Pages:
    """Renders ``templates/**/*.html``: lead text is always shown as text, never as markup."""

    def __init__(
        self, templates_dir: Path, tz: ZoneInfo, values: Mapping[str, Any] | None = None
    ) -> None:
        """``values``: what every page may show, e.g. ``sla_first_contact_minutes`` and
        ``opening_hours(locale)`` (the demo site says what the service promises and when
        it is open from the settings, never a stale number)."""
        self.dir = templates_dir
        self.env = SandboxedEnvironment(
            loader=FileSystemLoader(str(templates_dir)),
            autoescape=select_autoescape(["html"]),
            undefined=ChainableUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        shared = make_environment(templates_dir)
        self.env.filters.update({k: shared.filters[k] for k in ("when", "date", "promise")})

        def jst(value: Any) -> str:
            """A stored moment (datetime or ISO text) in business time: 11月24日(火) 9:00."""
            if isinstance(value, str) and value:
                value = datetime.fromisoformat(value)
            if isinstance(value, datetime) and value.tzinfo is not None:
                return format_when(value.astimezone(tz), "ja")
            return ""

        self.env.filters["jst"] = jst
        self.env.globals.update(values or {})

    def check(self) -> None:
        """Compile every page template now, so a broken edit stops the start, not a page."""
        compile_all(self.env, self.dir, "*.html")

    def render(self, name: str, status_code: int = 200, **variables: Any) -> HTMLResponse:
        """An HTML response from one template."""
        return HTMLResponse(
            self.env.get_template(name).render(**variables), status_code=status_code
        )
