"""The manager's speed-to-lead dashboard (``/rep/dashboard``) and its CSVs."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from autoreply.service import reports
from autoreply.web.auth import session_rep
from autoreply.web.deps import RuntimeDep
from autoreply.web.pages import render_page
from autoreply.web.routes.rep import LOGIN

__all__ = ["router"]

router = APIRouter(prefix="/rep", tags=["rep"], include_in_schema=False)


def _chosen(
    runtime: RuntimeDep, start: str, end: str, channel: str, team: str, rep: str
) -> reports.Filters:
    today = runtime.content.clock.now().astimezone(runtime.content.calendar.tz).date()
    return reports.filters(
        today,
        start=start[:20],
        end=end[:20],
        channel=channel[:20],
        team=team[:200],
        rep=rep[:12],
    )


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard_page(
    request: Request,
    runtime: RuntimeDep,
    start: str = Query("", alias="from"),
    end: str = Query("", alias="to"),
    channel: str = "",
    team: str = "",
    rep: str = "",
) -> Response:
    """Speed to lead, the funnel and the content figures of a date range, with charts
    (managers see everyone; a rep sees the handoffs they own or contacted)."""
    viewer = await session_rep(request, runtime)
    if viewer is None:
        return RedirectResponse(LOGIN, status_code=303)
    chosen = _chosen(runtime, start, end, channel, team, rep)
    board = await reports.dashboard(
        runtime.sessions,
        runtime.reader,
        runtime.content.calendar,
        viewer,
        chosen,
        runtime.content.clock.now(),
    )
    return render_page(
        request,
        "rep/dashboard.html",
        rep=viewer,
        d=board,
        f=chosen,
        channels=reports.CHANNELS,
        tables=reports.TABLES,
        step_labels=reports.STEP_LABELS,
        week_label=reports.week_label,
        pct=reports.pct,
        minutes=reports.minutes,
        seconds=reports.seconds,
    )


@router.get("/dashboard.csv")
async def dashboard_csv(
    request: Request,
    runtime: RuntimeDep,
    table: str = "speed",
    start: str = Query("", alias="from"),
    end: str = Query("", alias="to"),
    channel: str = "",
    team: str = "",
    rep: str = "",
) -> Response:
    """One table of the dashboard as CSV (UTF-8 with BOM, for Excel)."""
    viewer = await session_rep(request, runtime)
    if viewer is None:
        return RedirectResponse(LOGIN, status_code=303)
    chosen = _chosen(runtime, start, end, channel, team, rep)
    table = table if table in reports.TABLES else "speed"
    board = await reports.dashboard(
        runtime.sessions,
        runtime.reader,
        runtime.content.calendar,
        viewer,
        chosen,
        runtime.content.clock.now(),
    )
    name = f"dashboard-{table}-{chosen.start.isoformat()}_{chosen.end.isoformat()}.csv"
    return Response(
        reports.csv_table(board, table).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
