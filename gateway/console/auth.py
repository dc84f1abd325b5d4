"""Who may use the console: the holder of CONSOLE_TOKEN, as a bearer header or as the cookie set at login.

The cookie exists because ``EventSource`` cannot send headers; it is HttpOnly (scripts never see the token) and
SameSite=Strict (another site cannot make the presenter's browser end a call). Without CONSOLE_TOKEN the console
does not exist, rather than being open: it shows who is calling whom.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from ..shared import LocalState, SharedState

COOKIE = "console_token"
COOKIE_MAX_AGE_S = 12 * 3600
FAILURES_PER_MINUTE = 20
WINDOW_S = 60.0


@dataclass(slots=True, frozen=True)
class Refusal:
    status: int
    error: str
    detail: str


DISABLED = Refusal(404, "console disabled", "set CONSOLE_TOKEN to enable the presenter console")
MISSING = Refusal(401, "unauthorised", "send Authorization: Bearer <CONSOLE_TOKEN>, or log in at /console")
WRONG = Refusal(403, "forbidden", "the console token is wrong")
THROTTLED = Refusal(429, "too many attempts", "too many wrong console tokens from this address; wait a minute")


class FailureThrottle:
    """Caps wrong-token attempts per client address (``guard.client_address``), so the token cannot be guessed at
    network speed. Per client and bounded: it never locks the console for everyone, and a presenter who holds the
    login cookie passes whatever their address did (the cookie is an HMAC, not guessable). Counted in the shared
    state, so with ``REDIS_URL`` every worker's wrong guesses add up."""

    def __init__(self, state: SharedState, per_minute: int = FAILURES_PER_MINUTE) -> None:
        self.state = state
        self.per_minute = per_minute

    async def blocked(self, client: str) -> bool:
        return bool(await self.state.retry_after(_key(client), self.per_minute, WINDOW_S))

    async def failed(self, client: str) -> None:
        await self.state.hit(_key(client), self.per_minute, WINDOW_S)


def _key(client: str) -> str:
    return f"rate:console-token:{client}"


class ConsoleAuth:
    """The cookie carries a value derived from the token, not the token: a copied cookie never reveals it."""

    def __init__(self, token: str | None, state: SharedState | None = None) -> None:
        self._token = (token or "").encode()
        self._cookie = hmac.new(self._token, b"console-cookie/v1", hashlib.sha256).hexdigest().encode()
        self.throttle = FailureThrottle(state if state is not None else LocalState())

    @property
    def cookie_value(self) -> str:
        return self._cookie.decode()

    @property
    def enabled(self) -> bool:
        return bool(self._token)

    def matches(self, candidate: str | None) -> bool:
        return bool(self._token) and candidate is not None and hmac.compare_digest(candidate.encode(), self._token)

    async def check(self, bearer: str | None, cookie: str | None, client: str) -> Refusal | None:
        """None if the request may pass; else why not. A header, when sent, wins over the cookie."""
        if not self.enabled:
            return DISABLED
        if bearer is None and cookie is None:
            return MISSING
        if bearer is None and cookie is not None and hmac.compare_digest(cookie.encode(), self._cookie):
            return None  # a logged-in presenter is never locked out by someone else's wrong guesses
        if await self.throttle.blocked(client):
            return THROTTLED
        ok = self.matches(bearer) if bearer is not None else False
        if not ok:
            await self.throttle.failed(client)
            return WRONG
        return None
