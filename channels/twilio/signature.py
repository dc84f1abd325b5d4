"""X-Twilio-Signature checks, always against the URL we configured or wrote, never one rebuilt from Host headers
(behind ngrok or a TLS terminator the request's own URL is not the one Twilio signed)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr
from twilio.request_validator import RequestValidator

SIGNATURE_HEADER = "X-Twilio-Signature"


class TwilioSignatures:
    def __init__(self, auth_token: SecretStr, public_base_url: str) -> None:
        self._validator = RequestValidator(auth_token.get_secret_value())
        self.public_base_url = public_base_url.rstrip("/")

    def webhook_url(self, path: str, query: str = "") -> str:
        """The URL Twilio requested, as configured: ``PUBLIC_BASE_URL`` + path (+ query exactly as sent)."""
        return f"{self.public_base_url}{path}" + (f"?{query}" if query else "")

    def webhook_ok(self, path: str, query: str, params: Mapping[str, Any], signature: str | None) -> bool:
        """A form POST: the URL plus every parameter (repeated keys included: werkzeug's MultiDict has getlist)."""
        if not signature:
            return False
        try:
            return bool(self._validator.validate(self.webhook_url(path, query), params, signature))
        except (TypeError, ValueError):  # a body the validator cannot read is not Twilio's
            return False

    def stream_ok(self, stream_url: str, signature: str | None) -> bool:
        """The media socket's upgrade: Twilio signs the ``wss://`` URL as written in the TwiML, with no params."""
        if not signature:
            return False
        return bool(self._validator.validate(stream_url, {}, signature))
