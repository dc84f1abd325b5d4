"""The cascade engine: Azure Speech recognition → chat completions with tools → Azure Speech synthesis.

For channels whose audio reaches the gateway itself (the browser's WebSocket fallback) and providers without a
Realtime API. It emits the same typed events as the Realtime engine, so the same ``Conversation`` runs on it:
the first words of a partial result mean "the caller started talking", a final result means "they finished"
(the Speech service's own start/end detection is per turn and far too slow for barge-in). Turn-taking stays the
runner's: this engine answers only when ``respond()`` is called.

A response streams the LLM's text into sentences; each sentence is synthesized as soon as it is complete and its
audio goes out while the LLM is still writing, so the caller hears the first sentence after one sentence of LLM
time plus the synthesis of that sentence. Tool calls run through the shared registry; a result naming the next
scenario step moves the prompt on (prompt chaining), as in the Realtime engine. The response itself (LLM rounds,
tools, timing) is in ``cascade_response.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from openai import AsyncOpenAI

from ..audio import Resampler, b64decode
from ..events import (
    AudioOut,
    EngineEvent,
    InstructionsChanged,
    SessionError,
    TranscriptFinal,
    UserSpeechStarted,
    UserSpeechStopped,
)
from .base import AgentSetup, EngineUnavailable
from .cascade_response import SPOKEN_STYLE, CascadeResponses, ResponseTiming
from .chat_history import ChatHistory, Entry
from .speech_io import (
    RECOGNITION_RATE,
    Hypothesis,
    Phrase,
    RecognitionEvent,
    RecognitionFailed,
    Recognizer,
    SpeechTarget,
    SpeechUnavailable,
    Synthesizer,
)

logger = logging.getLogger(__name__)

__all__ = ["SPOKEN_STYLE", "CascadeSession", "ResponseTiming"]

RECOGNITION_RESTARTS = 3
_END = object()


class CascadeSession(CascadeResponses):
    rate = 24_000

    def __init__(
        self,
        setup: AgentSetup,
        chat: tuple[AsyncOpenAI, str],
        speech: SpeechTarget,
        *,
        language: str | None = None,
        voice: str | None = None,
        max_tool_rounds: int = 4,
        tool_settle_timeout: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.setup = setup
        self.profile = setup.profile
        self.client, self.model = chat
        self.speech = speech
        self.language = language or self.profile.language
        self.voice = voice or self.profile.tts_voice or setup.settings.greeting_voice
        self.max_tool_rounds = max_tool_rounds
        self.tool_settle_timeout = tool_settle_timeout or setup.settings.tool_timeout_s + 1
        self.clock = clock
        self.step = setup.step or self.profile.first_step
        self.history = ChatHistory(setup.history)
        self.timings: deque[ResponseTiming] = deque(maxlen=200)
        self._events: asyncio.Queue[Any] = asyncio.Queue()
        self._resampler = Resampler(self.rate, RECOGNITION_RATE)
        self._recognizer: Recognizer | None = None
        self._synth = Synthesizer(speech, self.voice, self.language)
        self._response: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._cancelled_items: deque[str] = deque(maxlen=64)
        self._response_ids = itertools.count(1)
        self._user_ids = itertools.count(1)
        self._open_entries: list[Entry] = []  # the agent messages of the response in flight
        self._finalized: set[str] = set()  # items whose TranscriptFinal went out
        self._user_item = ""
        self._unanswered = False
        self._closing = False

    # --- lifecycle ------------------------------------------------------------------------------------------------
    async def start(self) -> None:
        try:
            self._recognizer = await self._new_recognizer()
            self._synth.open()
        except (SpeechUnavailable, RuntimeError, ValueError) as exc:
            await self._stop_speech()
            raise EngineUnavailable(f"Azure Speech: {exc}") from exc
        logger.info("cascade engine ready (%s, voice %s, model %s)", self.language, self.voice, self.model)

    async def _new_recognizer(self) -> Recognizer:
        recognizer = Recognizer(
            self.speech, self.language, self._on_recognition, segmentation_silence_ms=self.profile.turn_taking.silence_duration_ms
        )
        await recognizer.start()
        return recognizer

    async def close(self) -> None:
        self._closing = True
        await self.cancel_response()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._stop_speech()
        self._events.put_nowait(_END)

    async def _stop_speech(self) -> None:
        recognizer, self._recognizer = self._recognizer, None
        if recognizer is not None:
            await recognizer.stop()
        await self._synth.close()

    # --- caller audio ---------------------------------------------------------------------------------------------
    async def send_audio_b64(self, b64: str) -> None:
        await self.send_pcm(b64decode(b64))

    async def send_pcm(self, pcm: bytes) -> None:
        """Caller audio, PCM16 mono at ``rate``; resampled to the 16 kHz the Speech service is fed."""
        if self._recognizer is not None and not self._closing:
            self._recognizer.write(self._resampler.process(pcm))

    def _on_recognition(self, event: RecognitionEvent) -> None:
        if self._closing:
            return
        if isinstance(event, Hypothesis):
            if not self._user_item:
                self._user_item = f"user-{next(self._user_ids)}"
                self._emit(UserSpeechStarted(item_id=self._user_item))
        elif isinstance(event, Phrase):
            if event.text:
                if not self._user_item:  # a phrase too short for a partial result
                    self._user_item = f"user-{next(self._user_ids)}"
                    self._emit(UserSpeechStarted(item_id=self._user_item))
                self.history.add("user", event.text, self._user_item)
                self._unanswered = True
                self._emit(UserSpeechStopped(event.offset_ms + event.duration_ms, self._user_item))
                self._emit(TranscriptFinal("user", event.text, self._user_item))
            elif self._user_item:  # noise that looked like speech: the caller stopped, nothing to answer
                self._emit(UserSpeechStopped(event.offset_ms + event.duration_ms, self._user_item))
            self._user_item = ""
        elif isinstance(event, RecognitionFailed):
            logger.warning("speech recognition failed: %s", event.details)
            self._spawn(self._restart_recognition(event.details), "recognition-restart")

    async def _restart_recognition(self, details: str) -> None:
        self._emit(SessionError(f"speech recognition interrupted ({details}); reconnecting"))
        old, self._recognizer = self._recognizer, None
        if old is not None:
            await old.stop()
        delay = 0.25
        for attempt in range(1, RECOGNITION_RESTARTS + 1):
            await asyncio.sleep(delay)
            delay *= 2
            try:
                self._recognizer = await self._new_recognizer()
            except SpeechUnavailable as exc:
                logger.info("recognition restart %d failed: %s", attempt, exc)
                continue
            self._resampler = Resampler(self.rate, RECOGNITION_RATE)
            logger.info("speech recognition restored after %d attempt(s)", attempt)
            return
        self._emit(SessionError("Speech recognition was lost and could not be restored.", fatal=True))

    # --- events ----------------------------------------------------------------------------------------------------
    def _emit(self, event: EngineEvent) -> None:
        self._events.put_nowait(event)

    async def events(self) -> AsyncIterator[EngineEvent]:
        while True:
            event = await self._events.get()
            if event is _END:
                return
            if type(event) is AudioOut and event.item_id in self._cancelled_items:
                continue  # queued audio of a response that was cancelled: never play it
            yield event

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- conversation control -------------------------------------------------------------------------------------
    async def respond(self, instructions: str | None = None) -> None:
        """Run the agent's next turn; without new words from the caller (e.g. noise) there is nothing to answer."""
        if instructions is None and not self._unanswered:
            logger.debug("respond(): nothing new from the caller; no response")
            return
        self._unanswered = False
        await self._replace_response(self._llm_response(instructions))

    async def say(self, text: str) -> None:
        """Speak a fixed text as the agent's turn (e.g. the profile's greeting), without asking the LLM."""
        await self._replace_response(self._fixed_response(text))

    async def add_message(self, role: str, text: str) -> None:
        self.history.add(role, text)
        if role == "user":
            self._unanswered = True

    async def move_to_step(self, step: str) -> None:
        """Prompt chaining from outside (a conversation continued from another channel): the next request uses it."""
        if step in self.profile.steps and step != self.step:
            self.step = step
            self._emit(InstructionsChanged(step))

    async def cancel_response(self) -> None:
        task = self._response
        if task is None or task.done():
            return
        task.cancel()
        await asyncio.wait({task}, timeout=3)

    async def truncate(self, item_id: str, played_ms: int) -> None:
        spoken = self.history.spoken_text(item_id)
        heard = self.history.truncate(item_id, played_ms)
        if heard is not None:
            logger.info("agent item %s truncated to %d ms (%d of %d characters heard)", item_id, played_ms, len(heard), len(spoken))

    async def _replace_response(self, coro: Any) -> None:
        await self.cancel_response()  # a new turn supersedes one still in flight
        if self._closing:
            coro.close()
            return
        self._response = asyncio.create_task(coro, name=f"cascade-response-{self.setup.session_id}")
