"""The browser WebSocket path's moment, timed from outside: first LLM sentence → first audio frame at the page.

A page stand-in (a plain WebSocket client speaking the ``/ws/browser`` protocol) talks to ``voice-gateway serve``,
whose cascade engine reaches the Speech emulator through the real Speech SDK and the chat emulator through the real
openai SDK. For each conversation the caller says one phrase; the chat emulator notes when the delta completing the
reply's first sentence went out, the Speech emulator when it was asked to speak it and when its first audio went
out, and the page when the first frame of the reply arrived. So the total splits into the gateway's share (sentence
→ synthesis request, synthesized audio → page) and the speech service's (request → first audio, emulated at a
fixed delay).

Conversations run one after another: the figures are the path's own latency, not its behaviour under load.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

from gateway.audio import read_wav
from gateway.emulators.chat import ChatEmulator, ChatRequest, Reply
from gateway.emulators.serving import free_port, serve_app
from gateway.emulators.speech import SpeechEmulator

from .loadgen import DATA_DIR
from .procs import prepare_dir
from .run import HOST, served_env, served_gateway

logger = logging.getLogger(__name__)

CALLER_PHRASE = DATA_DIR / "caller_greeting_reply_24k.wav"
REPLY = "かしこまりました。ご予約の内容を確認いたします。少々お待ちください。"
SPEECH_KEY = "bench-speech-key"
CHAT_KEY = "sk-bench-chat"
BYTES_PER_S = 24_000 * 2
FRAME_BYTES = BYTES_PER_S * 20 // 1000  # 20 ms at 24 kHz, as the page's worklet sends
QUIET_S = 0.5  # margin after the greeting's playback
TURN_TIMEOUT_S = 20.0


@dataclass(slots=True, frozen=True)
class BrowserTimings:
    """Milliseconds for one conversation; ``None`` where the moment never came."""

    sentence_to_first_frame_ms: float | None  # the whole path
    sentence_to_synthesis_ms: float | None  # gateway: sentence split off the stream, synthesis requested
    synthesis_to_first_audio_ms: float | None  # the speech service (emulated)
    first_audio_to_frame_ms: float | None  # gateway: synthesized audio relayed to the page


def _ms(later: float | None, earlier: float | None) -> float | None:
    return None if later is None or earlier is None else round((later - earlier) * 1000, 1)


@dataclass(slots=True)
class _Page:
    """What the page stand-in received: the times of audio frames and the JSON messages."""

    ws: ClientConnection
    frames: list[float] = field(default_factory=list)
    audio_bytes: int = 0
    messages: list[dict[str, object]] = field(default_factory=list)

    async def read(self) -> None:
        with contextlib.suppress(Exception):  # the socket ends either way
            async for data in self.ws:
                if isinstance(data, bytes):
                    self.frames.append(time.monotonic())
                    self.audio_bytes += len(data)
                else:
                    self.messages.append(json.loads(data))

    def played_out(self) -> bool:
        """A real page would have finished playing what it received (it arrives faster than real time)."""
        if not self.frames:
            return False
        ends = self.frames[0] + self.audio_bytes / BYTES_PER_S
        return time.monotonic() > max(ends, self.frames[-1]) + QUIET_S

    async def wait(self, predicate: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("the page waited in vain")
            await asyncio.sleep(0.01)

    async def speak(self, pcm: bytes) -> None:
        """Send PCM as 20 ms frames paced like a microphone."""
        start = time.monotonic()
        for n, pos in enumerate(range(0, len(pcm), FRAME_BYTES)):
            await self.ws.send(pcm[pos : pos + FRAME_BYTES])
            await asyncio.sleep(max(0.0, start + (n + 1) * 0.02 - time.monotonic()))


async def _one_conversation(ws_url: str, origin: str, chat: ChatEmulator, speech: SpeechEmulator, phrase: bytes) -> BrowserTimings:
    # compression=None: the socket carries PCM, which does not compress; deflate would only measure zlib
    async with connect(ws_url, origin=origin, max_size=None, open_timeout=10, compression=None) as ws:  # type: ignore[arg-type]
        page = _Page(ws)
        reader = asyncio.create_task(page.read())
        try:
            await ws.send(json.dumps({"type": "hello", "lang": "ja"}))
            await page.wait(lambda: any(m.get("type") == "ready" for m in page.messages), 10)
            # the greeting plays first; the caller answers once it has been heard (else it would be a backchannel)
            await page.wait(page.played_out, 20)
            asked = len(chat.requests)
            syntheses = len(speech.syntheses)
            spoke_at = time.monotonic()
            await page.speak(phrase + b"\0" * (FRAME_BYTES * 75))  # the phrase, then 1.5 s of room silence
            reply = await _reply_request(chat, asked)
            await page.wait(lambda: any(t > (reply.first_sentence_at or spoke_at) for t in page.frames), TURN_TIMEOUT_S)
            said = reply.first_sentence_at
            first_frame = next(t for t in page.frames if t > (said or spoke_at))
            synthesis = next((s for s in speech.syntheses[syntheses:] if REPLY.startswith(s.text.strip())), None)
            await ws.send(json.dumps({"type": "stop"}))
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
    requested = synthesis.started_at if synthesis else None
    first_audio = synthesis.first_audio_at if synthesis else None
    return BrowserTimings(
        sentence_to_first_frame_ms=_ms(first_frame, said),
        sentence_to_synthesis_ms=_ms(requested, said),
        synthesis_to_first_audio_ms=_ms(first_audio, requested),
        first_audio_to_frame_ms=_ms(first_frame, first_audio),
    )


async def _reply_request(chat: ChatEmulator, after: int) -> ChatRequest:
    deadline = time.monotonic() + TURN_TIMEOUT_S
    while time.monotonic() < deadline:
        for request in chat.requests[after:]:
            if request.kind == "text" and request.first_sentence_at is not None:
                return request
        await asyncio.sleep(0.01)
    raise TimeoutError("the caller's phrase was not answered")


@contextlib.asynccontextmanager
async def _stack(workdir: Path, workers: int, conversations: int) -> AsyncIterator[tuple[str, str, ChatEmulator, SpeechEmulator]]:
    speech = SpeechEmulator(keys=[SPEECH_KEY], script=["はい、お願いします。"] * conversations * 2)
    chat = ChatEmulator(keys=[CHAT_KEY], script=[Reply(REPLY)] * conversations * 2)
    async with serve_app(speech.app, HOST) as speech_url, serve_app(chat.app, HOST) as chat_url:
        port = free_port()
        env = {
            **served_env(port, workdir, workers),
            "AZURE_SPEECH_KEY": SPEECH_KEY,
            "AZURE_SPEECH_HOST": speech_url.replace("http://", "ws://"),
            "OPENAI_API_KEY": CHAT_KEY,
            "OPENAI_BASE_URL": f"{chat_url}/v1",
        }
        async with served_gateway(workdir, env, workers, port):
            origin = f"http://{HOST}:{port}"
            yield f"ws://{HOST}:{port}/ws/browser", origin, chat, speech


async def run_browser_moments(workdir: Path, workers: int, conversations: int = 3) -> list[BrowserTimings]:
    """``conversations`` browser conversations in turn through ``voice-gateway serve --workers N``."""
    prepare_dir(workdir)
    phrase = read_wav(CALLER_PHRASE).pcm
    results = []
    async with _stack(workdir, workers, conversations) as (ws_url, origin, chat, speech):
        for _ in range(conversations):
            try:
                results.append(await _one_conversation(ws_url, origin, chat, speech, phrase))
            except TimeoutError as exc:
                logger.warning("browser conversation not timed: %s", exc)
            await asyncio.sleep(0.3)
    return results
