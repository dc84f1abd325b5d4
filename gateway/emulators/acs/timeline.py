"""Monotonic record of one media stream, from which tests compute latencies (first agent audio after the caller
stops, StopAudio after the caller starts speaking) and recover the audio sent and heard.

Every time is ``time.monotonic()`` seconds. Inbound per-frame send times live in an ``array('d')`` so recording one
costs an append, which keeps the emulator usable in benchmarks.
"""

from __future__ import annotations

import bisect
import math
import time
from array import array
from dataclasses import dataclass, field
from typing import Any

from gateway.audio import FRAME_MS, frame_bytes

from .playout import PhonePlayout


@dataclass(slots=True)
class SpeechMark:
    """One caller utterance: the inbound frame indexes it occupies (``last_frame`` is None while it plays)."""

    label: str
    first_frame: int
    last_frame: int | None = None


@dataclass(slots=True, frozen=True)
class ReceivedFrame:
    """One outbound ``AudioData`` message from the gateway, decoded."""

    time: float
    pcm: bytes


@dataclass
class MediaTimeline:
    """Everything that crossed one media WebSocket, with when."""

    rate: int
    frame_ms: int = FRAME_MS
    connected_at: float | None = None
    schedule_start: float | None = None  # frame k is due at schedule_start + k * frame_s
    closed_at: float | None = None
    close_code: int | None = None
    sent_times: array[float] = field(default_factory=lambda: array("d"))
    sent_silent: bytearray = field(default_factory=bytearray)
    speech: list[SpeechMark] = field(default_factory=list)
    dtmf_sent: list[tuple[str, float]] = field(default_factory=list)
    received: list[ReceivedFrame] = field(default_factory=list)
    received_times: array[float] = field(default_factory=lambda: array("d"))
    stop_audio_times: list[float] = field(default_factory=list)
    other_messages: list[tuple[float, Any]] = field(default_factory=list)
    playout: PhonePlayout = field(init=False)

    def __post_init__(self) -> None:
        self.playout = PhonePlayout(self.rate)

    @property
    def frame_s(self) -> float:
        return self.frame_ms / 1000

    @property
    def frame_size(self) -> int:
        return frame_bytes(self.rate, self.frame_ms)

    # -- recording (called by the media client) --
    def record_sent(self, silent: bool, now: float) -> int:
        self.sent_times.append(now)
        self.sent_silent.append(1 if silent else 0)
        return len(self.sent_times) - 1

    def record_received(self, pcm: bytes, now: float) -> None:
        self.received.append(ReceivedFrame(now, pcm))
        self.received_times.append(now)
        self.playout.push(pcm, now)

    def record_stop_audio(self, now: float) -> int:
        self.stop_audio_times.append(now)
        return self.playout.stop(now)

    # -- queries (called by tests) --
    @property
    def sent_count(self) -> int:
        return len(self.sent_times)

    def frame_time(self, index: int) -> float | None:
        return self.sent_times[index] if 0 <= index < len(self.sent_times) else None

    def speech_start(self, index: int = -1) -> float | None:
        """When the first frame of utterance ``index`` was sent."""
        if not self.speech:
            return None
        return self.frame_time(self.speech[index].first_frame)

    def speech_end(self, index: int = -1) -> float | None:
        """When utterance ``index`` finished: its last frame's send time plus one frame."""
        if not self.speech:
            return None
        last_frame = self.speech[index].last_frame
        last = None if last_frame is None else self.frame_time(last_frame)
        return None if last is None else last + self.frame_s

    def first_received_after(self, t: float) -> float | None:
        i = bisect.bisect_right(self.received_times, t)
        return self.received_times[i] if i < len(self.received_times) else None

    def first_stop_audio_after(self, t: float) -> float | None:
        return next((s for s in self.stop_audio_times if s > t), None)

    def received_pcm(self, since: float = -math.inf, until: float = math.inf) -> bytes:
        """All agent audio received (including what StopAudio later dropped)."""
        lo = bisect.bisect_left(self.received_times, since)
        hi = bisect.bisect_right(self.received_times, until)
        return b"".join(frame.pcm for frame in self.received[lo:hi])

    def heard_pcm(self, until: float | None = None) -> bytes:
        """Agent audio the caller actually heard (played out before any StopAudio or ``until``)."""
        return self.playout.heard_pcm(math.inf if until is None else until)

    def playback_position_s(self, now: float | None = None) -> float:
        return self.playout.played_s(time.monotonic() if now is None else now)

    def send_lateness(self) -> list[float]:
        """Per inbound frame: how late it was sent against its schedule (s); drift shows as a growing trend."""
        if self.schedule_start is None:
            return []
        start, step = self.schedule_start, self.frame_s
        return [t - (start + k * step) for k, t in enumerate(self.sent_times)]
