"""Barge-in racing playback: a sink sends a chunk frame by frame, and each send can yield (a socket under
backpressure does). A barge-in handled meanwhile sends the stop; nothing of the interrupted reply may follow it,
neither the rest of the chunk in flight nor a later delta of the same reply, and the playout clock stays stopped."""

from __future__ import annotations

import asyncio
import json

from channels.acs.media import AcsAudioSink
from channels.browser.link import Link
from channels.browser.media import BrowserAudioSink
from channels.browser.wire import CLEAR
from gateway.audio import b64encode
from gateway.events import AudioOut

FRAME_24K = 960  # bytes of one 20 ms frame at 24 kHz


def chunk(item_id: str, frames: int) -> AudioOut:
    b64 = b64encode(b"\x10\x00" * (FRAME_24K // 2) * frames)
    return AudioOut(b64, FRAME_24K * frames, item_id)


class SlowWire:
    """What left the sink, in order; every send yields to the loop, as a socket under backpressure does."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, message: str) -> None:
        self.sent.append(message)
        await asyncio.sleep(0)

    def kinds(self) -> list[str]:
        return [json.loads(m)["Kind"] for m in self.sent]


async def interrupt_mid_chunk(play, clear, sent: list, frames_before: int) -> None:
    player = asyncio.create_task(play)
    while len(sent) < frames_before:
        await asyncio.sleep(0)
    await clear()
    await player


async def test_no_frame_of_an_interrupted_reply_follows_stop_audio() -> None:
    wire = SlowWire()
    sink = AcsAudioSink(wire.send, 24_000)
    await interrupt_mid_chunk(sink.play(chunk("item_a", 50)), sink.clear, wire.sent, 5)
    kinds = wire.kinds()
    assert "StopAudio" in kinds
    assert "AudioData" not in kinds[kinds.index("StopAudio") :], kinds
    assert not sink.audible(), "the playout clock re-armed after the stop"

    await sink.play(chunk("item_a", 5))  # a delta of the cancelled reply the provider had already sent
    await sink.flush()
    assert wire.kinds()[-1] == "StopAudio"
    await sink.play(chunk("item_b", 3))  # the next reply plays
    assert wire.kinds()[-3:] == ["AudioData"] * 3 and sink.audible()


async def test_no_frame_follows_stop_audio_when_resampling() -> None:
    wire = SlowWire()
    sink = AcsAudioSink(wire.send, 16_000)
    await interrupt_mid_chunk(sink.play(chunk("item_a", 50)), sink.clear, wire.sent, 5)
    await sink.flush()
    kinds = wire.kinds()
    assert "AudioData" not in kinds[kinds.index("StopAudio") :], kinds


class SlowSocket:
    """The page's socket: records text and binary messages in order; every send yields."""

    def __init__(self) -> None:
        self.sent: list[str | bytes] = []

    async def send(self, message: str | bytes) -> None:
        self.sent.append(message)
        await asyncio.sleep(0)


async def test_the_browser_sink_keeps_the_same_promise() -> None:
    socket = SlowSocket()
    sink = BrowserAudioSink()
    sink.attach(Link(socket))
    await interrupt_mid_chunk(sink.play(chunk("item_a", 100)), sink.clear, socket.sent, 2)
    stop = socket.sent.index(CLEAR)
    assert not any(isinstance(m, bytes) for m in socket.sent[stop:])
    await sink.play(chunk("item_a", 10))
    assert socket.sent[-1] == CLEAR and not sink.audible()


async def test_a_frame_on_its_way_when_a_pause_clears_the_page_is_counted_where_the_page_stopped() -> None:
    """A pause's clear can come while a frame is being sent: the socket sends in order, so that frame reaches the
    page ahead of the clear, and a page that had run dry is already playing it when the clear lands. Its ``played``
    answer then counts part of that frame, and the resume must start right after it, not at the frame's start (which
    the caller would hear twice)."""
    socket = SlowSocket()
    sink = BrowserAudioSink()
    sink.attach(Link(socket))
    await sink.play(chunk("item_a", 10))  # 200 ms, sent and counted
    on_its_way = asyncio.create_task(sink.play(chunk("item_a", 10)))  # the next 200 ms
    while len(socket.sent) < 2:
        await asyncio.sleep(0)
    await sink.clear(keep_item=True)  # the pause, while that frame is still being sent
    await on_its_way
    assert [type(m) for m in socket.sent] == [bytes, bytes, str] and socket.sent[-1] == CLEAR
    sink.reported(300, 300 * 24)  # the page played the first frame and half of the second
    assert await sink.heard_at_pause() == ("item_a", 300.0)
