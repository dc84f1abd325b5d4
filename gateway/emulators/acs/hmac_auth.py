"""HMAC-SHA256 request signing exactly as the ACS SDK does it (``_shared/policy.py``), so the emulator can reject
requests signed with a wrong key, a stale date or a body that does not match its hash, like the real service."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

SIGNED_HEADERS = "x-ms-date;host;x-ms-content-sha256"
RFC1123 = "%a, %d %b %Y %H:%M:%S GMT"


@dataclass(slots=True, frozen=True)
class HmacResult:
    """Outcome of a signature check; ``reason`` explains a rejection (it goes into the 401 body)."""

    ok: bool
    reason: str = ""


def content_hash(body: bytes) -> str:
    """``x-ms-content-sha256``: base64 of the SHA-256 of the raw body (empty body hashes the empty string)."""
    return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def string_to_sign(method: str, path_and_query: str, date: str, host: str, body_hash: str) -> str:
    return f"{method.upper()}\n{path_and_query}\n{date};{host};{body_hash}"


def compute_signature(access_key: str, to_sign: str) -> str:
    secret = base64.b64decode(access_key)
    return base64.b64encode(hmac.new(secret, to_sign.encode("utf-8"), hashlib.sha256).digest()).decode("ascii")


def sign_headers(
    access_key: str, method: str, path_and_query: str, host: str, body: bytes, now: datetime | None = None
) -> dict[str, str]:
    """Headers the SDK would add; lets tests send hand-made (or deliberately broken) signed requests."""
    date = (now or datetime.now(UTC)).strftime(RFC1123)
    body_hash = content_hash(body)
    signature = compute_signature(access_key, string_to_sign(method, path_and_query, date, host, body_hash))
    return {
        "x-ms-date": date,
        "x-ms-content-sha256": body_hash,
        "Authorization": f"HMAC-SHA256 SignedHeaders={SIGNED_HEADERS}&Signature={signature}",
    }


def _parse_authorization(value: str) -> dict[str, str] | None:
    scheme, _, params = value.partition(" ")
    if scheme != "HMAC-SHA256" or not params:
        return None
    fields: dict[str, str] = {}
    for part in params.split("&"):
        name, sep, val = part.partition("=")
        if not sep:
            return None
        # Only the first '=' separates; base64 signatures end with '=' padding.
        fields[name.strip()] = val.strip()
    return fields


def verify_request(
    access_key: str,
    method: str,
    path_and_query: str,
    headers: Mapping[str, str],
    body: bytes,
    max_skew_s: float = 900.0,
    now: datetime | None = None,
) -> HmacResult:
    """Check an incoming request's HMAC the way ACS would; the host signed is the request's Host header."""
    lower = {name.lower(): value for name, value in headers.items()}
    auth = lower.get("authorization")
    if not auth:
        return HmacResult(False, "missing Authorization header")
    fields = _parse_authorization(auth)
    if fields is None or "Signature" not in fields:
        return HmacResult(False, "Authorization is not an HMAC-SHA256 signature")
    if fields.get("SignedHeaders", "").lower() != SIGNED_HEADERS:
        return HmacResult(False, f"SignedHeaders must be {SIGNED_HEADERS}")
    date = lower.get("x-ms-date")
    host = lower.get("host")
    claimed_hash = lower.get("x-ms-content-sha256")
    if not date or not host or claimed_hash is None:
        return HmacResult(False, "missing x-ms-date, host or x-ms-content-sha256")
    try:
        signed_at = parsedate_to_datetime(date)
    except (TypeError, ValueError):
        return HmacResult(False, "unparseable x-ms-date")
    if signed_at.tzinfo is None:
        signed_at = signed_at.replace(tzinfo=UTC)
    if abs(((now or datetime.now(UTC)) - signed_at).total_seconds()) > max_skew_s:
        return HmacResult(False, "x-ms-date is too far from the current time")
    actual_hash = content_hash(body)
    if not hmac.compare_digest(claimed_hash, actual_hash):
        return HmacResult(False, "x-ms-content-sha256 does not match the body")
    try:
        expected = compute_signature(access_key, string_to_sign(method, path_and_query, date, host, actual_hash))
    except (binascii.Error, ValueError):
        return HmacResult(False, "emulator access key is not valid base64")
    if not hmac.compare_digest(fields["Signature"], expected):
        return HmacResult(False, "signature mismatch")
    return HmacResult(True)
