"""YAML read with the line and column of every value, so problems can point at them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from autoreply.errors import FlowError, FlowProblem

__all__ = ["Located", "Path_", "load_located", "read_source"]

Path_ = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


@dataclass
class Located:
    """Parsed YAML data plus where each value (by its key path) starts, 1-based."""

    file: str
    data: Any
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    key_positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)
    #: Values written as block scalars (``|`` or ``>``): their text starts one line later.
    blocks: set[Path_] = field(default_factory=set)

    def where(self, path: Path_, *, key: bool = False) -> tuple[int, int]:
        """The closest known position of ``path`` (walking up to its parents)."""
        table = self.key_positions if key else self.positions
        probe = tuple(path)
        while probe:
            if probe in table:
                return table[probe]
            if probe in self.positions:
                return self.positions[probe]
            probe = probe[:-1]
        return self.positions.get((), (1, 1))

    def problem(self, path: Path_, message: str, *, key: bool = False) -> FlowProblem:
        """A problem located at ``path`` in this file."""
        line, column = self.where(path, key=key)
        return FlowProblem(self.file, line, column, message)

    def model(self, model: type[M], what: str, top: str) -> M:
        """The data as ``model``; ``FlowError`` with every problem located when it is not
        one (``what`` names the file's kind, ``top`` its top-level key)."""
        if not isinstance(self.data, dict):
            raise FlowError([self.problem((), f"{what} must be a mapping with '{top}:'")])
        try:
            return model.model_validate(self.data)
        except ValidationError as exc:
            raise FlowError(self.validation_problems(exc, top=top)) from exc

    def validation_problems(
        self,
        exc: ValidationError,
        path_of: Callable[[tuple[int | str, ...]], Path_] = tuple,
        top: str = "file",
    ) -> list[FlowProblem]:
        """Pydantic's errors on this file's data, each at its key or value;
        ``path_of`` turns pydantic's location into a data path (dropping union tags)."""
        problems: list[FlowProblem] = []
        for error in exc.errors():
            path = path_of(error["loc"])
            kind = error["type"]
            name = path[-1] if path else ""
            if kind == "extra_forbidden":
                problems.append(self.problem(path, f"unknown key {name!r}", key=True))
            elif kind == "missing":
                problems.append(self.problem(path[:-1], f"missing required key {name!r}"))
            else:
                where = ".".join(str(p) for p in path) or top
                problems.append(self.problem(path, f"{where}: {error['msg']}"))
        return problems


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _convert(node: yaml.Node, path: Path_, out: Located, problems: list[FlowProblem]) -> Any:
    out.positions[path] = _pos(node)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _convert(key_node, (*path, "<key>"), out, problems)
            out.positions.pop((*path, "<key>"), None)
            if not isinstance(key, str):
                # YAML reads 1, yes and no as a number or a boolean, never as a name.
                line, col = _pos(key_node)
                problems.append(
                    FlowProblem(
                        out.file, line, col, f"key {key_node.value!r} is not text: put it in quotes"
                    )
                )
                continue
            if key in result:
                line, col = _pos(key_node)
                problems.append(FlowProblem(out.file, line, col, f"duplicate key {key!r}"))
            out.key_positions[(*path, key)] = _pos(key_node)
            result[key] = _convert(value_node, (*path, key), out, problems)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _convert(item, (*path, index), out, problems) for index, item in enumerate(node.value)
        ]
    if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
        out.blocks.add(path)
    return yaml.SafeLoader.construct_object(_SCALAR_LOADER, node, deep=True)


_SCALAR_LOADER = yaml.SafeLoader("")


def read_source(path: Path) -> str:
    """An operator file's text; ``FlowError`` (at line 1) when it cannot be read as UTF-8."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FlowError([FlowProblem(str(path), 1, 1, f"cannot read: {exc.strerror}")]) from exc
    except UnicodeDecodeError as exc:
        raise FlowError([FlowProblem(str(path), 1, 1, "not UTF-8 text")]) from exc


def load_located(text: str, file: str) -> Located:
    """Parse one YAML document, keeping positions; raise ``FlowError`` on bad YAML.

    >>> load_located("a: 1\\nb: [x]\\n", "f.yaml").where(("b", 0))
    (2, 5)
    """
    out = Located(file=file, data=None)
    problems: list[FlowProblem] = []
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = exc.problem or exc.context or "invalid YAML"
        raise FlowError([FlowProblem(file, line, col, f"YAML syntax: {reason}")]) from exc
    except yaml.YAMLError as exc:
        raise FlowError([FlowProblem(file, 1, 1, f"YAML syntax: {exc}")]) from exc
    if node is None:
        raise FlowError([FlowProblem(file, 1, 1, "the file is empty")])
    out.data = _convert(node, (), out, problems)
    if problems:
        raise FlowError(problems)
    return out
