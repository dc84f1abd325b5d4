"""The load generator's Twilio side of a Media Streams socket: marked μ-law frames out, marks echoed as Twilio does
(once the audio before them has played; every pending one at once on clear)."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from gateway.bench import marker
from gateway.bench.loadgen import Leg, MediaLoad
from gateway.bench.twilio_wire import FRAME_BYTES, TwilioWire, mulaw_speech_frames


class Socket:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.changed = asyncio.Event()

    def send_text(self, data: bytes) -> bool:
        self.sent.append(json.loads(data))
        self.changed.set()
        return True

    async def until(self, count: int, timeout: float = 2.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.sent) < count:
                self.changed.clear()
                await self.changed.wait()


def agent_media(stream: str, frames: int, seq0: int = 0) -> bytes:
    payload = marker.stamp(base64.b64encode(bytes(FRAME_BYTES * frames)).decode(), 7, seq0)
    return ('{"event":"media","streamSid":"' + stream + '","media":{"payload":"' + payload + '"}}').encode()


def leg_with(wire: TwilioWire) -> tuple[Leg, Socket]:
    load = MediaLoad(frames=mulaw_speech_frames())
    leg = Leg(load, 0, wire)
    socket = Socket()
    leg.ws = socket  # type: ignore[assignment]
    return leg, socket


async def test_start_carries_the_stream_parameters_and_frames_are_marked_mulaw() -> None:
    wire = TwilioWire("AC" + "1" * 32, "CA" + "2" * 32, "MZ" + "3" * 32, {"token": "t0k"})
    leg, _ = leg_with(wire)
    connected, start = (json.loads(m) for m in wire.opening(leg))
    assert connected["event"] == "connected" and start["event"] == "start"
    assert start["start"]["customParameters"] == {"token": "t0k"} and start["start"]["callSid"] == "CA" + "2" * 32
    assert start["start"]["mediaFormat"] == {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
    frame = leg.load.frames[0]
    media = json.loads(wire.frame(leg, marker.stamp(frame, 0, 5), 0.0))
    assert media["event"] == "media" and media["streamSid"] == "MZ" + "3" * 32
    assert len(base64.b64decode(media["media"]["payload"])) == FRAME_BYTES
    assert marker.read(media["media"]["payload"]) == (0, 5)
    assert int(media["sequenceNumber"]) == int(start["sequenceNumber"]) + 1


async def test_marks_echo_after_their_audio_played_and_at_once_on_clear() -> None:
    loop = asyncio.get_running_loop()
    wire = TwilioWire("AC" + "1" * 32, "CA" + "2" * 32, "MZ1", {})
    leg, socket = leg_with(wire)
    now = loop.time()
    wire.received(leg, agent_media("MZ1", 10), now)  # 200 ms of agent audio
    wire.received(leg, b'{"event":"mark","streamSid":"MZ1","mark":{"name":"m1"}}', now)
    assert leg.load.received.seq.tolist() == [0] and socket.sent == []  # marked frame noted; the mark waits
    await socket.until(1, timeout=2.0)
    assert socket.sent[0]["mark"]["name"] == "m1" and loop.time() - now >= 0.19  # echoed once the audio played

    now = loop.time()
    wire.received(leg, agent_media("MZ1", 50, 1), now)  # a second of audio, then a mark, then the caller barges in
    wire.received(leg, b'{"event":"mark","streamSid":"MZ1","mark":{"name":"m2"}}', now)
    wire.received(leg, b'{"event":"clear","streamSid":"MZ1"}', now)
    assert [m["mark"]["name"] for m in socket.sent] == ["m1", "m2"] and leg.load.received.stop_audio == 1
    assert wire.pending == []
