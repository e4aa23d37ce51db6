"""One error tree for the whole product, rooted at ``AutoreplyError``."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AlreadyHandledError",
    "AutoreplyError",
    "BadRequestError",
    "ConfigError",
    "ConflictError",
    "DeliveryError",
    "FlowError",
    "FlowProblem",
    "ForbiddenError",
    "NotFoundError",
    "PermanentDeliveryError",
    "StorageError",
    "TemporaryDeliveryError",
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


class AlreadyHandledError(ConflictError):
    """An inbound event was handled by another transaction (a redelivery, a second worker)."""


class BadRequestError(AutoreplyError, ValueError):
    """The request cannot be applied as sent (e.g. a choice that is not offered)."""


class ForbiddenError(AutoreplyError, PermissionError):
    """The caller may not do this (e.g. a wrong conversation token)."""


class DeliveryError(AutoreplyError):
    """A message could not be handed to the far end (mail server, LINE API)."""


class TemporaryDeliveryError(DeliveryError):
    """Try again later: the far end is down, slow, or said 4xx/429/5xx-for-now.

    ``retry_after`` is the far end's own wish (seconds), when it said one.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """Trying again cannot help (a 5xx from a mail server, a 400 from an API)."""
