"""One response of the cascade engine: the LLM turn loop with tool calls, sentence-by-sentence synthesis, and
the response's timing and transcript bookkeeping.

``CascadeResponses`` is mixed into ``CascadeSession`` (see ``cascade.py``), which owns the state it uses and
decides when a response starts or is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import openai

from .. import readings
from ..audio import b64encode, pcm_ms
from ..events import (
    AudioOut,
    EngineEvent,
    ResponseDone,
    ResponseStarted,
    SessionError,
    ToolCallFinished,
    ToolCallStarted,
    TranscriptDelta,
    TranscriptFinal,
)
from ..tools.mcp_source import mcp_tool_names
from .chat_history import ChatHistory, Entry, ToolCallRecord
from .sentences import SentenceSplitter, split_all
from .speaker import SYNTHESIS_RATE, Speaker

if TYPE_CHECKING:
    from openai import AsyncOpenAI

    from .base import AgentSetup
    from .speech_io import Synthesizer

logger = logging.getLogger(__name__)

SPOKEN_STYLE = (
    "\n\n# 音声での応答 (spoken replies)\n"
    "あなたの返答は音声合成で読み上げられます。マークダウン、箇条書き、記号、絵文字は使わず、短い文で話してください。"
)


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


class CascadeResponses:
    """The body of a response: ``_llm_response`` (chat rounds and tools) or ``_fixed_response`` (a set text)."""

    setup: AgentSetup
    profile: Any
    client: AsyncOpenAI
    model: str
    max_tool_rounds: int
    tool_settle_timeout: float
    clock: Callable[[], float]
    step: str
    history: ChatHistory
    timings: deque[ResponseTiming]
    _synth: Synthesizer
    _tasks: set[asyncio.Task[Any]]
    _cancelled_items: deque[str]
    _response_ids: itertools.count[int]
    _open_entries: list[Entry]
    _finalized: set[str]

    if TYPE_CHECKING:

        def _emit(self, event: EngineEvent) -> None: ...
        def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]: ...
        async def move_to_step(self, step: str) -> None: ...

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

    def _ssml(self, sentence: str) -> str:
        """The sentence as SSML, read with the deployment's dictionary; what the tools returned (a customer's
        address, say) is the call's context for place names."""
        voice = self._synth.voice or self.setup.settings.greeting_voice
        return readings.ssml(sentence, voice, self._synth.language, self.setup.readings, self.history.tool_results())

    @contextlib.asynccontextmanager
    async def _response_scope(self) -> AsyncIterator[tuple[ResponseTiming, Speaker]]:
        """ResponseStarted … ResponseDone around a response, whatever ends it; cancelled audio is marked unplayable."""
        timing = ResponseTiming(f"resp-{next(self._response_ids)}", self.clock())
        self.timings.append(timing)
        self._emit(ResponseStarted(timing.response_id))
        speaker = Speaker(self._synth, self._ssml, self._audio_callback(timing), self._synthesis_error)
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
            log_timing(timing)

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


def log_timing(timing: ResponseTiming) -> None:
    if timing.first_sentence_at is not None and timing.first_audio_at is not None:
        logger.info(
            "response %s %s: first sentence → first audio %.0f ms (request → first token %s ms)",
            timing.response_id,
            timing.status,
            (timing.first_audio_at - timing.first_sentence_at) * 1000,
            f"{(timing.first_token_at - timing.requested_at) * 1000:.0f}" if timing.first_token_at else "-",
        )
