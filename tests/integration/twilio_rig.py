"""A gateway with its Twilio line on loopback and the Realtime emulator behind it; requests signed as Twilio signs
them (``RequestValidator.compute_signature``), so tests can also forge them."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict

from gateway.app import create_app
from gateway.emulators.realtime import Pacing, RealtimeEmulator, Script
from gateway.emulators.serving import free_port, serve_app
from gateway.emulators.stack import OPENAI_KEY, OfflineStack, offline_stack
from gateway.services import Gateway
from tests.conftest import make_settings

ACCOUNT_SID = "AC" + "5" * 32
AUTH_TOKEN = "twilio-test-auth-token"


def call_sid(n: int = 1) -> str:
    return f"CA{n:032x}"


@dataclass
class TwilioRig:
    stack: OfflineStack
    gw: Gateway
    url: str
    line: Any  # the gateway's Twilio line: live calls, memory of ended ones

    @property
    def realtime(self) -> RealtimeEmulator:
        return self.stack.realtime

    def sign(self, url: str, params: Mapping[str, Any] | None = None) -> str:
        return RequestValidator(AUTH_TOKEN).compute_signature(url, params or {})

    async def post(
        self, path: str, params: Sequence[tuple[str, str]], *, signature: str | None = None, signed: bool = True
    ) -> tuple[int, str]:
        """POST a form as Twilio does; signed over the URL and every (repeated) parameter unless told otherwise."""
        url = self.url + path
        headers = {}
        if signed:  # a MultiDict: the validator signs every value of a repeated key (its getlist path)
            headers["X-Twilio-Signature"] = signature if signature is not None else self.sign(url, MultiDict(params))
        async with aiohttp.ClientSession() as http, http.post(url, data=list(params), headers=headers) as response:
            return response.status, await response.text()

    async def incoming_call(self, sid: str, caller: str = "+819012345678") -> tuple[int, str]:
        params = [("CallSid", sid), ("AccountSid", ACCOUNT_SID), ("From", caller), ("To", "+81501234567"), ("CallStatus", "ringing"), ("Direction", "inbound")]
        return await self.post("/api/twilio/voice", params)

    async def status(self, sid: str, status: str, sequence: int) -> tuple[int, str]:
        params = [("CallSid", sid), ("AccountSid", ACCOUNT_SID), ("CallStatus", status), ("SequenceNumber", str(sequence))]
        return await self.post("/api/twilio/status", params)


def stream_of(twiml: str) -> tuple[str, dict[str, str]]:
    """The ``<Stream url>`` of an answer and its ``<Parameter>`` values."""
    stream = ET.fromstring(twiml).find("./Connect/Stream")
    assert stream is not None, twiml
    return stream.attrib["url"], {p.attrib["name"]: p.attrib["value"] for p in stream.findall("Parameter")}


@contextlib.asynccontextmanager
async def twilio_rig(tmp_path: Path, script: Script, *, pacing: Pacing | None = None, **settings: Any) -> AsyncIterator[TwilioRig]:
    realtime = RealtimeEmulator(api_keys={OPENAI_KEY}, script=script, pacing=pacing or Pacing(realtime_factor=2.0))
    async with offline_stack(realtime=realtime) as stack:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        values = stack.settings(base)
        values.update(
            twilio_account_sid=ACCOUNT_SID,
            twilio_auth_token=AUTH_TOKEN,
            twilio_api_base=f"http://127.0.0.1:{free_port()}",  # nothing listens: no test here reaches Twilio's REST API
            twilio_audio="pcm",
        )
        values.update(settings)
        app = create_app(make_settings(tmp_path, **values))
        async with serve_app(app, port=port) as url:
            yield TwilioRig(stack, app.extensions["gateway"], url, app.blueprints["twilio"].twilio_calls)


class StreamClient:
    """Twilio's side of one Media Streams socket, as small as these tests need until the Twilio emulator lands:
    connected + start, caller audio in real time, agent audio "played" in real time with marks echoed when their
    audio has played, and every pending mark echoed at once on ``clear`` (the documented behaviour)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, stream_sid: str) -> None:
        self.ws = ws
        self.stream_sid = stream_sid
        self.received: list[dict[str, Any]] = []
        self.heard = bytearray()  # μ-law the caller's ear played, in order
        self.echoed: list[str] = []
        self.received_bytes = 0  # agent μ-law received so far
        self.mark_positions: dict[str, int] = {}  # mark → agent μ-law bytes received before it
        self.clears: list[tuple[float, list[str]]] = []  # when, and the marks echoed as played before it
        self._play_end = 0.0
        self._pending: list[tuple[str, Any]] = []  # marks waiting for their audio to play: (name, timer)
        self._reader: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()

    async def start(self, call_sid: str, parameters: Mapping[str, str]) -> None:
        await self.ws.send_str(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        start = {"accountSid": ACCOUNT_SID, "streamSid": self.stream_sid, "callSid": call_sid, "tracks": ["inbound"],
                 "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}, "customParameters": dict(parameters)}
        await self.ws.send_str(json.dumps({"event": "start", "sequenceNumber": "1", "start": start, "streamSid": self.stream_sid}))
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            event = json.loads(message.data)
            self.received.append(event)
            if event["event"] == "media":
                audio = base64.b64decode(event["media"]["payload"])
                self.received_bytes += len(audio)
                self._play_end = max(self._play_end, loop.time()) + len(audio) / 8000
                self.heard += audio  # simplification: counted when queued; cut on clear below
            elif event["event"] == "mark":
                name = event["mark"]["name"]
                self.mark_positions[name] = self.received_bytes
                timer = loop.call_at(max(self._play_end, loop.time()), self._echo, name)
                self._pending.append((name, timer))
            elif event["event"] == "clear":
                self.clears.append((loop.time(), list(self.echoed)))
                unplayed = int(max(0.0, self._play_end - loop.time()) * 8000)
                if unplayed:
                    del self.heard[len(self.heard) - min(unplayed, len(self.heard)) :]
                self._play_end = loop.time()
                for name, timer in list(self._pending):
                    timer.cancel()
                    self._echo(name)

    def _echo(self, name: str) -> None:
        self._pending = [(n, t) for n, t in self._pending if n != name]
        self.echoed.append(name)
        message = json.dumps({"event": "mark", "sequenceNumber": "0", "streamSid": self.stream_sid, "mark": {"name": name}})
        task = asyncio.ensure_future(self.ws.send_str(message))
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def say(self, mulaw: bytes) -> None:
        """Caller audio in 20 ms frames, in real time."""
        for i in range(0, len(mulaw), 160):
            payload = base64.b64encode(mulaw[i : i + 160]).decode()
            await self.ws.send_str(json.dumps({"event": "media", "streamSid": self.stream_sid, "media": {"track": "inbound", "payload": payload}}))
            await asyncio.sleep(0.02)

    async def dtmf(self, digit: str) -> None:
        await self.ws.send_str(json.dumps({"event": "dtmf", "streamSid": self.stream_sid, "dtmf": {"track": "inbound_track", "digit": digit}}))

    def of(self, event: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m["event"] == event]

    async def close(self) -> None:
        await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
