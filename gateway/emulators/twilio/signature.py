"""``X-Twilio-Signature``, written from Twilio's webhook-security docs: HMAC-SHA1 keyed with the Auth Token over
the full URL followed by every POST parameter sorted by name (name then value, no separators), base64-encoded.
A WebSocket upgrade is signed over the stream URL exactly as written in the TwiML, with no parameters."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence

SIGNATURE_HEADER = "X-Twilio-Signature"

Params = Mapping[str, str | Sequence[str]] | Iterable[tuple[str, str]]


def _grouped(params: Params) -> dict[str, set[str]]:
    items = params.items() if isinstance(params, Mapping) else params
    grouped: dict[str, set[str]] = {}
    for name, value in items:
        values = [value] if isinstance(value, str) else list(value)
        grouped.setdefault(name, set()).update(values)
    return grouped


def compute_signature(auth_token: str, url: str, params: Params = ()) -> str:
    """The signature of a request to ``url`` carrying form ``params`` (repeated keys as a list or as pairs)."""
    grouped = _grouped(params)
    payload = url + "".join(name + value for name in sorted(grouped) for value in sorted(grouped[name]))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_headers(auth_token: str, url: str, params: Params = ()) -> dict[str, str]:
    return {SIGNATURE_HEADER: compute_signature(auth_token, url, params)}
