"""``GET /rep/handoffs.csv``: the handoffs with every CRM field, for Excel and CRM imports
(UTF-8 with BOM, CRLF). Managers get every handoff, reps their own; ``status`` and
``channel`` filter as on the list (default: all). Streamed page by page."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from autoreply.service.crm import export_csv
from autoreply.web.auth import session_rep
from autoreply.web.deps import RuntimeDep

__all__ = ["router"]

router = APIRouter(prefix="/rep", tags=["rep"], include_in_schema=False)


@router.get("/handoffs.csv")
async def handoffs_csv(
    request: Request, runtime: RuntimeDep, status: str = "all", channel: str = "all"
) -> Response:
    """Every handoff the rep may see, as CSV (a download)."""
    rep = await session_rep(request, runtime)
    if rep is None:
        return RedirectResponse("/rep/login", status_code=303)
    chunks = export_csv(
        runtime.service.uow.readers,
        runtime.content,
        status=status,
        channel=channel,
        owner_id=None if rep.role == "manager" else rep.id,
    )
    day = runtime.content.clock.now().astimezone(runtime.content.calendar.tz)
    return StreamingResponse(
        _encoded(chunks),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="handoffs-{day:%Y%m%d}.csv"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


async def _encoded(chunks: AsyncIterator[str]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        yield chunk.encode("utf-8")
