"""Operator-editable text templates (handoff first line and summary), loaded once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import TemplateNotFound
from jinja2.sandbox import SandboxedEnvironment

from autoreply.domain.company import Company
from autoreply.errors import ConfigError
from autoreply.flows.templating import compile_all, make_environment

__all__ = ["Texts"]


class Texts:
    """Renders ``templates/<name>.<locale>.j2`` (falling back to ``ja``)."""

    def __init__(self, templates_dir: Path, company: Company | None = None) -> None:
        self.dir = templates_dir
        self.company = company or Company()
        self.env: SandboxedEnvironment = make_environment(templates_dir)
        self.env.globals["company"] = self.company

    def check(self) -> None:
        """Compile every template now, so a broken one stops the start, not a conversation."""
        compile_all(self.env, self.dir, "*.j2")

    def render(self, name: str, locale: str, **variables: Any) -> str:
        """Render one template for a locale; a missing template is a configuration error."""
        for candidate in (f"{name}.{locale}.j2", f"{name}.ja.j2"):
            try:
                template = self.env.get_template(candidate)
            except TemplateNotFound:
                continue
            return template.render(locale=locale, **variables).strip()
        raise ConfigError(f"template {name}.{locale}.j2 not found in {self.dir}")
