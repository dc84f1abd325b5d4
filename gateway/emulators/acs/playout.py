"""A phone's playout of the agent audio ACS receives: audio queues and plays in real time; ``StopAudio`` drops
what is still queued. Computed from arrival times rather than with a task, so it costs nothing per frame and the
"actually heard" audio is exact."""

from __future__ import annotations

import math
from dataclasses import dataclass

from gateway.audio import SAMPLE_WIDTH


@dataclass(slots=True)
class PlayoutSegment:
    """Received audio scheduled to play from ``start`` (monotonic s); ``cut`` is when a StopAudio dropped its rest."""

    arrived: float
    start: float
    pcm: bytes
    cut: float | None = None

    def played_bytes(self, bytes_per_s: int, until: float = math.inf) -> int:
        end = min(until, self.cut if self.cut is not None else math.inf)
        if end <= self.start:
            return 0
        if end - self.start >= len(self.pcm) / bytes_per_s:
            return len(self.pcm)
        played = round((end - self.start) * bytes_per_s)
        return played - played % SAMPLE_WIDTH

    def end(self, bytes_per_s: int) -> float:
        return self.start + len(self.pcm) / bytes_per_s


class PhonePlayout:
    """Real-time playout model: a received chunk starts when the previous one ends (or on arrival if idle)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.bytes_per_s = rate * SAMPLE_WIDTH
        self.segments: list[PlayoutSegment] = []
        self._busy_until = 0.0
        self._pending_from = 0  # first segment that may still be queued at some later time

    def push(self, pcm: bytes, now: float) -> PlayoutSegment:
        start = max(now, self._busy_until)
        segment = PlayoutSegment(arrived=now, start=start, pcm=pcm)
        self.segments.append(segment)
        self._busy_until = start + len(pcm) / self.bytes_per_s
        return segment

    def stop(self, now: float) -> int:
        """Drop everything not yet played at ``now``; returns the number of dropped bytes."""
        dropped = 0
        segments = self.segments
        for i in range(self._pending_from, len(segments)):
            seg = segments[i]
            if seg.end(self.bytes_per_s) <= now or seg.cut is not None:
                continue
            seg.cut = now
            dropped += len(seg.pcm) - seg.played_bytes(self.bytes_per_s)
        self._pending_from = len(segments)
        self._busy_until = min(self._busy_until, now)
        return dropped

    def queued_s(self, now: float) -> float:
        """Seconds of audio still waiting to play at ``now``."""
        return max(0.0, self._busy_until - now)

    def is_playing(self, now: float) -> bool:
        return self._busy_until > now

    def played_s(self, until: float = math.inf) -> float:
        """Playback position: seconds of agent audio actually played by ``until``."""
        total = sum(seg.played_bytes(self.bytes_per_s, until) for seg in self.segments)
        return total / self.bytes_per_s

    def heard_pcm(self, until: float = math.inf) -> bytes:
        """The audio the caller actually heard by ``until`` (everything cut by StopAudio left out)."""
        return b"".join(seg.pcm[: seg.played_bytes(self.bytes_per_s, until)] for seg in self.segments)

    def dropped_bytes(self) -> int:
        return sum(len(seg.pcm) - seg.played_bytes(self.bytes_per_s) for seg in self.segments if seg.cut is not None)

    def playing_end(self) -> float:
        """When the last queued audio finishes (or finished) playing."""
        return self._busy_until
