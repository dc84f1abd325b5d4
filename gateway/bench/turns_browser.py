"""The turns bench's browser line: ``voice-gateway serve`` answering ``/ws/browser`` conversations (the cascade:
Speech emulator for recognition and synthesis, chat emulator for the replies).

The page stand-in speaks the protocol as ``web/websocket.js`` does, without its own client-side barge-in (so what is
measured is the gateway's): a microphone sending 20 ms frames in real time, and a player that plays what it receives
gap-free, drops its queue on ``clear`` (answering ``played`` with the samples played since its previous flush, as
``web/worklets/pcm-player.js`` does) and says ``drained`` when it runs dry. The caller answers the greeting once it is
over (its whole text came and nothing has played for ``ANSWER_AFTER_S``: on a loaded machine the greeting's sentences
can reach the page with a gap between them, and a caller who started talking in that gap would barge into the
greeting, not speak over the reply). The agent is silent at this ear when the page gets ``clear`` (or its player
runs dry); the Speech emulator's script gives the caller's words per conversation, and whether they became a turn
shows as a new chat request answered to the page.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

from gateway.audio import read_wav
from gateway.emulators.acs.caller_audio import CallerAudio, Speech
from gateway.emulators.acs.playout import PhonePlayout
from gateway.emulators.chat import ChatEmulator, ChatRequest
from gateway.emulators.serving import free_port, serve_app
from gateway.emulators.speech import SpeechEmulator
from gateway.emulators.speech.records import RecognitionSession

from .run import HOST, bench_agent, served_env, served_gateway
from .scenarios import GREETING_REPLY
from .turns_corpus import Case
from .turns_ear import Intervals, Observation, observe, splice_errors
from .turns_phone import GREETING_TEXT, PROVIDER_VAD, QUIET_S, STAGGER_S, caller_script

logger = logging.getLogger(__name__)

RATE = 24_000
FRAME_BYTES = RATE * 2 // 50
REPLY = "ご案内をいたします。" * 5  # about 6.5 s of the Speech emulator's voice
ANSWER = "はい、どうぞ。"
SPEECH_KEY = "bench-speech-key"
CHAT_KEY = "sk-bench-chat"
CASE_TIMEOUT_S = 45.0
ANSWER_AFTER_S = 0.4  # the caller answers the greeting this long after it stopped playing (a gap inside it is shorter)


@dataclass(slots=True)
class Page:
    """A browser page: microphone out, player in, and what it saw, with when."""

    ws: ClientConnection
    mic: CallerAudio
    player: PhonePlayout = field(default_factory=lambda: PhonePlayout(RATE))
    clears: list[float] = field(default_factory=list)
    speech_started: list[float] = field(default_factory=list)
    assistant_items: dict[str, float] = field(default_factory=dict)  # item id -> first transcript seen
    assistant_finals: set[str] = field(default_factory=set)  # item ids whose whole text came
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    _acked_end: float = 0.0
    _burst_from: int = 0  # the player's first segment since the previous flush

    async def listen(self) -> None:
        with contextlib.suppress(Exception):  # the socket ends either way
            async for data in self.ws:
                now = time.monotonic()
                if isinstance(data, bytes):
                    self.player.push(data, now)
                    continue
                message = json.loads(data)
                kind = message.get("type")
                if kind == "ready":
                    self.ready.set()
                elif kind == "error":
                    logger.warning("browser: the gateway said %s: %s", message.get("code"), message.get("message"))
                elif kind == "clear":
                    samples = self.flush(now)
                    self.clears.append(now)
                    self._acked_end = now  # a flushed player does not report an underrun
                    played = {"type": "played", "ms": round(samples * 1000 / RATE), "samples": samples}  # as web/websocket.js
                    await self.ws.send(json.dumps(played))
                elif kind == "transcript" and message.get("role") == "assistant":
                    self.assistant_items.setdefault(str(message.get("item_id")), now)
                    if message.get("final"):
                        self.assistant_finals.add(str(message.get("item_id")))

    def flush(self, now: float) -> int:
        """Drop the queue; returns the samples played since the previous flush (the page's ``played`` report)."""
        burst = self.player.segments[self._burst_from :]
        samples = sum(s.played_bytes(self.player.bytes_per_s, now) for s in burst) // 2
        self.player.stop(now)
        self._burst_from = len(self.player.segments)
        return samples

    def greeted(self) -> bool:
        """The greeting is over at this ear: its whole text came and nothing has played for ``ANSWER_AFTER_S``."""
        quiet = time.monotonic() - self.player.playing_end() >= ANSWER_AFTER_S
        return bool(self.assistant_finals) and bool(self.player.segments) and quiet

    async def speak(self) -> None:
        """The microphone: one 20 ms frame every 20 ms (silence between utterances), and the player's underruns."""
        start = time.monotonic()
        for n in range(10**6):
            frame = self.mic.next_frame()
            now = time.monotonic()
            if frame.speech_starts is not None:
                self.speech_started.append(now)
            await self.ws.send(frame.pcm)
            end = self.player.playing_end()
            if self.player.segments and end <= now and end > self._acked_end:
                self._acked_end = end
                await self.ws.send(json.dumps({"type": "drained"}))
            await asyncio.sleep(max(0.0, start + (n + 1) * 0.02 - time.monotonic()))

    def intervals(self) -> Intervals:
        bps = self.player.bytes_per_s
        return [(s.start, s.start + s.played_bytes(bps) / bps) for s in self.player.segments]


class BrowserLine:
    carrier = "browser"

    def __init__(self, ws_url: str, origin: str, speech: SpeechEmulator, chat: ChatEmulator) -> None:
        self.ws_url = ws_url
        self.origin = origin
        self.speech = speech
        self.chat = chat
        self.text = ""
        self._heard: dict[str, int] = {}  # recognition connection -> utterances recognized so far

    def recognized(self, session: RecognitionSession, _index: int) -> str:
        """The first utterance of a conversation answers the greeting; later ones are the batch's corpus text."""
        n = self._heard.get(session.connection_id, 0)
        self._heard[session.connection_id] = n + 1
        return GREETING_TEXT if n == 0 else self.text.rstrip("。")

    def reply(self, request: ChatRequest) -> str:
        return REPLY if GREETING_TEXT in request.last_user_text else ANSWER

    async def _conversation(self, case: Case | None, delay_s: float) -> Page | None:
        await asyncio.sleep(delay_s)
        mic = CallerAudio(RATE, FRAME_BYTES)
        try:
            async with connect(self.ws_url, origin=self.origin, max_size=None, open_timeout=10, compression=None) as ws:  # type: ignore[arg-type]
                page = Page(ws, mic)
                tasks = [asyncio.create_task(page.listen())]
                try:
                    await ws.send(json.dumps({"type": "hello", "lang": "ja"}))
                    await asyncio.wait_for(page.ready.wait(), 10)
                    tasks.append(asyncio.create_task(page.speak()))
                    await _until(page.greeted, 20)
                    for item in [Speech(read_wav(GREETING_REPLY), "greeting-reply"), *caller_script(case)]:
                        mic.add(item)
                    await _until(lambda: not mic.busy and time.monotonic() - page.player.playing_end() >= QUIET_S, CASE_TIMEOUT_S)
                    await ws.send(json.dumps({"type": "stop"}))
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
                return page
        except (OSError, TimeoutError) as exc:
            logger.warning("browser: case %s failed: %r", case.label if case else "control", exc)
            return None

    async def run_batch(self, cases: list[Case | None]) -> list[Observation]:
        self.text = next((c.text for c in cases if c is not None), "")
        since = time.monotonic()
        pages = await asyncio.gather(*(self._conversation(c, i * STAGGER_S) for i, c in enumerate(cases)))
        return [self._observe(i, case, page, since) for i, (case, page) in enumerate(zip(cases, pages, strict=True))]

    def _observe(self, index: int, case: Case | None, page: Page | None, since: float) -> Observation:
        if page is None or not page.speech_started:
            return observe(index, None, None, None, [], [], RATE, (None, None, None))
        start1 = page.speech_started[1] if len(page.speech_started) >= 2 else None
        # the reply from the caller's answer to the greeting on, or from the gateway's clear if that answer barged
        # into the greeting (a loaded machine left a long gap inside it): the greeting's tail is not the reply's
        before = [t for t in page.clears if start1 is None or t < start1]
        start0 = max([page.speech_started[0], *before])
        onset = None if case is None or start1 is None else start1 + case.onset_ms / 1000
        items = sorted(t for t in page.assistant_items.values() if t > start0)
        answered = None if onset is None else any(t > onset for t in items[1:])  # an assistant item after the reply's
        # cancelled: the page cannot see the engine; turns.py judges it against the batch's control call
        player, bps = page.player, page.player.bytes_per_s
        heard = b"".join(s.pcm[: s.played_bytes(bps)] for s in player.segments if s.end(bps) > start0)
        onset_ms = None if case is None else case.onset_ms
        reply = self._reply_audio(heard, since)
        return observe(index, onset_ms, start0, start1, page.intervals(), page.clears, RATE, (None, answered, answered), heard, 2, reply)

    def _reply_audio(self, heard: bytes, since: float) -> bytes | None:
        """This page's reply as the Speech emulator synthesized it (one synthesizer connection per conversation, so
        its reply sentences in order): the conversation whose audio the page's heard audio is made of."""
        replies: dict[str, bytearray] = {}
        for synthesis in self.speech.syntheses:
            if synthesis.started_at >= since and synthesis.text and synthesis.text in REPLY:
                replies.setdefault(synthesis.connection_id, bytearray()).extend(synthesis.audio)
        probe = next((heard[i : i + 4800] for i in range(0, len(heard) - 4800, 4800) if len(set(heard[i : i + 4800])) > 8), b"")
        best: tuple[int, bytes] | None = None
        for audio in replies.values():
            if not probe or probe not in audio:
                continue  # another conversation's reply (checked cheaply before comparing sample by sample)
            errors = splice_errors(heard, bytes(audio), 2, RATE)
            if errors is not None and (best is None or sum(errors) < best[0]):
                best = (sum(errors), bytes(audio))
        return None if best is None else best[1]


async def _until(predicate, timeout_s: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the page waited in vain")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def browser_line(workdir: Path, turn_taking: dict[str, object]) -> AsyncIterator[BrowserLine]:
    speech = SpeechEmulator(keys=[SPEECH_KEY])
    chat = ChatEmulator(keys=[CHAT_KEY])
    async with serve_app(speech.app, HOST) as speech_url, serve_app(chat.app, HOST) as chat_url:
        port = free_port()
        agents = workdir / "agents"
        env = {
            **served_env(port, workdir, 1),
            "AGENTS_DIR": str(agents),
            "AGENT": bench_agent(agents, "bench-turns", {**PROVIDER_VAD, **turn_taking}),
            "AZURE_SPEECH_KEY": SPEECH_KEY,
            "AZURE_SPEECH_HOST": speech_url.replace("http://", "ws://"),
            "OPENAI_API_KEY": CHAT_KEY,
            "OPENAI_BASE_URL": f"{chat_url}/v1",
            "MINT_RATE_PER_MINUTE": "100000",  # every page comes from 127.0.0.1: a batch is not a flood
        }
        async with served_gateway(workdir, env, 1, port):
            line = BrowserLine(f"ws://{HOST}:{port}/ws/browser", f"http://{HOST}:{port}", speech, chat)
            speech.script = line.recognized
            chat.default = line.reply
            yield line
