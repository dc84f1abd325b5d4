"""A tiny fake "gateway" for the Twilio emulator's tests: a Quart app on loopback that answers TwiML, checks every
signature with the official SDK's ``RequestValidator`` and handles the media socket by hand (it is the peer; nothing
from channels/ is used)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from quart import Quart, Response, request, websocket
from twilio.request_validator import RequestValidator

from gateway.audio import AudioChunk, read_wav, wav_bytes
from gateway.emulators.acs.notify import Notifier
from gateway.emulators.g711 import mulaw_encode
from gateway.emulators.serving import serve_app
from gateway.emulators.twilio import TwilioEmulator

DATA = Path(__file__).resolve().parent.parent / "data"
CALLER_WAV = DATA / "ja_greeting_reply_16k.wav"
CLOSE = object()


def tone_mulaw(seconds: float, freq: float = 1000.0, level: float = 8000.0) -> tuple[bytes, np.ndarray]:
    t = np.arange(int(8000 * seconds)) / 8000
    pcm = (level * np.sin(2 * np.pi * freq * t)).astype("<i2")
    return mulaw_encode(pcm.tobytes()), pcm.astype(np.float64)


@dataclass
class MediaSession:
    """One media socket as the fake gateway saw it."""

    key: str
    signature_ok: bool
    messages: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    outbox: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    sent_at: dict[str, float] = field(default_factory=dict)

    def events(self, name: str) -> list[dict[str, Any]]:
        return [m for _, m in self.messages if m.get("event") == name]

    @property
    def stream_sid(self) -> str:
        return self.events("start")[0]["streamSid"]

    def send(self, message: Any) -> None:
        self.outbox.put_nowait(message)

    def send_media(self, mulaw: bytes) -> None:
        self.send(
            {"event": "media", "streamSid": self.stream_sid, "media": {"payload": base64.b64encode(mulaw).decode()}}
        )

    def send_mark(self, name: str) -> None:
        self.sent_at[name] = time.monotonic()
        self.send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    def mark_echo_time(self, name: str) -> float | None:
        return next((t for t, m in self.messages if m.get("event") == "mark" and m["mark"]["name"] == name), None)


class FakeGateway:
    """Answers the voice webhook with ``twiml(base)``, validates every signature, records what arrives."""

    def __init__(self, auth_token: str, twiml: Callable[[str], str]) -> None:
        self.validator = RequestValidator(auth_token)
        self.ws_validator = self.validator
        self.documents: dict[str, Callable[[str], str]] = {}  # TwiML served at other POST paths (action, Redirect)
        self.twiml = twiml
        self.base = ""
        self.webhooks: list[tuple[str, dict[str, str], bool]] = []  # (path, params, signature ok)
        self.sessions: list[MediaSession] = []
        self.play_audio = wav_bytes(AudioChunk(read_wav(CALLER_WAV).pcm[:16000], 16000))  # 0.5 s
        self.changed = Notifier()
        self.app = self._build()

    @property
    def ws_base(self) -> str:
        return self.base.replace("http://", "ws://")

    def _build(self) -> Quart:
        app = Quart(__name__)

        @app.post("/<path:name>")
        async def webhook(name: str) -> Response:
            form = await request.form
            ok = self.validator.validate(
                self.base + request.full_path.rstrip("?"), form, request.headers.get("X-Twilio-Signature", "")
            )
            self.webhooks.append((request.path, {k: form[k] for k in form}, ok))
            self.changed.notify()
            if not ok:
                return Response("bad signature", status=403)
            build = self.twiml if name in ("voice", "outbound") else self.documents.get(name)
            body = build(self.base) if build else "<Response/>"
            return Response(body, content_type="text/xml")

        @app.get("/audio.wav")
        async def audio() -> Response:
            return Response(self.play_audio, content_type="audio/wav")

        @app.websocket("/media/<key>")
        async def media(key: str) -> Any:
            signature = websocket.headers.get("X-Twilio-Signature", "")
            ok = self.ws_validator.validate(self.ws_base + websocket.path, {}, signature)
            if not ok:
                return "forbidden", 403
            await websocket.accept()
            session = MediaSession(key, ok)
            self.sessions.append(session)
            self.changed.notify()

            async def receive() -> None:
                while True:
                    raw = await websocket.receive()
                    session.messages.append((time.monotonic(), json.loads(raw)))
                    self.changed.notify()

            receiver = asyncio.create_task(receive())
            try:
                while (item := await session.outbox.get()) is not CLOSE:
                    await websocket.send(item if isinstance(item, str | bytes) else json.dumps(item))
            finally:
                receiver.cancel()
            return None

        return app

    async def wait(self, check: Callable[[], Any], timeout_s: float = 5.0, what: str = "condition") -> Any:
        return await self.changed.wait_until(check, timeout_s, what)

    async def session(self, timeout_s: float = 5.0) -> MediaSession:
        session = await self.wait(lambda: self.sessions[-1] if self.sessions else None, timeout_s, "media socket")
        await self.wait(lambda: session.events("start"), timeout_s, "start")
        return session


def stream_twiml(before: str = "", after: str = "<Hangup/>", stream_url: str = "{ws}/media/k1") -> Callable[[str], str]:
    def build(base: str) -> str:
        url = stream_url.format(ws=base.replace("http://", "ws://"))
        return (
            f'<?xml version="1.0" encoding="UTF-8"?><Response>{before}<Connect><Stream url="{url}">'
            f'<Parameter name="token" value="tok-123"/></Stream></Connect>{after}</Response>'
        )

    return build


@contextlib.asynccontextmanager
async def twilio_world() -> AsyncIterator[Callable[..., Any]]:
    """Yields ``make(twiml, **config)`` → (emulator, fake gateway), both served on loopback until the block exits."""
    stack: list[Any] = []

    async def make(twiml: Callable[[str], str], **config: Any) -> tuple[TwilioEmulator, FakeGateway]:
        options = {"ring_delay_s": 0.05, "say_s_per_char": 0.01, "dial_duration_s": 0.05, "amd_delay_s": 0.05}
        emu = TwilioEmulator(**{**options, **config})
        gw = FakeGateway(emu.config.auth_token, twiml)
        gateway_cm = serve_app(gw.app)
        gw.base = await gateway_cm.__aenter__()
        stack.append(gateway_cm)
        emulator_cm = emu.serve()
        await emulator_cm.__aenter__()
        stack.append(emulator_cm)
        return emu, gw

    try:
        yield make
    finally:
        for cm in reversed(stack):  # the emulator first: live calls end and the gateway gets ``stop``
            await cm.__aexit__(None, None, None)
