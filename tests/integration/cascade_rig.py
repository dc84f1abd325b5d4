"""The WebSocket channel wired to the Speech and chat emulators, and a page stand-in that talks the browser protocol.

The gateway reaches the emulators only through the real Speech SDK and the real openai SDK; the page stand-in is a
plain WebSocket client that streams fixture speech in real time, like a browser's microphone would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quart import Quart
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from gateway.app import create_app
from gateway.audio import read_wav
from gateway.emulators.chat import ChatEmulator
from gateway.emulators.serving import serve_app
from gateway.emulators.speech import SpeechEmulator
from gateway.profiles import PACKAGED_AGENTS
from gateway.services import Gateway
from tests.conftest import make_settings, speech

SPEECH_KEY = "speech-key-5ecret-do-not-leak"
CHAT_KEY = "chat-key-5ecret-do-not-leak"
RATE = 24_000
FRAME_BYTES = RATE * 2 * 20 // 1000  # 20 ms


def write_test_agent(directory: Path, greeting: str | None, greeting_mode: str = "play", barge_in_min_ms: int = 500, mode: str = "barge_in") -> str:
    """The support-desk profile under the name test-desk, with a greeting, barge-in time and turn-taking mode chosen
    by the test."""
    source = (PACKAGED_AGENTS / "support-desk.md").read_text(encoding="utf-8")
    head, body = source.split("---", 2)[1:]
    lines = [
        line
        for line in head.strip().splitlines()
        if not line.startswith(("name:", "greeting:", "greeting_mode:", "turn_taking:", "  "))  # "  ": turn_taking's keys
    ]
    lines += ["name: test-desk", f"greeting_mode: {greeting_mode}", "turn_taking:", f"  mode: {mode}", "  silence_duration_ms: 500", f"  barge_in_min_ms: {barge_in_min_ms}"]
    if greeting:
        lines.append(f"greeting: {greeting}")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "test-desk.md").write_text("---\n" + "\n".join(lines) + "\n---" + body, encoding="utf-8")
    return "test-desk"


@dataclass
class Rig:
    url: str
    app: Quart
    gw: Gateway
    speech: SpeechEmulator
    chat: ChatEmulator
    sessions: Any

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws/browser"

    def session(self, session_id: str) -> Any:
        return self.sessions.get(session_id)


@contextlib.asynccontextmanager
async def cascade_rig(
    tmp_path: Path,
    *,
    chat_script: Sequence[Any] = (),
    speech_script: Sequence[str | None] = (),
    greeting: str | None = None,
    greeting_mode: str = "play",
    barge_in_min_ms: int = 500,
    mode: str = "barge_in",
    grace_s: float = 5.0,
    configured: bool = True,
    speech_key: str = SPEECH_KEY,
    tts_realtime_factor: float | None = 5.0,
    **settings: Any,
) -> AsyncIterator[Rig]:
    speech_emu = SpeechEmulator(keys=[SPEECH_KEY], script=list(speech_script), tts_realtime_factor=tts_realtime_factor)
    chat_emu = ChatEmulator(keys=[CHAT_KEY], script=list(chat_script), sentence_delay=0.05)
    agents = tmp_path / "agents"
    agent = write_test_agent(agents, greeting, greeting_mode, barge_in_min_ms, mode)
    async with serve_app(speech_emu.app) as speech_url, serve_app(chat_emu.app) as chat_url:
        extra: dict[str, Any] = {}
        if configured:
            extra = {
                "azure_speech_key": speech_key,
                "azure_speech_host": speech_url.replace("http://", "ws://"),
                "openai_api_key": CHAT_KEY,
                "openai_base_url": f"{chat_url}/v1",
            }
        app = create_app(make_settings(tmp_path, agents_dir=agents, agent=agent, browser_resume_grace_s=grace_s, **extra, **settings))
        gw: Gateway = app.extensions["gateway"]
        blueprint = app.blueprints["browser"]
        async with serve_app(app) as url:
            yield Rig(url, app, gw, speech_emu, chat_emu, blueprint.browser_sessions)  # type: ignore[attr-defined]


@dataclass
class Received:
    at: float
    data: str | bytes

    @property
    def json(self) -> dict[str, Any]:
        assert isinstance(self.data, str)
        return json.loads(self.data)


@dataclass
class PageClient:
    """A page stand-in: says hello, streams PCM frames in real time, records everything the gateway sends."""

    ws: ClientConnection
    received: list[Received] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int | None = None
    _reader: asyncio.Task[None] | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, url: str, origin: str | None = None) -> AsyncIterator[PageClient]:
        async with connect(url, max_size=None, open_timeout=5, origin=origin) as ws:  # type: ignore[arg-type]
            client = cls(ws)
            client._reader = asyncio.create_task(client._read())
            try:
                yield client
            finally:
                client._reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await client._reader

    async def _read(self) -> None:
        try:
            async for data in self.ws:
                self.received.append(Received(time.monotonic(), data))
        except Exception:  # the connection ended either way; the close code tells how
            pass
        finally:
            self.close_code = self.ws.close_code
            self.closed.set()

    async def send_json(self, obj: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(obj, ensure_ascii=False))

    async def hello(self, **fields: Any) -> dict[str, Any]:
        await self.send_json({"type": "hello", **fields})
        return await self.wait_message(lambda m: m["type"] in ("ready", "error"), 10)

    def messages(self, kind: str | None = None) -> list[dict[str, Any]]:
        out = [r.json for r in self.received if isinstance(r.data, str)]
        return [m for m in out if kind is None or m["type"] == kind]

    def audio(self, after: float = 0.0) -> bytes:
        return b"".join(r.data for r in self.received if isinstance(r.data, bytes) and r.at >= after)  # type: ignore[misc]

    def first_time(self, predicate: Callable[[Received], bool]) -> float | None:
        return next((r.at for r in self.received if predicate(r)), None)

    async def wait_message(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.messages():
                if predicate(message):
                    return message
            if self.closed.is_set():
                break
            await asyncio.sleep(0.02)
        raise TimeoutError(f"no such message; got {[m['type'] for m in self.messages()]} (close {self.close_code})")

    async def stream(self, pcm: bytes, speed: float = 1.0) -> None:
        """Send PCM as 20 ms frames paced like a microphone (``speed`` times real time)."""
        start = time.monotonic()
        for n, pos in enumerate(range(0, len(pcm), FRAME_BYTES)):
            try:
                await self.ws.send(pcm[pos : pos + FRAME_BYTES])
            except ConnectionClosed:
                return  # the gateway closed the socket; the test looks at why
            delay = start + (n + 1) * 0.02 / speed - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)


def silence(ms: int) -> bytes:
    return b"\0" * (RATE * 2 * ms // 1000)


def utterance(name: str) -> bytes:
    chunk = read_wav(speech(name, 24))
    assert chunk.rate == RATE
    return chunk.pcm


async def wait_until(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.02)
    raise TimeoutError("condition not met")
