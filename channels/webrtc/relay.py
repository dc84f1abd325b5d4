"""Dialling the provider for the page: its SDP offer goes to the provider's calls endpoint with the session's
ephemeral key (server to server), the answer comes back, and the ``Location`` header names the provider's call,
to which the gateway then attaches its own control socket (``sideband.py``).

Done here rather than in the browser so that the gateway learns the call id from the provider itself (a page could
name any call) and every WebRTC call of ours has the gateway on its sideband.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import httpx

from .mint import EphemeralKey

logger = logging.getLogger(__name__)

DIAL_TIMEOUT_S = 10.0
CALL_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


class RelayError(Exception):
    """The provider did not take the offer. ``message`` is safe to show to the page (no provider body, no key)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Answer:
    sdp: str
    call_id: str


async def dial(key: EphemeralKey, offer: str) -> Answer:
    """POST the offer to the key's WebRTC URL; raises ``RelayError``."""
    headers = {"Authorization": f"Bearer {key.value}", "Content-Type": "application/sdp", "Accept": "application/sdp"}
    try:
        async with httpx.AsyncClient(timeout=DIAL_TIMEOUT_S) as http:
            response = await http.post(key.webrtc_url, content=offer.encode(), headers=headers)
    except httpx.HTTPError as exc:
        logger.warning("provider unreachable for the WebRTC offer: %s", type(exc).__name__)
        raise RelayError(502, "The AI provider could not be reached.") from None
    if response.status_code not in (200, 201):
        logger.warning("provider refused the WebRTC offer: HTTP %s", response.status_code)
        raise RelayError(502, f"The AI provider refused the call (HTTP {response.status_code}).")
    call_id = response.headers.get("Location", "").rstrip("/").rsplit("/", 1)[-1]
    if not CALL_ID.match(call_id):
        logger.warning("provider answered the offer without a usable call id")
        raise RelayError(502, "The AI provider's answer named no call.")
    return Answer(response.text, call_id)
