"""The web app factory (an entry point): the FastAPI app, its routes and its lifespan."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware

from autoreply import __version__
from autoreply.bootstrap import build_calendar, open_runtime, resolve_secret
from autoreply.clock import Clock
from autoreply.config import Settings
from autoreply.domain.calendar import describe_hours
from autoreply.logs import configure_logging
from autoreply.service.runtime import Runtime
from autoreply.store.db import upgrade
from autoreply.web.auth import install_rep_auth
from autoreply.web.docs import install_docs
from autoreply.web.errors import install_error_handlers
from autoreply.web.pages import Pages
from autoreply.web.routes import (
    booking,
    chat,
    dashboard,
    forms,
    line,
    links,
    meetings,
    ops,
    privacy,
    rep,
    rep_api,
    rep_followups,
    site,
)
from autoreply.web.routes.crm_export import router as crm_export_router

__all__ = ["create_app", "serve"]

log = logging.getLogger(__name__)

GZIP_MINIMUM_BYTES = 1024


def create_app(settings: Settings, *, clock: Clock | None = None, migrate: bool = True) -> FastAPI:
    """Build the app; everything is opened in its lifespan, nothing at import time."""
    app = FastAPI(
        title="autoreply",
        version=__version__,
        lifespan=_lifespan(settings, clock, migrate),
        docs_url=None,  # install_docs: the docs pages from the service's own files
        redoc_url=None,
    )
    install_docs(app)
    origins = [o.strip() for o in settings.widget_origins.split(",") if o.strip()]
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "Content-Type"],
        max_age=600,
    )
    # Text answers (pages, widget.js, JSON) compressed when the client asks; below about
    # a packet it is not worth it, nor for images that are compressed already. Server-sent
    # events are never compressed (text/event-stream is excluded by default); the
    # streamed CSV export still streams, chunk by chunk.
    app.add_middleware(
        GZipMiddleware,
        minimum_size=GZIP_MINIMUM_BYTES,
        compresslevel=6,
        exclude_content_types=(*DEFAULT_EXCLUDED_CONTENT_TYPES, "image/x-icon"),  # PNG inside
    )
    install_error_handlers(app)
    install_rep_auth(app, settings, resolve_secret(settings))
    for routes in (
        chat,
        site,
        booking,
        forms,
        links,
        line,
        rep,
        rep_api,
        rep_followups,
        meetings,
        ops,
        dashboard,
    ):
        app.include_router(routes.router)
    app.include_router(privacy.router)  # /privacy, /rep/privacy (the lead's data rights)
    app.include_router(crm_export_router)  # GET /rep/handoffs.csv
    app.state.pages = Pages(
        settings.path("templates_dir"),
        settings.tz,
        {
            "sla_first_contact_minutes": settings.sla_first_contact_minutes,
            "opening_hours": partial(describe_hours, build_calendar(settings)),
        },
    )
    app.state.pages.check()
    return app


def _lifespan(
    settings: Settings, clock: Clock | None, migrate: bool
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Opens the runtime and runs the background work (idle handoffs, pruning expired
    rate-limit counters; the outbox and LINE events unless a separate ``autoreply worker``
    does) while the app serves."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_runtime(settings, clock=clock, migrate=migrate) as runtime:
            app.state.runtime = runtime
            tasks = [
                asyncio.create_task(_idle_handoffs(runtime), name="idle-handoffs"),
                asyncio.create_task(_prune_counters(runtime), name="rate-counters"),
            ]
            if settings.run_worker:
                tasks.append(asyncio.create_task(runtime.worker.run(), name="outbox"))
                if runtime.scheduler is not None:
                    tasks.append(asyncio.create_task(runtime.scheduler.run(), name="timers"))
                if runtime.line is not None:
                    tasks.append(asyncio.create_task(runtime.line.run(), name="line-events"))
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                _, stuck = await asyncio.wait(tasks, timeout=SHUTDOWN_SECONDS)
                for task in stuck:  # never hold the shutdown hostage
                    log.error("background task %s did not stop in time", task.get_name())

    return lifespan


IDLE_CHECK_SECONDS = 60.0
SHUTDOWN_SECONDS = 10.0


async def _idle_handoffs(runtime: Runtime) -> None:
    """Every minute, hand off conversations the lead left with something said."""
    while True:
        await asyncio.sleep(IDLE_CHECK_SECONDS)
        try:
            count = await runtime.service.handoff_idle()
        except Exception:  # a database hiccup must not end the loop
            log.exception("idle handoff check failed")
            continue
        if count:
            log.info("idle conversations handed off: %d", count)


async def _prune_counters(runtime: Runtime) -> None:
    """Every minute, drop the rate-limit counters and lockouts that have expired."""
    while True:
        await asyncio.sleep(IDLE_CHECK_SECONDS)
        try:
            await runtime.limits.prune()
        except Exception:  # a database hiccup must not end the loop
            log.exception("pruning rate-limit counters failed")


def app_from_environment() -> FastAPI:
    """The app as each worker process builds it (settings from the environment)."""
    return create_app(Settings(), migrate=False)


def serve(settings: Settings, *, host: str | None, port: int | None, migrate: bool) -> int:
    """Run the app with uvicorn (``autoreply serve``); migrations run once, before workers."""
    import uvicorn

    configure_logging(settings.log_level)
    options: dict[str, Any] = {
        "host": host or settings.host,
        "port": port or settings.port,
        "log_level": settings.log_level.lower(),
    }
    if "public_url" not in settings.model_fields_set:
        # Links in messages point at where this server listens unless told otherwise.
        shown = "127.0.0.1" if options["host"] in ("0.0.0.0", "::") else options["host"]  # noqa: S104
        public = f"http://{shown}:{options['port']}"
        settings = settings.model_copy(update={"public_url": public})
        os.environ["AUTOREPLY_PUBLIC_URL"] = public  # for worker processes
        log.info("links in messages use %s (set AUTOREPLY_PUBLIC_URL to change)", public)
    if settings.workers == 1:
        uvicorn.run(create_app(settings, migrate=migrate), **options)
        return 0
    if migrate:
        asyncio.run(upgrade(settings.database_url))
    uvicorn.run(
        "autoreply.web.app:app_from_environment", factory=True, workers=settings.workers, **options
    )
    return 0
