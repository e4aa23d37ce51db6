"""The demo company site (with the widget embedded), the widget script, and case-study links."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from autoreply.errors import NotFoundError
from autoreply.web.deps import PublicId, RuntimeDep
from autoreply.web.pages import Pages

__all__ = ["WIDGET", "router"]

router = APIRouter(tags=["site"])
WIDGET = Path(__file__).resolve().parents[1] / "static" / "widget.js"
_PAGES = {"/": "index", "/pricing": "pricing", "/cases": "cases"}


def _page(name: str):  # type: ignore[no-untyped-def]
    async def page(request: Request) -> HTMLResponse:
        pages: Pages = request.app.state.pages
        return pages.render(f"site/{name}.html", request=request, page=name)

    page.__name__ = f"site_{name}"
    return page


for _path, _name in _PAGES.items():
    router.add_api_route(
        _path, _page(_name), methods=["GET"], include_in_schema=False, response_class=HTMLResponse
    )


@router.get("/widget.js", include_in_schema=False)
async def widget() -> FileResponse:
    """The embeddable widget: `<script src="https://HOST/widget.js" async></script>`."""
    return FileResponse(
        WIDGET,
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.get(
    "/r/{conversation_id}/{case_id}",
    name="open_case",
    tags=["chat"],
    summary="Open a case study sent in the chat (recorded on the handoff)",
)
async def open_case(
    conversation_id: PublicId, case_id: str, s: str, runtime: RuntimeDep
) -> RedirectResponse:
    """Checks the link's signature, records 'opened', and redirects to the case study."""
    if not runtime.service.links.case_valid(conversation_id, case_id, s):
        raise NotFoundError("unknown link")
    url = await runtime.service.record_case_opened(conversation_id, case_id)
    if url is None:
        raise NotFoundError(f"unknown case study {case_id!r}")
    return RedirectResponse(url, status_code=302)
