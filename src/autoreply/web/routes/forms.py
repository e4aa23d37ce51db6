"""Form intake: HTML form posts and JSON from marketing tools, answered by an auto-reply email.

``POST /forms/{form_id}`` takes ``application/x-www-form-urlencoded`` or
``multipart/form-data`` (a browser: answered with a redirect to the thank-you page, or the
form again with the fields' errors) and ``application/json`` (a marketing tool: 202 with
JSON, or 422 with the fields' errors). A form declared with ``require_signature`` only
takes posts carrying ``X-Autoreply-Signature: sha256=<hex>``, the HMAC-SHA256 of the raw
body with ``AUTOREPLY_FORM_SIGNING_SECRET``; anything else is refused before it is read
further, and nothing is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from limits import parse as parse_limit
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.datastructures import FormData

from autoreply.domain.forms import FieldError, FormSpec
from autoreply.errors import BadRequestError, NotFoundError
from autoreply.service.runtime import Runtime
from autoreply.web.deps import RuntimeDep
from autoreply.web.pages import Pages

__all__ = ["SIGNATURE_HEADER", "router", "signature"]

log = logging.getLogger(__name__)
router = APIRouter(prefix="/forms", tags=["forms"])
SIGNATURE_HEADER = "X-Autoreply-Signature"
_UTM = ("source", "medium", "campaign", "term", "content")


def signature(secret: str, body: bytes) -> str:
    """The header value a server-to-server post carries: ``sha256=<hex HMAC of the body>``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class _Limits:
    """Per-client posting limits (in memory, per process)."""

    def __init__(self, per_minute: int) -> None:
        self.rule = parse_limit(f"{per_minute}/minute")
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def allow(self, client: str) -> bool:
        return self.limiter.hit(self.rule, "forms", client)


def _limits(request: Request, runtime: Runtime) -> _Limits:
    state = request.app.state
    if getattr(state, "form_limits", None) is None:
        state.form_limits = _Limits(runtime.settings.form_rate_per_minute)
    limits: _Limits = state.form_limits
    return limits


def _form(runtime: Runtime, form_id: str) -> FormSpec:
    form = runtime.forms.get(form_id)
    if form is None:
        raise NotFoundError(f"no form {form_id!r}")
    return form


async def _body(request: Request, limit: int) -> bytes | None:
    """The raw body, or None when it is larger than ``limit`` (read no further)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body
    return body


async def _fields(request: Request, kind: str, body: bytes) -> dict[str, Any]:
    if kind == "application/json":
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadRequestError(f"the body is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise BadRequestError("the JSON body must be an object of field names to values")
        out: dict[str, Any] = {}
        for key, value in data.items():
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                out[str(key)] = str(value)
            elif isinstance(value, dict) and key == "utm":
                out["utm"] = {str(k): str(v) for k, v in value.items()}
            elif value is not None:
                raise BadRequestError(f"field {key!r}: give text, not {type(value).__name__}")
        return out
    if kind == "application/x-www-form-urlencoded":
        try:
            parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError as exc:
            raise BadRequestError("the form is not UTF-8") from exc
        return {k: v[0] for k, v in parsed.items()}
    if kind == "multipart/form-data":
        try:
            form: FormData = await request.form()
        except Exception as exc:  # starlette raises its own parse errors
            raise BadRequestError(f"unreadable multipart body: {exc}") from exc
        return {k: v for k, v in form.items() if isinstance(v, str)}
    raise BadRequestError(
        "send application/x-www-form-urlencoded, multipart/form-data or application/json"
    )


def _source(request: Request, fields: dict[str, Any]) -> dict[str, Any]:
    """Where the submitter was: the page (the form's hidden page_url, else the Referer) and
    the campaign (utm_* fields, or those of the page's address)."""
    page = str(fields.get("page_url") or request.headers.get("referer") or "")[:2000]
    utm = {k: str(v)[:300] for k, v in dict(fields.get("utm") or {}).items() if k in _UTM}
    query = parse_qs(urlsplit(page).query) if page else {}
    for key in _UTM:
        value = fields.get(f"utm_{key}") or (query.get(f"utm_{key}") or [""])[0]
        if value and key not in utm:
            utm[key] = str(value)[:300]
    return {"url": page, "title": str(fields.get("page_title") or "")[:300], "utm": utm}


def _error_json(errors: dict[str, FieldError]) -> JSONResponse:
    return JSONResponse(
        {
            "detail": "some fields are missing or invalid",
            "errors": {k: {"code": e.code, "message": e.message} for k, e in errors.items()},
        },
        status_code=422,
    )


def _pages(request: Request) -> Pages:
    pages: Pages = request.app.state.pages
    return pages


def _page(
    request: Request,
    form: FormSpec,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, FieldError] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return _pages(request).render(
        "forms/form.html",
        status_code=status_code,
        request=request,
        form=form,
        values=values or {},
        errors=errors or {},
        page="form",
    )


@router.get("/{form_id}", response_class=HTMLResponse, include_in_schema=False)
async def form_page(form_id: str, request: Request, runtime: RuntimeDep) -> HTMLResponse:
    """The form itself, as the demo site shows it."""
    return _page(request, _form(runtime, form_id))


@router.post(
    "/{form_id}",
    summary="Submit a form (HTML form post or JSON); the submitter gets an auto-reply email",
    status_code=202,
    responses={
        202: {"description": "JSON: accepted (the reply email is queued)"},
        303: {"description": "HTML form: accepted, see the thank-you page"},
        400: {"description": "HTML form: fields missing or invalid (the form again)"},
        401: {"description": "signature missing or wrong (forms that require one)"},
        413: {"description": "body larger than AUTOREPLY_FORM_MAX_BYTES"},
        422: {"description": "JSON: fields missing or invalid, per field"},
        429: {"description": "too many posts from this address"},
    },
)
async def submit(form_id: str, request: Request, runtime: RuntimeDep) -> Response:
    """Accepts a submission: stores it, and queues the contextual reply email."""
    form = _form(runtime, form_id)
    settings = runtime.settings
    client = request.client.host if request.client else "unknown"
    if not _limits(request, runtime).allow(client):
        return JSONResponse(
            {"detail": "too many submissions from this address; try again in a minute"},
            status_code=429,
            headers={"Retry-After": "60"},
        )
    body = await _body(request, settings.form_max_bytes)
    if body is None:
        return JSONResponse(
            {"detail": f"the body is larger than {settings.form_max_bytes} bytes"},
            status_code=413,
        )
    if form.require_signature:
        given = request.headers.get(SIGNATURE_HEADER, "")
        secret = settings.form_signing_secret or ""
        if not given:
            return JSONResponse({"detail": f"missing {SIGNATURE_HEADER}"}, status_code=401)
        if not secret or not hmac.compare_digest(given, signature(secret, body)):
            return JSONResponse({"detail": f"wrong {SIGNATURE_HEADER}"}, status_code=401)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fields = await _fields(request, kind, body)
    is_json = kind == "application/json"
    if form.honeypot and str(fields.get(form.honeypot, "")).strip():
        log.info("form post with the honeypot filled in: ignored", extra={"form": form.id})
        if is_json:
            return JSONResponse({"status": "accepted"}, status_code=202)
        return RedirectResponse(f"/forms/{form.id}/thanks", status_code=303)
    submission, errors = runtime.forms.check(form, fields)
    if submission is None:
        if is_json:
            return _error_json(errors)
        return _page(request, form, values=fields, errors=errors, status_code=400)
    accepted = await runtime.intake.submit(submission, _source(request, fields))
    if is_json:
        return JSONResponse(
            {
                "status": "accepted",
                "duplicate": accepted.duplicate,
                "submission_id": accepted.submission_id,
                "lead_id": accepted.lead_id,
                "conversation_id": accepted.conversation_id,
            },
            status_code=202,
        )
    token = accepted.continue_url.rsplit("/", 1)[-1]
    return RedirectResponse(f"/forms/{form.id}/thanks?c={token}", status_code=303)


@router.get("/{form_id}/thanks", response_class=HTMLResponse, include_in_schema=False)
async def thanks(form_id: str, request: Request, runtime: RuntimeDep, c: str = "") -> HTMLResponse:
    """The thank-you page, with the way to continue in the chat right away."""
    form = _form(runtime, form_id)
    now = runtime.content.clock.now()
    valid = bool(c) and runtime.service.links.opened("continue", c, now) is not None
    calendar = runtime.content.calendar
    local = now.astimezone(calendar.tz)
    return _pages(request).render(
        "forms/thanks.html",
        request=request,
        form=form,
        continue_url=f"/c/{c}" if valid else None,
        open_now=calendar.is_open(local),
        next_opening=calendar.next_opening(local),
        page="form",
    )
