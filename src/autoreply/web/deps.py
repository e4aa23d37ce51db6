"""FastAPI dependencies: the runtime, and the conversation token from the request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from autoreply.errors import UnauthorizedError
from autoreply.service.runtime import Runtime

__all__ = ["RuntimeDep", "TokenDep", "get_runtime", "get_token"]


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


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
TokenDep = Annotated[str, Depends(get_token)]
