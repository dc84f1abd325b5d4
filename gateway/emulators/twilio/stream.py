"""Twilio's side of a bidirectional Media Stream (``<Connect><Stream>``): a WebSocket *client* that dials the
gateway with ``X-Twilio-Signature``, sends ``connected``, ``start``, the caller's audio as 20 ms ``media`` frames in
real time, ``dtmf`` and ``stop``, and plays what the gateway sends back (twilio.com/docs/voice/media-streams).

Every message after ``connected`` carries a ``sequenceNumber`` string counting from 1; ``chunk`` and ``timestamp``
are strings too, as on the wire. Anything the gateway sends that the docs do not allow is recorded on the call as
31950 (binary or non-JSON frame) or 31951 (unknown event, wrong/missing ``streamSid``, wrong shape).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from gateway.emulators.acs.caller_audio import CallerAudio
from gateway.emulators.g711 import MULAW_SILENCE, mulaw_encode

from .ids import new_sid
from .playout import FRAME_BYTES, StreamPlayout
from .records import ErrorCode
from .signature import signature_headers
from .twiml import StreamSpec

logger = logging.getLogger(__name__)

FRAME_S = 0.020
SILENCE_FRAME = bytes([MULAW_SILENCE]) * FRAME_BYTES


class StreamConnectError(Exception):
    """The gateway refused or never answered the upgrade (Twilio's 31920); ``status`` if it answered."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class StreamIdentity:
    account_sid: str
    call_sid: str
    auth_token: str


@dataclass(frozen=True, slots=True)
class ReceivedMedia:
    at: float
    mulaw: bytes


class MediaStreamClient:
    """One ``<Connect><Stream>``: connect, stream until the gateway closes or ``stop`` is called, record it all."""

    def __init__(
        self,
        spec: StreamSpec,
        identity: StreamIdentity,
        audio: CallerAudio,
        *,
        connect_url: str | None = None,
        on_change: Callable[[], None] = lambda: None,
        on_error: Callable[[int, str], None] = lambda code, message: None,
        max_stream_s: float = 900.0,
        open_timeout_s: float = 5.0,
    ) -> None:
        """``spec.url`` is what gets signed; ``connect_url`` is where to dial if it differs (a rewritten URL)."""
        self.spec = spec
        self.identity = identity
        self.audio = audio
        self.url = connect_url or spec.url
        self.stream_sid = new_sid("MZ")
        self.playout = StreamPlayout()
        self.received: list[ReceivedMedia] = []
        self.sent_times: array[float] = array("d")  # monotonic send time of each inbound media frame
        self.sent_timestamps: list[int] = []  # the media.timestamp values sent (ms from stream start)
        self.dtmf_sent: list[tuple[str, float]] = []
        self.speech_started: list[tuple[str, float]] = []  # (label, send time of its first frame) per utterance
        self.connected_at: float | None = None
        self.closed_at: float | None = None
        self.close_code: int | None = None
        self.closed_by: str | None = None  # "gateway" or "emulator"
        self.stop_sent = False
        self.closed = asyncio.Event()
        self._on_change = on_change
        self._on_error = on_error
        self._max_frames = int(max_stream_s / FRAME_S)
        self._open_timeout_s = open_timeout_s
        self._ws: ClientConnection | None = None
        self._sequence = 0
        self._send_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self.closed.is_set()

    # -- lifecycle --
    async def start(self) -> None:
        """Dial the gateway and send ``connected`` + ``start``; raises ``StreamConnectError`` if refused."""
        headers = signature_headers(self.identity.auth_token, self.spec.url, ())
        try:
            ws = await connect(
                self.url,
                additional_headers=headers,
                open_timeout=self._open_timeout_s,
                close_timeout=2.0,
                compression=None,
                proxy=None,
                max_size=2**22,
            )
        except InvalidStatus as exc:
            raise StreamConnectError(f"gateway refused the stream: {exc}", exc.response.status_code) from exc
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise StreamConnectError(f"stream handshake failed: {type(exc).__name__}: {exc}") from exc
        self._ws = ws
        self.connected_at = time.monotonic()
        try:
            await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
            await self._send({"event": "start", "start": self._start_body()})
        except ConnectionClosed as exc:
            self._mark_closed(ws, "gateway")
            raise StreamConnectError(f"gateway closed the stream at once: {exc}") from exc
        tag = self.identity.call_sid
        self._tasks = [
            asyncio.create_task(self._receive_loop(ws), name=f"twilio-emu-stream-rx-{tag}"),
            asyncio.create_task(self._clock_loop(ws), name=f"twilio-emu-stream-tx-{tag}"),
        ]
        logger.info("[%s] stream %s connected to %s", tag, self.stream_sid, self.spec.url)
        self._on_change()

    def _start_body(self) -> dict[str, Any]:
        return {
            "accountSid": self.identity.account_sid,
            "streamSid": self.stream_sid,
            "callSid": self.identity.call_sid,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": dict(self.spec.parameters),
        }

    async def stop(self, send_stop: bool = True) -> None:
        """The call ended (or its TwiML was replaced): ``stop``, then close the socket. Idempotent."""
        ws = self._ws
        if ws is None or self.closed.is_set():
            return
        for task in self._tasks[1:]:  # the clock first, so no media follows the stop
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if send_stop and not self.stop_sent:
            self.stop_sent = True
            body = {"accountSid": self.identity.account_sid, "callSid": self.identity.call_sid}
            with contextlib.suppress(ConnectionClosed):
                await self._send({"event": "stop", "stop": body})
        self.closed_by = self.closed_by or "emulator"
        with contextlib.suppress(ConnectionClosed, OSError, TimeoutError):
            await asyncio.wait_for(ws.close(1000, "call ended"), timeout=3.0)
        await self.wait_closed(3.0)

    async def wait_closed(self, timeout_s: float | None = None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closed.wait(), timeout=timeout_s)
        for task in self._tasks:
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- sending --
    async def _send(self, message: dict[str, Any]) -> None:
        ws = self._ws
        if ws is None:
            return
        async with self._send_lock:  # sequence numbers go out in the order they were given
            self._sequence += 1
            message = {"event": message["event"], "sequenceNumber": str(self._sequence), **message}
            message["streamSid"] = self.stream_sid
            await ws.send(json.dumps(message))

    async def _clock_loop(self, ws: ClientConnection) -> None:
        """The 20 ms clock: frame k is due at start + k * 20 ms (lateness never accumulates)."""
        mono0 = time.monotonic()
        try:
            for k in range(self._max_frames):
                delay = mono0 + k * FRAME_S - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                now = time.monotonic()
                for record in self.playout.tick(now):
                    await self._send({"event": "mark", "mark": {"name": record.name}})
                frame = self.audio.next_frame()
                if frame.speech_starts is not None:
                    self.speech_started.append((frame.speech_starts, now))
                for digit in frame.dtmf:
                    self.dtmf_sent.append((digit, now))
                    await self._send({"event": "dtmf", "dtmf": {"track": "inbound_track", "digit": digit}})
                payload = SILENCE_FRAME if frame.silent else mulaw_encode(frame.pcm)
                stamp = round((now - mono0) * 1000)
                media = {"track": "inbound", "chunk": str(k + 1), "timestamp": str(stamp)}
                media["payload"] = base64.b64encode(payload).decode("ascii")
                self.sent_times.append(now)
                self.sent_timestamps.append(stamp)
                await self._send({"event": "media", "media": media})
            logger.warning("[%s] stream reached its %d-frame limit", self.identity.call_sid, self._max_frames)
        except ConnectionClosed:
            logger.debug("[%s] stream closed while sending", self.identity.call_sid)

    # -- receiving --
    async def _receive_loop(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                await self._handle(message, time.monotonic())
        except ConnectionClosed:
            pass
        finally:
            self._mark_closed(ws, "gateway")
            if len(self._tasks) > 1:
                self._tasks[1].cancel()
            logger.info("[%s] stream %s closed (code %s)", self.identity.call_sid, self.stream_sid, ws.close_code)

    def _mark_closed(self, ws: ClientConnection, by: str) -> None:
        if self.closed.is_set():
            return
        self.closed_at = time.monotonic()
        self.close_code = ws.close_code
        self.closed_by = self.closed_by or by
        self.closed.set()
        self._on_change()

    def _protocol_error(self, code: int, message: str) -> None:
        logger.warning("[%s] stream protocol error %d: %s", self.identity.call_sid, code, message)
        self._on_error(code, message)

    async def _handle(self, message: str | bytes, now: float) -> None:
        if isinstance(message, bytes):
            self._protocol_error(ErrorCode.STREAM_MALFORMED_MESSAGE, "binary frame (only JSON text frames)")
            return
        try:
            msg = json.loads(message)
        except ValueError:
            self._protocol_error(ErrorCode.STREAM_MALFORMED_MESSAGE, "text frame is not JSON")
            return
        problem = self._problem(msg)
        if problem is not None:
            self._protocol_error(ErrorCode.STREAM_PROTOCOL_INVALID_MESSAGE, problem)
            return
        event = msg["event"]
        if event == "media":
            mulaw = base64.b64decode(msg["media"]["payload"])
            self.received.append(ReceivedMedia(now, mulaw))
            self.playout.push_audio(mulaw)
        elif event == "mark":
            record = self.playout.push_mark(msg["mark"]["name"], now)
            if record is not None:
                await self._echo(record.name)
        else:  # clear
            for record in self.playout.clear(now):
                await self._echo(record.name)
        self._on_change()

    async def _echo(self, name: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._send({"event": "mark", "mark": {"name": name}})

    def _problem(self, msg: Any) -> str | None:
        """Why a server message breaks the documented protocol, or None if it is a valid media/mark/clear."""
        if not isinstance(msg, dict):
            return "message is not a JSON object"
        event = msg.get("event")
        if event not in ("media", "mark", "clear"):
            return f"event {event!r} is not allowed from the server (media, mark, clear)"
        if "streamSid" not in msg:
            return f"{event} without streamSid"
        if msg["streamSid"] != self.stream_sid:
            return f"{event} streamSid {msg['streamSid']!r} does not match the active stream"
        if event == "media":
            media = msg.get("media")
            payload = media.get("payload") if isinstance(media, dict) else None
            if not isinstance(payload, str):
                return "media without media.payload"
            try:
                base64.b64decode(payload, validate=True)
            except (binascii.Error, ValueError):
                return "media.payload is not base64"
        if event == "mark":
            mark = msg.get("mark")
            if not isinstance(mark, dict) or not isinstance(mark.get("name"), str):
                return "mark without mark.name"
        return None

    # -- queries --
    def received_mulaw(self) -> bytes:
        return b"".join(item.mulaw for item in self.received)
