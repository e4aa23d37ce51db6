"""FastAPI dependencies: the runtime, the conversation token and the client's address."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Path, Request

from autoreply.errors import UnauthorizedError
from autoreply.service.runtime import Runtime

__all__ = [
    "MAX_ROW_ID",
    "ClientDep",
    "PublicId",
    "RowId",
    "RuntimeDep",
    "TokenDep",
    "client_address",
    "get_runtime",
    "get_token",
]

MAX_ROW_ID = 2**31 - 1  # PostgreSQL's integer, the type of the tables' ids


# Dependencies are coroutines: FastAPI runs a plain function in a worker thread, a hop
# that costs more than the function itself.


async def get_runtime(request: Request) -> Runtime:
    """The running product (built in the app's lifespan)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_token(authorization: Annotated[str | None, Header()] = None) -> str:
    """The conversation token from ``Authorization: Bearer <token>``."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise UnauthorizedError("send the conversation token as 'Authorization: Bearer ...'")
    return authorization[7:].strip()


async def client_address(request: Request) -> str:
    """The address the request came from, as rate limits count it.

    This is the peer of the connection. Behind a reverse proxy or load balancer, run
    uvicorn with ``--forwarded-allow-ips`` (or ``FORWARDED_ALLOW_IPS``) naming the proxy,
    so that uvicorn puts the client's address from ``X-Forwarded-For`` here; otherwise
    every visitor counts as the proxy.
    """
    return request.client.host if request.client else "unknown"


ClientDep = Annotated[str, Depends(client_address)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="a record's id")]
"""A numeric id in a path: out of the database's integer range is a 422, never a query."""
PublicId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="a conversation's public id (URL-safe base64)",
    ),
]
"""A conversation id in a path: anything not of that shape (a NUL, non-ASCII, too long) is
a 422, never a query."""
TokenDep = Annotated[str, Depends(get_token)]
