"""Who may use the console: the holder of CONSOLE_TOKEN, as a bearer header or as the cookie set at login.

The cookie exists because ``EventSource`` cannot send headers; it is HttpOnly (scripts never see the token) and
SameSite=Strict (another site cannot make the presenter's browser end a call). Without CONSOLE_TOKEN the console
does not exist, rather than being open: it shows who is calling whom.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import deque
from dataclasses import dataclass

COOKIE = "console_token"
COOKIE_MAX_AGE_S = 12 * 3600
FAILURES_PER_MINUTE = 20
_TRACKED_CLIENTS = 1024


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
    login cookie passes whatever their address did (the cookie is an HMAC, not guessable)."""

    def __init__(self, per_minute: int = FAILURES_PER_MINUTE) -> None:
        self.per_minute = per_minute
        self._failures: dict[str, deque[float]] = {}

    def blocked(self, client: str) -> bool:
        times = self._failures.get(client)
        if not times:
            return False
        cutoff = time.monotonic() - 60
        while times and times[0] < cutoff:
            times.popleft()
        return len(times) >= self.per_minute

    def failed(self, client: str) -> None:
        if client not in self._failures and len(self._failures) >= _TRACKED_CLIENTS:
            self._failures.pop(next(iter(self._failures)))  # forget the oldest address, memory stays bounded
        self._failures.setdefault(client, deque(maxlen=self.per_minute)).append(time.monotonic())


class ConsoleAuth:
    """The cookie carries a value derived from the token, not the token: a copied cookie never reveals it."""

    def __init__(self, token: str | None) -> None:
        self._token = (token or "").encode()
        self._cookie = hmac.new(self._token, b"console-cookie/v1", hashlib.sha256).hexdigest().encode()
        self.throttle = FailureThrottle()

    @property
    def cookie_value(self) -> str:
        return self._cookie.decode()

    @property
    def enabled(self) -> bool:
        return bool(self._token)

    def matches(self, candidate: str | None) -> bool:
        return bool(self._token) and candidate is not None and hmac.compare_digest(candidate.encode(), self._token)

    def check(self, bearer: str | None, cookie: str | None, client: str) -> Refusal | None:
        """None if the request may pass; else why not. A header, when sent, wins over the cookie."""
        if not self.enabled:
            return DISABLED
        if bearer is None and cookie is None:
            return MISSING
        if bearer is None and cookie is not None and hmac.compare_digest(cookie.encode(), self._cookie):
            return None  # a logged-in presenter is never locked out by someone else's wrong guesses
        if self.throttle.blocked(client):
            return THROTTLED
        ok = self.matches(bearer) if bearer is not None else False
        if not ok:
            self.throttle.failed(client)
            return WRONG
        return None
