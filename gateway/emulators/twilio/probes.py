"""Security probes for gateway tests: a webhook or a media-socket upgrade signed with the wrong token, or not
signed at all, so a test can prove the gateway refuses them (every webhook and media socket is authenticated)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import aiohttp
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from .callbacks import post_signed_form
from .records import WebhookResult
from .signature import SIGNATURE_HEADER, compute_signature


@dataclass(frozen=True, slots=True)
class StreamProbe:
    """Outcome of a bare upgrade: refused (``status`` is the HTTP answer) or accepted and then closed or not."""

    accepted: bool
    status: int | None = None
    close_code: int | None = None
    error: str | None = None


async def send_webhook(
    session: aiohttp.ClientSession, url: str, params: dict[str, str], auth_token: str, *, signed: bool = True
) -> WebhookResult:
    """POST a form like Twilio, signed with ``auth_token`` (pass another token to forge), or unsigned."""
    if signed:
        return await post_signed_form(session, url, params, auth_token)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    async with session.post(url, data=params, headers=headers) as resp:
        return WebhookResult(url, params, resp.status, await resp.text(), resp.headers.get("Content-Type", ""))


async def probe_stream(url: str, auth_token: str | None, *, wait_s: float = 1.0) -> StreamProbe:
    """Open a media socket signed with ``auth_token`` (None: no signature header) and report what the gateway did.

    Nothing is sent after the upgrade, so a gateway that accepts the socket should close it when no ``start``
    arrives (or after checking ``start.customParameters``)."""
    headers = {} if auth_token is None else {SIGNATURE_HEADER: compute_signature(auth_token, url)}
    try:
        ws = await connect(url, additional_headers=headers, open_timeout=5.0, close_timeout=2.0, proxy=None)
    except InvalidStatus as exc:
        return StreamProbe(False, status=exc.response.status_code, error=str(exc))
    except (OSError, TimeoutError, InvalidHandshake) as exc:
        return StreamProbe(False, error=f"{type(exc).__name__}: {exc}")
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ws.wait_closed(), timeout=wait_s)
        return StreamProbe(True, status=101, close_code=ws.close_code)
    finally:
        with contextlib.suppress(ConnectionClosed, OSError, TimeoutError):
            await asyncio.wait_for(ws.close(), timeout=3.0)
