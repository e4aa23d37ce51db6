"""The one place that turns product errors into HTTP responses (always a reason, never a 500)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from autoreply.errors import (
    AutoreplyError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    InvalidFieldsError,
    NotFoundError,
    PayloadTooLargeError,
    TooManyRequestsError,
    UnauthorizedError,
)

__all__ = ["install_error_handlers", "status_of"]

_STATUS: tuple[tuple[type[AutoreplyError], int], ...] = (
    (NotFoundError, 404),
    (UnauthorizedError, 401),
    (ForbiddenError, 403),
    (ConflictError, 409),
    (PayloadTooLargeError, 413),
    (InvalidFieldsError, 422),
    (TooManyRequestsError, 429),
    (BadRequestError, 400),
)


def status_of(exc: AutoreplyError) -> int:
    """The HTTP status of a product error (500 for one no request could have caused)."""
    return next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)


def install_error_handlers(app: FastAPI) -> None:
    """Map the error tree to status codes with the error's message as the reason."""

    @app.exception_handler(AutoreplyError)
    async def _product_error(request: Request, exc: AutoreplyError) -> JSONResponse:
        body: dict[str, object] = {"detail": str(exc)}
        headers: dict[str, str] = {}
        if isinstance(exc, InvalidFieldsError):
            body["errors"] = {k: {"code": c, "message": m} for k, (c, m) in exc.errors.items()}
        if isinstance(exc, TooManyRequestsError):
            headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, UnauthorizedError) and exc.scheme:
            headers["WWW-Authenticate"] = exc.scheme
        return JSONResponse(body, status_code=status_of(exc), headers=headers)
