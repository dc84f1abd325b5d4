"""Delivery of Call Automation events to the gateway's ``callbackUri``: one POST per event, in order, each with a
fresh 5-minute RS256 bearer token, like ACS (protocols.md A.3, A.4).

Real deliveries are at-least-once and not strictly ordered, and a retried one can arrive after the call has
ended; ``CallbackDisorder`` makes the emulator behave that way when a test asks for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
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


@dataclass(frozen=True, slots=True)
class CallbackDisorder:
    """How deliveries misbehave. ``duplicate``: every event is delivered twice. ``reorder``: an event waits up to
    ``reorder_window_s`` for the next one, which then goes first. ``redeliver_after_end``: events of these short
    types (``"PlayCompleted"``) are delivered once more after the call has ended, like a late retry."""

    duplicate: bool = False
    reorder: bool = False
    reorder_window_s: float = 0.3
    redeliver_after_end: frozenset[str] = frozenset()


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
        disorder: CallbackDisorder | None = None,
        on_extra: Callable[[CallbackDelivery], None] | None = None,
    ) -> None:
        """``on_extra`` records the deliveries the disorder adds (duplicates, late redeliveries)."""
        self._session = session
        self._issuer = issuer
        self.url = url
        self._on_delivered = on_delivered
        self._delay_s = delay_s
        self._log_prefix = log_prefix
        self._queue: asyncio.Queue[CallbackDelivery | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._disorder = disorder or CallbackDisorder()
        self._on_extra = on_extra or (lambda _d: None)
        self._late: list[CallbackDelivery] = []

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
                break
            batch = [delivery]
            if self._disorder.reorder:
                try:
                    following = await asyncio.wait_for(self._queue.get(), self._disorder.reorder_window_s)
                except TimeoutError:
                    following = None
                else:
                    if following is None:  # closing: deliver what we hold, then the late ones
                        self._queue.put_nowait(None)
                if following is not None:
                    batch.insert(0, following)
            for item in batch:
                if self._delay_s > 0:
                    await asyncio.sleep(self._delay_s)
                await self._deliver(item)
                if self._disorder.duplicate:
                    await self._deliver_extra(item)
                if item.short_type in self._disorder.redeliver_after_end:
                    self._late.append(item)
        for item in self._late:  # the call has ended: retries arriving late
            await self._deliver_extra(item)

    async def _deliver_extra(self, original: CallbackDelivery) -> None:
        extra = replace(original, queued_at=time.monotonic(), sent_at=None, status=None, error=None)
        self._on_extra(extra)
        await self._deliver(extra)

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
