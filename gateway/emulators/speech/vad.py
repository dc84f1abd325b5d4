"""A small energy-based voice activity detector working on the audio stream's own clock (not wall time)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.audio import rms

TICKS_PER_MS = 10_000  # USP offsets and durations are in 100-ns ticks


@dataclass(slots=True)
class VadEvent:
    """``kind`` is ``start`` (speech began), ``speaking`` (still in speech; for partial results) or ``end``."""

    kind: str
    start_ms: float  # where the current utterance began, on the stream clock
    end_ms: float  # stream position of the last speech frame's end (``end``) or of the current frame


class EnergyVad:
    """Frame-level RMS detector with hangover.

    Speech starts after ``start_ms`` of consecutive loud frames (shorter bursts are ignored as clicks) and ends
    after ``end_silence_ms`` of quiet ones, or when an utterance reaches ``max_utterance_ms``. The loudness
    threshold adapts to a slowly-tracked noise floor: ``max(threshold, noise_floor * noise_ratio)``.
    """

    def __init__(
        self,
        rate: int,
        *,
        frame_ms: int = 20,
        threshold: float = 400.0,
        noise_ratio: float = 3.0,
        start_ms: int = 100,
        end_silence_ms: int = 600,
        max_utterance_ms: int = 20_000,
    ) -> None:
        self.rate = rate
        self.frame_ms = frame_ms
        self.frame_bytes = rate * frame_ms // 1000 * 2
        self.threshold = threshold
        self.noise_ratio = noise_ratio
        self.start_frames = max(1, start_ms // frame_ms)
        self.end_frames = max(1, end_silence_ms // frame_ms)
        self.max_utterance_ms = max_utterance_ms
        self.noise_floor = 0.0
        self.position_ms = 0.0
        self.in_speech = False
        self._rest = b""
        self._loud_run = 0
        self._quiet_run = 0
        self._start_ms = 0.0
        self._last_loud_end_ms = 0.0

    def push(self, pcm: bytes) -> list[VadEvent]:
        buf = self._rest + pcm if self._rest else pcm
        events: list[VadEvent] = []
        n = len(buf) - len(buf) % self.frame_bytes
        for i in range(0, n, self.frame_bytes):
            events.extend(self._frame(buf[i : i + self.frame_bytes]))
        self._rest = buf[n:]
        return events

    def flush(self) -> list[VadEvent]:
        """End of audio: close an open utterance."""
        events: list[VadEvent] = []
        if self._rest:
            events.extend(self._frame(self._rest.ljust(self.frame_bytes, b"\0")))
            self._rest = b""
        if self.in_speech:
            events.extend(self._close())
        return events

    def _close(self) -> list[VadEvent]:
        self.in_speech = False
        self._quiet_run = 0
        self._loud_run = 0
        return [VadEvent("end", self._start_ms, self._last_loud_end_ms)]

    def _frame(self, frame: bytes) -> list[VadEvent]:
        level = rms(frame)
        begin = self.position_ms
        self.position_ms += self.frame_ms
        loud = level > max(self.threshold, self.noise_floor * self.noise_ratio)
        if not loud:
            # Track the noise floor only on quiet frames, quickly downwards and slowly upwards.
            alpha = 0.5 if level < self.noise_floor else 0.05
            self.noise_floor += alpha * (level - self.noise_floor)
        if not self.in_speech:
            if loud:
                self._loud_run += 1
                if self._loud_run >= self.start_frames:
                    self.in_speech = True
                    self._start_ms = begin - (self._loud_run - 1) * self.frame_ms
                    self._last_loud_end_ms = self.position_ms
                    self._quiet_run = 0
                    return [VadEvent("start", self._start_ms, self.position_ms)]
            else:
                self._loud_run = 0
            return []
        if loud:
            self._quiet_run = 0
            self._last_loud_end_ms = self.position_ms
        else:
            self._quiet_run += 1
            if self._quiet_run >= self.end_frames:
                return self._close()
        if self.position_ms - self._start_ms >= self.max_utterance_ms:
            return self._close()
        return [VadEvent("speaking", self._start_ms, self.position_ms)]
