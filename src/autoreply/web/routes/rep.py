"""The rep's pages: log in, the handoff list, one handoff in full, and "contacted"."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.domain.promise import follow_up
from autoreply.errors import BadRequestError, NotFoundError
from autoreply.service import reps
from autoreply.service.meeting_changes import meeting_view
from autoreply.service.owners import Ownership, ownership
from autoreply.store.models import HandoffRow, Rep
from autoreply.web.auth import (
    csrf_ok,
    log_in,
    log_out,
    session_rep,
)
from autoreply.web.deps import RowId, RuntimeDep
from autoreply.web.errors import render_error
from autoreply.web.pages import render_page

__all__ = ["elapsed", "router"]

router = APIRouter(prefix="/rep", tags=["rep"], include_in_schema=False)

LOGIN = "/rep/login"
HOME = "/rep/handoffs"


# -- rendering -------------------------------------------------------------------------------


def _to(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _forbidden(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    return render_error(request, 403, "csrf", None)


def elapsed(start: datetime, end: datetime) -> tuple[int, int]:
    """Whole hours and minutes from ``start`` to ``end`` (for 「初回対応まで: X時間Y分」).

    >>> from datetime import UTC
    >>> start = datetime(2026, 11, 21, 23, 10, tzinfo=UTC)
    >>> elapsed(start, datetime(2026, 11, 24, 9, 35, tzinfo=UTC))
    (58, 25)
    """
    minutes = max(0, int((end - start).total_seconds() // 60))
    return divmod(minutes, 60)


# -- login and logout ------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
async def home() -> RedirectResponse:
    """``/rep`` is the handoff list."""
    return _to(HOME)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, runtime: RuntimeDep) -> Response:
    """The login form (its CSRF token lives in a pre-login session)."""
    if await session_rep(request, runtime) is not None:
        return _to(HOME)
    return render_page(request, "rep/login.html", rep=None, email="", error=None)


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    runtime: RuntimeDep,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form(alias="csrf_token")] = "",
) -> Response:
    """Check the password; five failures for one address lock it for 15 minutes
    (``AUTOREPLY_LOGIN_MAX_FAILURES``, ``AUTOREPLY_LOGIN_LOCKOUT_MINUTES``), in every
    process at once."""
    if not csrf_ok(request, csrf):
        return _forbidden(request, runtime)
    if await runtime.limits.login_locked(email):
        return render_page(request, "rep/login.html", 429, rep=None, email=email, error="locked")
    async with runtime.sessions() as session, session.begin():
        rep = await reps.authenticate(session, email, password)
    if rep is None:
        await runtime.limits.login_failed(email)
        return render_page(request, "rep/login.html", 400, rep=None, email=email, error="invalid")
    await runtime.limits.login_succeeded(email)
    await log_in(request, runtime, rep)
    return _to(HOME)


@router.post("/logout", response_class=HTMLResponse)
async def logout(
    request: Request, runtime: RuntimeDep, csrf: Annotated[str, Form(alias="csrf_token")] = ""
) -> Response:
    """End the session."""
    if not csrf_ok(request, csrf):
        return _forbidden(request, runtime)
    await log_out(request, runtime)
    return _to(LOGIN)


# -- handoffs --------------------------------------------------------------------------------


@router.get("/handoffs", response_class=HTMLResponse)
async def handoff_list(
    request: Request,
    runtime: RuntimeDep,
    status: reps.Status = "waiting",
    channel: reps.Channel = "all",
    q: Annotated[str, Query(max_length=reps.SEARCH_MAX)] = "",
) -> Response:
    """What is waiting for the next business day: Tier A first, then newest; ``q`` searches
    name, company, email, LINE name, the challenge and the lead's words. A ``status`` or
    ``channel`` not of the lists (or a ``q`` too long) is the 422 page, never an empty
    table."""
    rep = await session_rep(request, runtime)
    if rep is None:
        return _to(LOGIN)
    now = runtime.content.clock.now()
    async with runtime.sessions() as session:
        rows = await reps.list_handoffs(session, status=status, channel=channel, q=q, now=now)
        names = {r.id: r.name for r in await reps.all_reps(session)}
    return render_page(
        request,
        "rep/handoffs.html",
        rep=rep,
        rows=rows,
        names=names,
        now=now,
        status=status,
        channel=channel,
        q=q,
        statuses=reps.STATUSES,
        channels=reps.CHANNELS,
        follow_up=follow_up(runtime.content.calendar, now),
    )


@router.get("/handoffs/{handoff_id}", response_class=HTMLResponse)
async def handoff_page(handoff_id: RowId, request: Request, runtime: RuntimeDep) -> Response:
    """Everything a rep needs before the first call, and the 「対応済みにする」 button."""
    rep = await session_rep(request, runtime)
    if rep is None:
        return _to(LOGIN)
    async with runtime.sessions() as session:
        try:
            row, channel = await reps.get_handoff(session, handoff_id)
        except NotFoundError:
            return render_error(request, 404, "not_found", rep)
        contacted_by = await reps.contacted_by(session, row)
        history = await reps.lead_history(session, row.lead_id)
        now = runtime.content.clock.now()
        owned = await ownership(session, runtime.owners, row, now)
        everyone = [r for r in await reps.all_reps(session) if r.active]
        fu = await runtime.followups.of_handoff(session, row, now) if runtime.followups else None
        meeting = await meeting_view(session, runtime.content.calendar, row.conversation_id, now)
    return render_page(
        request,
        "rep/handoff.html",
        fu=fu,
        rep=rep,
        owned=owned,
        everyone=everyone,
        h=row,
        r=row.record,
        channel=channel,
        contacted_by=contacted_by,
        first_contact=_first_contact(row),
        history=history,
        meeting=meeting,
    )


def _first_contact(row: HandoffRow) -> tuple[int, int] | None:
    if row.contacted_at is None:
        return None
    return elapsed(row.created_at, row.contacted_at)


@router.post("/handoffs/{handoff_id}/contacted", response_class=HTMLResponse)
async def contacted(
    handoff_id: RowId,
    request: Request,
    runtime: RuntimeDep,
    csrf: Annotated[str, Form(alias="csrf_token")] = "",
) -> Response:
    """Record that the logged-in rep reached the lead (time and rep), then show the page."""
    rep = await session_rep(request, runtime)
    if rep is None:
        return _to(LOGIN)
    if not csrf_ok(request, csrf):
        return _forbidden(request, runtime)
    try:
        async with runtime.sessions() as session, session.begin():
            await reps.mark_contacted(
                session, handoff_id, rep, runtime.content.clock.now(), runtime.owners
            )
    except NotFoundError:
        return render_error(request, 404, "not_found", rep)
    return _to(f"{HOME}/{handoff_id}")


@router.post("/handoffs/{handoff_id}/owner", response_class=HTMLResponse)
async def reassign(
    handoff_id: RowId,
    request: Request,
    runtime: RuntimeDep,
    owner: Annotated[int, Form(ge=1, le=2**31 - 1)],
    csrf: Annotated[str, Form(alias="csrf_token")] = "",
) -> Response:
    """Give the handoff to another rep (recorded; the new owner is told)."""
    rep = await session_rep(request, runtime)
    if rep is None:
        return _to(LOGIN)
    if not csrf_ok(request, csrf):
        return _forbidden(request, runtime)
    if runtime.owners is None:
        raise BadRequestError("routing is not configured")
    try:
        async with runtime.sessions() as session, session.begin():
            await runtime.owners.reassign(
                session, handoff_id, owner, rep, runtime.content.clock.now()
            )
    except NotFoundError:
        return render_error(request, 404, "not_found", rep)
    runtime.worker.wake()
    return _to(f"{HOME}/{handoff_id}")


@router.post("/away", response_class=HTMLResponse)
async def away(
    request: Request,
    runtime: RuntimeDep,
    away: Annotated[bool, Form()] = False,
    back: Annotated[str, Form(max_length=200)] = HOME,
    csrf: Annotated[str, Form(alias="csrf_token")] = "",
) -> Response:
    """The logged-in rep is away (no new handoffs, no escalations to them) or back."""
    rep = await session_rep(request, runtime)
    if rep is None:
        return _to(LOGIN)
    if not csrf_ok(request, csrf):
        return _forbidden(request, runtime)
    async with runtime.sessions() as session, session.begin():
        await reps.set_away(session, rep, away)
    return _to(back if back.startswith("/rep/") and not back.startswith("//") else HOME)


@router.get("/notifications", response_class=HTMLResponse)
async def notifications(request: Request, runtime: RuntimeDep) -> Response:
    """Notifications to Slack, Teams, Chatwork or reps' inboxes that failed or are being
    retried, with the far end's answer (a removed channel, a bad token)."""
    rep = await session_rep(request, runtime)
    if rep is None:
        return _to(LOGIN)
    if rep.role != "manager":
        return render_error(request, 404, "not_found", rep)
    async with runtime.sessions() as session:
        rows = await reps.notification_problems(session)
    return render_page(request, "rep/notifications.html", rep=rep, rows=rows)


# -- the 連絡済み link of a notification -------------------------------------------------------


async def _contacted_target(token: str, runtime: RuntimeDep) -> tuple[HandoffRow, str, Rep] | None:
    opened = runtime.service.links.contacted_opened(token, runtime.content.clock.now())
    if opened is None:
        return None
    async with runtime.sessions() as session:
        found = await repos_handoff(session, opened[0])
        rep = await reps.rep_by_id(session, opened[1])
    if found is None or rep is None or not rep.active:
        return None
    return found[0], found[1], rep


async def repos_handoff(session: AsyncSession, handoff_id: int) -> tuple[HandoffRow, str] | None:
    try:
        return await reps.get_handoff(session, handoff_id)
    except NotFoundError:
        return None


def _contacted_page(
    request: Request,
    runtime: RuntimeDep,
    row: HandoffRow,
    rep: Rep,
    owned: Ownership,
    token: str,
    *,
    done: bool,
) -> HTMLResponse:
    return render_page(
        request,
        "rep/contacted.html",
        rep=None,
        h=row,
        r=row.record,
        who=rep,
        owned=owned,
        token=token,
        done=done,
    )


@router.get("/contacted/{token}", response_class=HTMLResponse)
async def contacted_link(
    token: Annotated[str, Path(max_length=200)], request: Request, runtime: RuntimeDep
) -> Response:
    """The link in a notification: a page with one button (a link previewer that fetches
    the link changes nothing)."""
    found = await _contacted_target(token, runtime)
    if found is None:
        return render_error(request, 404, "link", None)
    row, _, rep = found
    async with runtime.sessions() as session:
        owned = await ownership(session, runtime.owners, row, runtime.content.clock.now())
    return _contacted_page(request, runtime, row, rep, owned, token, done=False)


@router.post("/contacted/{token}", response_class=HTMLResponse)
async def contacted_by_link(
    token: Annotated[str, Path(max_length=200)],
    request: Request,
    runtime: RuntimeDep,
    csrf: Annotated[str, Form(alias="csrf_token")] = "",
) -> Response:
    """Record the contact by the rep the link was made for, and show where the clock
    stopped."""
    if not csrf_ok(request, csrf):
        return _forbidden(request, runtime)
    found = await _contacted_target(token, runtime)
    if found is None:
        return render_error(request, 404, "link", None)
    row, _, rep = found
    now = runtime.content.clock.now()
    async with runtime.sessions() as session, session.begin():
        row = await reps.mark_contacted(session, row.id, rep, now, runtime.owners)
        owned = await ownership(session, runtime.owners, row, now)
    return _contacted_page(request, runtime, row, rep, owned, token, done=True)
