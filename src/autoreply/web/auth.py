"""Rep authentication: sessions kept on the server (a signed cookie names one), CSRF
tokens, API tokens (the login lockout is ``service.limits``, shared by every process)."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.middleware.sessions import SessionMiddleware

from autoreply.config import Settings
from autoreply.errors import UnauthorizedError
from autoreply.service import reps, sessions
from autoreply.service.runtime import Runtime
from autoreply.signing import sign
from autoreply.store.models import Rep
from autoreply.web.deps import RuntimeDep

__all__ = [
    "SESSION_COOKIE",
    "SESSION_MAX_AGE",
    "ApiRepDep",
    "api_rep",
    "csrf_ok",
    "csrf_token",
    "install_rep_auth",
    "log_in",
    "log_out",
    "session_rep",
]

SESSION_COOKIE = "autoreply_session"
SESSION_MAX_AGE = 12 * 60 * 60  # one working day; the signature carries the time
_SESSION = "sid"  # the session token (its SHA-256 is the rep_sessions row)
_CSRF = "csrf"


def install_rep_auth(app: FastAPI, settings: Settings, secret: str) -> None:
    """Add the session middleware to the app.

    The session is a signed cookie holding only a session token (checked against
    ``rep_sessions`` on every request) and a CSRF token. Its key is derived from the app
    secret, so a session cookie can never pass as a signed link.
    """
    app.add_middleware(
        SessionMiddleware,
        secret_key=sign(secret, "rep-session-key"),
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE,
        path="/rep",
        same_site="lax",
        https_only=settings.secure_cookies,
    )


# -- sessions and CSRF ----------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use (also before login)."""
    token = request.session.get(_CSRF)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[_CSRF] = token
    return token


def csrf_ok(request: Request, submitted: str | None) -> bool:
    """Whether a form's ``csrf_token`` is the session's (constant time)."""
    expected = request.session.get(_CSRF)
    if not isinstance(expected, str) or not expected or not submitted:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), submitted.encode("utf-8"))


async def log_in(request: Request, runtime: Runtime, rep: Rep) -> None:
    """Start a fresh session for the rep, with a new CSRF token: a row in
    ``rep_sessions`` (``service.sessions``) whose token only the cookie holds."""
    now = runtime.content.clock.now()
    async with runtime.sessions() as session, session.begin():
        token = await sessions.start_session(session, rep, now, timedelta(seconds=SESSION_MAX_AGE))
    request.session.clear()
    request.session[_SESSION] = token
    request.session[_CSRF] = secrets.token_urlsafe(32)


async def log_out(request: Request, runtime: Runtime) -> None:
    """End the session on the server (a copy of the cookie no longer works) and clear
    the cookie."""
    token = request.session.get(_SESSION)
    request.session.clear()
    if isinstance(token, str) and token:
        async with runtime.sessions() as session, session.begin():
            await sessions.end_session(session, token, runtime.content.clock.now())


async def session_rep(request: Request, runtime: RuntimeDep) -> Rep | None:
    """The logged-in rep, or None: no session, or it was ended (logout, a new password,
    the rep deactivated), expired, or the rep was removed."""
    token = request.session.get(_SESSION)
    if not isinstance(token, str) or not token:
        return None
    async with runtime.sessions() as session:
        rep = await sessions.rep_of_session(session, token, runtime.content.clock.now())
    if rep is None:
        request.session.pop(_SESSION, None)
        return None
    return rep


# -- API tokens ----------------------------------------------------------------------------

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="RepToken",
    description="A rep's API token, issued with `autoreply reps token EMAIL`.",
)


async def api_rep(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Rep:
    """The rep whose API token is in ``Authorization: Bearer <token>``; 401 otherwise."""
    if credentials is None:
        raise UnauthorizedError(
            "send your API token as 'Authorization: Bearer <token>' "
            "(issued with `autoreply reps token EMAIL`)",
            scheme="Bearer",
        )
    async with runtime.sessions() as session:
        rep = await reps.rep_for_token(session, credentials.credentials)
    if rep is None:
        raise UnauthorizedError(
            "unknown or replaced API token, or the rep is inactive",
            scheme='Bearer error="invalid_token"',
        )
    return rep


ApiRepDep = Annotated[Rep, Depends(api_rep)]
