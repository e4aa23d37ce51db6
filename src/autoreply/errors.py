"""One error tree for the whole product, rooted at ``AutoreplyError``."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AutoreplyError",
    "BadRequestError",
    "ConfigError",
    "ConflictError",
    "FlowError",
    "FlowProblem",
    "ForbiddenError",
    "NotFoundError",
    "StorageError",
]


class AutoreplyError(Exception):
    """Base of every error this product raises on purpose."""


class ConfigError(AutoreplyError, ValueError):
    """A setting or a configuration file is invalid."""


@dataclass(frozen=True, order=True)
class FlowProblem:
    """One problem in a flow file, located as ``file:line:column`` (1-based)."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class FlowError(AutoreplyError, ValueError):
    """A flow file cannot be used; ``problems`` lists every located problem."""

    def __init__(self, problems: list[FlowProblem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class StorageError(AutoreplyError):
    """The database could not do what was asked."""


class NotFoundError(AutoreplyError, LookupError):
    """A conversation, lead or other record does not exist."""


class ConflictError(AutoreplyError):
    """A concurrent change won (e.g. the slot was just booked by someone else)."""


class BadRequestError(AutoreplyError, ValueError):
    """The request cannot be applied as sent (e.g. a choice that is not offered)."""


class ForbiddenError(AutoreplyError, PermissionError):
    """The caller may not do this (e.g. a wrong conversation token)."""
