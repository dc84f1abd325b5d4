"""The emulated model's media: an outbound track that speaks real recorded speech, and a reader for the mic track.

The outbound track sends 20 ms frames at 48 kHz in real time, silence between replies (like the service, which
keeps the RTP stream running). Replies are queued PCM; ``play`` returns a future that resolves once the reply has
gone out in full, so the protocol can send ``output_audio_buffer.stopped`` at the right moment.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import time
from collections.abc import Callable

import av
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from gateway.audio import REALTIME_RATE, SAMPLE_WIDTH, resample

logger = logging.getLogger(__name__)

OUT_RATE = 48_000
FRAME_SAMPLES = OUT_RATE // 50  # 20 ms
FRAME_BYTES = FRAME_SAMPLES * SAMPLE_WIDTH


def to_48k(pcm24: bytes) -> bytes:
    """Agent speech for the outbound track (the Opus encoder's native rate), via the gateway's resampler."""
    return resample(pcm24, REALTIME_RATE, OUT_RATE)


class AgentVoiceTrack(MediaStreamTrack):
    """Outbound audio: queued replies, else silence, paced at real time."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queue = bytearray()
        self._done: list[tuple[int, asyncio.Future[float]]] = []  # (bytes still ahead when finished, future)
        self._start: float | None = None
        self._pts = 0
        self.sent_bytes = 0

    @property
    def playing(self) -> bool:
        return bool(self._queue)

    def play(self, pcm48: bytes) -> asyncio.Future[float]:
        """Queue a reply; the future resolves with the ms of it that went out."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._queue += pcm48
        self._done.append((len(self._queue), future))
        return future

    def clear(self) -> float:
        """Drop queued audio (barge-in, ``output_audio_buffer.clear``); returns the ms dropped."""
        dropped = len(self._queue)
        self._queue.clear()
        for _, future in self._done:
            if not future.done():
                future.set_result(-1.0)
        self._done.clear()
        return dropped / SAMPLE_WIDTH / OUT_RATE * 1000

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.time()
        else:
            self._pts += FRAME_SAMPLES
            wait = self._start + self._pts / OUT_RATE - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
        chunk = bytes(self._queue[:FRAME_BYTES])
        del self._queue[:FRAME_BYTES]
        if chunk:
            self.sent_bytes += len(chunk)
            self._settle(len(chunk))
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(chunk.ljust(FRAME_BYTES, b"\0"))
        frame.pts = self._pts
        frame.sample_rate = OUT_RATE
        frame.time_base = fractions.Fraction(1, OUT_RATE)
        return frame

    def _settle(self, sent: int) -> None:
        remaining = []
        for ahead, future in self._done:
            ahead -= sent
            if ahead <= 0:
                if not future.done():
                    future.set_result(0.0)
            else:
                remaining.append((ahead, future))
        self._done = remaining


async def read_mic(track: MediaStreamTrack, on_pcm: Callable[[bytes], None]) -> None:
    """Pump the browser's mic track until it ends, handing PCM16 24 kHz mono to ``on_pcm``.

    Opus decodes to 48 kHz (stereo on some builds); PyAV's resampler turns whatever arrives into the Realtime rate.
    """
    resampler = av.AudioResampler(format="s16", layout="mono", rate=REALTIME_RATE)
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        for out in resampler.resample(frame):
            on_pcm(bytes(out.planes[0])[: out.samples * SAMPLE_WIDTH])
