"""Rep authentication: signed-cookie sessions, CSRF tokens, login throttling, API tokens."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.middleware.sessions import SessionMiddleware

from autoreply.config import Settings
from autoreply.errors import UnauthorizedError
from autoreply.service import reps
from autoreply.signing import sign
from autoreply.store.models import Rep
from autoreply.web.deps import RuntimeDep

__all__ = [
    "SESSION_COOKIE",
    "SESSION_MAX_AGE",
    "ApiRepDep",
    "LoginThrottle",
    "api_rep",
    "csrf_ok",
    "csrf_token",
    "install_rep_auth",
    "log_in",
    "log_out",
    "session_rep",
    "throttle_of",
]

SESSION_COOKIE = "autoreply_session"
SESSION_MAX_AGE = 12 * 60 * 60  # one working day; the signature carries the time
_REP_ID = "rep_id"
_CSRF = "csrf"


def install_rep_auth(app: FastAPI, settings: Settings, secret: str) -> None:
    """Add the session middleware and the login throttle to the app.

    The session is a signed cookie holding only the rep id and a CSRF token. Its key is
    derived from the app secret, so a session cookie can never pass as a signed link.
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
    app.state.login_throttle = LoginThrottle()


# -- login throttling ------------------------------------------------------------------------


@dataclass
class _Attempts:
    failures: list[datetime] = field(default_factory=list)
    locked_until: datetime | None = None


class LoginThrottle:
    """Refuses logins for an address after too many failures (in memory, per process).

    After ``max_failures`` wrong passwords for one address within ``window``, every
    attempt for that address is refused for ``lockout``, right password or not.
    """

    def __init__(
        self,
        max_failures: int = 5,
        window: timedelta = timedelta(minutes=15),
        lockout: timedelta = timedelta(minutes=15),
        max_tracked: int = 10_000,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.lockout = lockout
        self.max_tracked = max_tracked
        self._by_email: dict[str, _Attempts] = {}

    @staticmethod
    def _key(email: str) -> str:
        return email.strip().lower()[:320]

    def locked(self, email: str, now: datetime) -> bool:
        """Whether attempts for this address are refused right now."""
        attempts = self._by_email.get(self._key(email))
        if attempts is None or attempts.locked_until is None:
            return False
        if now < attempts.locked_until:
            return True
        del self._by_email[self._key(email)]
        return False

    def failed(self, email: str, now: datetime) -> None:
        """Count a failed attempt; the one that reaches the limit starts the lockout."""
        if len(self._by_email) >= self.max_tracked:
            self._forget_before(now)
        attempts = self._by_email.setdefault(self._key(email), _Attempts())
        attempts.failures = [t for t in attempts.failures if now - t < self.window] + [now]
        if len(attempts.failures) >= self.max_failures:
            attempts.locked_until = now + self.lockout

    def succeeded(self, email: str) -> None:
        """A successful login clears the address's failures."""
        self._by_email.pop(self._key(email), None)

    def _forget_before(self, now: datetime) -> None:
        for key, attempts in list(self._by_email.items()):
            recent = attempts.failures and now - attempts.failures[-1] < self.window
            if not recent and (attempts.locked_until is None or attempts.locked_until <= now):
                del self._by_email[key]


def throttle_of(request: Request) -> LoginThrottle:
    """The app's login throttle."""
    throttle: LoginThrottle = request.app.state.login_throttle
    return throttle


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


def log_in(request: Request, rep: Rep) -> None:
    """Start a fresh session for the rep, with a new CSRF token."""
    request.session.clear()
    request.session[_REP_ID] = rep.id
    request.session[_CSRF] = secrets.token_urlsafe(32)


def log_out(request: Request) -> None:
    """End the session (the cookie is deleted)."""
    request.session.clear()


async def session_rep(request: Request, runtime: RuntimeDep) -> Rep | None:
    """The logged-in rep, or None (no session, or the rep was deactivated or removed)."""
    rep_id = request.session.get(_REP_ID)
    if not isinstance(rep_id, int):
        return None
    async with runtime.sessions() as session:
        rep = await reps.rep_by_id(session, rep_id)
    if rep is None or not rep.active:
        log_out(request)
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
