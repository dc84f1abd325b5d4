"""Security helpers: unguessable per-call / per-session tokens, and validation of the JWT ACS puts on callbacks
and media sockets.

Tokens are HMACs of the call or session id under the gateway secret, so any worker process can check them without
shared state; they travel in the callback and media URLs the gateway hands to ACS, and to the browser. A browser
session's token also carries its agent profile and an expiry inside the HMAC: it opens that session's tools only,
until the token expires or the session ends, and never more than a budget of calls.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import jwt

from .config import ACS_ISSUER
from .shared import LocalState, SharedState

logger = logging.getLogger(__name__)


class TokenSigner:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def sign(self, purpose: str, subject: str) -> str:
        digest = hmac.new(self._secret, f"{purpose}\x00{subject}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")

    def verify(self, purpose: str, subject: str, token: str | None) -> bool:
        if not token or not subject:
            return False
        return hmac.compare_digest(self.sign(purpose, subject), token)


SESSION_PURPOSE = "session"
MAX_TRACKED_SESSIONS = 10_000


@dataclass(frozen=True, slots=True)
class SessionGrant:
    """What a valid browser session token allows: this session, this profile's tools, until ``expires_at``."""

    session_id: str
    agent: str
    expires_at: int


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unb64(text: str) -> str:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()


class SessionTokens:
    """Mints and checks ``<expiry>.<agent>.<mac>`` tokens for browser sessions (``SESSION_TOKEN_TTL_S``).

    ``ended`` says whether this process saw the session end (the hub remembers); a token of an ended session is
    refused even before it expires.
    """

    def __init__(
        self, signer: TokenSigner, ttl_s: int, ended: Callable[[str], bool], clock: Callable[[], float] = time.time
    ) -> None:
        self._signer = signer
        self.ttl_s = ttl_s
        self._ended = ended
        self._clock = clock

    def mint(self, session_id: str, agent: str) -> str:
        expires = int(self._clock()) + self.ttl_s
        mac = self._signer.sign(SESSION_PURPOSE, f"{session_id}\x00{agent}\x00{expires}")
        return f"{expires}.{_b64(agent)}.{mac}"

    def check(self, session_id: str, token: str | None, *, ended_ok: bool = False) -> SessionGrant | None:
        """The grant of a valid token; ``ended_ok`` lets a caller tell "ended" from "forged" (the page's reports)."""
        if not token or not session_id or token.count(".") != 2:
            return None
        expires_text, agent_text, mac = token.split(".")
        try:
            expires, agent = int(expires_text), _unb64(agent_text)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None
        if not self._signer.verify(SESSION_PURPOSE, f"{session_id}\x00{agent}\x00{expires}", mac):
            return None
        if expires <= self._clock() or (not ended_ok and self._ended(session_id)):
            return None
        return SessionGrant(session_id, agent, expires)


class CallBudget:
    """At most ``per_session`` tool calls per browser session, counted in the shared state (every worker's calls
    add up with ``REDIS_URL``); a session's count lives as long as its token may (``ttl_s``), then goes."""

    def __init__(self, per_session: int, state: SharedState | None = None, ttl_s: float = 86_400) -> None:
        self.per_session = per_session
        self.state = state if state is not None else LocalState(max_keys=MAX_TRACKED_SESSIONS)
        self.ttl_s = ttl_s

    async def spend(self, session_id: str) -> bool:
        """Count one call; False when the session has used its budget."""
        return await self.state.count(f"tool-budget:{session_id}", self.ttl_s) <= self.per_session


class AcsJwtValidator:
    """Checks ``Authorization: Bearer <JWT>`` from ACS: RS256, issuer, audience = the ACS resource's immutable id."""

    def __init__(self, jwks_url: str, audience: str, issuer: str = ACS_ISSUER) -> None:
        self.audience = audience
        self.issuer = issuer
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=3600, timeout=5)

    async def warm(self) -> None:
        """Fetch ACS's signing keys now (start-up) rather than at the first callback, which would wait for them; a
        failure here is only logged: the first callback fetches them again."""
        try:
            await asyncio.to_thread(self._jwks.get_jwk_set)
        except (jwt.PyJWTError, OSError) as exc:
            logger.warning("ACS signing keys not fetched at start-up (%s): the first callback will fetch them", exc)

    async def validate(self, authorization: str | None) -> bool:
        if not authorization or not authorization.startswith("Bearer "):
            return False
        token = authorization[len("Bearer ") :].strip()
        try:
            key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
            jwt.decode(token, key.key, algorithms=["RS256"], audience=self.audience, issuer=self.issuer)
        except (jwt.PyJWTError, OSError) as exc:
            logger.warning("ACS JWT rejected: %s", exc)
            return False
        return True
