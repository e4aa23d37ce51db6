"""The one place that turns product errors into HTTP responses (always a reason, never a 500).

Who reads the answer decides its form: the rep and admin pages (``/rep`` and below, see
:func:`wants_page`) get a human error page in the rep's language (``templates/rep/error.html``);
everything else (``/api``, the LINE webhook, forms, bookings …) keeps JSON."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

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
from autoreply.web.auth import session_rep
from autoreply.web.pages import page_locale, render_page

__all__ = ["install_error_handlers", "render_error", "status_of", "wants_page"]

PAGE_PREFIX = "/rep"  # the rep and admin pages: HTML for people, errors included

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


def wants_page(request: Request) -> bool:
    """Whether an error of this request is answered as a human page: a rep or admin page
    (``/rep``, ``/rep/...``), unless the client asks for JSON alone (``Accept:
    application/json``). The JSON API of reps lives under ``/api/rep`` and is not one."""
    path = request.url.path
    if path != PAGE_PREFIX and not path.startswith(PAGE_PREFIX + "/"):
        return False
    accept = request.headers.get("accept", "")
    return not ("application/json" in accept and "text/html" not in accept)


def render_error(
    request: Request,
    status_code: int,
    kind: str,
    rep: Any = None,
    problems: list[dict[str, str]] | None = None,
) -> HTMLResponse:
    """The human error page (``templates/rep/error.html``) in the rep's language.
    ``kind``: ``not_found`` (a handoff, follow-up or meeting), ``page`` (no such page),
    ``invalid`` (a 422: ``problems`` says which value), ``csrf``, ``link`` or ``error``."""
    return render_page(
        request,
        "rep/error.html",
        status_code,
        kind=kind,
        rep=rep,
        problems=problems or [],
        status=status_code,
        lang=page_locale(request),
    )


async def _page_rep(request: Request) -> Any:
    """The logged-in rep of an error page (its header shows their menu), or None."""
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is None or "session" not in request.scope:
        return None
    try:
        return await session_rep(request, runtime)
    except AutoreplyError:
        return None


def _problems(errors: Any) -> list[dict[str, str]]:
    """What a 422 page lists: the parameter and the value sent (shortened)."""
    found: list[dict[str, str]] = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ()) if part not in ("path", "query", "body")]
        value = error.get("input")
        shown = "" if value is None or isinstance(value, dict | list) else str(value)
        shown = shown.encode("utf-8", "replace").decode("utf-8")
        found.append(
            {
                "name": ".".join(loc) or "?",
                "value": shown[:80] + ("…" if len(shown) > 80 else ""),
                "type": str(error.get("type", "")),
            }
        )
    return found


_KIND_OF_STATUS = {404: "page", 403: "forbidden", 422: "invalid"}


def install_error_handlers(app: FastAPI) -> None:
    """Map the error tree to status codes with the error's message as the reason, and
    make FastAPI's 422 safe to encode whatever the request held."""

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if wants_page(request):
            kind = _KIND_OF_STATUS.get(exc.status_code, "error")
            page = render_error(request, exc.status_code, kind, await _page_rep(request))
            page.headers.update(exc.headers or {})  # e.g. a 405's Allow
            return page
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> Response:
        if wants_page(request):
            problems = _problems(exc.errors())
            return render_error(request, 422, "invalid", await _page_rep(request), problems)
        detail = _echoable(jsonable_encoder(exc.errors(), custom_encoder={float: _echoable}))
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(AutoreplyError)
    async def _product_error(request: Request, exc: AutoreplyError) -> Response:
        if wants_page(request) and not isinstance(exc, TooManyRequestsError | UnauthorizedError):
            status = status_of(exc)
            kind = "not_found" if status == 404 else _KIND_OF_STATUS.get(status, "error")
            return render_error(request, status, kind, await _page_rep(request))
        body: dict[str, object] = {"detail": str(exc)}
        headers: dict[str, str] = {}
        if isinstance(exc, InvalidFieldsError):
            body["errors"] = {k: {"code": c, "message": m} for k, (c, m) in exc.errors.items()}
        if isinstance(exc, TooManyRequestsError):
            headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, UnauthorizedError) and exc.scheme:
            headers["WWW-Authenticate"] = exc.scheme
        return JSONResponse(body, status_code=status_of(exc), headers=headers)
