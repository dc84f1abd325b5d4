"""The cascade engine: Azure Speech recognition → chat completions with tools → Azure Speech synthesis.

For channels whose audio reaches the gateway itself (the browser's WebSocket fallback) and providers without a
Realtime API. It emits the same typed events as the Realtime engine, so the same ``Conversation`` runs on it:
the first words of a partial result mean "the caller started talking", a final result means "they finished"
(the Speech service's own start/end detection is per turn and far too slow for barge-in). Turn-taking stays the
runner's: this engine answers only when ``respond()`` is called.

A response streams the LLM's text into sentences; each sentence is synthesized as soon as it is complete and its
audio goes out while the LLM is still writing, so the caller hears the first sentence after one sentence of LLM
time plus the synthesis of that sentence. Tool calls run through the shared registry; a result naming the next
scenario step moves the prompt on (prompt chaining), as in the Realtime engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import openai
from openai import AsyncOpenAI

from ..audio import Resampler, b64decode, b64encode, pcm_ms
from ..events import (
    AudioOut,
    EngineEvent,
    InstructionsChanged,
    ResponseDone,
    ResponseStarted,
    SessionError,
    ToolCallFinished,
    ToolCallStarted,
    TranscriptDelta,
    TranscriptFinal,
    UserSpeechStarted,
    UserSpeechStopped,
)
from ..tools.mcp_source import mcp_tool_names
from .base import AgentSetup, EngineUnavailable
from .chat_history import ChatHistory, Entry, ToolCallRecord
from .sentences import SentenceSplitter, split_all
from .speaker import SYNTHESIS_RATE, Speaker
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

SPOKEN_STYLE = (
    "\n\n# 音声での応答 (spoken replies)\n"
    "あなたの返答は音声合成で読み上げられます。マークダウン、箇条書き、記号、絵文字は使わず、短い文で話してください。"
)
RECOGNITION_RESTARTS = 3
_END = object()


@dataclass(slots=True)
class ResponseTiming:
    """Monotonic timestamps of one response, for latency benchmarks (first LLM sentence → first audio sent)."""

    response_id: str
    requested_at: float
    first_token_at: float | None = None
    first_sentence_at: float | None = None
    first_audio_at: float | None = None  # first synthesized chunk emitted as AudioOut
    done_at: float | None = None
    status: str = ""
    item_ids: list[str] = field(default_factory=list)


class CascadeSession:
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

    # --- one response ----------------------------------------------------------------------------------------------
    async def _llm_response(self, instructions: str | None) -> None:
        async with self._response_scope() as (timing, speaker):
            for round_no in range(self.max_tool_rounds + 1):
                await self._tools_settled()
                _, calls = await self._stream_round(timing, speaker, instructions, last=round_no == self.max_tool_rounds)
                if not calls:
                    break
                task = self._spawn(self._run_tools(calls), "cascade-tools")
                await asyncio.shield(task)  # a barge-in does not abandon a tool half-way; its result is kept
            await speaker.finish()

    async def _fixed_response(self, text: str) -> None:
        async with self._response_scope() as (timing, speaker):
            item_id = self._new_item(timing)
            entry = self.history.assistant(item_id)
            entry.content = text
            self._open_entries.append(entry)
            for sentence in split_all(text):
                self._sentence(timing, speaker, item_id, sentence)
            self._emit(TranscriptDelta("assistant", text, item_id))
            speaker.mark(lambda: self._final(entry))
            await speaker.finish()

    @contextlib.asynccontextmanager
    async def _response_scope(self) -> AsyncIterator[tuple[ResponseTiming, Speaker]]:
        """ResponseStarted … ResponseDone around a response, whatever ends it; cancelled audio is marked unplayable."""
        timing = ResponseTiming(f"resp-{next(self._response_ids)}", self.clock())
        self.timings.append(timing)
        self._emit(ResponseStarted(timing.response_id))
        speaker = Speaker(self._synth, self._audio_callback(timing), self._synthesis_error)
        self._open_entries = []
        status = "failed"
        try:
            yield timing, speaker
            status = "completed"
        except asyncio.CancelledError:
            status = "cancelled"
            self._cancelled_items.extend(timing.item_ids)
            raise
        except openai.APIError as exc:
            logger.warning("chat completion failed: %s", exc)
            self._emit(SessionError(f"chat: {type(exc).__name__}: {getattr(exc, 'message', exc)}"))
        except Exception as exc:  # a bug in one response must not end the conversation
            logger.exception("cascade response failed")
            self._emit(SessionError(f"response failed: {type(exc).__name__}"))
        finally:
            await speaker.stop()
            self._close_entries(status)
            timing.done_at, timing.status = self.clock(), status
            self._emit(ResponseDone(timing.response_id, status))
            _log_timing(timing)

    def _close_entries(self, status: str) -> None:
        """After a cancel, the agent's messages hold only the sentences that reached synthesis (``truncate`` then
        trims them to what was heard); each item's final transcript goes out exactly once."""
        for entry in self._open_entries:
            if status != "completed":
                entry.content = self.history.spoken_text(entry.item_id)
            if entry.content:
                self._final(entry)
            self.history.discard_if_empty(entry)
        self._open_entries = []
        self._finalized.clear()

    def _final(self, entry: Entry) -> None:
        if entry.item_id not in self._finalized:
            self._finalized.add(entry.item_id)
            self._emit(TranscriptFinal("assistant", entry.content, entry.item_id))

    def _new_item(self, timing: ResponseTiming) -> str:
        item_id = f"{timing.response_id}-item-{len(timing.item_ids) + 1}"
        timing.item_ids.append(item_id)
        return item_id

    def _sentence(self, timing: ResponseTiming, speaker: Speaker, item_id: str, sentence: str) -> None:
        if timing.first_sentence_at is None:
            timing.first_sentence_at = self.clock()
        speaker.say(item_id, sentence)

    def _audio_callback(self, timing: ResponseTiming) -> Callable[[str, str, bytes, bool], None]:
        def on_audio(item_id: str, sentence: str, pcm: bytes, first_of_sentence: bool) -> None:
            if timing.first_audio_at is None:
                timing.first_audio_at = self.clock()
            self.history.spoken(item_id, sentence, pcm_ms(len(pcm), SYNTHESIS_RATE), new_segment=first_of_sentence)
            self._emit(AudioOut(b64encode(pcm), len(pcm), item_id))

        return on_audio

    def _synthesis_error(self, message: str) -> None:
        self._emit(SessionError(message))

    def _system_prompt(self, instructions: str | None) -> str:
        prompt = self.profile.instructions(self.step) + SPOKEN_STYLE
        return f"{prompt}\n\n{instructions}" if instructions else prompt

    def _tools(self) -> list[dict[str, Any]]:
        registry = self.setup.registry
        names = list(self.profile.tools) + mcp_tool_names(registry, self.profile.mcp_servers)
        return registry.chat_schemas(names)

    async def _stream_round(
        self, timing: ResponseTiming, speaker: Speaker, instructions: str | None, last: bool
    ) -> tuple[Entry, list[ToolCallRecord]]:
        """One chat completion, streamed: text to sentences to the speaker, tool calls collected."""
        kwargs: dict[str, Any] = {"model": self.model, "messages": self.history.request(self._system_prompt(instructions)), "stream": True}
        tools = self._tools()
        if tools:
            kwargs["tools"] = tools
            if last:
                kwargs["tool_choice"] = "none"  # enough tool rounds: the model must answer now
        item_id = self._new_item(timing)
        entry = self.history.assistant(item_id)
        self._open_entries.append(entry)
        splitter = SentenceSplitter()
        calls: dict[int, ToolCallRecord] = {}
        stream = await self.client.chat.completions.create(**kwargs)
        try:
            async for chunk in stream:
                if not chunk.choices:
                    continue  # Azure's first chunk carries only prompt filter results
                delta = chunk.choices[0].delta
                if delta is None:
                    continue
                if delta.content:
                    if timing.first_token_at is None:
                        timing.first_token_at = self.clock()
                    entry.content += delta.content
                    self._emit(TranscriptDelta("assistant", delta.content, item_id))
                    for sentence in splitter.push(delta.content):
                        self._sentence(timing, speaker, item_id, sentence)
                for piece in delta.tool_calls or []:
                    call = calls.setdefault(piece.index, ToolCallRecord("", "", ""))
                    call.call_id = piece.id or call.call_id
                    if piece.function is not None:
                        call.name += piece.function.name or ""
                        call.arguments += piece.function.arguments or ""
        finally:
            await stream.close()
        rest = splitter.flush()
        if rest:
            self._sentence(timing, speaker, item_id, rest)
        if entry.content:
            speaker.mark(lambda: self._final(entry))  # the transcript is final once all of it is synthesized
        found = [c for _, c in sorted(calls.items()) if c.call_id and c.name]
        if last and found:
            logger.warning("the model still asked for tools after %d rounds; ignoring %s", self.max_tool_rounds, [c.name for c in found])
            found = []
        entry.tool_calls = found
        return entry, found

    # --- tools -----------------------------------------------------------------------------------------------------
    async def _run_tools(self, calls: list[ToolCallRecord]) -> None:
        await asyncio.gather(*(self._run_tool(call) for call in calls))

    async def _run_tool(self, call: ToolCallRecord) -> None:
        self._emit(ToolCallStarted(call.call_id, call.name, call.arguments))
        outcome = await self.setup.registry.call(call.name, call.arguments, self.setup.tool_context)
        call.result = outcome.to_json()
        self._emit(ToolCallFinished(call.call_id, call.name, call.arguments, outcome.ok, call.result, outcome.duration_ms))
        if outcome.next_step:
            await self.move_to_step(outcome.next_step)  # prompt chaining: the next request runs on the next step

    async def _tools_settled(self) -> None:
        """Tools of an interrupted response may still run: their results must be in the history before we ask again."""
        pending = [t for t in self._tasks if t.get_name() == "cascade-tools" and not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=self.tool_settle_timeout)


def _log_timing(timing: ResponseTiming) -> None:
    if timing.first_sentence_at is not None and timing.first_audio_at is not None:
        logger.info(
            "response %s %s: first sentence → first audio %.0f ms (request → first token %s ms)",
            timing.response_id,
            timing.status,
            (timing.first_audio_at - timing.first_sentence_at) * 1000,
            f"{(timing.first_token_at - timing.requested_at) * 1000:.0f}" if timing.first_token_at else "-",
        )
