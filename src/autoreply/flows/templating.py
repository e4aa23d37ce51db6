"""Jinja2, sandboxed: flow messages and the safe condition language used by ``branch``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import (
    ChainableUndefined,
    Environment,
    FileSystemLoader,
    TemplateNotFound,
    TemplateSyntaxError,
    nodes,
    pass_context,
)
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from autoreply import graphemes
from autoreply.domain.calendar import format_date, format_when
from autoreply.domain.phones import e164_phone, show_phone
from autoreply.domain.promise import FollowUp
from autoreply.errors import ConfigError

__all__ = [
    "CONTEXT_NAMES",
    "compile_all",
    "make_environment",
    "referenced_names",
    "referenced_slots",
    "referenced_tests",
]

#: Every name a flow template or condition may use; see docs/flows.md.
CONTEXT_NAMES: frozenset[str] = frozenset(
    {
        "slots",
        "confirming",
        "lead",
        "tags",
        "score",
        "tier",
        "open_now",
        "reachable",
        "channel",
        "next_opening",
        "follow_up",
        "cases",
        "offered",
        "booking",
        "lead_booking",
        "locale",
        "now",
        "source",
        "flow",
        "links",
    }
)


@pass_context
def _when(ctx: Context, value: Any) -> str:
    if isinstance(value, datetime):
        return format_when(value, str(ctx.get("locale", "ja")))
    return "" if value is None else str(value)


@pass_context
def _date(ctx: Context, value: Any) -> str:
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return format_date(value, str(ctx.get("locale", "ja")))
    return "" if value is None else str(value)


@pass_context
def _promise(ctx: Context, value: Any) -> str:
    """A ``FollowUp`` as the phrase before 「ご連絡いたします」 / "contact you", from
    ``templates/promise.<locale>.j2`` (falling back to ``ja``)."""
    if not isinstance(value, FollowUp):
        return ""
    locale = str(ctx.get("locale", "ja"))
    env = ctx.environment
    if env.loader is not None:
        for name in (f"promise.{locale}.j2", "promise.ja.j2"):
            try:
                template = env.get_template(name)
            except TemplateNotFound:
                continue
            return template.render(f=value, locale=locale).strip()
    raise ConfigError(f"template promise.{locale}.j2 not found (the promise filter needs it)")


def make_environment(templates_dir: Path | None = None) -> SandboxedEnvironment:
    """The one Jinja2 environment for flow text: sandboxed, forgiving about unset slots."""
    env = SandboxedEnvironment(
        loader=FileSystemLoader(str(templates_dir)) if templates_dir else None,
        undefined=ChainableUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["when"] = _when
    env.filters["date"] = _date
    env.filters["promise"] = _promise
    env.filters["truncate"] = graphemes.truncate  # never half an emoji
    env.filters["phone"] = show_phone  # 03-1234-5678 at home, +1 415-555-0100 abroad
    env.filters["tel"] = e164_phone  # tel: links
    return env


_MAPPING_METHODS = frozenset({"get", "items", "keys", "values"})


def compile_all(env: Environment, directory: Path, pattern: str) -> None:
    """Compile every template under ``directory`` matching ``pattern`` (e.g. ``*.j2``);
    a syntax error becomes a ``ConfigError`` naming file and line, at start-up."""
    if not directory.is_dir():
        raise ConfigError(f"templates folder {directory} does not exist")
    for path in sorted(directory.rglob(pattern)):
        try:
            env.get_template(path.relative_to(directory).as_posix())
        except TemplateSyntaxError as exc:
            raise ConfigError(f"{path}:{exc.lineno}: template syntax: {exc.message}") from exc


def _walk(node: nodes.Node) -> Iterator[nodes.Node]:
    yield node
    for child in node.iter_child_nodes():
        yield from _walk(child)


def referenced_names(ast: nodes.Template) -> set[str]:
    """Top-level names a parsed template reads (minus what it assigns itself)."""
    assigned = {n.name for n in _walk(ast) if isinstance(n, nodes.Name) and n.ctx == "store"}
    loaded = {n.name for n in _walk(ast) if isinstance(n, nodes.Name) and n.ctx == "load"}
    return loaded - assigned


def referenced_slots(ast: nodes.Template) -> set[str]:
    """Slot names read as ``slots.NAME`` or ``slots['NAME']``."""
    found: set[str] = set()
    for node in _walk(ast):
        if isinstance(node, nodes.Getattr) and _is_slots(node.node):
            if node.attr not in _MAPPING_METHODS:
                found.add(node.attr)
        elif (
            isinstance(node, nodes.Getitem)
            and _is_slots(node.node)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
        ):
            found.add(node.arg.value)
    return found


def referenced_tests(ast: nodes.Template) -> set[str]:
    """Names used after ``is`` (``x is defined``); unknown ones only fail when rendered."""
    return {node.name for node in _walk(ast) if isinstance(node, nodes.Test)}


def _is_slots(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Name) and node.name == "slots"
