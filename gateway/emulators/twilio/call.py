"""One emulated Twilio call: its ids and status, the status callbacks it fires, the TwiML it runs, its media
streams, and the handles tests use to drive the caller (speak, press digits, hang up) and wait on what happens."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import time
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any

import aiohttp

from gateway.audio import AudioChunk
from gateway.emulators.acs.caller_audio import CallerAudio, ScriptedCaller, ScriptItem, as_script_item
from gateway.emulators.acs.notify import Notifier
from gateway.emulators.g711 import mulaw_decode

from .callbacks import StatusCallbackQueue
from .config import TwilioEmulatorConfig
from .ids import new_sid
from .playout import FRAME_BYTES
from .records import (
    CallError,
    CallStatus,
    ClearRecord,
    MarkRecord,
    StatusDelivery,
    Transfer,
    TwimlEntry,
    WebhookResult,
)
from .stream import MediaStreamClient

logger = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
LINE_RATE = 8000
Waitable = str | Callable[["TwilioCall"], Any]


class TwilioCall(ScriptedCaller):
    """A call as Twilio sees it. Created by ``TwilioEmulator.incoming_call`` or by ``Calls.json`` (outbound-api)."""

    def __init__(
        self,
        *,
        config: TwilioEmulatorConfig,
        http: Callable[[], aiohttp.ClientSession],
        from_: str,
        to: str,
        direction: str = "inbound",
        script: Iterable[ScriptItem | str | Path | AudioChunk] = (),
        status_callback: str | None = None,
        status_events: frozenset[str] = frozenset({"completed"}),
    ) -> None:
        self.config = config
        self.http = http
        self.sid = new_sid("CA")
        self.account_sid = config.account_sid
        self.from_ = from_
        self.to = to
        self.direction = direction
        self.status = CallStatus.QUEUED
        self.status_log: list[tuple[CallStatus, float]] = []
        self.created_at = time.time()
        self.answered_at: float | None = None  # wall clock, for the resource's start_time
        self.ended_at: float | None = None
        self.ended_by: str | None = None  # caller, twiml, api, gateway-hangup…
        self.answered_by: str | None = None
        self.twiml_log: list[TwimlEntry] = []
        self.errors: list[CallError] = []
        self.transfers: list[Transfer] = []
        self.streams: list[MediaStreamClient] = []
        self.webhooks: list[WebhookResult] = []
        self.stream_connected = asyncio.Event()
        self.audio = CallerAudio(LINE_RATE, FRAME_BYTES * 2)  # 20 ms of PCM16 at 8 kHz, μ-law-encoded per frame
        for item in script:
            self.audio.add(as_script_item(item))  # read WAVs now, not mid-call
        self.status_callbacks: StatusCallbackQueue | None = None
        if status_callback:
            self.status_callbacks = StatusCallbackQueue(
                http,
                config.auth_token,
                status_callback,
                status_events,
                self._on_delivered,
                disorder=config.status_callbacks,
                rewrite=config.rewrite_url,
                log_prefix=f"[{self.sid}]",
            )
        self._notifier = Notifier()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._teardown: asyncio.Task[None] | None = None
        self._update_lock = asyncio.Lock()

    # -- parameters and resource --
    def webhook_params(self, **extra: str) -> dict[str, str]:
        """The standard parameters of every voice webhook and status callback."""
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": self.sid,
            "CallStatus": str(self.status),
            "Called": self.to,
            "Caller": self.from_,
            "Direction": self.direction,
            "From": self.from_,
            "To": self.to,
        }
        params.update(extra)
        return params

    @property
    def duration_s(self) -> int:
        if self.answered_at is None:
            return 0
        return int((self.ended_at or time.time()) - self.answered_at)

    def resource(self) -> dict[str, Any]:
        """The Call resource as ``Calls/{Sid}.json`` returns it."""
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{self.sid}.json"
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "to": self.to,
            "to_formatted": self.to,
            "from": self.from_,
            "from_formatted": self.from_,
            "status": str(self.status),
            "direction": self.direction,
            "api_version": API_VERSION,
            "parent_call_sid": None,
            "answered_by": self.answered_by,
            "caller_name": None,
            "forwarded_from": None,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "date_created": rfc2822(self.created_at),
            "date_updated": rfc2822(time.time()),
            "start_time": rfc2822(self.answered_at),
            "end_time": rfc2822(self.ended_at),
            "duration": str(self.duration_s) if self.status.terminal else None,
            "uri": uri,
            "subresource_uris": {
                "streams": uri.replace(".json", "/Streams.json"),
                "recordings": uri.replace(".json", "/Recordings.json"),
            },
        }

    # -- status --
    def set_status(self, status: CallStatus) -> None:
        if self.status == status or self.status.terminal:
            return
        self.status = status
        self.status_log.append((status, time.monotonic()))
        if status == CallStatus.IN_PROGRESS:
            self.answered_at = time.time()
        if status.terminal:
            self.ended_at = time.time()
        logger.info("[%s] %s", self.sid, status)
        if self.status_callbacks is not None:
            extra = {"Timestamp": rfc2822(time.time()) or ""}
            if status.terminal:
                extra["CallDuration"] = str(self.duration_s)
                extra["Duration"] = str(math.ceil(self.duration_s / 60))
                extra["SipResponseCode"] = {"busy": "486", "no-answer": "487", "failed": "404"}.get(status, "200")
            if self.answered_by is not None:
                extra["AnsweredBy"] = self.answered_by
            self.status_callbacks.fire(str(status), self.webhook_params(**extra))
        self._notifier.notify()

    def record_error(self, code: int, message: str) -> None:
        logger.warning("[%s] error %d: %s", self.sid, code, message)
        self.errors.append(CallError(int(code), message, time.monotonic()))
        self._notifier.notify()

    def notify_changed(self) -> None:
        self._notifier.notify()

    # -- running TwiML --
    def run(self, coro: Coroutine[Any, Any, None]) -> None:
        """Make ``coro`` (a TwiML runner) the call's current document; the call ends when it returns."""
        self._runner = self.spawn(self._run_then_end(coro), "twiml")

    async def _run_then_end(self, coro: Coroutine[Any, Any, None]) -> None:
        await coro
        self.end("twiml")

    def replace_document(self, document: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """A REST update: in the background (the API answers at once, as Twilio's does), stop the running TwiML —
        its stream gets ``stop`` and is closed — then run ``document()``."""
        self.spawn(self._replace_document(document), "update")

    async def _replace_document(self, document: Callable[[], Coroutine[Any, Any, None]]) -> None:
        async with self._update_lock:  # updates apply in arrival order; the last one wins
            runner, self._runner = self._runner, None
            if runner is not None and not runner.done():
                runner.cancel()
                await asyncio.gather(runner, return_exceptions=True)
            if not self.status.terminal and self._teardown is None:
                self.run(document())

    def spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=f"twilio-emu-{what}-{self.sid}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("[%s] %s failed", self.sid, task.get_name(), exc_info=task.exception())

    # -- ending --
    def end(self, by: str, status: CallStatus = CallStatus.COMPLETED) -> None:
        """Start tearing the call down (idempotent): TwiML stopped, stream ``stop``ped, final status callback."""
        if self._teardown is not None or self.status.terminal:
            return
        self.ended_by = by
        self._teardown = asyncio.create_task(self._run_teardown(status), name=f"twilio-emu-teardown-{self.sid}")

    async def _run_teardown(self, status: CallStatus) -> None:
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for stream in self.streams:
            await stream.stop()
        if self._tasks:  # stream-stopped callbacks fired while the TwiML stopped: let them go out
            await asyncio.wait(list(self._tasks), timeout=2.0)
        if status == CallStatus.COMPLETED and self.answered_at is None:
            status = CallStatus.CANCELED if self.direction != "inbound" else CallStatus.COMPLETED
        self.set_status(status)
        if self.status_callbacks is not None:
            await self.status_callbacks.close()
        logger.info("[%s] call ended by %s (%s)", self.sid, self.ended_by, self.status)
        self._notifier.notify()

    async def ended(self, timeout_s: float = 10.0) -> CallStatus:
        """Wait until the call is over and its last status callback went out; returns the final status."""
        await self._notifier.wait_until(lambda: self.status.terminal, timeout_s, "the call to end")
        if self._teardown is not None:
            await asyncio.wait_for(asyncio.shield(self._teardown), timeout=timeout_s)
        return self.status

    # -- test handles --
    def say(self, item: ScriptItem | str | Path | AudioChunk) -> None:
        """Queue caller speech (WAV path, AudioChunk or ``Speech``), a ``Silence`` or a ``Dtmf``."""
        self.audio.add(item)

    async def hang_up(self, timeout_s: float = 10.0) -> CallStatus:
        """The caller hangs up: ``stop`` on the stream, socket closed, status callback ``completed``."""
        self.end("caller")
        return await self.ended(timeout_s)

    async def wait_for(self, what: Waitable, timeout_s: float = 5.0) -> Any:
        """Wait for a call status (``"in-progress"``) to have been reached, or for ``what(call)`` to be truthy."""
        if isinstance(what, str):
            wanted = CallStatus(what)
            return await self._notifier.wait_until(
                lambda: next((s for s, _ in self.status_log if s == wanted), None), timeout_s, f"status {what}"
            )
        return await self._notifier.wait_until(lambda: what(self), timeout_s, getattr(what, "__name__", "predicate"))

    def _on_delivered(self, _delivery: StatusDelivery) -> None:
        self._notifier.notify()

    # -- what happened --
    @property
    def stream(self) -> MediaStreamClient | None:
        """The latest media stream."""
        return self.streams[-1] if self.streams else None

    @property
    def marks(self) -> list[MarkRecord]:
        return [mark for stream in self.streams for mark in stream.playout.marks]

    @property
    def clears(self) -> list[ClearRecord]:
        return [clear for stream in self.streams for clear in stream.playout.clears]

    @property
    def status_deliveries(self) -> list[StatusDelivery]:
        return self.status_callbacks.deliveries if self.status_callbacks is not None else []

    def received_mulaw(self) -> bytes:
        """Everything the gateway sent over the media streams, in order (including what a clear dropped)."""
        return b"".join(stream.received_mulaw() for stream in self.streams)

    def heard_pcm(self) -> bytes:
        """What actually played to the caller from the streams, 8 kHz 16-bit (cleared audio left out)."""
        return mulaw_decode(b"".join(stream.playout.heard_mulaw() for stream in self.streams))


def rfc2822(timestamp: float | None) -> str | None:
    return None if timestamp is None else email.utils.formatdate(timestamp, usegmt=True).replace("GMT", "+0000")
