"""The one place that turns product errors into HTTP responses (always a reason, never a 500)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from autoreply.errors import (
    AutoreplyError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
)

__all__ = ["install_error_handlers"]

_STATUS: tuple[tuple[type[AutoreplyError], int], ...] = (
    (NotFoundError, 404),
    (ForbiddenError, 403),
    (ConflictError, 409),
    (BadRequestError, 400),
)


def install_error_handlers(app: FastAPI) -> None:
    """Map the error tree to status codes with the error's message as the reason."""

    @app.exception_handler(AutoreplyError)
    async def _product_error(request: Request, exc: AutoreplyError) -> JSONResponse:
        status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)
        return JSONResponse({"detail": str(exc)}, status_code=status)
