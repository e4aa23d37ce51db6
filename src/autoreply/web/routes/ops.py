"""Operations: liveness and readiness (database reachable and migrated)."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from autoreply.store.db import migration_status, ping
from autoreply.web.deps import RuntimeDep

__all__ = ["router"]

log = logging.getLogger(__name__)
router = APIRouter(tags=["ops"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> dict[str, str]:
    """Answers as long as the process serves requests."""
    return {"status": "ok"}


@router.get("/readyz", summary="Database reachable and migrated")
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    """503 while the database is unreachable or its schema is behind the code."""
    try:
        await ping(runtime.reader)
        current, head = await migration_status(runtime.reader)
    except Exception as exc:
        log.warning("not ready: %s", type(exc).__name__)
        return JSONResponse(
            {"status": "unavailable", "reason": "database unreachable"}, status_code=503
        )
    if current != head:
        return JSONResponse(
            {
                "status": "unavailable",
                "reason": "migrations pending",
                "current": current,
                "head": head,
            },
            status_code=503,
        )
    return JSONResponse({"status": "ok", "schema": current})
