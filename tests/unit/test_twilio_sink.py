"""The Twilio sink's playout bookkeeping: a mark after every 20 ms frame and at a reply's end, echoes as the truth of
what was heard, a clear counting the frame then sounding and making every later pending mark "not heard", and a
bounded wait for the last mark before a hang-up."""

from __future__ import annotations

import asyncio
import json

import numpy as np

from channels.twilio.media import CallerAudioIn, TwilioAudioSink
from gateway.audio import b64decode, b64encode, mulaw_encode
from gateway.events import AudioOut

STREAM = "MZ" + "1" * 32


def tone_24k(ms: int) -> AudioOut:
    t = np.arange(24 * ms) / 24_000
    pcm = (8000 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()
    return AudioOut(b64encode(pcm), len(pcm), "item-1")


class Wire:
    def __init__(self) -> None:
        self.messages: list[dict] = []

    async def send(self, text: str) -> None:
        self.messages.append(json.loads(text))

    def of(self, event: str) -> list[dict]:
        return [m for m in self.messages if m["event"] == event]

    def marks(self) -> list[str]:
        return [m["mark"]["name"] for m in self.of("mark")]


async def test_media_and_marks_carry_the_stream_and_a_mark_after_every_frame() -> None:
    wire = Wire()
    sink = TwilioAudioSink(wire.send, STREAM, "pcm")
    await sink.play(tone_24k(1000))
    await sink.flush()
    assert wire.messages and all(m["streamSid"] == STREAM for m in wire.messages)
    media = wire.of("media")
    assert all(len(b64decode(m["media"]["payload"])) == 160 for m in media)  # 20 ms of 8 kHz μ-law
    assert len(media) >= 49  # the resampler may hold back a few ms, never a frame's worth more
    # every media message is followed by its mark: the device's echoes place every frame
    events = [m["event"] for m in wire.messages]
    assert events == ["media", "mark"] * len(media)
    assert sink.audible()


async def test_echoed_marks_are_heard_and_a_clear_counts_the_sounding_frame_and_no_more() -> None:
    wire = Wire()
    sink = TwilioAudioSink(wire.send, STREAM, "pcm")
    await sink.play(tone_24k(1000))
    marks = wire.marks()
    assert len(marks) >= 40
    sink.mark_echoed(marks[19])  # the device played 400 ms (the earlier marks' echoes are implied)
    assert sink.playout.played_ms() == 400
    played = await sink.clear()
    assert played == 420  # the frame after the last echo was sounding when the clear landed: heard whole
    assert wire.messages[-1] == {"event": "clear", "streamSid": STREAM}
    for name in marks[20:]:  # Twilio echoes every pending mark at once after a clear: none counts as more heard
        sink.mark_echoed(name)
    assert sink.playout.played_ms() == 420
    assert not sink.audible()
    sent = len(wire.messages)
    await sink.play(tone_24k(200))  # more of the interrupted reply: never follows the clear
    assert len(wire.messages) == sent


async def test_a_clear_on_an_idle_device_counts_nothing_more() -> None:
    wire = Wire()
    sink = TwilioAudioSink(wire.send, STREAM, "pcm")
    await sink.play(tone_24k(200))
    await sink.flush()
    for name in wire.marks():
        sink.mark_echoed(name)
    heard = sink.playout.played_ms()
    assert await sink.clear() == heard  # nothing pending: nothing was sounding


async def test_the_hang_up_waits_for_the_last_mark_but_not_forever() -> None:
    wire = Wire()
    sink = TwilioAudioSink(wire.send, STREAM, "pcm")
    await sink.play(tone_24k(300))
    await sink.flush()
    waiting = asyncio.create_task(sink.drained(5))
    await asyncio.sleep(0)
    assert not waiting.done()
    for name in wire.marks():
        sink.mark_echoed(name)
    assert await asyncio.wait_for(waiting, 1) is True
    await sink.play(AudioOut(tone_24k(100).b64, 4800, "item-2"))
    await sink.flush()
    assert await sink.drained(0.05) is False  # no echo: the bound holds


async def test_pcmu_passes_the_providers_mulaw_through_untouched() -> None:
    wire = Wire()
    sink = TwilioAudioSink(wire.send, STREAM, "pcmu")
    mulaw = bytes(range(256)) * 2 + bytes(range(128))  # 640 bytes: exactly four 20 ms frames
    await sink.play(AudioOut(b64encode(mulaw), len(mulaw), "item-1"))
    payload = b"".join(b64decode(m["media"]["payload"]) for m in wire.of("media"))
    assert payload == mulaw


def test_caller_audio_reaches_the_engine_frame_by_frame_at_24khz() -> None:
    """Every 20 ms of caller μ-law becomes 20 ms at 24 kHz at once: no resampler burst delays the provider's VAD."""
    caller = CallerAudioIn("pcm")
    t = np.arange(8000) / 8000
    mulaw = mulaw_encode((8000 * np.sin(2 * np.pi * 300 * t)).astype("<i2").tobytes())
    sizes = [len(b64decode(caller.event(b64encode(mulaw[i : i + 160])).b64)) for i in range(0, 8000, 160)]
    assert all(abs(size - 960) <= 12 for size in sizes), sizes
    passthrough = CallerAudioIn("pcmu").event(b64encode(mulaw[:160]))
    assert b64decode(passthrough.b64) == mulaw[:160] and passthrough.encoding == "pcmu"


def test_the_voice_level_of_mulaw_is_read_from_the_codes_as_from_the_decoded_pcm() -> None:
    """The voice check on a μ-law call reads the codes directly: same level as decoding first, for loud and quiet."""
    from gateway.audio import mulaw_decode, mulaw_rms, rms

    t = np.arange(160) / 8000
    for amplitude in (0, 40, 400, 4000, 30000):
        mulaw = mulaw_encode((amplitude * np.sin(2 * np.pi * 300 * t)).astype("<i2").tobytes())
        assert abs(mulaw_rms(mulaw) - rms(mulaw_decode(mulaw))) <= 0.01 * max(1.0, rms(mulaw_decode(mulaw)))
    assert mulaw_rms(b"") == 0.0
