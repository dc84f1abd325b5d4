"""Delivery of Call Automation events to the gateway's ``callbackUri``: one POST per event, in order, each with a
fresh 5-minute RS256 bearer token, like ACS (protocols.md A.3, A.4)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from .models import CallbackDelivery
from .tokens import TokenIssuer

logger = logging.getLogger(__name__)

POST_TIMEOUT_S = 5.0


async def post_callback(
    session: aiohttp.ClientSession,
    url: str,
    events: list[dict[str, Any]],
    token: str | None,
    timeout_s: float = POST_TIMEOUT_S,
) -> int:
    """POST a CloudEvents array; ``token=None`` sends no Authorization header (for forged-callback tests)."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with session.post(
        url, data=json.dumps(events), headers=headers, timeout=aiohttp.ClientTimeout(total=timeout_s)
    ) as resp:
        await resp.read()
        return resp.status


class CallbackQueue:
    """Owns the one task that delivers a call's events, so they arrive in the order the call produced them."""

    def __init__(
        self,
        session: Callable[[], aiohttp.ClientSession],
        issuer: TokenIssuer,
        url: str,
        on_delivered: Callable[[CallbackDelivery], None],
        *,
        delay_s: float = 0.02,
        log_prefix: str = "",
    ) -> None:
        self._session = session
        self._issuer = issuer
        self.url = url
        self._on_delivered = on_delivered
        self._delay_s = delay_s
        self._log_prefix = log_prefix
        self._queue: asyncio.Queue[CallbackDelivery | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def put(self, event: dict[str, Any]) -> CallbackDelivery:
        delivery = CallbackDelivery(event_type=str(event.get("type")), event=event, queued_at=time.monotonic())
        if self._closed:
            delivery.error = "call closed"
            logger.debug("%s dropped %s: queue closed", self._log_prefix, delivery.short_type)
            return delivery
        self._queue.put_nowait(delivery)
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"acs-emu-callbacks{self._log_prefix}")
        return delivery

    async def _run(self) -> None:
        while True:
            delivery = await self._queue.get()
            if delivery is None:
                return
            if self._delay_s > 0:
                await asyncio.sleep(self._delay_s)
            await self._deliver(delivery)

    async def _deliver(self, delivery: CallbackDelivery) -> None:
        delivery.sent_at = time.monotonic()
        try:
            delivery.status = await post_callback(
                self._session(), self.url, [delivery.event], self._issuer.callback_token()
            )
        except Exception as exc:  # a broken callback URI must not kill the queue: record it and go on
            delivery.error = f"{type(exc).__name__}: {exc}"
            logger.warning("%s callback %s failed: %s", self._log_prefix, delivery.short_type, delivery.error)
        else:
            logger.debug("%s callback %s -> %s", self._log_prefix, delivery.short_type, delivery.status)
        self._on_delivered(delivery)

    async def close(self, drain_timeout_s: float = 5.0) -> None:
        """Deliver what is queued (bounded by ``drain_timeout_s``), then stop the task."""
        if self._closed:
            return
        self._closed = True
        if self._task is None:
            return
        self._queue.put_nowait(None)
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=drain_timeout_s)
        except asyncio.CancelledError:
            if not self._task.cancelled():
                raise
        except TimeoutError:
            logger.warning("%s callback queue did not drain in %.1fs", self._log_prefix, drain_timeout_s)
        finally:
            if not self._task.done():
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
