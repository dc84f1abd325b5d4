"""RS256 tokens like the ones ACS puts on callbacks (5 min) and media WebSocket connections (24 h).

The emulator generates its own RSA key at start and publishes it as a JWKS, so a gateway validates emulator tokens
with exactly the code it uses against ``https://acscallautomation.communication.azure.com/calling/keys``. ``forge``
makes the broken tokens that security tests need.
"""

from __future__ import annotations

import base64
import enum
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from .models import ACS_ISSUER

CALLBACK_TOKEN_LIFETIME_S = 5 * 60
MEDIA_TOKEN_LIFETIME_S = 24 * 60 * 60


class ForgedToken(enum.StrEnum):
    """Ways a token can be wrong; each must be rejected by a correct validator."""

    UNSIGNED = "unsigned"  # alg=none
    WRONG_KEY = "wrong_key"  # same kid, signed by a key not in the JWKS
    UNKNOWN_KID = "unknown_kid"
    WRONG_AUDIENCE = "wrong_audience"
    WRONG_ISSUER = "wrong_issuer"
    EXPIRED = "expired"
    GARBAGE = "garbage"


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(slots=True)
class TokenIssuer:
    """Holds the emulator's signing key; mints, publishes and forges ACS-style JWTs."""

    audience: str
    issuer: str = ACS_ISSUER
    kid: str = field(default_factory=lambda: secrets.token_hex(16))
    _key: rsa.RSAPrivateKey = field(default_factory=_new_key, repr=False)

    def mint(self, lifetime_s: float, **claims: Any) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + int(lifetime_s),
            "jti": str(uuid.uuid4()),
        }
        payload.update(claims)
        return jwt.encode(payload, self._key, algorithm="RS256", headers={"kid": self.kid})

    def callback_token(self) -> str:
        return self.mint(CALLBACK_TOKEN_LIFETIME_S)

    def media_token(self) -> str:
        return self.mint(MEDIA_TOKEN_LIFETIME_S)

    def jwks(self) -> dict[str, Any]:
        jwk = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}

    def openid_configuration(self, base_url: str) -> dict[str, Any]:
        base = base_url.rstrip("/")
        return {
            "issuer": self.issuer,
            "jwks_uri": f"{base}/calling/keys",
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        }

    def forge(self, kind: ForgedToken | str, lifetime_s: float = CALLBACK_TOKEN_LIFETIME_S) -> str:
        kind = ForgedToken(kind)
        now = int(time.time())
        payload: dict[str, Any] = {"iss": self.issuer, "aud": self.audience, "iat": now, "exp": now + int(lifetime_s)}
        if kind is ForgedToken.UNSIGNED:
            header = {"alg": "none", "typ": "JWT", "kid": self.kid}
            return f"{_b64url_json(header)}.{_b64url_json(payload)}."
        if kind is ForgedToken.GARBAGE:
            return "not-a-jwt"
        key = self._key
        headers = {"kid": self.kid}
        if kind is ForgedToken.WRONG_KEY:
            key = _new_key()
        elif kind is ForgedToken.UNKNOWN_KID:
            headers = {"kid": secrets.token_hex(16)}
        elif kind is ForgedToken.WRONG_AUDIENCE:
            payload["aud"] = str(uuid.uuid4())
        elif kind is ForgedToken.WRONG_ISSUER:
            payload["iss"] = "https://attacker.example"
        elif kind is ForgedToken.EXPIRED:
            payload.update(iat=now - 3600, exp=now - 600)
        return jwt.encode(payload, key, algorithm="RS256", headers=headers)


def _b64url_json(value: dict[str, Any]) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
