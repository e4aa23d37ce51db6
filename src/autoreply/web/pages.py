"""Server-rendered HTML pages: one Jinja2 environment with autoescaping for the web app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from autoreply.flows.templating import make_environment

__all__ = ["Pages"]


class Pages:
    """Renders ``templates/**/*.html`` with everything escaped unless marked safe."""

    def __init__(self, templates_dir: Path) -> None:
        base = make_environment(templates_dir)  # for the shared `when`/`date` filters
        self.env = Environment(
            loader=FileSystemLoader(str(templates_dir)),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update({k: base.filters[k] for k in ("when", "date")})

    def render(self, name: str, status_code: int = 200, **variables: Any) -> HTMLResponse:
        """An HTML response from one template."""
        return HTMLResponse(
            self.env.get_template(name).render(**variables), status_code=status_code
        )
