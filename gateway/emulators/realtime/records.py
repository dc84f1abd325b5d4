"""What the emulator remembers about each session, for tests to assert on.

Tests check the gateway's behaviour through these records rather than through logs: the exact audio it sent,
every ``session.update`` (prompt chaining), what it truncated and cancelled, the tool outputs it returned, and
what was played back to it. Recording is cheap enough for the benchmark; the per-frame parts can be switched off.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.audio import b64decode

from .dialect import Dialect
from .voice import bytes_to_ms


class AudioLog:
    """Every byte of input audio in arrival order, whatever commits or clears did to the buffer.

    The hot path only appends: decoded PCM when the VAD needed it anyway, else the base64 text (decoded on first
    read). With ``keep=False`` only the byte count is kept (benchmark).
    """

    __slots__ = ("_pcm", "_pending_b64", "keep", "nbytes", "appends")

    def __init__(self, keep: bool = True) -> None:
        self._pcm = bytearray()
        self._pending_b64: list[str] = []
        self.keep = keep
        self.nbytes = 0
        self.appends = 0

    def add_pcm(self, pcm: bytes) -> None:
        self.appends += 1
        self.nbytes += len(pcm)
        if self.keep:
            if self._pending_b64:
                self._flush()
            self._pcm += pcm

    def add_b64(self, b64: str, nbytes: int) -> None:
        self.appends += 1
        self.nbytes += nbytes
        if self.keep:
            self._pending_b64.append(b64)

    def _flush(self) -> None:
        for chunk in self._pending_b64:
            self._pcm += b64decode(chunk)
        self._pending_b64.clear()

    @property
    def pcm(self) -> bytes:
        """All audio received so far (empty when not kept)."""
        self._flush()
        return bytes(self._pcm)

    @property
    def duration_ms(self) -> float:
        return bytes_to_ms(self.nbytes)


@dataclass(slots=True)
class EventRecord:
    """A client event as received. ``event`` is omitted for audio appends (the audio is in ``AudioLog``)."""

    type: str
    at: float
    event: dict[str, Any] | None = None


@dataclass(slots=True)
class UserTurn:
    """One committed user turn. Times are ms of session audio; ``speech_*`` exclude padding and hangover."""

    item_id: str
    start_ms: float
    end_ms: float
    transcript: str
    via: str  # "server_vad" or "commit"
    speech_start_ms: float | None = None
    speech_end_ms: float | None = None


@dataclass(slots=True)
class OutputRecord:
    """One output item of a response: spoken audio (with what was actually sent) or a function call."""

    item_id: str
    kind: str  # "message" or "function_call"
    transcript: str = ""
    pcm: bytes = b""
    sent_bytes: int = 0
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    status: str = "in_progress"

    @property
    def sent_pcm(self) -> bytes:
        return self.pcm[: self.sent_bytes]

    @property
    def sent_ms(self) -> float:
        return bytes_to_ms(self.sent_bytes)

    @property
    def total_ms(self) -> float:
        return bytes_to_ms(len(self.pcm))


@dataclass(slots=True)
class ResponseRecord:
    """One response: why it started, what it produced, how it ended."""

    response_id: str
    trigger: str  # "server_vad", "commit", "response.create", "bench"
    created_at: float
    request: dict[str, Any] = field(default_factory=dict)
    instructions: str | None = None
    outputs: list[OutputRecord] = field(default_factory=list)
    status: str = "in_progress"
    reason: str | None = None
    done_at: float | None = None

    @property
    def audio_sent(self) -> bytes:
        return b"".join(o.sent_pcm for o in self.outputs if o.kind == "message")

    @property
    def transcript(self) -> str:
        return "".join(o.transcript for o in self.outputs if o.kind == "message")

    @property
    def item_ids(self) -> list[str]:
        return [o.item_id for o in self.outputs]


@dataclass(slots=True)
class TruncateRecord:
    item_id: str
    content_index: int
    audio_end_ms: int
    audio_sent_ms: float
    at: float


@dataclass(slots=True)
class CancelRecord:
    """A cancelled response; ``reason`` is ``client_cancelled`` or ``turn_detected``."""

    response_id: str
    reason: str
    audio_sent_ms: float
    at: float


@dataclass(slots=True)
class FunctionCallOutputRecord:
    call_id: str
    output: str
    at: float


@dataclass(slots=True)
class SessionRecord:
    """Everything observable about one WebSocket session."""

    index: int
    session_id: str
    path: str
    dialect: Dialect
    model: str
    query: dict[str, str]
    auth: str  # "bearer", "api-key-header", "api-key-query", "subprotocol"
    extensions: list[str] = field(default_factory=list)  # WebSocket extensions negotiated (permessage-deflate)
    connected_at: float = field(default_factory=time.monotonic)
    audio_in: AudioLog = field(default_factory=AudioLog)  # PCM16 24 kHz, whatever the wire format
    audio_in_wire: bytearray = field(default_factory=bytearray)  # G.711 input exactly as appended (kept audio only)
    session: dict[str, Any] = field(default_factory=dict)
    session_updates: list[dict[str, Any]] = field(default_factory=list)
    instructions_history: list[str] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    created_items: list[dict[str, Any]] = field(default_factory=list)
    user_turns: list[UserTurn] = field(default_factory=list)
    responses: list[ResponseRecord] = field(default_factory=list)
    truncates: list[TruncateRecord] = field(default_factory=list)
    cancels: list[CancelRecord] = field(default_factory=list)
    function_call_outputs: list[FunctionCallOutputRecord] = field(default_factory=list)
    sent_counts: Counter[str] = field(default_factory=Counter)
    sent_types: list[str] = field(default_factory=list)
    closed_at: float | None = None
    dropped: str | None = None  # how the emulator ended it, when it did

    @property
    def received_audio(self) -> bytes:
        return self.audio_in.pcm

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    @property
    def instructions(self) -> str:
        return str(self.session.get("instructions") or "")

    def event_types(self) -> list[str]:
        return [e.type for e in self.events]

    def events_of(self, type_: str) -> list[EventRecord]:
        return [e for e in self.events if e.type == type_]

    def item(self, item_id: str) -> dict[str, Any] | None:
        return next((i for i in self.items if i.get("id") == item_id), None)

    async def wait_for(self, predicate: Callable[[SessionRecord], Any], timeout: float = 5.0) -> Any:  # noqa: ASYNC109
        """Poll until ``predicate(self)`` is truthy; returns its value. Raises ``TimeoutError``."""
        return await poll(lambda: predicate(self), timeout)


async def poll(check: Callable[[], Any], timeout: float, interval: float = 0.01) -> Any:  # noqa: ASYNC109
    """Wait for ``check()`` to become truthy. Polling keeps records free of event-loop objects, so an emulator
    made outside a test's loop still works in it."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
