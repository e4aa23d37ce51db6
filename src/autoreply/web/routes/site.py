"""The demo company site (with the widget embedded), its case-study pages and documents,
the widget script, and the tracked case-study links."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from autoreply.channels.web import BEACON_MAX_BYTES, case_read_in
from autoreply.domain.casestudies import CaseStudy
from autoreply.errors import ForbiddenError, NotFoundError
from autoreply.service.runtime import Runtime
from autoreply.web.body import read_limited
from autoreply.web.deps import PublicId, RuntimeDep
from autoreply.web.pages import Pages

__all__ = ["WIDGET", "router"]

router = APIRouter(tags=["site"])
STATIC = Path(__file__).resolve().parents[1] / "static"
WIDGET = STATIC / "widget.js"
FAVICON_ICO = STATIC / "favicon.ico"  # favicon.svg rasterized by tools/make_favicon.py
FAVICON_SVG = STATIC / "favicon.svg"
_ICON_CACHE = {"Cache-Control": "public, max-age=86400"}
_PAGES = {"/": "index", "/pricing": "pricing"}
_DOCUMENT = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_RELATED = 3


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


def _pages(request: Request) -> Pages:
    pages: Pages = request.app.state.pages
    return pages


def _topic_labels(runtime: Runtime, case: CaseStudy) -> list[str]:
    vocabulary = runtime.content.vocabulary
    return [t.label for t in map(vocabulary.get, case.topics) if t is not None]


@router.get("/cases", include_in_schema=False, response_class=HTMLResponse)
async def case_index(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    """Every case study of the library, with a link to its page."""
    cases = runtime.content.library.cases
    return _pages(request).render("site/cases.html", request=request, page="cases", cases=cases)


@router.get("/cases/{case_id}", include_in_schema=False, response_class=HTMLResponse)
async def case_page(
    case_id: str,
    request: Request,
    runtime: RuntimeDep,
    c: Annotated[str | None, Query(max_length=64)] = None,
    v: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """One case study's page, from the library's own data.

    Reached from a tracked link (``?c=<conversation>&v=<signature>``, see
    ``Links.case_view``), serving it is what records "viewed" on the handoff: the lead's
    browser got the page; the page then carries those values to report a read to the end
    (``POST /cases/{id}/read``). An unknown case is a 404 and records nothing.
    """
    library = runtime.content.library
    case = library.get(case_id)
    if case is None:
        raise NotFoundError(f"unknown case study {case_id!r}")
    read = None
    if c and v and runtime.service.links.case_view_valid(c, case.id, v):
        await runtime.service.record_case_view(c, case.id)
        read = {"url": f"/cases/{case.id}/read", "c": c, "v": v}  # the page reports a read
    related = [
        other
        for other in library.cases
        if other.id != case.id
        and other.locale == case.locale
        and set(other.topics) & set(case.topics)
    ][:_RELATED]
    response = _pages(request).render(
        "site/case.html",
        request=request,
        page="cases",
        case=case,
        lang=case.locale,
        topics=_topic_labels(runtime, case),
        related=related,
        read=read,
    )
    if read is not None:  # this lead's signed values are in the page: nobody else's copy
        response.headers["Cache-Control"] = "private, no-store"
        response.headers["Referrer-Policy"] = "same-origin"
    return response


@router.post(
    "/cases/{case_id}/read",
    status_code=204,
    summary="A case page reports that the lead read the story to the end",
    responses={
        400: {"description": "not JSON / a form, or c, v or how missing or malformed"},
        403: {"description": "the signature is not this conversation's view link of this case"},
        404: {"description": "unknown case study or conversation"},
        413: {"description": "the body is larger than a report can be"},
    },
)
async def case_read(
    case_id: Annotated[str, PathParam(max_length=100)], request: Request, runtime: RuntimeDep
) -> Response:
    """Sent once by our own case page (``navigator.sendBeacon``) when the end of the story
    came into view or the page stayed visible long enough, with the signed ``c`` and ``v``
    of the view link it was opened with. The first report of a case scores
    (事例を最後まで閲覧) and refreshes the handoff; a repeat changes nothing (204 both)."""
    body = await read_limited(request, BEACON_MAX_BYTES)
    report = case_read_in(request.headers.get("content-type", ""), body)
    case = runtime.content.library.get(case_id)
    if case is None:
        raise NotFoundError(f"unknown case study {case_id!r}")
    if not runtime.service.links.case_view_valid(report.c, case.id, report.v):
        raise ForbiddenError("not a view link of this case for this conversation")
    await runtime.service.record_case_read(report.c, case.id)
    return Response(status_code=204)


@router.get("/documents/{name}", include_in_schema=False, response_class=HTMLResponse)
async def document(name: str, request: Request, runtime: RuntimeDep) -> HTMLResponse:
    """A document the forms offer (``templates/documents/<name>.html``), printable as a PDF."""
    pages = _pages(request)
    if not _DOCUMENT.match(name) or not (pages.dir / "documents" / f"{name}.html").is_file():
        raise NotFoundError(f"unknown document {name!r}")
    cases = runtime.content.library.cases
    return pages.render(
        f"documents/{name}.html",
        request=request,
        cases=cases,
        topics={case.id: _topic_labels(runtime, case) for case in cases},
    )


@router.get("/widget.js", include_in_schema=False)
async def widget() -> FileResponse:
    """The embeddable widget: `<script src="https://HOST/widget.js" async></script>`."""
    return FileResponse(
        WIDGET,
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )


@router.get("/favicon.ico", include_in_schema=False)
async def favicon_ico() -> FileResponse:
    """The product icon for clients that ask for /favicon.ico (pages link the SVG)."""
    return FileResponse(FAVICON_ICO, media_type="image/x-icon", headers=_ICON_CACHE)


@router.get("/favicon.svg", include_in_schema=False)
async def favicon_svg() -> FileResponse:
    """The product icon that every page links (``<link rel="icon">``)."""
    return FileResponse(FAVICON_SVG, media_type="image/svg+xml", headers=_ICON_CACHE)


@router.get(
    "/r/{conversation_id}/{case_id}",
    name="open_case",
    tags=["chat"],
    summary="Open a case study sent in the chat (the click is recorded on the handoff)",
)
async def open_case(
    conversation_id: PublicId, case_id: str, s: str, runtime: RuntimeDep
) -> RedirectResponse:
    """Checks the link's signature, records the click, and redirects to the case study.

    Our own case pages get a signed view link, so that serving them records "viewed";
    a page elsewhere stays "clicked" (we cannot know it loaded).
    """
    if not runtime.service.links.case_valid(conversation_id, case_id, s):
        raise NotFoundError("unknown link")
    url = await runtime.service.record_case_click(conversation_id, case_id)
    if url is None:
        raise NotFoundError(f"unknown case study {case_id!r}")
    return RedirectResponse(url, status_code=302)
