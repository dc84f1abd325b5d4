"""The callers: many media streams in one process, each speaking real speech in real time, every frame marked.

A leg speaks its carrier's wire through a ``LegWire`` (ACS here; Twilio Media Streams in ``twilio_wire.py``): what
to send on connect, how one marked frame goes out, what to make of each message that comes back.

One pacer task sends every call's frames (frame k of a call is due at its start + k x 20 ms, so calls keep their
own phase and lateness never accumulates) instead of one sleeping task per call, and replies are parsed only as
far as the frame marker. What the load generator records: when each of its frames left (uplink) and when each
marked agent frame arrived (downlink); the Realtime emulator records the other ends (see ``tap.py``).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from gateway.audio import REALTIME_RATE, b64encode, frame_bytes, read_wav, resample

from . import marker
from .wsclient import HandshakeError, LeanWebSocket, connect

logger = logging.getLogger(__name__)

FRAME_S = 0.02
DATA_DIR = Path(__file__).resolve().parent / "data"
CALLER_WAV = DATA_DIR / "caller_customer_lookup_24k.wav"
_AUDIO_DATA = b'{"Kind":"AudioData"'
_DATA_KEY = b'"Data":"'
_STOP_AUDIO = b'"StopAudio":{'


def speech_frames(path: Path = CALLER_WAV) -> list[str]:
    """The caller's speech as base64 960-byte frames (24 kHz), looped by the legs."""
    chunk = read_wav(path)
    pcm = chunk.pcm if chunk.rate == REALTIME_RATE else resample(chunk.pcm, chunk.rate, REALTIME_RATE)
    size = frame_bytes(REALTIME_RATE)
    pcm = pcm[: len(pcm) - len(pcm) % size]
    return [b64encode(pcm[i : i + size]) for i in range(0, len(pcm), size)]


@dataclass(slots=True)
class Received:
    """Marked frames that arrived at the callers: stream (emulator session), sequence, arrival time."""

    stream: array[int] = field(default_factory=lambda: array("I"))
    seq: array[int] = field(default_factory=lambda: array("I"))
    time: array[float] = field(default_factory=lambda: array("d"))
    unmarked: int = 0
    stop_audio: int = 0  # ACS StopAudio / Twilio clear
    other: int = 0

    def note(self, found: tuple[int, int] | None, now: float) -> None:
        """One agent frame: its marker (stream, seq), or ``None`` when it carried none."""
        if found is None:
            self.unmarked += 1
        else:
            self.stream.append(found[0])
            self.seq.append(found[1])
            self.time.append(now)


class LegWire(Protocol):
    """One leg's carrier protocol (one instance per leg: it may keep the leg's stream state)."""

    def opening(self, leg: Leg) -> Sequence[bytes]:
        """Messages sent once the socket is open, before the first frame."""
        ...

    def frame(self, leg: Leg, data_b64: str, now: float) -> bytes:
        """One marked caller frame as the message that carries it."""
        ...

    def received(self, leg: Leg, payload: bytes, now: float) -> None:
        """A text message from the target: note marked agent frames in ``leg.load.received``."""
        ...


class AcsWire:
    """ACS bidirectional media streaming: ``AudioMetadata`` then ``AudioData`` (24 kHz PCM); ``StopAudio`` counted."""

    __slots__ = ("participant",)

    def __init__(self, participant: str = "4:+819000000000") -> None:
        self.participant = participant

    def opening(self, leg: Leg) -> Sequence[bytes]:
        metadata = (
            f'{{"kind":"AudioMetadata","audioMetadata":{{"subscriptionId":"bench-{leg.index}","encoding":"PCM",'
            '"sampleRate":24000,"channels":1,"length":960}}'
        )
        return [metadata.encode()]

    def frame(self, leg: Leg, data_b64: str, now: float) -> bytes:
        load = leg.load
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(load.wall0 + (now - load.mono0)))
        message = (
            '{"kind":"AudioData","audioData":{"timestamp":"' + stamp + f'.{int(now * 1000) % 1000:03d}Z",'
            '"participantRawID":"' + self.participant + '","data":"' + data_b64 + '","silent":false}}'
        )
        return message.encode()

    def received(self, leg: Leg, payload: bytes, now: float) -> None:
        rx = leg.load.received
        if payload.startswith(_AUDIO_DATA):
            i = payload.find(_DATA_KEY, len(_AUDIO_DATA))
            rx.note(marker.read(payload[i + len(_DATA_KEY) : i + len(_DATA_KEY) + marker.HEAD_CHARS]) if i > 0 else None, now)
        elif _STOP_AUDIO in payload:
            rx.stop_audio += 1
        else:
            rx.other += 1


class Leg:
    """One call's media stream: frames out on the pacer's clock, agent frames in."""

    __slots__ = ("closed", "connected_at", "index", "load", "next_due", "offset", "sent", "wire", "ws")

    def __init__(self, load: MediaLoad, index: int, wire: LegWire) -> None:
        self.load = load
        self.index = index
        self.wire = wire
        self.sent = array("d")  # send time of frame k (its marker's sequence number is k)
        self.offset = index * 37  # each caller starts at a different point of the speech
        self.ws: LeanWebSocket | None = None
        self.connected_at = 0.0
        self.next_due = 0.0
        self.closed = asyncio.Event()

    def on_text(self, payload: bytes, now: float) -> None:
        self.wire.received(self, payload, now)

    def on_close(self) -> None:
        self.closed.set()
        self.load.on_leg_closed(self)

    def send_frame(self, now: float) -> bool:
        k = len(self.sent)
        frames = self.load.frames
        data = marker.stamp(frames[(self.offset + k) % len(frames)], self.index, k)
        assert self.ws is not None
        if not self.ws.send_text(self.wire.frame(self, data, now)):
            return False
        self.sent.append(now)
        return True


class MediaLoad:
    """All legs of this process plus the pacer that drives them."""

    def __init__(self, frames: list[str] | None = None) -> None:
        self.frames = frames or speech_frames()
        self.legs: list[Leg] = []
        self.received = Received()
        self.closed_early = 0
        self.mono0 = time.monotonic()
        self.wall0 = time.time()
        self._heap: list[tuple[float, int, Leg]] = []
        self._wake = asyncio.Event()
        self._pacer: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def live(self) -> int:
        return sum(1 for leg in self.legs if leg.ws is not None and not leg.closed.is_set())

    def start(self) -> None:
        if self._pacer is None:
            self._pacer = asyncio.create_task(self._pace(), name="bench-pacer")

    async def open(
        self, url: str, headers: Mapping[str, str], participant: str = "4:+819000000000", timeout: float = 10.0,
        wire: LegWire | None = None,
    ) -> Leg:
        """Connect one leg, send its opening messages and put it on the pacer; raises ``HandshakeError``/``OSError``.
        ``wire``: the leg's carrier protocol (default: ACS, as ``participant``)."""
        leg = Leg(self, len(self.legs), wire or AcsWire(participant))
        if leg.index > 0xFFFF:
            raise ValueError("at most 65536 legs per run (the marker's stream id is 16 bits)")
        self.legs.append(leg)
        try:
            leg.ws = await connect(url, headers, leg.on_text, leg.on_close, timeout)
        except BaseException:
            leg.closed.set()
            raise
        for message in leg.wire.opening(leg):
            leg.ws.send_text(message)
        leg.connected_at = leg.next_due = time.monotonic()
        heapq.heappush(self._heap, (leg.next_due, leg.index, leg))
        self._wake.set()
        return leg

    def on_leg_closed(self, leg: Leg) -> None:
        if not self._stopping and leg.ws is not None:
            self.closed_early += 1

    async def _pace(self) -> None:
        heap = self._heap
        while True:
            if not heap:
                self._wake.clear()
                await self._wake.wait()
                continue
            now = time.monotonic()
            while heap and heap[0][0] <= now:
                due, index, leg = heapq.heappop(heap)
                if leg.closed.is_set():
                    continue
                if leg.send_frame(now):
                    heapq.heappush(heap, (due + FRAME_S, index, leg))
            if heap:
                await asyncio.sleep(max(0.0, heap[0][0] - time.monotonic()))

    def stop_leg(self, leg: Leg) -> None:
        if leg.ws is not None:
            leg.ws.close()

    async def stop(self) -> None:
        self._stopping = True
        if self._pacer is not None:
            self._pacer.cancel()
            await asyncio.gather(self._pacer, return_exceptions=True)
        for leg in self.legs:
            self.stop_leg(leg)
        await asyncio.sleep(0.2)

    # -- results --
    def sent_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every frame sent: (stream, seq, time)."""
        streams = [np.full(len(leg.sent), leg.index, dtype=np.uint32) for leg in self.legs]
        seqs = [np.arange(len(leg.sent), dtype=np.uint32) for leg in self.legs]
        times = [np.frombuffer(leg.sent, dtype=np.float64) for leg in self.legs if len(leg.sent)]
        if not times:
            empty = np.zeros(0, dtype=np.uint32)
            return empty, empty, np.zeros(0)
        return np.concatenate(streams), np.concatenate(seqs), np.concatenate(times)

    def lateness(self, since: float, until: float) -> np.ndarray:
        """How late each frame sent in [since, until] left against its schedule (s): the load generator's own lag."""
        parts = []
        for leg in self.legs:
            sent = np.frombuffer(leg.sent, dtype=np.float64)
            due = leg.connected_at + FRAME_S * np.arange(len(sent))
            keep = (sent >= since) & (sent <= until)
            parts.append(sent[keep] - due[keep])
        return np.concatenate(parts) if parts else np.zeros(0)

    def received_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rx = self.received
        return (
            np.frombuffer(rx.stream, dtype=np.uint32).copy(),
            np.frombuffer(rx.seq, dtype=np.uint32).copy(),
            np.frombuffer(rx.time, dtype=np.float64).copy(),
        )


__all__ = ["CALLER_WAV", "AcsWire", "HandshakeError", "Leg", "LegWire", "MediaLoad", "Received", "speech_frames"]
