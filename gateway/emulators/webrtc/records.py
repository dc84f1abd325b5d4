"""What the emulator remembers about each WebRTC call, for tests to assert on.

Tests check the browser and the gateway from outside through these: the SDP offer, every data-channel event the
browser sent, the caller's audio (with its energy, to prove real speech arrived), the tool outputs returned, and
how much agent audio went out on the outbound track.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.audio import REALTIME_RATE, SAMPLE_WIDTH, rms
from gateway.emulators.realtime.records import poll

from .keys import MintRecord


class ReceivedAudio:
    """The caller's audio as it arrived (PCM16 24 kHz mono), with its level per 20 ms window."""

    def __init__(self, keep_s: float) -> None:
        self._pcm = bytearray()
        self._keep = int(keep_s * REALTIME_RATE) * SAMPLE_WIDTH
        self.nbytes = 0
        self.frames = 0
        self.max_rms = 0.0
        self.loud_ms = 0  # audio at speech level (RMS >= 500, about -36 dBFS)

    def add(self, pcm: bytes) -> None:
        self.frames += 1
        self.nbytes += len(pcm)
        level = rms(pcm)
        self.max_rms = max(self.max_rms, level)
        if level >= 500:
            self.loud_ms += round(len(pcm) / SAMPLE_WIDTH / REALTIME_RATE * 1000)
        if len(self._pcm) < self._keep:
            self._pcm += pcm[: self._keep - len(self._pcm)]

    @property
    def pcm(self) -> bytes:
        return bytes(self._pcm)

    @property
    def duration_ms(self) -> float:
        return self.nbytes / SAMPLE_WIDTH / REALTIME_RATE * 1000

    @property
    def rms(self) -> float:
        return rms(self.pcm)


@dataclass(slots=True)
class FunctionCallOutput:
    call_id: str
    output: str
    at: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class ResponseLog:
    """One response: how it started, what it said or called, how it ended."""

    response_id: str
    trigger: str  # "server_vad" or "response.create"
    kind: str  # "message" or "function_call"
    transcript: str = ""
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    audio_ms: float = 0.0
    status: str = "in_progress"
    request: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class CallRecord:
    """Everything observable about one WebRTC call."""

    call_id: str
    path: str
    key: MintRecord
    offer_sdp: str
    answer_sdp: str = ""
    channel_label: str | None = None
    audio_in: ReceivedAudio = field(default_factory=lambda: ReceivedAudio(60.0))
    session: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    sideband_events: list[dict[str, Any]] = field(default_factory=list)  # client events from the server's socket
    sideband_connects: int = 0
    sent_types: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    session_updates: list[dict[str, Any]] = field(default_factory=list)
    session_update_sources: list[str] = field(default_factory=list)  # "datachannel" | "sideband", per update
    user_turns: list[str] = field(default_factory=list)
    responses: list[ResponseLog] = field(default_factory=list)
    function_call_outputs: list[FunctionCallOutput] = field(default_factory=list)
    audio_out_ms: float = 0.0
    connection_states: list[str] = field(default_factory=list)
    created_at: float = field(default_factory=time.monotonic)
    closed_at: float | None = None
    hung_up: bool = False

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    def event_types(self) -> list[str]:
        return [str(e.get("type")) for e in self.events]

    def events_of(self, type_: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("type") == type_]

    @property
    def instructions(self) -> str:
        return str(self.session.get("instructions") or "")

    async def wait_for(self, predicate: Callable[[CallRecord], Any], timeout: float = 5.0) -> Any:  # noqa: ASYNC109
        """Poll until ``predicate(self)`` is truthy; returns its value. Raises ``TimeoutError``."""
        return await poll(lambda: predicate(self), timeout)
