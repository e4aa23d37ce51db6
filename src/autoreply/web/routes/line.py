"""The LINE Messaging API webhook: verify, store, answer 200 at once; handling comes after."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from autoreply.channels.line.wire import parse_webhook, valid_signature
from autoreply.errors import NotFoundError, WebhookError
from autoreply.web.body import read_limited
from autoreply.web.deps import RuntimeDep

__all__ = ["MAX_BODY", "router"]

log = logging.getLogger(__name__)
router = APIRouter(tags=["line"])
MAX_BODY = 1024 * 1024


@router.post(
    "/line/webhook",
    summary="LINE webhook (events are stored, answered 200, then handled)",
    responses={
        200: {"description": "stored (a repeat of a known webhookEventId is dropped)"},
        400: {"description": "missing or wrong x-line-signature, or not a webhook body"},
        404: {"description": "no LINE channel is configured"},
        413: {"description": "body too large"},
    },
)
async def webhook(request: Request, runtime: RuntimeDep) -> JSONResponse:
    """Verifies ``x-line-signature`` over the raw body (constant time) before reading it;
    ``{"events": []}`` (the console's "Verify") is answered 200."""
    if runtime.line is None or runtime.line_secret is None:
        raise NotFoundError("LINE is not configured (AUTOREPLY_LINE_CHANNEL_SECRET)")
    body = await read_limited(request, MAX_BODY)
    if not valid_signature(runtime.line_secret, body, request.headers.get("x-line-signature")):
        log.warning("LINE webhook with a missing or wrong signature refused")
        raise WebhookError("missing or wrong x-line-signature")
    events = parse_webhook(body)
    new = await runtime.line.store(events)
    if len(events) != new:
        log.info("LINE webhook: %d of %d events already known", len(events) - new, len(events))
    return JSONResponse({})
