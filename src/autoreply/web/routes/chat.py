"""The chat API the widget talks to: start, send, read back, page views."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Response

from autoreply.channels.web import (
    Banner,
    MessageIn,
    PageIn,
    ReplyOut,
    StartIn,
    StartOut,
    TranscriptOut,
    TurnOut,
    render_replies,
)
from autoreply.domain.promise import follow_up
from autoreply.errors import BadRequestError, FlowRuntimeError
from autoreply.flows.turns import Reply, reply_from_dict
from autoreply.service.runtime import Runtime
from autoreply.web.deps import ClientDep, PublicId, RuntimeDep, TokenDep

__all__ = ["banner", "router"]

router = APIRouter(prefix="/api/chat", tags=["chat"])


def banner(runtime: Runtime, locale: str) -> Banner:
    """Whether someone is at work now, and the honest promise when not."""
    calendar = runtime.content.calendar
    now = runtime.content.clock.now().astimezone(calendar.tz)
    is_open = calendar.is_open(now)
    text = runtime.content.texts.render(
        "widget/banner",
        locale,
        open_now=is_open,
        next_opening=calendar.next_opening(now),
        follow_up=follow_up(calendar, now),
    )
    return Banner(open=is_open, text=text)


def _replies(
    runtime: Runtime,
    conversation_id: str,
    locale: str,
    replies: tuple[Reply, ...] | list[Reply],
) -> list[ReplyOut]:
    def case_link(case_id: str) -> str:
        return runtime.service.links.case(conversation_id, case_id)

    return [ReplyOut(**r) for r in render_replies(replies, locale, case_link)]


@router.post(
    "/conversations",
    status_code=201,
    response_model=StartOut,
    summary="Start a conversation from a page of the site",
    responses={
        429: {
            "description": "too many conversations started from this address "
            "(AUTOREPLY_CHAT_STARTS_PER_MINUTE, _PER_HOUR); see Retry-After"
        }
    },
)
async def start(body: StartIn, runtime: RuntimeDep, client: ClientDep) -> StartOut:
    """Greets the visitor; the returned token is needed for everything after."""
    engine = runtime.content.flow_for(body.flow, body.locale)
    if engine is None:
        raise BadRequestError(f"unknown flow {body.flow!r}")
    await runtime.limits.chat_start(client)
    visitor = body.visitor or secrets.token_urlsafe(12)
    result = await runtime.service.start(
        channel="web",
        identities=[("web", visitor)],
        source=body.source(),
        flow_id=engine.flow.id,
    )
    if result.token is None:  # pragma: no cover - start always issues one
        raise FlowRuntimeError("a started conversation has no token")
    locale = engine.flow.locale
    return StartOut(
        conversation_id=result.conversation_id,
        token=result.token,
        status=result.status,
        banner=banner(runtime, locale),
        replies=_replies(runtime, result.conversation_id, locale, result.replies),
    )


@router.post(
    "/conversations/{conversation_id}/messages",
    response_model=TurnOut,
    summary="Send what the visitor typed or tapped; the replies come back",
)
async def send(
    conversation_id: PublicId, body: MessageIn, runtime: RuntimeDep, token: TokenDep
) -> TurnOut:
    """Runs one turn. A tap on a choice or slot that is not on offer is refused (400)."""
    result = await runtime.service.handle(
        conversation_id, body.event(), token=token, strict_taps=True
    )
    locale = result.locale
    return TurnOut(
        status=result.status,
        replies=_replies(runtime, conversation_id, locale, result.replies),
    )


@router.get(
    "/conversations/{conversation_id}",
    response_model=TranscriptOut,
    summary="Read the conversation back (after a reload or on another page)",
)
async def read(conversation_id: PublicId, runtime: RuntimeDep, token: TokenDep) -> TranscriptOut:
    """Every message so far, replies rendered as the widget shows them."""
    await runtime.service.authorize(conversation_id, token)
    status, locale, lines = await runtime.service.messages(conversation_id)
    messages: list[dict[str, Any]] = []
    for direction, kind, text, payload, at in lines:
        if direction == "in" and kind == "form":
            continue  # the form as sent: the bot's note after it summarises what was received
        if direction == "in":
            messages.append({"direction": "in", "text": text, "at": at})
            continue
        rendered = _replies(runtime, conversation_id, locale, [reply_from_dict(payload)])[0]
        messages.append({"direction": "out", "reply": rendered.model_dump(), "at": at})
    return TranscriptOut(
        conversation_id=conversation_id,
        status=status,
        banner=banner(runtime, locale),
        messages=messages,
    )


@router.post(
    "/conversations/{conversation_id}/pages",
    status_code=204,
    summary="Tell which page of the site the visitor is on now",
)
async def page_view(
    conversation_id: PublicId, body: PageIn, runtime: RuntimeDep, token: TokenDep
) -> Response:
    """Pages matching AUTOREPLY_SCORE_PAGES (e.g. /pricing) raise the lead's score."""
    await runtime.service.authorize(conversation_id, token)
    await runtime.service.record_page(conversation_id, str(body.url), body.title)
    return Response(status_code=204)
