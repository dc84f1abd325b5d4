"""Signed form POSTs to the gateway: the voice webhook, status callbacks (initiated, ringing, answered, completed),
stream and AMD callbacks. Status callbacks are separate requests that Twilio says may arrive out of order;
``StatusCallbackDisorder`` makes them duplicated, reordered or late on request."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace

import aiohttp

from .config import StatusCallbackDisorder
from .records import StatusDelivery, WebhookResult
from .signature import signature_headers

logger = logging.getLogger(__name__)

STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")


async def post_signed_form(
    session: aiohttp.ClientSession,
    url: str,
    params: dict[str, str],
    auth_token: str,
    *,
    connect_url: str | None = None,
    timeout_s: float = 15.0,
) -> WebhookResult:
    """POST ``params`` form-encoded, signed over ``url``; sent to ``connect_url`` when the URL was rewritten."""
    headers = signature_headers(auth_token, url, params)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    headers["User-Agent"] = "TwilioProxy/1.1"
    headers["Accept"] = "*/*"
    try:
        async with session.post(
            connect_url or url, data=params, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout_s)
        ) as resp:
            body = await resp.text()
            return WebhookResult(url, params, resp.status, body, resp.headers.get("Content-Type", ""))
    except TimeoutError:
        return WebhookResult(url, params, None, "", "", error="timeout")
    except aiohttp.ClientError as exc:
        return WebhookResult(url, params, None, "", "", error=f"{type(exc).__name__}: {exc}")


def parse_status_events(values: list[str]) -> frozenset[str]:
    """``StatusCallbackEvent`` as repeated keys or one space-separated value; unknown names are ignored."""
    names = {name for value in values for name in value.split()}
    return frozenset(name for name in names if name in STATUS_EVENTS) or frozenset({"completed"})


def status_event(call_status: str) -> str:
    """The StatusCallbackEvent a call status belongs to (``in-progress`` is ``answered``; any end is ``completed``)."""
    if call_status in ("initiated", "ringing"):
        return call_status
    if call_status == "in-progress":
        return "answered"
    return "completed"


class StatusCallbackQueue:
    """One call's status callbacks: sequence numbers in firing order, delivered by one task (disorder aside)."""

    def __init__(
        self,
        session: Callable[[], aiohttp.ClientSession],
        auth_token: str,
        url: str,
        events: frozenset[str],
        on_delivered: Callable[[StatusDelivery], None],
        *,
        disorder: StatusCallbackDisorder,
        rewrite: Callable[[str], str] | None = None,
        log_prefix: str = "",
    ) -> None:
        self._session = session
        self._auth_token = auth_token
        self.url = url
        self.events = events
        self._on_delivered = on_delivered
        self._disorder = disorder
        self._rewrite = rewrite
        self._log_prefix = log_prefix
        self._sequence = 0
        self._queue: asyncio.Queue[StatusDelivery | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.deliveries: list[StatusDelivery] = []

    def fire(self, call_status: str, params: dict[str, str]) -> StatusDelivery | None:
        """Queue the callback for this status if its event was asked for."""
        event = status_event(call_status)
        if event not in self.events:
            return None
        params = {**params, "SequenceNumber": str(self._sequence), "CallbackSource": "call-progress-events"}
        delivery = StatusDelivery(event, call_status, self._sequence, self.url, params, time.monotonic())
        self._sequence += 1
        self.deliveries.append(delivery)
        self._queue.put_nowait(delivery)
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"twilio-emu-status{self._log_prefix}")
        return delivery

    async def _run(self) -> None:
        disorder = self._disorder
        while True:
            delivery = await self._queue.get()
            if delivery is None:
                return
            batch = [delivery]
            if disorder.reorder:
                try:
                    following = await asyncio.wait_for(self._queue.get(), disorder.reorder_window_s)
                except TimeoutError:
                    following = None
                else:
                    if following is None:  # closing: deliver what we hold, then stop
                        self._queue.put_nowait(None)
                if following is not None:
                    batch.insert(0, following)
            for item in batch:
                if disorder.delay_s > 0:
                    await asyncio.sleep(disorder.delay_s)
                await self._deliver(item)
                if disorder.duplicate:
                    extra = replace(item, queued_at=time.monotonic(), duplicate=True)
                    self.deliveries.append(extra)
                    await self._deliver(extra)

    async def _deliver(self, delivery: StatusDelivery) -> None:
        delivery.sent_at = time.monotonic()
        target = self._rewrite(self.url) if self._rewrite else None
        result = await post_signed_form(
            self._session(), self.url, delivery.params, self._auth_token, connect_url=target
        )
        delivery.http_status, delivery.error = result.status, result.error
        if result.error:
            logger.warning("%s status callback %s failed: %s", self._log_prefix, delivery.call_status, result.error)
        self._on_delivered(delivery)

    async def close(self, drain_timeout_s: float = 5.0) -> None:
        """Deliver what is queued (bounded), then stop the task."""
        if self._task is None:
            return
        self._queue.put_nowait(None)
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=drain_timeout_s)
        except TimeoutError:
            logger.warning("%s status callbacks did not drain in %.1fs", self._log_prefix, drain_timeout_s)
        finally:
            if not self._task.done():
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
