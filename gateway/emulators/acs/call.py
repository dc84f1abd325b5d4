"""One emulated call: its ids and state, the callbacks it emits, its media streams, and the handles tests use to
drive the caller (speak, press digits, hang up) and to wait for what the gateway does."""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import Any

import aiohttp

from gateway.audio import AudioChunk

from .callbacks import CallbackQueue
from .caller_audio import CallerAudio, ScriptedCaller, ScriptItem, as_script_item
from .config import EmulatorConfig
from .eventgrid import WebhookResponse
from .events import call_event, full_type, media_streaming_update, new_incoming_call_context, new_server_call_id
from .media import AcsMediaClient, MediaConnectError, MediaIdentity, MediaLeg, MediaLegSpec
from .models import (
    PHONE_PREFIX,
    CallbackDelivery,
    CallState,
    MediaStreamingConfig,
    RecordedRequest,
    phone_identifier,
)
from .notify import Notifier
from .playback import PlayQueue
from .recognize import recognize_dtmf
from .timeline import MediaTimeline
from .tokens import TokenIssuer

logger = logging.getLogger(__name__)

Waitable = str | Callable[["EmulatedCall"], Any]
CREATE_FAILURES = {  # an outbound call that never connected: the SIP status ACS reports as the result code
    "busy": (486, "Busy here: the callee's line is busy."),
    "no-answer": (408, "Request timeout: the callee did not answer."),
    "failed": (404, "Not found: the number could not be reached."),
}


class EmulatedCall(ScriptedCaller):
    """A PSTN call as ACS sees it. Created by ``AcsEmulator.incoming_call`` or by the gateway's ``create_call``."""

    def __init__(
        self,
        *,
        config: EmulatorConfig,
        issuer: TokenIssuer,
        http: Callable[[], aiohttp.ClientSession],
        caller: str,
        callee: str,
        direction: str = "inbound",
        script: Iterable[ScriptItem | str | Path | AudioChunk] = (),
    ) -> None:
        self.config = config
        self._issuer = issuer
        self._http = http
        self.caller = caller
        self.callee = callee
        self.direction = direction
        self.call_connection_id = str(uuid.uuid4())
        self.server_call_id = new_server_call_id()
        self.correlation_id = str(uuid.uuid4())
        self.incoming_call_context = new_incoming_call_context()
        self.media_subscription_id = str(uuid.uuid4())
        self.state = CallState.UNKNOWN
        self.callback_uri: str | None = None
        self.media_config: MediaStreamingConfig | None = None
        self.answer_body: dict[str, Any] | None = None
        self.reject_reason: str | None = None  # set when the app rejected the ringing call (none, busy, forbidden)
        self.requests: list[RecordedRequest] = []
        self.deliveries: list[CallbackDelivery] = []
        self.timelines: list[MediaTimeline] = []
        self.media: MediaLeg | None = None
        self.media_error: MediaConnectError | None = None
        self.continuous_dtmf = False
        self.disconnected_by: str | None = None
        self.transferred_to: str | None = None
        self.incoming_response: WebhookResponse | None = None
        self._script: list[ScriptItem] = [as_script_item(item) for item in script]  # read WAVs now, not mid-call
        self._audio: CallerAudio | None = None
        self._notifier = Notifier()
        self._callbacks: CallbackQueue | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._teardown: asyncio.Task[None] | None = None
        self._ended_at: float | None = None
        self.plays = PlayQueue(self._emit, self._spawn, lambda: config.play)

    # -- identity --
    @property
    def participant_raw_id(self) -> str:
        """The remote phone's raw id: whose voice the media stream carries."""
        return PHONE_PREFIX + (self.caller if self.direction == "inbound" else self.callee)

    def properties(self) -> dict[str, Any]:
        """CallConnectionProperties as the REST API returns it."""
        target = self.caller if self.direction == "inbound" else self.callee
        source = self.callee if self.direction == "inbound" else self.caller
        body: dict[str, Any] = {
            "callConnectionId": self.call_connection_id,
            "serverCallId": self.server_call_id,
            "targets": [phone_identifier(target)],
            "callConnectionState": str(self.state),
            "callbackUri": self.callback_uri,
            "correlationId": self.correlation_id,
            "sourceCallerIdNumber": {"value": source},
        }
        if self.media_config is not None:
            state = "active" if self.media is not None and self.media.connected else "inactive"
            body["mediaStreamingSubscription"] = {
                "id": self.media_subscription_id,
                "state": state,
                "subscribedContentTypes": ["audio"],
            }
        return body

    # -- driven by the REST layer --
    def connect(self, callback_uri: str, media: MediaStreamingConfig | None, operation_context: str | None) -> None:
        """Answer (inbound) or pick up (outbound): CallConnected, then media if ``startMediaStreaming``."""
        self._open_callbacks(callback_uri, media)
        self._spawn(self._connected(operation_context), "connected")

    def dial(self, callback_uri: str, media: MediaStreamingConfig | None, operation_context: str | None, outcome: str) -> None:
        """Outbound: the callee's phone rings, then CallConnected (``answer``) or CreateCallFailed (``busy``,
        ``no-answer``, ``failed``) with the SIP status in ``resultInformation``."""
        self._open_callbacks(callback_uri, media)
        self._spawn(self._ring(outcome, operation_context), "ring")

    def _open_callbacks(self, callback_uri: str, media: MediaStreamingConfig | None) -> None:
        self.callback_uri = self._rewrite(callback_uri)
        self.media_config = media
        self.state = CallState.CONNECTING  # what answer's response reports; CallConnected follows
        self._callbacks = CallbackQueue(
            self._http,
            self._issuer,
            self.callback_uri,
            self._on_delivered,
            delay_s=self.config.callback_delay_s,
            log_prefix=f"[{self.call_connection_id}]",
            disorder=self.config.callbacks,
            on_extra=self.deliveries.append,
        )

    def start_media(self, operation_context: str | None) -> None:
        self._spawn(self._start_media(operation_context), "media-start")

    def stop_media(self, operation_context: str | None) -> None:
        self._spawn(self._stop_media(operation_context), "media-stop")

    def send_dtmf_tones(self, tones: list[str], operation_context: str | None) -> None:
        self._spawn(self._dtmf_tones_done(len(tones), operation_context), "dtmf-tones")

    def transfer(self, target: str, outcome: str, operation_context: str | None) -> None:
        """A cold transfer to ``target``: ``accept`` (CallTransferAccepted, then this leg leaves) or a SIP failure."""
        self._spawn(self._transfer(target, outcome, operation_context), "transfer")

    def recognize(self, tones: str | None, silence_timeout_s: float, operation_context: str | None) -> None:
        """A DTMF recognize with a prompt: the callee keys ``tones`` after it, or nothing (RecognizeFailed)."""
        prompt_s = self.config.play.duration_s or self.config.play.min_duration_s
        self._spawn(recognize_dtmf(self._emit, prompt_s, tones, silence_timeout_s, operation_context), "recognize")

    def end(self, by: str, notify: bool = True) -> None:
        """Start tearing the call down (idempotent); ``notify`` sends CallDisconnected to the gateway."""
        if self._teardown is not None:
            return
        self.disconnected_by = by
        self.state = CallState.DISCONNECTING
        self._teardown = asyncio.create_task(
            self._run_teardown(notify), name=f"acs-emu-teardown-{self.call_connection_id}"
        )

    # -- test handles --
    def say(self, item: ScriptItem | str | Path | AudioChunk) -> None:
        """Queue caller speech (a WAV path or AudioChunk), a ``Silence`` or a ``Dtmf``; it plays after what's queued."""
        if self._audio is None:
            self._script.append(as_script_item(item))
        else:
            self._audio.add(item)

    async def hang_up(self, timeout_s: float = 10.0) -> None:
        """The caller hangs up: media socket closed, CallDisconnected sent."""
        self.end("caller")
        await self.wait_closed(timeout_s)

    async def wait_closed(self, timeout_s: float = 10.0) -> None:
        if self._teardown is not None:
            await asyncio.wait_for(asyncio.shield(self._teardown), timeout=timeout_s)

    def reject(self, reason: str) -> None:
        """The app turned the ringing call down: the caller hears busy (or a rejection) and nothing follows."""
        self.reject_reason = reason
        self.state = CallState.DISCONNECTED
        self._notifier.notify()

    async def wait_for(self, what: Waitable, timeout_s: float = 5.0, *, count: int = 1) -> Any:
        """Wait for the ``count``-th delivered callback of an event type (``"PlayCompleted"``), returning its
        ``CallbackDelivery``, or for ``what(call)`` to be truthy, returning its value."""
        if isinstance(what, str):
            wanted = full_type(what)

            def check() -> CallbackDelivery | None:
                done = [d for d in self.deliveries if d.event_type == wanted and (d.status or d.error)]
                return done[count - 1] if len(done) >= count else None

            return await self._notifier.wait_until(check, timeout_s, f"{count}x {wanted}")
        return await self._notifier.wait_until(lambda: what(self), timeout_s, getattr(what, "__name__", "predicate"))

    def notify_changed(self) -> None:
        """Wake ``wait_for`` waiters (the REST layer calls this when a request for this call arrives)."""
        self._notifier.notify()

    def events(self, event_type: str | None = None) -> list[CallbackDelivery]:
        wanted = full_type(event_type) if event_type else None
        return [d for d in self.deliveries if wanted is None or d.event_type == wanted]

    @property
    def timeline(self) -> MediaTimeline | None:
        """The latest media stream's timeline (a restarted stream gets a new one)."""
        return self.timelines[-1] if self.timelines else None

    def received_pcm(self) -> bytes:
        return b"".join(t.received_pcm() for t in self.timelines)

    def heard_pcm(self) -> bytes:
        end = self._ended_at if self._ended_at is not None else math.inf
        return b"".join(t.heard_pcm(end) for t in self.timelines)

    # -- internals --
    def _rewrite(self, url: str) -> str:
        return self.config.rewrite_url(url) if self.config.rewrite_url else url

    def _emit(self, event_type: str, operation_context: str | None, **extra: Any) -> CallbackDelivery | None:
        if self._callbacks is None:
            logger.debug("[%s] %s not sent: call not connected", self.call_connection_id, event_type)
            return None
        event = call_event(
            event_type,
            call_connection_id=self.call_connection_id,
            server_call_id=self.server_call_id,
            correlation_id=self.correlation_id,
            operation_context=operation_context,
            **extra,
        )
        delivery = self._callbacks.put(event)
        self.deliveries.append(delivery)
        return delivery

    def _on_delivered(self, _delivery: CallbackDelivery) -> None:
        self._notifier.notify()

    def _spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=f"acs-emu-{what}-{self.call_connection_id}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("[%s] %s failed", self.call_connection_id, task.get_name(), exc_info=task.exception())

    def _ensure_audio(self, config: MediaStreamingConfig) -> CallerAudio:
        if self._audio is None:
            self._audio = CallerAudio(config.rate, config.frame_size)
            for item in self._script:
                self._audio.add(item)
            self._script.clear()
        return self._audio

    async def _ring(self, outcome: str, operation_context: str | None) -> None:
        await asyncio.sleep(self.config.ring_delay_s)
        if outcome == "answer":
            await self._connected(operation_context)
            return
        if outcome == "no-answer":
            await asyncio.sleep(self.config.no_answer_timeout_s)
        code, message = CREATE_FAILURES[outcome]
        self._emit("CreateCallFailed", operation_context, result={"code": code, "subCode": 0, "message": message})
        self.end("callee", notify=False)

    async def _transfer(self, target: str, outcome: str, operation_context: str | None) -> None:
        await asyncio.sleep(self.config.ring_delay_s)  # the operator's phone rings
        if outcome == "accept":
            self.transferred_to = target
            self._emit("CallTransferAccepted", operation_context, transferTarget=phone_identifier(target))
            self.end("transfer")
            return
        code, message = CREATE_FAILURES[outcome]
        self._emit("CallTransferFailed", operation_context, result={"code": code, "subCode": 7000, "message": message})

    async def _connected(self, operation_context: str | None) -> None:
        self.state = CallState.CONNECTED
        self._emit("CallConnected", operation_context)
        if self.media_config is not None and self.media_config.start_media_streaming:
            await self._start_media(operation_context)

    async def _start_media(self, operation_context: str | None) -> None:
        config = self.media_config
        if config is None:
            self._emit("MediaStreamingFailed", operation_context, **self._ms_failure("streamUrlMissing", 400))
            return
        if self.media is not None and self.media.connected:
            return
        timeline = MediaTimeline(config.rate)
        identity = MediaIdentity(
            self.call_connection_id, self.correlation_id, self.participant_raw_id, self.media_subscription_id
        )
        factory = self.config.media_factory or AcsMediaClient
        client = factory(
            MediaLegSpec(
                config,
                identity,
                self._issuer.media_token(),
                self._ensure_audio(config),
                timeline,
                self._notifier.notify,
                url=self._rewrite(config.transport_url),
                max_duration_s=self.config.media_max_duration_s,
                open_timeout_s=self.config.media_open_timeout_s,
            )
        )
        self.timelines.append(timeline)
        self.media = client
        try:
            await client.start()
        except MediaConnectError as exc:
            self.media_error = exc
            details = "authenticationFailure" if exc.status in (401, 403) else "streamConnectionUnsuccessful"
            logger.warning("[%s] media connect failed: %s", self.call_connection_id, exc)
            self._emit("MediaStreamingFailed", operation_context, **self._ms_failure(details, 400))
            self._notifier.notify()
            return
        self._emit(
            "MediaStreamingStarted",
            operation_context,
            mediaStreamingUpdate=media_streaming_update("mediaStreamingStarted", "subscriptionStarted"),
        )

    @staticmethod
    def _ms_failure(details: str, code: int) -> dict[str, Any]:
        return {
            "mediaStreamingUpdate": media_streaming_update("mediaStreamingFailed", details),
            "result": {"code": code, "subCode": 0, "message": f"Media streaming failed: {details}."},
        }

    async def _stop_media(self, operation_context: str | None) -> None:
        client = self.media
        if client is None or client.closed.is_set():
            return
        await client.stop()
        self._emit(
            "MediaStreamingStopped",
            operation_context,
            mediaStreamingUpdate=media_streaming_update("mediaStreamingStopped", "subscriptionStopped"),
        )

    async def _dtmf_tones_done(self, n: int, operation_context: str | None) -> None:
        await asyncio.sleep(0.1 * n)  # roughly how long the tones take to play
        self._emit("SendDtmfTonesCompleted", operation_context)

    async def _run_teardown(self, notify: bool) -> None:
        self._ended_at = time.monotonic()
        self.plays.drop_all()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.media is not None:
            await self.media.stop()
        if notify:
            self._emit("CallDisconnected", None)
        self.state = CallState.DISCONNECTED
        if self._callbacks is not None:
            await self._callbacks.close(drain_timeout_s=5.0 if notify else 0.5)
        logger.info("[%s] call ended by %s", self.call_connection_id, self.disconnected_by)
        self._notifier.notify()
