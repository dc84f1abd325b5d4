"""The phone's ear on Twilio: agent audio as μ-law ``media`` with a ``mark`` after every 20 ms frame, ``clear`` on
barge-in, and the echoed marks as the truth of what the caller heard, to the sample (gateway.playout.MarkedPlayout).

Audio: with ``TWILIO_AUDIO=pcmu`` the Realtime session speaks μ-law 8 kHz and it passes through untouched; with
``pcm`` the gateway converts (soxr: the caller's audio steadily frame by frame, the agent's anti-aliased; G.711
tables from gateway.audio).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from channels.telephony.carrier import CallerAudio, DtmfDigits, MediaEvent, PlayoutMark, StreamStopped
from gateway.audio import (
    MULAW_SILENCE,
    REALTIME_RATE,
    FrameSplitter,
    Resampler,
    b64decode,
    b64encode,
    mulaw_decode,
    mulaw_encode,
)
from gateway.events import AudioOut
from gateway.playout import MarkedPlayout, ReplyGate

from . import wire

logger = logging.getLogger(__name__)
TWILIO_RATE = 8_000
FRAME_MS = 20
FRAME_BYTES = TWILIO_RATE * FRAME_MS // 1000  # μ-law: one byte per sample
TO_CALLER_QUALITY = "MQ"  # anti-aliased 24→8 kHz; its bursts do not matter: Twilio buffers, the tail is flushed
FROM_CALLER_QUALITY = "QQ"  # 8→24 kHz frame by frame, no added delay before the provider's VAD (no aliasing upwards)


class TwilioAudioSink:
    """Presents the conversation the same sink interface as ACS's; only its playout model differs (marks)."""

    exact_flush = False  # marks still in flight when a clear lands cannot be told from the ones it cleared

    def __init__(self, send: Callable[[str], Awaitable[None]], stream_sid: str, audio_format: str) -> None:
        self._send = send
        self.stream_sid = stream_sid
        self.audio_format = audio_format
        self.playout = MarkedPlayout(every_ms=FRAME_MS)  # a mark per frame: a clear accounts for every sample
        self.gate = ReplyGate()
        self.frames_sent = 0
        self._splitter = FrameSplitter(FRAME_BYTES)
        self._resampler = Resampler(REALTIME_RATE, TWILIO_RATE, TO_CALLER_QUALITY) if audio_format == "pcm" else None

    @property
    def item_id(self) -> str:
        return self.playout.item_id

    def _mulaw(self, audio: AudioOut) -> bytes:
        raw = b64decode(audio.b64)
        if self._resampler is None:
            return raw  # the provider speaks μ-law already
        return mulaw_encode(self._resampler.process(raw))

    async def play(self, audio: AudioOut) -> None:
        ticket = self.gate.ticket(audio.item_id)
        if ticket is None:
            return  # a reply the caller interrupted
        for frame in self._splitter.push(self._mulaw(audio)):
            if not self.gate.holds(ticket):
                return  # interrupted while this chunk was going out: nothing of it may follow the clear
            await self._send(wire.media(self.stream_sid, b64encode(frame)))
            if not self.gate.holds(ticket):
                return  # sent before the clear, so dropped with the buffer: not heard, not counted
            self.playout.sent(audio.item_id, FRAME_MS)
            self.frames_sent += 1
            if self.playout.mark_due():
                await self._send(wire.mark(self.stream_sid, self.playout.place_mark()))

    async def flush(self) -> None:
        """The reply ended: the resampler's tail and the last partial frame (padded with μ-law silence), then a mark
        after it."""
        if self._resampler is not None:
            for frame in self._splitter.push(mulaw_encode(self._resampler.flush())):
                await self._send(wire.media(self.stream_sid, b64encode(frame)))
                self.playout.sent(self.playout.item_id, FRAME_MS)
                self.frames_sent += 1
        rest = self._splitter.flush(pad=False)
        if rest:
            frame = rest.ljust(FRAME_BYTES, bytes([MULAW_SILENCE]))
            await self._send(wire.media(self.stream_sid, b64encode(frame)))
            self.playout.sent(self.playout.item_id, FRAME_MS)
            self.frames_sent += 1
        if self.playout.mark_due(reply_end=True):
            await self._send(wire.mark(self.stream_sid, self.playout.place_mark()))

    async def clear(self, keep_item: bool = False) -> float:
        """Stop the device now; ``keep_item``: a pause, the reply's rest may still be sent (a resume)."""
        self.gate.interrupt("" if keep_item else self.playout.item_id)
        self._splitter.flush()
        if self._resampler is not None:
            self._resampler = Resampler(REALTIME_RATE, TWILIO_RATE, TO_CALLER_QUALITY)  # no tail of the cut reply
        await self._send(wire.clear(self.stream_sid))  # always: Twilio may still be playing what we think is done
        return self.playout.clear(sounding=True)

    def audible(self) -> bool:
        return self.playout.audible()

    async def heard_at_pause(self) -> tuple[str, float] | None:
        """None: the marks echoed before the clear already placed it."""
        return None

    def mark_echoed(self, name: str) -> None:
        self.playout.echoed(name)

    async def drained(self, timeout: float) -> bool:
        return await self.playout.drained(timeout)


class CallerAudioIn:
    """Caller μ-law towards the engine: passed through (``pcmu``: the conversation reads its level from the μ-law
    itself, so nothing is decoded per frame) or decoded and resampled to 24 kHz (``pcm``)."""

    def __init__(self, audio_format: str) -> None:
        self.audio_format = audio_format
        self._resampler = Resampler(TWILIO_RATE, REALTIME_RATE, FROM_CALLER_QUALITY) if audio_format == "pcm" else None

    def event(self, payload: str) -> CallerAudio:
        if self._resampler is None:
            return CallerAudio(payload, "pcmu")
        return CallerAudio(b64encode(self._resampler.process(mulaw_decode(b64decode(payload)))))


class TwilioMedia:
    """The telephony core's media adapter for a Twilio Media Streams socket, once its ``start`` was checked."""

    def __init__(self, send: Callable[[str], Awaitable[None]], start: wire.Start, audio_format: str) -> None:
        self.start = start
        self._sink = TwilioAudioSink(send, start.stream_sid, audio_format)
        self._caller = CallerAudioIn(audio_format)
        self.stopped = False

    @property
    def sink(self) -> TwilioAudioSink:
        return self._sink

    def parse(self, message: str | bytes) -> MediaEvent | None:
        item = wire.parse(message)
        if type(item) is wire.Media:
            return self._caller.event(item.payload)
        if isinstance(item, wire.Mark):
            return PlayoutMark(item.name)
        if isinstance(item, wire.Dtmf):
            return DtmfDigits(item.digit)
        if isinstance(item, wire.Stop):
            self.stopped = True
            return StreamStopped()
        if isinstance(item, wire.Start):
            raise wire.WireError("a second start on one stream")
        return None

    def mark_echoed(self, name: str) -> None:
        self._sink.mark_echoed(name)

    async def drained(self, timeout: float) -> None:
        if self.stopped:
            return  # nothing plays on a stopped stream
        if not await self._sink.drained(timeout):
            logger.info("the last words were not confirmed played within %.0f s; hanging up anyway", timeout)
