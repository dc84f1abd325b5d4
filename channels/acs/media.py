"""The phone's ear: agent audio to ACS as 20 ms ``AudioData`` frames in the negotiated format, ``StopAudio`` on
barge-in, and a model of the phone's playout so we know what the caller actually heard."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from channels.telephony.carrier import CallerAudio as CallerAudioEvent
from channels.telephony.carrier import DtmfDigits, MediaEvent
from gateway.audio import REALTIME_RATE, B64Framer, FrameSplitter, Resampler, b64decode, b64encode, frame_bytes
from gateway.events import AudioOut
from gateway.playout import PlayoutClock, ReplyGate

from .wire import STOP_AUDIO, AudioFrame, AudioMetadata, Dtmf, WireError, audio_data, parse_media

logger = logging.getLogger(__name__)
FRAME_MS = 20
ACS_RATES = (16_000, 24_000)


class AcsAudioSink:
    exact_flush = False  # ACS never reports playback: a StopAudio drops an amount nobody knows

    def __init__(self, send: Callable[[str], Awaitable[None]], rate: int) -> None:
        self._send = send
        self.rate = rate
        self.playout = PlayoutClock()
        self.gate = ReplyGate()
        self.frames_sent = 0
        if rate == REALTIME_RATE:
            self._framer: B64Framer | None = B64Framer(frame_bytes(rate))
        else:
            self._framer = None
            self._resampler = Resampler(REALTIME_RATE, rate)
            self._splitter = FrameSplitter(frame_bytes(rate))

    @property
    def item_id(self) -> str:
        return self.playout.item_id

    def _frames(self, audio: AudioOut) -> list[str]:
        if self._framer is not None:
            return self._framer.push(audio.b64)  # same rate: cut the base64 as it is
        pcm = self._resampler.process(b64decode(audio.b64))
        return [b64encode(frame) for frame in self._splitter.push(pcm)]

    async def play(self, audio: AudioOut) -> None:
        ticket = self.gate.ticket(audio.item_id)
        if ticket is None:
            return  # a reply the caller interrupted
        for frame in self._frames(audio):
            if not self.gate.holds(ticket):
                return  # interrupted while this chunk was going out: nothing of it may follow StopAudio
            await self._send(audio_data(frame))
            if not self.gate.holds(ticket):
                return  # sent before StopAudio, so dropped with the queue: not heard, not counted
            self.playout.sent(audio.item_id, FRAME_MS)
            self.frames_sent += 1

    async def flush(self) -> None:
        if self._framer is not None:
            tail = self._framer.flush()
        else:
            rest = self._splitter.flush()
            tail = b64encode(rest) if rest else None
        if tail:
            await self._send(audio_data(tail))
            self.playout.sent(self.playout.item_id, FRAME_MS)
            self.frames_sent += 1

    async def clear(self, keep_item: bool = False) -> float:
        """Stop the device now; ``keep_item``: a pause, the reply's rest may still be sent (a resume)."""
        self.gate.interrupt("" if keep_item else self.playout.item_id)
        if self._framer is not None:
            self._framer.reset()
        else:
            self._splitter.flush()
            # its delay line holds audio past what was sent: a resume would play that first, then rewind to the ear
            self._resampler = Resampler(REALTIME_RATE, self.rate)
        await self._send(STOP_AUDIO)
        return self.playout.clear()

    def audible(self) -> bool:
        return self.playout.audible()

    async def heard_at_pause(self) -> tuple[str, float] | None:
        """None: ACS never reports playback: what ``clear`` returned stands."""
        return None


class CallerAudio:
    """Caller audio towards the engine (24 kHz): passed through as base64 when ACS streams 24 kHz."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._resampler = Resampler(rate, REALTIME_RATE) if rate != REALTIME_RATE else None

    def to_engine(self, b64: str) -> str:
        if self._resampler is None:
            return b64
        return b64encode(self._resampler.process(b64decode(b64)))


class AcsMedia:
    """The telephony core's media adapter for an ACS media socket (``AudioData``, ``AudioMetadata``, ``DtmfData``)."""

    def __init__(self, send: Callable[[str], Awaitable[None]], rate: int) -> None:
        self.rate = rate
        self._sink = AcsAudioSink(send, rate)
        self._caller_audio = CallerAudio(rate)

    @property
    def sink(self) -> AcsAudioSink:
        return self._sink

    def parse(self, message: str | bytes) -> MediaEvent | None:
        item = parse_media(message)
        if type(item) is AudioFrame:
            return CallerAudioEvent(self._caller_audio.to_engine(item.b64))
        if isinstance(item, AudioMetadata):
            if item.sample_rate not in ACS_RATES:
                raise WireError(f"unsupported sample rate {item.sample_rate}")
            if item.sample_rate != self._caller_audio.rate:
                logger.warning("ACS streams %d Hz, expected %d Hz; resampling", item.sample_rate, self.rate)
                self._caller_audio = CallerAudio(item.sample_rate)
            return None
        if isinstance(item, Dtmf):
            return DtmfDigits(item.digits)
        return None

    def mark_echoed(self, name: str) -> None:
        """ACS has no playout marks."""

    async def drained(self, timeout: float) -> None:
        """ACS tells nothing of playout: the hang-up goes out at once, as it always has."""
