"""The one place that turns product errors into HTTP responses (always a reason, never a 500)."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
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


def _echoable(value: Any) -> Any:
    """A value a 422 can echo as JSON: lone surrogates become U+FFFD, NaN and the
    infinities their names (JSON has neither)."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {_echoable(k): _echoable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_echoable(v) for v in value]
    return value


def install_error_handlers(app: FastAPI) -> None:
    """Map the error tree to status codes with the error's message as the reason, and
    make FastAPI's 422 safe to encode whatever the request held."""

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = _echoable(jsonable_encoder(exc.errors(), custom_encoder={float: _echoable}))
        return JSONResponse({"detail": detail}, status_code=422)

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
