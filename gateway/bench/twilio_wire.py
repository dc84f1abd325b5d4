"""Twilio Media Streams for the load generator: one leg is Twilio's side of a ``<Connect><Stream>`` socket.

``connected`` then ``start`` (with the stream's custom parameters), then a ``media`` event of 160 bytes of μ-law
(20 ms at 8 kHz) every 20 ms, each frame marked; agent ``media`` is "played" in real time and each ``mark`` is
echoed once the audio before it has played, every pending one at once on ``clear`` (as
twilio.com/docs/voice/media-streams/websocket-messages describes). Only what the benchmark needs is parsed: the
marker at the head of each agent payload, and mark names.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.audio import b64encode, mulaw_encode, read_wav, resample

from . import marker
from .loadgen import CALLER_WAV

if TYPE_CHECKING:
    from .loadgen import Leg

LINE_RATE = 8000
FRAME_BYTES = 160  # 20 ms of μ-law
_MEDIA = b'{"event":"media"'
_PAYLOAD_KEY = b'"payload":"'
_MARK = b'"event":"mark"'
_CLEAR = b'"event":"clear"'


def mulaw_speech_frames(path: Path = CALLER_WAV) -> list[str]:
    """The caller's speech as base64 160-byte μ-law frames (8 kHz), looped by the legs."""
    chunk = read_wav(path)
    pcm = chunk.pcm if chunk.rate == LINE_RATE else resample(chunk.pcm, chunk.rate, LINE_RATE)
    mulaw = mulaw_encode(pcm)
    mulaw = mulaw[: len(mulaw) - len(mulaw) % FRAME_BYTES]
    return [b64encode(mulaw[i : i + FRAME_BYTES]) for i in range(0, len(mulaw), FRAME_BYTES)]


class TwilioWire:
    """One stream's state: its ids, message sequence, when its agent audio ends playing, marks waiting for it."""

    __slots__ = ("account_sid", "call_sid", "parameters", "play_end", "pending", "sequence", "stream_sid")

    def __init__(self, account_sid: str, call_sid: str, stream_sid: str, parameters: Mapping[str, str]) -> None:
        self.account_sid = account_sid
        self.call_sid = call_sid
        self.stream_sid = stream_sid
        self.parameters = dict(parameters)
        self.sequence = 0
        self.play_end = 0.0
        self.pending: list[tuple[str, asyncio.TimerHandle]] = []

    def _next(self) -> str:
        self.sequence += 1
        return str(self.sequence)

    def opening(self, leg: Leg) -> Sequence[bytes]:
        connected = {"event": "connected", "protocol": "Call", "version": "1.0.0"}
        start = {
            "event": "start",
            "sequenceNumber": self._next(),
            "start": {
                "accountSid": self.account_sid,
                "streamSid": self.stream_sid,
                "callSid": self.call_sid,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": LINE_RATE, "channels": 1},
                "customParameters": self.parameters,
            },
            "streamSid": self.stream_sid,
        }
        return [json.dumps(connected).encode(), json.dumps(start).encode()]

    def frame(self, leg: Leg, data_b64: str, now: float) -> bytes:
        k = len(leg.sent)
        stamp = round((now - leg.connected_at) * 1000)
        message = (
            '{"event":"media","sequenceNumber":"' + self._next() + '","media":{"track":"inbound","chunk":"'
            + str(k + 1) + '","timestamp":"' + str(stamp) + '","payload":"' + data_b64 + '"},"streamSid":"'
            + self.stream_sid + '"}'
        )  # fmt: skip
        return message.encode()

    def stop(self, leg: Leg) -> None:
        """The call ended: ``stop`` goes out before the socket closes."""
        body = {"accountSid": self.account_sid, "callSid": self.call_sid}
        message = {"event": "stop", "sequenceNumber": self._next(), "stop": body, "streamSid": self.stream_sid}
        if leg.ws is not None:
            leg.ws.send_text(json.dumps(message).encode())

    def received(self, leg: Leg, payload: bytes, now: float) -> None:
        rx = leg.load.received
        if payload.startswith(_MEDIA):
            i = payload.find(_PAYLOAD_KEY)
            if i < 0:
                rx.other += 1
                return
            start = i + len(_PAYLOAD_KEY)
            end = payload.find(b'"', start)
            rx.note(marker.read(payload[start : start + marker.HEAD_CHARS]), now)
            self.play_end = max(self.play_end, now) + (end - start) * 3 / 4 / LINE_RATE
        elif _MARK in payload:
            name = json.loads(payload)["mark"]["name"]
            timer = asyncio.get_running_loop().call_later(max(0.0, self.play_end - now), self._echo, leg, name)
            self.pending.append((name, timer))
        elif _CLEAR in payload:
            rx.stop_audio += 1
            self.play_end = now
            for name, timer in self.pending:
                timer.cancel()
                self._send_mark(leg, name)
            self.pending.clear()
        else:
            rx.other += 1

    def _echo(self, leg: Leg, name: str) -> None:
        self.pending = [(n, t) for n, t in self.pending if n != name]
        self._send_mark(leg, name)

    def _send_mark(self, leg: Leg, name: str) -> None:
        if leg.ws is None or leg.closed.is_set():
            return
        message = {"event": "mark", "sequenceNumber": self._next(), "streamSid": self.stream_sid, "mark": {"name": name}}
        leg.ws.send_text(json.dumps(message).encode())
