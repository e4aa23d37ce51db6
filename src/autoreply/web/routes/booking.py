"""Cancel a booked meeting from the signed link the lead was given."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from autoreply.domain.calendar import format_when
from autoreply.errors import NotFoundError
from autoreply.store.models import Booking
from autoreply.web.deps import PublicId, RuntimeDep
from autoreply.web.pages import Pages

__all__ = ["router"]

router = APIRouter(prefix="/bookings", tags=["booking"])


def _pages(request: Request) -> Pages:
    pages: Pages = request.app.state.pages
    return pages


async def _when(runtime: RuntimeDep, conversation_id: str, booking: Booking | None) -> str | None:
    """The meeting's start as the lead reads it, in the conversation's language."""
    if booking is None:
        return None
    locale = await runtime.service.locale_of(conversation_id)
    return format_when(booking.start_at.astimezone(runtime.content.calendar.tz), locale)


def _check(runtime: RuntimeDep, conversation_id: str, signature: str) -> None:
    if not runtime.service.links.cancel_valid(conversation_id, signature):
        raise NotFoundError("unknown link")


@router.get(
    "/{conversation_id}/cancel",
    response_class=HTMLResponse,
    summary="The cancel page of a booking (from the link sent to the lead)",
)
async def cancel_page(
    conversation_id: PublicId, s: str, request: Request, runtime: RuntimeDep
) -> HTMLResponse:
    """Shows the meeting and a button; nothing changes until the lead confirms."""
    _check(runtime, conversation_id, s)
    booking = await runtime.bookings.booking_of(conversation_id)
    when = await _when(runtime, conversation_id, booking)
    return _pages(request).render("booking/cancel.html", when=when, signature=s, done=False)


@router.post("/{conversation_id}/cancel", response_class=HTMLResponse, summary="Cancel the booking")
async def cancel(
    conversation_id: PublicId,
    s: Annotated[str, Form()],
    request: Request,
    runtime: RuntimeDep,
) -> HTMLResponse:
    """Cancels the meeting (the slot becomes free) and tells the rep via the handoff."""
    _check(runtime, conversation_id, s)
    booking = await runtime.bookings.cancel_booking(conversation_id)
    when = await _when(runtime, conversation_id, booking)
    return _pages(request).render(
        "booking/cancel.html", when=when, signature=s, done=booking is not None
    )
