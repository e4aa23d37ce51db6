"""The lead's data rights on the web: the privacy notice of the demo site (``/privacy``),
and the managers' page (``/rep/privacy``) to find one lead's data, download it as JSON
and delete it after a confirmation step. Reps who are not managers get 403."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from autoreply.domain.privacy import Subject
from autoreply.errors import BadRequestError, NotFoundError
from autoreply.service import privacy as use_case
from autoreply.service.privacy import Privacy
from autoreply.store.models import Rep
from autoreply.web.auth import csrf_ok, session_rep
from autoreply.web.deps import RuntimeDep
from autoreply.web.errors import render_error
from autoreply.web.pages import Pages, render_page

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
By = Literal["email", "line_user", "lead"]
_Q = Annotated[str, Form(max_length=320)]
_CSRF = Annotated[str, Form(alias="csrf_token", max_length=200)]


# -- the demo site's notice ------------------------------------------------------------------


@router.get("/privacy", response_class=HTMLResponse)
async def notice(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    """個人情報の取り扱い: the privacy notice the forms link to."""
    return _notice(request, runtime, "site/privacy.html")


@router.get("/privacy/en", response_class=HTMLResponse)
async def notice_en(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    """The privacy notice in English (linked from English forms)."""
    return _notice(request, runtime, "site/privacy.en.html")


def _notice(request: Request, runtime: RuntimeDep, name: str) -> HTMLResponse:
    pages: Pages = request.app.state.pages
    return pages.render(
        name,
        request=request,
        page="privacy",
        privacy_policy_version=runtime.settings.privacy_policy_version,
    )


# -- the managers' page ---------------------------------------------------------------------


async def _manager(request: Request, runtime: RuntimeDep) -> Rep | Response:
    """The logged-in manager, or the answer for anyone else (login page, 403)."""
    rep = await session_rep(request, runtime)
    if rep is None:
        return RedirectResponse("/rep/login", status_code=303)
    if rep.role != "manager":
        return render_page(request, "rep/privacy.html", 403, rep=rep, view="forbidden")
    return rep


def _subject(by: str, q: str) -> Subject:
    return Subject.of(**{"lead" if by == "lead" else by: q})


async def _page(
    request: Request,
    runtime: RuntimeDep,
    rep: Rep,
    view: str,
    *,
    by: str = "email",
    q: str = "",
    found: use_case.Found | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    async with runtime.service.uow.read() as session:
        log = await use_case.recent_log(session)
    return render_page(
        request,
        "rep/privacy.html",
        status_code,
        rep=rep,
        view=view,
        by=by,
        q=q,
        found=found,
        error=error,
        log=log,
        retention_months=runtime.settings.retention_months,
    )


async def _found(
    request: Request, runtime: RuntimeDep, rep: Rep, by: str, q: str, view: str
) -> HTMLResponse:
    try:
        subject = _subject(by, q)
    except BadRequestError as exc:
        return await _page(
            request, runtime, rep, "search", by=by, q=q, error=str(exc), status_code=400
        )
    try:
        async with runtime.service.uow.read() as session:
            found = await use_case.find(session, subject)
    except NotFoundError:
        return await _page(
            request, runtime, rep, "search", by=by, q=q, error="not_found", status_code=404
        )
    return await _page(request, runtime, rep, view, by=by, q=q, found=found)


@router.get("/rep/privacy", response_class=HTMLResponse)
async def privacy_page(
    request: Request,
    runtime: RuntimeDep,
    by: Annotated[By, Query()] = "email",
    q: Annotated[str, Query(max_length=320)] = "",
) -> Response:
    """Find a lead by email, LINE user id or lead id, and see what is stored (counts)."""
    rep = await _manager(request, runtime)
    if not isinstance(rep, Rep):
        return rep
    if not q.strip():
        return await _page(request, runtime, rep, "search", by=by)
    return await _found(request, runtime, rep, by, q, "found")


@router.post("/rep/privacy/export")
async def export(
    request: Request,
    runtime: RuntimeDep,
    by: Annotated[By, Form()],
    q: _Q,
    csrf: _CSRF = "",
) -> Response:
    """Download everything stored about the lead as JSON (the export is logged)."""
    rep = await _manager(request, runtime)
    if not isinstance(rep, Rep):
        return rep
    if not csrf_ok(request, csrf):
        return render_error(request, 403, "csrf", rep)
    try:
        subject = _subject(by, q)
    except BadRequestError as exc:
        return await _page(
            request, runtime, rep, "search", by=by, q=q, error=str(exc), status_code=400
        )
    privacy = Privacy(runtime.settings, runtime.content.clock)
    try:
        async with runtime.sessions() as session, session.begin():
            document = await privacy.export(session, subject, f"rep:{rep.id}")
    except NotFoundError:
        return await _page(
            request, runtime, rep, "search", by=by, q=q, error="not_found", status_code=404
        )
    name = f"lead-{document['lead_id'] or 'line'}-{runtime.content.clock.now():%Y%m%d}.json"
    return Response(
        json.dumps(document, ensure_ascii=False, indent=2),
        media_type="application/json; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post("/rep/privacy/delete", response_class=HTMLResponse)
async def delete(
    request: Request,
    runtime: RuntimeDep,
    by: Annotated[By, Form()],
    q: _Q,
    confirm: Annotated[str, Form(max_length=10)] = "",
    csrf: _CSRF = "",
) -> Response:
    """Without ``confirm``: the confirmation step (what will be deleted, counted). With
    ``confirm=yes``: delete it all in one transaction (logged without personal data)."""
    rep = await _manager(request, runtime)
    if not isinstance(rep, Rep):
        return rep
    if not csrf_ok(request, csrf):
        return render_error(request, 403, "csrf", rep)
    if confirm != "yes":
        return await _found(request, runtime, rep, by, q, "confirm")
    try:
        subject = _subject(by, q)
    except BadRequestError as exc:
        return await _page(
            request, runtime, rep, "search", by=by, q=q, error=str(exc), status_code=400
        )
    privacy = Privacy(runtime.settings, runtime.content.clock)
    try:
        found = await privacy.delete_in(runtime.sessions, subject, f"rep:{rep.id}")
    except NotFoundError:
        return await _page(
            request, runtime, rep, "search", by=by, q=q, error="not_found", status_code=404
        )
    return await _page(request, runtime, rep, "deleted", by=by, found=found)
