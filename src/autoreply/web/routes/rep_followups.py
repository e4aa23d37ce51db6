"""Follow-ups for reps: the 0.5次商談 form, follow-up tasks (done, added by hand) and the
overdue list, as pages (``/rep/...``) and JSON (``/api/rep/...``)."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from autoreply.domain.cadence import KIND_LABELS, TASK_KINDS
from autoreply.domain.qualification import Qualification
from autoreply.errors import BadRequestError, NotFoundError
from autoreply.service.followups import FollowUps, TaskView, bucket_of
from autoreply.store.models import FollowUp, HandoffRow
from autoreply.web.auth import ApiRepDep, csrf_ok, session_rep
from autoreply.web.deps import RowId, RuntimeDep

# The rep pages' renderer (CSP nonce, no caching, no framing) is shared with them.
from autoreply.web.errors import render_error
from autoreply.web.pages import render_page

__all__ = ["FollowUpItem", "QualificationOut", "handoff_fields", "router"]

# One router for both (a router included in another is not a plain route list any more):
# the pages are left out of the OpenAPI schema one by one.
router = APIRouter(tags=["rep"])
_API = "/api/rep"
_401: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API token, or an unknown / replaced one."}
}
Who = Literal["mine", "all"]
_Text = Annotated[str, Form(max_length=2000)]
_Short = Annotated[str, Form(max_length=200)]


def _followups(runtime: RuntimeDep) -> FollowUps:
    if runtime.followups is None:
        raise BadRequestError("follow-ups are not configured")
    return runtime.followups


def _to(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _back(back: str, default: str) -> str:
    return back if back.startswith("/rep/") and not back.startswith("//") else default


# -- JSON shapes -----------------------------------------------------------------------------


class FollowUpItem(BaseModel):
    """A follow-up task (二次架電, 資料送付, リマインドメール, フォローコール予定, 次アクション)."""

    id: int
    handoff_id: int
    lead_id: int
    kind: str = Field(description=", ".join(TASK_KINDS))
    label: str = Field(description="the kind as people read it, e.g. 二次架電")
    rule: str | None = Field(description="the cadence rule that made it (None: by hand)")
    due_at: datetime
    status: str = Field(description="open, done or cancelled")
    bucket: str = Field(description="overdue, today, later (open tasks), else the status")
    owner_id: int | None
    owner: str | None
    created_at: datetime
    done_at: datetime | None
    done_by: int | None
    note: str | None


class QualificationOut(BaseModel):
    """A handoff's 0.5次商談 as stored."""

    handoff_id: int
    qualification: dict[str, Any] = Field(description="crm_events.QualificationPart's keys")
    qualified: bool | None = Field(description="商談化 (None: undecided)")
    qualified_at: datetime = Field(description="when it was first recorded")
    qualified_by: int | None = Field(description="who first recorded it")


class NewTask(BaseModel):
    """A task added by hand."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["second_call", "send_material", "reminder_mail", "follow_call", "next_action"]
    due_at: AwareDatetime
    note: str | None = Field(None, max_length=2000)


class Done(BaseModel):
    """Marking a task done."""

    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(None, max_length=2000)


def _item(view: TaskView) -> FollowUpItem:
    task = view.task
    return FollowUpItem(
        id=task.id,
        handoff_id=task.handoff_id,
        lead_id=task.lead_id,
        kind=task.kind,
        label=KIND_LABELS.get(task.kind, task.kind),
        rule=task.rule,
        due_at=task.due_at,
        status=task.status,
        bucket=view.bucket,
        owner_id=task.owner_id,
        owner=view.owner,
        created_at=task.created_at,
        done_at=task.done_at,
        done_by=task.done_by,
        note=task.note,
    )


async def handoff_fields(
    session: AsyncSession, runtime: RuntimeDep, row: HandoffRow
) -> dict[str, Any]:
    """What ``/api/rep/handoffs/{id}`` adds about follow-ups: the 0.5次商談 and the tasks."""
    found = (
        await runtime.followups.of_handoff(session, row, runtime.content.clock.now())
        if runtime.followups is not None
        else None
    )
    return {
        "qualification": dict(row.qualification) if row.qualification else None,
        "qualified": row.qualified,
        "qualified_at": row.qualified_at,
        "qualified_by": row.qualified_by,
        "aged_at": row.aged_at,
        "follow_ups": [_item(v).model_dump() for v in found.tasks] if found else [],
    }


def _view(task: FollowUp, followups: FollowUps, now: datetime) -> TaskView:
    return TaskView(task, bucket_of(task, now, followups.tz), None, None)


# -- the JSON API ----------------------------------------------------------------------------


@router.get(
    _API + "/followups",
    summary="Open follow-up tasks, overdue first",
    response_model=list[FollowUpItem],
    responses=_401,
)
async def list_followups(
    runtime: RuntimeDep, rep: ApiRepDep, who: Who = "mine"
) -> list[FollowUpItem]:
    """The token's rep's open tasks (a manager may ask for ``who=all``), soonest due first."""
    followups = _followups(runtime)
    async with runtime.sessions() as session:
        views = await followups.task_list(
            session, rep, runtime.content.clock.now(), everyone=who == "all"
        )
    return [_item(v) for v in views]


@router.post(
    _API + "/handoffs/{handoff_id}/qualification",
    summary="Record the 0.5次商談 as done (again: replaces the fields)",
    response_model=QualificationOut,
    responses={**_401, 404: {"description": "No handoff with this id."}},
)
async def qualify(
    handoff_id: RowId, body: Qualification, runtime: RuntimeDep, rep: ApiRepDep
) -> QualificationOut:
    """Stores the fields, emits ``qualification.done``; answers the stored record."""
    followups = _followups(runtime)
    async with runtime.sessions() as session, session.begin():
        row = await followups.qualify(session, handoff_id, body, rep, runtime.content.clock.now())
        answer = QualificationOut(
            handoff_id=row.id,
            qualification=dict(row.qualification or {}),
            qualified=row.qualified,
            qualified_at=row.qualified_at or runtime.content.clock.now(),
            qualified_by=row.qualified_by,
        )
    runtime.worker.wake()
    return answer


@router.post(
    _API + "/handoffs/{handoff_id}/followups",
    summary="Add a follow-up task by hand",
    response_model=FollowUpItem,
    status_code=201,
    responses={**_401, 404: {"description": "No handoff with this id."}},
)
async def add_followup(
    handoff_id: RowId, body: NewTask, runtime: RuntimeDep, rep: ApiRepDep
) -> FollowUpItem:
    """A task owned by the handoff's owner, due at ``due_at``."""
    followups = _followups(runtime)
    now = runtime.content.clock.now()
    async with runtime.sessions() as session, session.begin():
        task = await followups.add(
            session, handoff_id, kind=body.kind, due_at=body.due_at, by=rep, now=now, note=body.note
        )
    return _item(_view(task, followups, now))


@router.post(
    _API + "/followups/{task_id}/done",
    summary="Mark a follow-up task done (with a note)",
    response_model=FollowUpItem,
    responses={**_401, 404: {"description": "No task with this id."}},
)
async def done_api(task_id: RowId, body: Done, runtime: RuntimeDep, rep: ApiRepDep) -> FollowUpItem:
    """Done by the token's rep, now; a task already done or cancelled stays as it was."""
    followups = _followups(runtime)
    now = runtime.content.clock.now()
    async with runtime.sessions() as session, session.begin():
        task = await followups.done(session, task_id, rep, now, body.note)
    return _item(_view(task, followups, now))


# -- the pages -------------------------------------------------------------------------------


@router.get("/rep/followups", response_class=HTMLResponse, include_in_schema=False)
async def followup_page(request: Request, runtime: RuntimeDep, who: str = "mine") -> Response:
    """The follow-up list: overdue first, then due today, then later (a rep's own; a
    manager chooses mine or everyone's)."""
    rep = await session_rep(request, runtime)
    if rep is None:
        return _to("/rep/login")
    followups = _followups(runtime)
    everyone = who == "all" and rep.role == "manager"
    now = runtime.content.clock.now()
    async with runtime.sessions() as session:
        views = await followups.task_list(session, rep, now, everyone=everyone)
    return render_page(
        request, "rep/followups.html", rep=rep, views=views, everyone=everyone, now=now
    )


def _qualified(value: str) -> bool | None:
    if value in ("yes", "no", ""):
        return {"yes": True, "no": False}.get(value)
    raise BadRequestError("qualified must be yes, no or empty")


@router.post(
    "/rep/handoffs/{handoff_id}/qualification", response_class=HTMLResponse, include_in_schema=False
)
async def qualify_form(
    handoff_id: RowId,
    request: Request,
    runtime: RuntimeDep,
    challenge: _Text = "",
    decision_maker: _Short = "",
    timeline: _Short = "",
    budget: _Short = "",
    concerns: _Text = "",
    next_action: _Short = "",
    next_action_due: Annotated[str, Form(max_length=10)] = "",
    qualified: Annotated[str, Form(max_length=3)] = "",
    note: _Text = "",
    csrf: Annotated[str, Form(alias="csrf_token")] = "",
) -> Response:
    """The 0.5次商談 form of the handoff page."""
    rep = await session_rep(request, runtime)
    if rep is None:
        return _to("/rep/login")
    if not csrf_ok(request, csrf):
        return render_error(request, 403, "csrf", None)
    followups = _followups(runtime)
    try:
        fields = Qualification(
            challenge=challenge,
            decision_maker=decision_maker,
            timeline=timeline,
            budget=budget,
            concerns=concerns,
            next_action=next_action,
            next_action_due=date.fromisoformat(next_action_due) if next_action_due else None,
            qualified=_qualified(qualified),
            note=note,
        )
    except (ValidationError, ValueError) as exc:
        raise BadRequestError(f"the 0.5次商談 form is not valid: {exc}") from exc
    try:
        async with runtime.sessions() as session, session.begin():
            await followups.qualify(session, handoff_id, fields, rep, runtime.content.clock.now())
    except NotFoundError:
        return render_error(request, 404, "not_found", rep)
    runtime.worker.wake()
    return _to(f"/rep/handoffs/{handoff_id}#qualification")


@router.post(
    "/rep/handoffs/{handoff_id}/followups", response_class=HTMLResponse, include_in_schema=False
)
async def add_form(
    handoff_id: RowId,
    request: Request,
    runtime: RuntimeDep,
    kind: Annotated[str, Form(max_length=30)] = "",
    due_date: Annotated[str, Form(max_length=10)] = "",
    due_time: Annotated[str, Form(max_length=5)] = "",
    note: _Text = "",
    csrf: Annotated[str, Form(alias="csrf_token")] = "",
) -> Response:
    """Add a task by hand from the handoff page (a date and a time of day, local)."""
    rep = await session_rep(request, runtime)
    if rep is None:
        return _to("/rep/login")
    if not csrf_ok(request, csrf):
        return render_error(request, 403, "csrf", None)
    followups = _followups(runtime)
    try:
        day = date.fromisoformat(due_date)
        at = time.fromisoformat(due_time) if due_time else time(10, 0)
    except ValueError as exc:
        raise BadRequestError("due_date is YYYY-MM-DD and due_time HH:MM") from exc
    due = datetime.combine(day, at, runtime.content.calendar.tz)
    try:
        async with runtime.sessions() as session, session.begin():
            await followups.add(
                session,
                handoff_id,
                kind=kind,
                due_at=due,
                by=rep,
                now=runtime.content.clock.now(),
                note=note.strip() or None,
            )
    except NotFoundError:
        return render_error(request, 404, "not_found", rep)
    return _to(f"/rep/handoffs/{handoff_id}#followups")


@router.post("/rep/followups/{task_id}/done", response_class=HTMLResponse, include_in_schema=False)
async def done_form(
    task_id: RowId,
    request: Request,
    runtime: RuntimeDep,
    note: _Text = "",
    back: Annotated[str, Form(max_length=200)] = "/rep/followups",
    csrf: Annotated[str, Form(alias="csrf_token")] = "",
) -> Response:
    """Mark a task done (from the list or the handoff page), then go back there."""
    rep = await session_rep(request, runtime)
    if rep is None:
        return _to("/rep/login")
    if not csrf_ok(request, csrf):
        return render_error(request, 403, "csrf", None)
    followups = _followups(runtime)
    try:
        async with runtime.sessions() as session, session.begin():
            await followups.done(
                session, task_id, rep, runtime.content.clock.now(), note.strip() or None
            )
    except NotFoundError:
        return render_error(request, 404, "not_found", rep)
    return _to(_back(back, "/rep/followups"))
