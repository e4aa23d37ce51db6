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
    "FlowRuntimeError",
    "ForbiddenError",
    "InvalidFieldsError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermanentDeliveryError",
    "StorageError",
    "TemporaryDeliveryError",
    "TooManyRequestsError",
    "UnauthorizedError",
    "WebhookError",
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


class FlowRuntimeError(AutoreplyError, RuntimeError):
    """A checked flow did something impossible at run time (a bug, never the lead's input)."""


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


class InvalidFieldsError(BadRequestError):
    """Some fields of a submission are missing or invalid; ``errors`` maps each field to
    a (code, message) pair."""

    def __init__(self, errors: dict[str, tuple[str, str]]) -> None:
        super().__init__("some fields are missing or invalid")
        self.errors = errors


class PayloadTooLargeError(BadRequestError):
    """The request body is larger than the limit (read no further)."""


class WebhookError(BadRequestError):
    """A webhook body the far end would not send: refused, nothing stored."""


class TooManyRequestsError(AutoreplyError):
    """The caller sent too much too quickly; ``retry_after`` seconds until it may again."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UnauthorizedError(AutoreplyError, PermissionError):
    """The request carries no credentials, or wrong ones; ``scheme`` is the
    authentication scheme to announce (``Bearer``), if any."""

    def __init__(self, message: str, scheme: str | None = None) -> None:
        super().__init__(message)
        self.scheme = scheme


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
