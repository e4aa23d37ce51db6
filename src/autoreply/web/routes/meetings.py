"""Booked meetings after the fact: the lead's reschedule page (the signed link in the invite
and the emails), and the rep's outcome, reschedule and cancel (pages and JSON API)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from autoreply.errors import BadRequestError, ConflictError, NotFoundError
from autoreply.service.meeting_changes import MeetingChanges, MeetingNotChangeable, Moved
from autoreply.store.models import Booking
from autoreply.web.auth import ApiRepDep, csrf_ok, session_rep
from autoreply.web.deps import PublicId, RowId, RuntimeDep
from autoreply.web.errors import render_error
from autoreply.web.pages import Pages, render_page

__all__ = ["MeetingItem", "router"]

router = APIRouter()
_API: dict[str, Any] = {
    "tags": ["rep"],
    "responses": {
        401: {"description": "No API token, or an unknown / replaced one."},
        404: {"description": "No booking with this id."},
        409: {"description": "Not now: the meeting has not started, or it is off (`detail`)."},
    },
}
_PAGES: dict[str, Any] = {"tags": ["rep"], "include_in_schema": False}
Slot = Annotated[str, Form(max_length=64)]


def _changes(runtime: RuntimeDep) -> MeetingChanges:
    if runtime.meetings is None:  # pragma: no cover - open_runtime always builds it
        raise NotFoundError("meetings are not available")
    return runtime.meetings


# -- the lead's reschedule link --------------------------------------------------------------


def _lead_page(request: Request, status_code: int = 200, **variables: Any) -> HTMLResponse:
    site: Pages = request.app.state.pages
    return site.render("booking/reschedule.html", status_code=status_code, **variables)


def _signed(runtime: RuntimeDep, conversation_id: str, signature: str) -> bool:
    return runtime.service.links.reschedule_valid(conversation_id, signature)


@router.get(
    "/bookings/{conversation_id}/reschedule",
    response_class=HTMLResponse,
    tags=["booking"],
    summary="The lead's reschedule page (from the link in the invite and the emails)",
)
async def reschedule_page(
    conversation_id: PublicId, request: Request, runtime: RuntimeDep, s: str = ""
) -> HTMLResponse:
    """The meeting as booked and the rep's other free slots; nothing moves until a pick."""
    if not _signed(runtime, conversation_id, s):
        return _lead_page(request, 404, page=None, signature="", outcome="link")
    try:
        page = await _changes(runtime).reschedule_page(conversation_id)
    except NotFoundError:
        return _lead_page(request, 404, page=None, signature="", outcome="link")
    return _lead_page(request, page=page, signature=s, outcome="")


@router.post(
    "/bookings/{conversation_id}/reschedule",
    response_class=HTMLResponse,
    tags=["booking"],
    summary="Move the booked meeting to another free slot",
)
async def reschedule(
    conversation_id: PublicId,
    request: Request,
    runtime: RuntimeDep,
    s: Annotated[str, Form(max_length=200)] = "",
    slot: Slot = "",
) -> HTMLResponse:
    """Moves the meeting (updated invite to the lead and the rep); a slot taken a moment
    ago is answered 409 with fresh slots."""
    if not _signed(runtime, conversation_id, s):
        return _lead_page(request, 404, page=None, signature="", outcome="link")
    changes = _changes(runtime)
    try:
        moved: Moved = await changes.reschedule(conversation_id, slot)
    except NotFoundError:
        return _lead_page(request, 404, page=None, signature="", outcome="link")
    except BadRequestError:  # not a slot at all (a tampered form): offer the real ones
        moved = "taken"
    page = await changes.reschedule_page(conversation_id)
    status = {"moved": 200, "taken": 409, "none": 409, "started": 409}[moved]
    return _lead_page(request, status, page=page, signature=s, outcome=moved)


# -- the rep's pages -------------------------------------------------------------------------

RepOutcome = Literal["held", "no_show"]


async def _back(runtime: RuntimeDep, booking_id: int) -> RedirectResponse:
    handoff = await _changes(runtime).handoff_of(booking_id)
    where = f"/rep/handoffs/{handoff}#meeting" if handoff else "/rep/handoffs"
    return RedirectResponse(where, status_code=303)


def _refused(
    request: Request, runtime: RuntimeDep, rep: Any, reason: str, handoff: int | None
) -> HTMLResponse:
    return render_page(
        request,
        "rep/meeting_refused.html",
        409,
        rep=rep,
        reason=reason,
        handoff=handoff,
    )


@router.post("/rep/bookings/{booking_id}/outcome", response_class=HTMLResponse, **_PAGES)
async def mark_page(
    booking_id: RowId,
    request: Request,
    runtime: RuntimeDep,
    outcome: Annotated[str, Form(max_length=20)] = "",
    csrf: Annotated[str, Form(alias="csrf_token")] = "",
) -> Response:
    """実施 / 不参加 (held / no-show), from the handoff page's meeting block."""
    rep = await session_rep(request, runtime)
    if rep is None:
        return RedirectResponse("/rep/login", status_code=303)
    if not csrf_ok(request, csrf):
        return render_error(request, 403, "csrf", None)
    changes = _changes(runtime)
    try:
        await changes.mark(booking_id, outcome, rep)
    except NotFoundError:
        return render_error(request, 404, "not_found", rep)
    except MeetingNotChangeable as exc:
        return _refused(request, runtime, rep, exc.reason, await changes.handoff_of(booking_id))
    return await _back(runtime, booking_id)


@router.post("/rep/bookings/{booking_id}/cancel", response_class=HTMLResponse, **_PAGES)
async def cancel_page(
    booking_id: RowId,
    request: Request,
    runtime: RuntimeDep,
    csrf: Annotated[str, Form(alias="csrf_token")] = "",
) -> Response:
    """The rep cancels: the lead and the rep get the cancellation, the slot is free."""
    rep = await session_rep(request, runtime)
    if rep is None:
        return RedirectResponse("/rep/login", status_code=303)
    if not csrf_ok(request, csrf):
        return render_error(request, 403, "csrf", None)
    changes = _changes(runtime)
    try:
        await changes.cancel(booking_id, rep)
    except NotFoundError:
        return render_error(request, 404, "not_found", rep)
    except MeetingNotChangeable as exc:
        return _refused(request, runtime, rep, exc.reason, await changes.handoff_of(booking_id))
    return await _back(runtime, booking_id)


@router.get("/rep/bookings/{booking_id}/reschedule", response_class=HTMLResponse, **_PAGES)
async def rep_reschedule_page(booking_id: RowId, request: Request, runtime: RuntimeDep) -> Response:
    """The rep's other free slots, to move the meeting to."""
    rep = await session_rep(request, runtime)
    if rep is None:
        return RedirectResponse("/rep/login", status_code=303)
    changes = _changes(runtime)
    try:
        page = await changes.rep_page(booking_id)
        handoff = await changes.handoff_of(booking_id)
    except NotFoundError:
        return render_error(request, 404, "not_found", rep)
    return render_page(
        request,
        "rep/meeting_reschedule.html",
        rep=rep,
        page=page,
        booking_id=booking_id,
        handoff=handoff,
        outcome="",
    )


@router.post("/rep/bookings/{booking_id}/reschedule", response_class=HTMLResponse, **_PAGES)
async def rep_reschedule(
    booking_id: RowId,
    request: Request,
    runtime: RuntimeDep,
    slot: Slot = "",
    csrf: Annotated[str, Form(alias="csrf_token")] = "",
) -> Response:
    """Move the meeting; a slot taken meanwhile shows the page again with fresh slots."""
    rep = await session_rep(request, runtime)
    if rep is None:
        return RedirectResponse("/rep/login", status_code=303)
    if not csrf_ok(request, csrf):
        return render_error(request, 403, "csrf", None)
    changes = _changes(runtime)
    try:
        try:
            moved = await changes.rep_reschedule(booking_id, slot, rep)
        except BadRequestError:
            moved = "taken"
        handoff = await changes.handoff_of(booking_id)
    except NotFoundError:
        return render_error(request, 404, "not_found", rep)
    except MeetingNotChangeable as exc:
        return _refused(request, runtime, rep, exc.reason, await changes.handoff_of(booking_id))
    if moved == "moved":
        return await _back(runtime, booking_id)
    return render_page(
        request,
        "rep/meeting_reschedule.html",
        409,
        rep=rep,
        page=await changes.rep_page(booking_id),
        booking_id=booking_id,
        handoff=handoff,
        outcome=moved,
    )


# -- the JSON API ----------------------------------------------------------------------------


class MeetingItem(BaseModel):
    """A booked meeting as the API answers it."""

    id: int
    status: str = Field(description="confirmed, cancelled or rescheduled")
    start_at: datetime
    end_at: datetime
    rep_id: int
    lead_id: int
    sequence: int = Field(description="the invite's revision (iCalendar SEQUENCE)")
    outcome: str | None = Field(None, description="held or no_show, once marked")
    outcome_at: datetime | None = None
    outcome_by: int | None = Field(None, description="the rep who marked it")
    rescheduled_from_id: int | None = Field(None, description="the booking it replaced")


class OutcomeBody(BaseModel):
    """What happened at the meeting."""

    model_config = ConfigDict(extra="forbid")
    outcome: RepOutcome


class SlotBody(BaseModel):
    """A free slot (an ``id`` of ``GET /api/rep/bookings/{id}/slots``)."""

    model_config = ConfigDict(extra="forbid")
    slot: str = Field(max_length=64)


class SlotItem(BaseModel):
    id: str
    label: str


def _item(booking: Booking) -> MeetingItem:
    return MeetingItem.model_validate(booking, from_attributes=True)


@router.post(
    "/api/rep/bookings/{booking_id}/outcome",
    summary="Mark the meeting held or no-show (from its start on)",
    response_model=MeetingItem,
    **_API,
)
async def mark(
    booking_id: RowId, body: OutcomeBody, runtime: RuntimeDep, rep: ApiRepDep
) -> MeetingItem:
    """Sets the outcome, when and by whom; 409 before the meeting's start or if it is off."""
    return _item(await _changes(runtime).mark(booking_id, body.outcome, rep))


@router.post(
    "/api/rep/bookings/{booking_id}/cancel",
    summary="Cancel the meeting",
    response_model=MeetingItem,
    **_API,
)
async def cancel(booking_id: RowId, runtime: RuntimeDep, rep: ApiRepDep) -> MeetingItem:
    """As the lead's cancel link: the cancellation goes to the lead and the rep."""
    return _item(await _changes(runtime).cancel(booking_id, rep))


@router.get(
    "/api/rep/bookings/{booking_id}/slots",
    summary="Free slots the meeting can move to (its rep's)",
    response_model=list[SlotItem],
    **_API,
)
async def slots(booking_id: RowId, runtime: RuntimeDep, rep: ApiRepDep) -> list[SlotItem]:
    page = await _changes(runtime).rep_page(booking_id)
    return [SlotItem(id=s.id, label=s.label) for day in page.days for s in day.slots]


@router.post(
    "/api/rep/bookings/{booking_id}/reschedule",
    summary="Move the meeting to a free slot (updated invite, same UID)",
    response_model=MeetingItem,
    **_API,
)
async def move(
    booking_id: RowId, body: SlotBody, runtime: RuntimeDep, rep: ApiRepDep
) -> MeetingItem:
    """Answers the new booking (``rescheduled_from_id`` is this one); 409 when the slot
    is not free (pick another from ``slots``) or the meeting is off."""
    changes = _changes(runtime)
    if await changes.rep_reschedule(booking_id, body.slot, rep) != "moved":
        raise ConflictError("the slot is not free: pick another from /slots")
    return _item(await changes.current(booking_id))
