"""ACS's media streaming leg: a WebSocket *client* that dials the gateway's ``transportUrl``, streams the caller in
real time and records what the gateway plays back (protocols.md A.5).

Frames are paced by the monotonic clock (frame k is due at start + k * 20 ms, so lateness never accumulates);
outbound messages are parsed case-insensitively because official SDKs send both PascalCase and camelCase.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from gateway.audio import b64decode, b64encode

from .caller_audio import CallerAudio
from .models import MediaStreamingConfig
from .timeline import MediaTimeline, SpeechMark

logger = logging.getLogger(__name__)


class MediaConnectError(Exception):
    """The gateway refused or never answered the media WebSocket; ``status`` is the HTTP status if it refused."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True, frozen=True)
class MediaIdentity:
    """Who the stream belongs to; goes into the handshake headers, the metadata and every AudioData."""

    call_connection_id: str
    correlation_id: str
    participant_raw_id: str
    subscription_id: str


def media_headers(identity: MediaIdentity, token: str | None) -> dict[str, str]:
    headers = {
        "x-ms-call-connection-id": identity.call_connection_id,
        "x-ms-call-correlation-id": identity.correlation_id,
    }
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


async def open_socket(url: str, headers: Mapping[str, str], open_timeout_s: float = 5.0) -> ClientConnection:
    """Dial the gateway like ACS: no proxy, no compression, a short close timeout so teardown stays bounded."""
    try:
        return await connect(
            url,
            additional_headers=dict(headers),
            open_timeout=open_timeout_s,
            close_timeout=2.0,
            compression=None,
            proxy=None,
            max_size=2**22,
        )
    except InvalidStatus as exc:
        raise MediaConnectError(f"gateway refused media socket: {exc}", exc.response.status_code) from exc
    except (OSError, TimeoutError, InvalidHandshake) as exc:
        raise MediaConnectError(f"media socket failed: {type(exc).__name__}: {exc}") from exc


class MediaLeg(Protocol):
    """What a call needs of its media stream; ``AcsMediaClient`` is one, the benchmark brings a leaner one."""

    closed: asyncio.Event

    @property
    def connected(self) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self, code: int = 1000, reason: str = "") -> None: ...


@dataclass(frozen=True, slots=True)
class MediaLegSpec:
    """Everything a media leg is built from: the answer's streaming options, who the call is, what the caller says,
    where it is recorded, and the bounds of the stream."""

    config: MediaStreamingConfig
    identity: MediaIdentity
    token: str | None
    audio: CallerAudio
    timeline: MediaTimeline
    on_change: Callable[[], None]
    url: str | None = None
    max_duration_s: float = 900.0
    open_timeout_s: float = 5.0


MediaFactory = Callable[[MediaLegSpec], MediaLeg]
"""Builds a call's media leg (``AcsMediaClient`` by default; the benchmark brings a leaner one)."""


class AcsMediaClient:
    """One media stream: sends AudioMetadata then 20 ms AudioData frames until stopped, and records the replies."""

    def __init__(self, spec: MediaLegSpec) -> None:
        config, timeline = spec.config, spec.timeline
        self.config = config
        self.identity = spec.identity
        self.url = spec.url or config.transport_url
        self.audio = spec.audio
        self.timeline = timeline
        self._token = spec.token
        self._on_change = spec.on_change
        self._max_frames = int(spec.max_duration_s / timeline.frame_s)
        self._open_timeout_s = spec.open_timeout_s
        self._ws: ClientConnection | None = None
        self._sender: asyncio.Task[None] | None = None
        self._receiver: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()
        self._silence_b64 = b64encode(bytes(config.frame_size))

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self.closed.is_set()

    async def start(self) -> None:
        """Connect and begin streaming; raises ``MediaConnectError`` if the gateway refuses."""
        ws = await open_socket(self.url, media_headers(self.identity, self._token), self._open_timeout_s)
        self._ws = ws
        self.timeline.connected_at = time.monotonic()
        try:
            await ws.send(json.dumps(self._metadata()))
        except ConnectionClosed as exc:
            self.closed.set()
            raise MediaConnectError(f"gateway closed the media socket at once: {exc}") from exc
        tag = self.identity.call_connection_id
        self._receiver = asyncio.create_task(self._receive_loop(ws), name=f"acs-emu-media-rx-{tag}")
        self._sender = asyncio.create_task(self._send_loop(ws), name=f"acs-emu-media-tx-{tag}")
        logger.info("media %s connected to %s (%d Hz)", tag, self.url, self.config.rate)

    def _metadata(self) -> dict[str, Any]:
        return {
            "kind": "AudioMetadata",
            "audioMetadata": {
                "subscriptionId": self.identity.subscription_id,
                "encoding": "PCM",
                "sampleRate": self.config.rate,
                "channels": 1,
                "length": self.config.frame_size,
            },
        }

    async def _send_loop(self, ws: ClientConnection) -> None:
        timeline, audio, frame_s = self.timeline, self.audio, self.timeline.frame_s
        participant = self.identity.participant_raw_id
        mono0 = time.monotonic()
        wall0 = datetime.now(UTC)
        timeline.schedule_start = mono0
        try:
            for k in range(self._max_frames):
                delay = mono0 + k * frame_s - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                frame = audio.next_frame()
                for digit in frame.dtmf:
                    await self._send_dtmf(ws, digit)
                now = time.monotonic()
                index = timeline.record_sent(frame.silent, now)
                stamp = (wall0 + timedelta(seconds=now - mono0)).isoformat(timespec="milliseconds")
                data = self._silence_b64 if frame.silent else b64encode(frame.pcm)
                await ws.send(
                    json.dumps(
                        {
                            "kind": "AudioData",
                            "audioData": {
                                "timestamp": stamp.replace("+00:00", "Z"),
                                "participantRawID": participant,
                                "data": data,
                                "silent": frame.silent,
                            },
                        }
                    )
                )
                if frame.speech_starts is not None or frame.speech_ends:
                    self._mark_speech(frame.speech_starts, frame.speech_ends, index)
            logger.warning("media %s reached its %d-frame limit", self.identity.call_connection_id, self._max_frames)
        except ConnectionClosed:
            logger.debug("media %s: socket closed while sending", self.identity.call_connection_id)

    def _mark_speech(self, starts: str | None, ends: bool, index: int) -> None:
        if starts is not None:
            self.timeline.speech.append(SpeechMark(starts, index))
        if ends and self.timeline.speech:
            self.timeline.speech[-1].last_frame = index
        self._on_change()

    async def _send_dtmf(self, ws: ClientConnection, digit: str) -> None:
        if not self.config.enable_dtmf_tones:
            logger.info(
                "media %s: DTMF %s not streamed (enableDtmfTones is false)", self.identity.call_connection_id, digit
            )
            return
        self.timeline.dtmf_sent.append((digit, time.monotonic()))
        await ws.send(json.dumps({"kind": "DtmfData", "dtmfData": {"data": digit}}))

    async def _receive_loop(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                self._handle(message, time.monotonic())
        except ConnectionClosed:
            pass
        finally:
            self.timeline.closed_at = time.monotonic()
            self.timeline.close_code = ws.close_code
            if self._sender is not None:
                self._sender.cancel()
            self.closed.set()
            self._on_change()
            logger.info("media %s closed (code %s)", self.identity.call_connection_id, ws.close_code)

    def _handle(self, message: str | bytes, now: float) -> None:
        timeline = self.timeline
        if isinstance(message, bytes):
            timeline.other_messages.append((now, message))
            return
        try:
            raw = json.loads(message)
        except ValueError:
            timeline.other_messages.append((now, message))
            return
        msg = _lower_keys(raw)
        kind = str(msg.get("kind", "")).lower()
        if kind == "audiodata" and self.config.enable_bidirectional:
            body = _lower_keys(msg.get("audiodata"))
            data = body.get("data")
            try:
                pcm = b64decode(data) if isinstance(data, str) else None
            except (binascii.Error, ValueError):
                pcm = None
            if pcm is None or len(pcm) % 2:
                timeline.other_messages.append((now, raw))
                return
            timeline.record_received(pcm, now)
        elif kind == "stopaudio" and self.config.enable_bidirectional:
            dropped = timeline.record_stop_audio(now)
            logger.debug("media %s: StopAudio dropped %d bytes", self.identity.call_connection_id, dropped)
        else:
            timeline.other_messages.append((now, raw))
        self._on_change()

    async def stop(self, code: int = 1000, reason: str = "") -> None:
        """Close the socket (bounded by the close timeout) and wait for both tasks to finish."""
        if self._sender is not None:
            self._sender.cancel()
        if self._ws is not None:
            with contextlib.suppress(ConnectionClosed, OSError, TimeoutError):
                await asyncio.wait_for(self._ws.close(code, reason), timeout=3.0)
        for task in (self._sender, self._receiver):
            if task is None:
                continue
            if not task.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(task), timeout=3.0)
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _lower_keys(value: Any) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in value.items()} if isinstance(value, dict) else {}


@dataclass(slots=True, frozen=True)
class MediaProbe:
    """Result of a bare handshake attempt, for tests that the gateway refuses unauthenticated media sockets."""

    accepted: bool
    status: int | None = None
    close_code: int | None = None
    error: str | None = None


async def probe_media_socket(url: str, headers: Mapping[str, str], wait_s: float = 1.0) -> MediaProbe:
    """Open a media socket with the given headers; report whether the gateway refused it or closed it soon after."""
    try:
        ws = await open_socket(url, headers)
    except MediaConnectError as exc:
        return MediaProbe(False, status=exc.status, error=str(exc))
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ws.wait_closed(), timeout=wait_s)
        if ws.close_code is not None:
            return MediaProbe(False, status=101, close_code=ws.close_code)
        return MediaProbe(True, status=101)
    finally:
        with contextlib.suppress(ConnectionClosed, OSError, TimeoutError):
            await asyncio.wait_for(ws.close(), timeout=3.0)
