"""The layers stay visible: a walk over every import of ``src/autoreply`` (with ``ast``)
fails the build when a module reaches across a boundary it must not cross.

The rules (docs/architecture.md):
- ``domain`` and ``flows`` (the pure core) import no I/O library and no other layer;
- ``store`` imports no ``web``, ``service`` or ``channels``;
- ``channels`` import no ``web``; their wire modules and the notification renderers stay
  pure (no I/O, no store or service);
- ``service`` imports no ``web``;
- only the entry points import the composition root (``bootstrap``);
- SQL is written in ``store`` only: elsewhere ``sqlalchemy`` is imported only for its
  session types and errors;
- product code has no ``assert`` (they vanish under ``python -O``);
- every exception class of the product derives from ``AutoreplyError``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path

import pytest

from autoreply.errors import AutoreplyError

SRC = Path(__file__).resolve().parents[2] / "src"

IO_LIBRARIES = (
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "alembic",
    "aiosmtplib",
    "smtplib",
    "linebot",
    "slack_sdk",
    "fastapi",
    "starlette",
    "httpx",
    "aiohttp",
    "uvicorn",
    "socket",
    "argon2",
)
LAYERS = ("bootstrap", "service", "channels", "store", "web")
ENTRY_POINTS = ("autoreply.cli", "autoreply.web.app", "autoreply.__main__")
WIRE_MODULES = (
    "autoreply.channels.line.wire",
    "autoreply.channels.email.form",
    "autoreply.channels.web",
    # the notification targets' renderers (and what they share) are pure as well
    "autoreply.channels.layout",
    "autoreply.channels.slack.render",
    "autoreply.channels.teams.render",
    "autoreply.channels.chatwork.render",
)
SQLALCHEMY_OUTSIDE_STORE = ("sqlalchemy.ext.asyncio", "sqlalchemy.exc")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # what it imports (a module, or module.name for ``from m import name``)
    line: int


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(root: Path) -> tuple[list[Import], list[str]]:
    """Every import (also those inside functions) and every ``assert`` under ``root``."""
    found: list[Import] = []
    asserts: list[str] = []
    for path in sorted(root.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        module = _module_name(root, path)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [Import(module, alias.name, node.lineno) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                base = node.module
                if node.level:  # relative: resolve against the importing package
                    package = module.split(".")[: -node.level or None]
                    base = ".".join([*package, node.module])
                found += [Import(module, f"{base}.{a.name}", node.lineno) for a in node.names]
            elif isinstance(node, ast.Assert):
                asserts.append(f"{path.relative_to(root)}:{node.lineno}: assert in product code")
    return found, asserts


def _in(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def _layer(name: str) -> str | None:
    return next((f"autoreply.{layer}" for layer in LAYERS if _in(name, f"autoreply.{layer}")), None)


def violations(root: Path) -> list[str]:
    """Every broken rule under ``root`` (a folder holding the ``autoreply`` package)."""
    imports, problems = _imports(root)
    for imp in imports:
        where = f"{imp.module} (line {imp.line}) imports {imp.target}"
        target_layer = _layer(imp.target)
        pure = _in(imp.module, "autoreply.domain", "autoreply.flows")
        if pure and (_in(imp.target, *IO_LIBRARIES) or target_layer):
            problems.append(f"{where}: the pure core imports no I/O and no other layer")
        if _in(imp.module, "autoreply.store") and target_layer in (
            "autoreply.web",
            "autoreply.service",
            "autoreply.channels",
            "autoreply.bootstrap",
        ):
            problems.append(f"{where}: store imports no web, service or channel")
        if _in(imp.module, "autoreply.channels") and target_layer in (
            "autoreply.web",
            "autoreply.bootstrap",
        ):
            problems.append(f"{where}: channels import no web and not the composition root")
        if _in(imp.module, *WIRE_MODULES) and (
            _in(imp.target, *IO_LIBRARIES, "autoreply.store", "autoreply.service")
            and not _in(imp.target, "linebot.v3.webhook")  # its signature check is pure
        ):
            problems.append(f"{where}: a channel's wire module stays pure")
        if _in(imp.module, "autoreply.service") and target_layer == "autoreply.web":
            problems.append(f"{where}: the service layer imports no web")
        if target_layer == "autoreply.bootstrap" and not _in(
            imp.module, *ENTRY_POINTS, "autoreply.bootstrap"
        ):
            problems.append(f"{where}: only entry points import the composition root")
        if (
            _in(imp.target, "sqlalchemy")
            and not _in(imp.module, "autoreply.store", "autoreply.domain", "autoreply.flows")
            and not _in(imp.target, *SQLALCHEMY_OUTSIDE_STORE)
        ):
            problems.append(f"{where}: SQL is written in store only")
    return sorted(set(problems))


def test_the_product_keeps_its_layers() -> None:
    """No module of src/autoreply crosses a layer boundary or asserts for control flow."""
    assert violations(SRC) == []


def _plant(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / "autoreply" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("name", "text", "rule"),
    [
        ("domain/x.py", "import sqlalchemy\n", "the pure core imports no I/O"),
        ("flows/x.py", "from autoreply.store import repos\n", "the pure core imports no I/O"),
        ("store/x.py", "from autoreply.web.app import create_app\n", "store imports no web"),
        ("channels/x.py", "from autoreply.web import deps\n", "channels import no web"),
        ("channels/line/wire.py", "from autoreply.store import repos\n", "wire module stays pure"),
        ("service/x.py", "from autoreply.web.pages import Pages\n", "service layer imports no web"),
        ("service/y.py", "def f():\n    from autoreply import bootstrap\n", "only entry points"),
        ("service/z.py", "from sqlalchemy import select\n", "SQL is written in store only"),
        ("web/x.py", "def f(x):\n    assert x\n", "assert in product code"),
    ],
)
def test_a_planted_violation_is_found(tmp_path: Path, name: str, text: str, rule: str) -> None:
    """Each rule catches a module that breaks it (the checker itself can fail)."""
    found = violations(_plant(tmp_path, {name: text}))
    assert len(found) == 1 and rule in found[0], found


def test_entry_points_may_import_the_composition_root(tmp_path: Path) -> None:
    """The command line and the app factory build the product from bootstrap."""
    root = _plant(
        tmp_path,
        {
            "cli.py": "from autoreply.bootstrap import open_runtime\n",
            "web/app.py": "from autoreply.bootstrap import open_runtime\n",
            "service/x.py": "from sqlalchemy.ext.asyncio import AsyncSession\n",
        },
    )
    assert violations(root) == []


def _error_classes() -> list[type[BaseException]]:
    classes = []
    for path in sorted((SRC / "autoreply").rglob("*.py")):
        if "migrations" in path.parts or path.name == "__main__.py":
            continue
        module = importlib.import_module(_module_name(SRC, path))
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == module.__name__:
                classes.append(value)
    return classes


def test_every_product_error_derives_from_autoreply_error() -> None:
    """One error tree: every exception class the product defines is an AutoreplyError."""
    classes = _error_classes()
    assert len(classes) >= 10  # the walk found the error tree at all
    strays = [
        f"{c.__module__}.{c.__qualname__}" for c in classes if not issubclass(c, AutoreplyError)
    ]
    assert strays == []
