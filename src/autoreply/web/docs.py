"""The API docs (/docs: Swagger UI, /redoc: ReDoc) from files the service serves itself.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so they are blank offline. This
is FastAPI's documented self-hosting recipe ("Custom Docs UI Static Assets") with the files
the ``fastapi-offline`` package ships (kept up to date there, never copied into this tree).
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS_URL", "install_docs"]

ASSETS_URL = "/docs/assets"
_ASSETS = files("fastapi_offline") / "static"
_ICON = "/favicon.svg"
_OAUTH2_REDIRECT = "/docs/oauth2-redirect"
# ReDoc's menu shows its maker's logo from their CDN: images from here only, so an offline
# page makes no outside request (the rest of ReDoc is in its script).
_REDOC_POLICY = "img-src 'self' data:"


def install_docs(app: FastAPI) -> None:
    """Add /docs, its OAuth2 redirect, /redoc and their files to an app made with
    ``docs_url=None, redoc_url=None``."""
    app.mount(ASSETS_URL, StaticFiles(directory=str(_ASSETS)), name="docs-assets")

    def root(request: Request) -> str:
        return str(request.scope.get("root_path", ""))

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        base = root(request)
        return get_swagger_ui_html(
            openapi_url=f"{base}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{base}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{base}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{base}{_ICON}",
            oauth2_redirect_url=f"{base}{_OAUTH2_REDIRECT}",
            # no "valid" badge fetched from swagger.io
            swagger_ui_parameters={"validatorUrl": None, **(app.swagger_ui_parameters or {})},
        )

    @app.get(_OAUTH2_REDIRECT, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        base = root(request)
        page = get_redoc_html(
            openapi_url=f"{base}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{base}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{base}{_ICON}",
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = _REDOC_POLICY
        return page
