"""Security helpers: unguessable per-call / per-session tokens, and validation of the JWT ACS puts on callbacks
and media sockets.

Tokens are HMACs of the call or session id under the gateway secret, so any worker process can check them without
shared state; they travel in the callback and media URLs the gateway hands to ACS, and to the browser.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging

import jwt

from .config import ACS_ISSUER

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


class AcsJwtValidator:
    """Checks ``Authorization: Bearer <JWT>`` from ACS: RS256, issuer, audience = the ACS resource's immutable id."""

    def __init__(self, jwks_url: str, audience: str, issuer: str = ACS_ISSUER) -> None:
        self.audience = audience
        self.issuer = issuer
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=3600, timeout=5)

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
