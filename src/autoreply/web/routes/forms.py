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

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from autoreply.channels.email import form as wire
from autoreply.domain.forms import FieldError, FormSpec
from autoreply.domain.promise import follow_up
from autoreply.errors import InvalidFieldsError, NotFoundError
from autoreply.service.runtime import Runtime
from autoreply.web.body import multipart_fields, read_limited
from autoreply.web.deps import ClientDep, RuntimeDep
from autoreply.web.pages import Pages

__all__ = ["policy_url", "router"]

log = logging.getLogger(__name__)
router = APIRouter(prefix="/forms", tags=["forms"])


def _form(runtime: Runtime, form_id: str) -> FormSpec:
    form = runtime.forms.get(form_id)
    if form is None:
        raise NotFoundError(f"no form {form_id!r}")
    return form


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
        privacy_url=policy_url(request.app.state.runtime.settings.privacy_policy_url, form.locale),
    )


def policy_url(url: str, locale: str) -> str:
    """The privacy notice a form links to: the setting, or for an English form the
    English page when the setting is the demo's own ``/privacy``.

    >>> policy_url("/privacy", "en"), policy_url("https://example.com/p", "en")
    ('/privacy/en', 'https://example.com/p')
    """
    return "/privacy/en" if locale == "en" and url.rstrip("/") == "/privacy" else url


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
async def submit(
    form_id: str, request: Request, runtime: RuntimeDep, client: ClientDep
) -> Response:
    """Accepts a submission: stores it, and queues the contextual reply email."""
    form = _form(runtime, form_id)
    settings = runtime.settings
    await runtime.limits.form_post(client)
    body = await read_limited(request, settings.form_max_bytes)
    if form.require_signature:
        given = request.headers.get(wire.SIGNATURE_HEADER)
        wire.check_signature(settings.form_signing_secret, given, body)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    multipart = await multipart_fields(request, body) if kind == wire.MULTIPART else None
    fields = wire.parse_fields(kind, body, multipart)
    is_json = kind == wire.JSON
    if form.honeypot and str(fields.get(form.honeypot, "")).strip():
        log.info("form post with the honeypot filled in: ignored", extra={"form": form.id})
        if is_json:
            return JSONResponse({"status": "accepted"}, status_code=202)
        return RedirectResponse(f"/forms/{form.id}/thanks", status_code=303)
    submission, errors = runtime.forms.check(form, fields)
    if submission is None:
        if is_json:
            raise InvalidFieldsError({k: (e.code, e.message) for k, e in errors.items()})
        # A person at a browser gets the form again, with each field's problem.
        return _page(request, form, values=fields, errors=errors, status_code=400)
    source = wire.source_of(fields, request.headers.get("referer"))
    accepted = await runtime.intake.submit(submission, source)
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
    conversation_id = runtime.service.links.opened("continue", c, now) if c else None
    calendar = runtime.content.calendar
    local = now.astimezone(calendar.tz)
    promise = (
        await runtime.service.follow_up(conversation_id, local)
        if conversation_id
        else follow_up(calendar, local)
    )
    return _pages(request).render(
        "forms/thanks.html",
        request=request,
        form=form,
        continue_url=f"/c/{c}" if conversation_id else None,
        open_now=calendar.is_open(local),
        next_opening=calendar.next_opening(local),
        follow_up=promise,
        page="form",
    )
