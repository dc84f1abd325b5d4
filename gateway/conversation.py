"""Runs one live conversation, whatever the channel: engine events to the caller, turn-taking, hub publishing.

Turn-taking is the gateway's, not the provider's (the engines ask for no automatic responses), because the field
taught two lessons: a caller's backchannel (はい, うん) spoken over the agent must neither interrupt it nor get an
answer, and a real interruption must stop what the caller hears at once and make the model forget what was never
heard. So: speech that starts while the agent is audible interrupts only once ``barge_in_min_ms`` of voiced audio
has followed (the provider's speech-stopped event comes a whole silence window late, too late to measure a short
"はい"); speech that ends while the agent is still audible is a backchannel and gets no reply; anything else is a
turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Protocol

from .audio import REALTIME_RATE, b64decode, pcm_ms, rms
from .engines.base import EngineSession
from .events import (
    AudioOut,
    BackchannelIgnored,
    BargeIn,
    EngineReconnected,
    Health,
    InstructionsChanged,
    ResponseDone,
    ResponseStarted,
    SessionError,
    ToolCallFinished,
    ToolCallStarted,
    TranscriptDelta,
    TranscriptFinal,
    TurnLatency,
    UserSpeechStarted,
    UserSpeechStopped,
)
from .handoff import Continuation
from .heard import HeardTranscripts
from .hub import SessionHub
from .playout import Playout, ReplyGate
from .profiles import AgentProfile

logger = logging.getLogger(__name__)


class AudioSink(Protocol):
    """A channel's way to the caller's ears."""

    async def play(self, audio: AudioOut) -> None: ...

    async def clear(self) -> int:
        """Drop queued audio on the device; return ms of the current item heard."""
        ...

    def audible(self) -> bool: ...

    async def flush(self) -> None:
        """The response ended: send any partial frame still held back."""
        ...

    @property
    def item_id(self) -> str:
        """The agent item being played (what a truncate refers to)."""
        ...

    @property
    def playout(self) -> Playout:
        """The caller's playback as this channel knows it (modelled, or from the device's marks): the one view a
        turn-taking policy reads, whatever the carrier."""
        ...


VOICED_RMS = 400.0  # PCM16 RMS above which a 20 ms frame counts as the caller's voice (about -38 dBFS)


class Conversation:
    def __init__(
        self,
        session_id: str,
        engine: EngineSession,
        sink: AudioSink,
        hub: SessionHub,
        profile: AgentProfile,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session_id = session_id
        self.engine = engine
        self.sink = sink
        self.hub = hub
        self.profile = profile
        self.clock = clock
        self.barge_ins = 0
        self.latencies_ms: list[float] = []
        self._response_active = False
        self._user_speaking = False
        self._overlapped = False
        self._barged = False
        self._stopped_at: float | None = None
        self._voiced_ms = 0.0
        self._barge_pending = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._pending_backchannel: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._heard = HeardTranscripts(engine.rate, getattr(engine, "sample_width", 2))
        self._interrupted = ReplyGate()  # replies cut off by the caller: a late delta of one is never played

    def agent_audible(self) -> bool:
        return self._response_active or self.sink.audible()

    async def begin(self, greeting_spoken: str | None) -> None:
        """The caller can hear us now: either the greeting was already spoken by the channel (it is in the transcript
        already; the model is told it was said), or the agent opens."""
        if greeting_spoken:
            await self.engine.add_message("assistant", greeting_spoken)
        elif (directive := self.profile.greeting_directive()) is not None:
            self._stopped_at = self.clock()
            await self.engine.respond(directive)

    async def continue_from(self, continuation: Continuation) -> None:
        """Pick up a conversation begun on another channel: its words and tool results, its scenario step."""
        if self._response_active:  # the caller keyed the code over the agent: the code wins
            await self.barge_in()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), timeout=3)
        for role, text in continuation.history:
            await self.engine.add_message(role, text)
        if continuation.step:
            await self.engine.move_to_step(continuation.step)
        self.hub.publish(self.session_id, Health("continued", f"continues {continuation.conversation_id}"))
        self._stopped_at = self.clock()
        await self.engine.respond(continuation.briefing())

    async def run(self) -> str:
        """Pump engine events until the engine ends; returns the outcome for the record."""
        outcome = "completed"
        try:
            async for event in self.engine.events():
                if type(event) is AudioOut:
                    await self._on_audio(event)
                elif isinstance(event, UserSpeechStarted):
                    self._on_speech_started()
                elif isinstance(event, UserSpeechStopped):
                    await self._on_speech_stopped()
                elif isinstance(event, ResponseStarted):
                    self._response_active = True
                    self._idle.clear()
                elif isinstance(event, ResponseDone):
                    self._response_active = False
                    self._idle.set()
                    if not self._barged:
                        await self.sink.flush()
                elif isinstance(event, TranscriptFinal):
                    self._on_transcript(event)
                elif isinstance(event, TranscriptDelta | ToolCallStarted | ToolCallFinished):
                    self.hub.publish(self.session_id, event)
                elif isinstance(event, InstructionsChanged):
                    self.hub.publish(self.session_id, Health("ok", f"scenario step: {event.step}"))
                elif isinstance(event, EngineReconnected):
                    self.hub.set_health(self.session_id, "ok")
                    self.hub.publish(self.session_id, Health("reconnected", f"provider restored after {event.attempts} attempt(s)"))
                elif isinstance(event, SessionError):
                    self.hub.publish(self.session_id, event)
                    if event.fatal:
                        self.hub.set_health(self.session_id, "failed")
                        outcome = "provider_lost"
                        break
        finally:
            for task in self._tasks:
                task.cancel()
        return outcome

    async def _on_audio(self, audio: AudioOut) -> None:
        if self._barged or self._interrupted.ticket(audio.item_id) is None:
            return  # the remains of a cancelled response
        if self._stopped_at is not None:
            ms = (self.clock() - self._stopped_at) * 1000
            self._stopped_at = None
            self.latencies_ms.append(ms)
            self.hub.publish(self.session_id, TurnLatency(round(ms, 1)))
        self._heard.audio(audio.item_id, audio.nbytes)
        await self.sink.play(audio)

    async def caller_audio(self, b64: str) -> None:
        """Every caller frame (24 kHz) passes here; it is only decoded while a barge-in decision is pending."""
        if not self._barge_pending:
            return
        try:
            pcm = b64decode(b64)
            voiced = rms(pcm) >= VOICED_RMS
        except ValueError:  # malformed caller audio (bad base64, odd length) is not a voice
            return
        if voiced:
            self._voiced_ms += pcm_ms(len(pcm), REALTIME_RATE)
            if self._voiced_ms >= self.profile.turn_taking.barge_in_min_ms:
                self._barge_pending = False
                if self.agent_audible():
                    await self.barge_in()

    def _on_speech_started(self) -> None:
        self._user_speaking = True
        self._barged = False
        self._overlapped = self.agent_audible()
        self._barge_pending = self._overlapped
        self._voiced_ms = 0.0

    async def barge_in(self) -> None:
        """The caller really interrupts: silence the device, cancel, and truncate to what was heard."""
        self._barged = True
        self.barge_ins += 1
        item_id = self.sink.item_id
        self._interrupted.interrupt(item_id)
        played = await self.sink.clear()
        if self._response_active:
            await self.engine.cancel_response()
        await self.engine.truncate(item_id, played)
        self.hub.publish(self.session_id, BargeIn(played))
        amended = self._heard.interrupted(item_id, played)
        if amended is not None:
            self.hub.publish(self.session_id, amended)
        logger.info("barge-in: caller heard %d ms of %s", played, item_id or "the reply")

    async def _on_speech_stopped(self) -> None:
        self._user_speaking = False
        self._barge_pending = False
        if self._overlapped and not self._barged and self.agent_audible():
            self._pending_backchannel = "?"
            logger.info("short speech over the agent treated as a backchannel; the agent goes on")
            return
        self._stopped_at = self.clock()
        self._barged = False
        await self.engine.respond()

    def _on_transcript(self, event: TranscriptFinal) -> None:
        if event.role == "user" and self._pending_backchannel is not None:
            self._pending_backchannel = None
            self.hub.publish(self.session_id, BackchannelIgnored(event.text))
        if event.role == "assistant":
            event = self._heard.final(event)
        self.hub.publish(self.session_id, event)
