"""The links in emails: continue the conversation in the web chat, and the booking page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from autoreply.links import Purpose
from autoreply.service.booking import BookingPage
from autoreply.service.runtime import Runtime
from autoreply.web.deps import RuntimeDep
from autoreply.web.pages import Pages

__all__ = ["router"]

router = APIRouter(tags=["links"])


def _pages(request: Request) -> Pages:
    pages: Pages = request.app.state.pages
    return pages


def _opened(runtime: Runtime, purpose: Purpose, token: str) -> str | None:
    return runtime.service.links.opened(purpose, token, runtime.content.clock.now())


def _expired(request: Request) -> HTMLResponse:
    return _pages(request).render("links/expired.html", status_code=410, request=request)


@router.get(
    "/b/{token}",
    summary="A short link from a chat or LINE message (cancel or reschedule a booking)",
    responses={
        303: {"description": "to the signed cancel or reschedule page"},
        404: {"description": "not a link of ours (a human page)"},
        410: {"description": "expired (a human page)"},
    },
    response_class=RedirectResponse,
    status_code=303,
)
async def short_link(token: str, request: Request, runtime: RuntimeDep) -> Response:
    """Opens the page a short link stands for; a forged, mistyped or expired link gets a
    page that says so and what to do instead."""
    opened = None
    if len(token) <= 64:
        opened = runtime.service.links.short_opened(token, runtime.content.clock.now())
    if opened is not None and opened.expired:
        return _expired(request)
    target = None if opened is None else await runtime.bookings.short_target(opened)
    if target is None:
        return _pages(request).render("links/invalid.html", status_code=404, request=request)
    return RedirectResponse(target, status_code=303)


@router.get(
    "/c/{token}",
    summary="Continue a conversation (begun by a form) in the web chat",
    responses={303: {"description": "to the chat page, which opens the conversation"}},
    response_class=RedirectResponse,
    status_code=303,
)
async def continue_chat(token: str, request: Request, runtime: RuntimeDep) -> Response:
    """Opens the chat on the page set by AUTOREPLY_CHAT_PAGE_URL with this conversation.

    The conversation and a fresh chat token travel in the URL fragment, which browsers
    never send to a server or in a Referer; the widget reads it and removes it.
    """
    conversation_id = _opened(runtime, "continue", token)
    if conversation_id is None:
        return _expired(request)
    result = await runtime.service.continue_in_chat(conversation_id)
    page = runtime.settings.chat_page_url or f"{runtime.settings.public_url.rstrip('/')}/"
    return RedirectResponse(
        f"{page.split('#', 1)[0]}#autoreply={conversation_id}.{result.token}", status_code=303
    )


def _booking_page(
    request: Request, token: str, page: BookingPage, outcome: str = ""
) -> HTMLResponse:
    return _pages(request).render(
        "links/book.html", request=request, token=token, page=page, outcome=outcome
    )


@router.get("/book/{token}", response_class=HTMLResponse, summary="The lead's booking page")
async def book_page(token: str, request: Request, runtime: RuntimeDep) -> HTMLResponse:
    """Free meeting slots grouped by day (or the meeting already booked)."""
    conversation_id = _opened(runtime, "book", token)
    if conversation_id is None:
        return _expired(request)
    page = await runtime.bookings.booking_page(conversation_id)
    return _booking_page(request, token, page)


@router.post("/book/{token}", response_class=HTMLResponse, summary="Book a slot")
async def book(
    token: str, slot: Annotated[str, Form(max_length=64)], request: Request, runtime: RuntimeDep
) -> HTMLResponse:
    """Books the slot for the lead; if someone took it a moment ago, fresh slots are shown."""
    conversation_id = _opened(runtime, "book", token)
    if conversation_id is None:
        return _expired(request)
    outcome = await runtime.bookings.book(conversation_id, slot)
    page = await runtime.bookings.booking_page(conversation_id)
    status = 409 if outcome == "taken" else 200
    response = _booking_page(request, token, page, outcome=outcome)
    response.status_code = status
    return response
