"""Server-rendered HTML pages: one sandboxed, autoescaping Jinja2 environment for the web app."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChainableUndefined, FileSystemLoader, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

from autoreply.domain.calendar import format_when
from autoreply.flows.templating import compile_all, make_environment
from autoreply.web.auth import csrf_token

__all__ = ["Pages", "page_locale", "render_page"]


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
        self.env.filters.update(
            {k: shared.filters[k] for k in ("when", "date", "promise", "truncate", "phone", "tel")}
        )

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


def page_locale(request: Request) -> str:
    """The language of a rep or admin page: ``en`` when the browser prefers English to
    Japanese (``Accept-Language``), else ``ja`` (the product's language)."""
    best: tuple[float, str] = (0.0, "ja")
    for part in request.headers.get("accept-language", "").split(","):
        tag, _, params = part.strip().partition(";")
        lang = tag.strip().lower().split("-")[0]
        if lang not in ("ja", "en"):
            continue
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if quality > best[0]:
            best = (quality, lang)
    return best[1]


def render_page(
    request: Request, name: str, status_code: int = 200, **variables: Any
) -> HTMLResponse:
    """A rep or admin page from ``request.app.state.pages``: never cached, never framed,
    and running only its own inline style and script (a fresh CSP nonce per response).
    Every page gets ``csrf_token``, ``nonce`` and ``lang`` (``ja`` unless given: the rep
    pages are written in Japanese; the error pages pass :func:`page_locale`)."""
    pages: Pages = request.app.state.pages
    nonce = secrets.token_urlsafe(16)
    variables.setdefault("lang", "ja")
    html = pages.env.get_template(name).render(
        csrf_token=csrf_token(request), nonce=nonce, **variables
    )
    return HTMLResponse(
        html,
        status_code=status_code,
        headers={
            "Cache-Control": "no-store",
            "Referrer-Policy": "same-origin",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
            "Content-Security-Policy": (
                f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
                "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
            ),
        },
    )
