"""The caller's handset playing what the gateway streams: ``media`` payloads of any size are buffered and played
in order at 8 kHz, 160 μ-law bytes per 20 ms tick of the stream's clock; a ``mark`` is echoed once every byte
queued before it has played (at once if nothing is buffered); ``clear`` drops the buffer and echoes every pending
mark (twilio.com/docs/voice/media-streams/websocket-messages)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from .records import ClearRecord, MarkRecord

FRAME_BYTES = 160  # 20 ms of μ-law at 8 kHz
BYTES_PER_MS = 8


@dataclass(frozen=True, slots=True)
class PlayedFrame:
    """Up to 20 ms of gateway audio that started playing at ``at`` (monotonic s)."""

    at: float
    mulaw: bytes


class StreamPlayout:
    """Buffer of gateway audio and marks, drained by ``tick`` every 20 ms."""

    def __init__(self) -> None:
        self._queue: deque[bytes | MarkRecord] = deque()
        self._buffered = 0  # audio bytes in the queue
        self._in_flight: list[MarkRecord] = []  # marks whose audio is the frame now playing
        self._playing = False  # a frame was taken at the last tick and is still sounding
        self.played: list[PlayedFrame] = []
        self.marks: list[MarkRecord] = []
        self.clears: list[ClearRecord] = []

    @property
    def buffered_ms(self) -> float:
        return self._buffered / BYTES_PER_MS

    def push_audio(self, mulaw: bytes) -> None:
        if mulaw:
            self._queue.append(mulaw)
            self._buffered += len(mulaw)

    def push_mark(self, name: str, now: float) -> MarkRecord | None:
        """Queue a mark; returns it if it must be echoed right away (nothing buffered or playing)."""
        record = MarkRecord(name, now, self.buffered_ms)
        self.marks.append(record)
        if not self._queue and not self._playing:
            self._echo(record, now, "playback")
            return record
        if self._queue:
            self._queue.append(record)
        else:
            self._in_flight.append(record)
        return None

    def tick(self, now: float) -> list[MarkRecord]:
        """The 20 ms clock: the frame taken last tick has finished; echo the marks behind it and take the next one."""
        echoed = self._in_flight
        self._in_flight = []
        while self._queue and isinstance(self._queue[0], MarkRecord):
            echoed.append(self._queue.popleft())  # type: ignore[arg-type]
        frame = bytearray()
        while self._queue and len(frame) < FRAME_BYTES:
            head = self._queue.popleft()
            if isinstance(head, MarkRecord):
                self._in_flight.append(head)
                continue
            take = FRAME_BYTES - len(frame)
            frame += head[:take]
            if len(head) > take:
                self._queue.appendleft(head[take:])
        while frame and self._queue and isinstance(self._queue[0], MarkRecord):  # all their audio is in this frame
            self._in_flight.append(self._queue.popleft())  # type: ignore[arg-type]
        self._buffered -= len(frame)
        self._playing = bool(frame)
        if frame:
            self.played.append(PlayedFrame(now, bytes(frame)))
        for record in echoed:
            self._echo(record, now, "playback")
        return echoed

    def clear(self, now: float) -> list[MarkRecord]:
        """Drop what is still buffered; every pending mark is echoed (reason ``clear``)."""
        pending = list(self._in_flight)
        pending += [item for item in self._queue if isinstance(item, MarkRecord)]
        dropped_ms = self.buffered_ms
        self._queue.clear()
        self._in_flight = []
        self._buffered = 0
        for record in pending:
            self._echo(record, now, "clear")
        self.clears.append(ClearRecord(now, dropped_ms, tuple(r.name for r in pending)))
        return pending

    @staticmethod
    def _echo(record: MarkRecord, now: float, reason: str) -> None:
        record.echoed_at = now
        record.reason = reason

    def heard_mulaw(self) -> bytes:
        return b"".join(frame.mulaw for frame in self.played)
