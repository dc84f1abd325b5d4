"""Runs one live conversation, whatever the channel: engine events to the caller, turn-taking, hub publishing.

Turn-taking is the gateway's, not the provider's (the engines ask for no automatic responses), because the field
taught two lessons: a caller's backchannel (はい, うん) spoken over the agent must neither interrupt it nor get an
answer, and a real interruption must stop what the caller hears at once and make the model forget what was never
heard. The profile's ``turn_taking.mode`` picks the policy (gateway.turns):

- ``barge_in``: the gateway measures the caller's voice itself (the provider's events come hundreds of ms late);
  after ``pause_after_ms`` of voice over the agent its audio pauses at the ear, the rest held by the gateway
  (gateway.turns.pacer); a caller who falls silent before ``barge_in_min_ms`` was backchannelling and the agent
  resumes from the sample where it paused; longer speech interrupts (cancel, truncate to what was heard); speech
  longer than an aizuchi waits for its transcript (gateway.turns.overlap). Speech that ends while the agent is still
  audible gets no reply, unless its transcript is more than backchannels.
- ``turn_based``: the agent is never interrupted; the provider hears nothing of the caller until the agent's audio
  has played out at the ear, as the sink's playout knows it. ``#`` ends the agent's turn; silence gets a re-prompt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from .audio import MULAW_RATE, REALTIME_RATE, b64decode, mulaw_rms, pcm_ms, rms
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
from .playout import ReplyGate
from .profiles import AgentProfile
from .sink import AudioSink, CallerEncoding
from .turns.backchannels import BackchannelLexicon
from .turns.hold import HoldVerdict, ReplyHold
from .turns.overlap import ONSET_RMS, OverlapJudge, Verdict
from .turns.pacer import PacedPlayout

logger = logging.getLogger(__name__)


VOICED_RMS = 400.0  # PCM16 RMS above which a 20 ms frame counts as the caller's voice (about -38 dBFS)
REPROMPT = "お客様からお返事がありません。直前のご質問を短く言い直して、もう一度お尋ねしてください。"
MAX_REPROMPTS = 2  # in a row, until the caller speaks
WITHDRAWN_RETRY_S = 2.0  # a withdrawn answer, and the provider heard no more of the caller: answer what it has


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
        self._idle = asyncio.Event()
        self._idle.set()
        self._pending_backchannel: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._heard = HeardTranscripts(engine.rate, getattr(engine, "sample_width", 2))
        self._interrupted = ReplyGate()  # replies cut off by the caller: a late delta of one is never played
        turns = profile.turn_taking
        self.turn_based = turns.mode == "turn_based"
        self._lexicon = BackchannelLexicon(profile.language, turns.backchannels)
        self._judge = None if self.turn_based else OverlapJudge(turns.pause_after_ms, turns.barge_in_min_ms, turns.resume_after_silence_ms, voiced_rms=VOICED_RMS)
        self.pacer = PacedPlayout(sink, engine.rate, getattr(engine, "sample_width", 2), clock) if self._judge and turns.pause_after_ms else None
        self._last_activity = clock()
        self._reprompts = 0
        self._hold: ReplyHold | None = None  # the answer to the caller's turn waits for the caller's quiet
        self._held: list[AudioOut | None] = []  # what the provider sent meanwhile (None: a reply's end)
        self._releasing = False
        self._last_voice_at: float | None = None  # the caller's last voiced frame the gateway measured
        self._speech_stopped_at: float | None = None  # the provider's end of the caller's speech
        self._speech_starts = 0

    def agent_audible(self) -> bool:
        """The caller can hear the agent, or is about to (a reply under way); not an answer still held unheard."""
        making = self._response_active and self._hold is None
        return making or self.sink.audible() or (self.pacer is not None and self.pacer.holding())

    def agent_has_the_floor(self) -> bool:
        """The agent is audible, or its answer is held for the caller's quiet and about to sound."""
        return self.agent_audible() or self._hold is not None

    async def drop_held_answer(self) -> None:
        """The caller's device went away with an answer still held for their quiet: it will never be heard."""
        if self._hold is not None:
            await self._withdraw_answer(retry=False)

    def admits_caller_audio(self) -> bool:
        """Whether the provider may hear the caller now: not while a turn-based agent is still audible."""
        return not (self.turn_based and self.agent_audible())

    def keyed(self, digits: str) -> None:
        """``#`` ends the agent's turn (a caller who wants to speak is never stuck behind a long reply)."""
        if "#" in digits and self.agent_audible() and not self._barged:
            self._spawn(self.barge_in())

    async def played_out(self, timeout: float) -> None:
        """Wait (bounded) until the reply held by the gateway has gone to the device, e.g. before a hang-up."""
        deadline = self.clock() + timeout
        while self.clock() < deadline:
            pacing = self.pacer is not None and self.pacer.holding() and not self.pacer.paused
            if not (pacing or self._hold is not None):
                return
            await asyncio.sleep(0.05)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
        if self.turn_based and self.profile.turn_taking.idle_reprompt_ms:
            self._spawn(self._reprompt_when_silent())
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
                    self._barged = False
                    self._idle.clear()
                elif isinstance(event, ResponseDone):
                    self._response_active = False
                    self._idle.set()
                    if self._barged:
                        pass
                    elif self._hold is not None:
                        self._held.append(None)
                    else:
                        await self._reply_done()
                elif isinstance(event, TranscriptFinal):
                    await self._on_transcript(event)
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
            for task in list(self._tasks):
                task.cancel()
            if self.pacer is not None:
                await self.pacer.close()
        return outcome

    async def _on_audio(self, audio: AudioOut) -> None:
        if self._barged or self._interrupted.ticket(audio.item_id) is None:
            return  # the remains of a cancelled response
        if self._hold is not None:
            self._held.append(audio)
            return
        await self._sound(audio)

    async def _sound(self, audio: AudioOut) -> None:
        if self._stopped_at is not None:
            ms = (self.clock() - self._stopped_at) * 1000
            self._stopped_at = None
            self.latencies_ms.append(ms)
            self.hub.publish(self.session_id, TurnLatency(round(ms, 1)))
        self._heard.audio(audio.item_id, audio.nbytes)
        if self.pacer is not None:
            self.pacer.push(audio)
        else:
            await self.sink.play(audio)

    async def _reply_done(self) -> None:
        if self.pacer is not None:
            self.pacer.reply_done()
        else:
            await self.sink.flush()

    async def caller_audio(self, b64: str, encoding: CallerEncoding = "pcm16") -> None:
        """Every caller frame (24 kHz PCM16, or 8 kHz μ-law as a phone sent it) passes here; it is only decoded
        while the agent is audible (barge_in mode)."""
        judge, hold = self._judge, self._hold
        if hold is None and (judge is None or not (judge.in_overlap or self.agent_audible())):
            return
        try:
            raw = b64decode(b64)
            if encoding == "pcmu":
                level, ms = mulaw_rms(raw), len(raw) * 1000 / MULAW_RATE
            else:
                level, ms = rms(raw), pcm_ms(len(raw), REALTIME_RATE)
        except ValueError:  # malformed caller audio (bad base64, odd length) is not a voice
            return
        if level >= ONSET_RMS:
            self._last_voice_at = self.clock()
        if hold is not None and not self._releasing:
            held = hold.frame(level, ms)
            if held is HoldVerdict.RELEASE:
                await self._release_answer(hold)
            elif held is HoldVerdict.WITHDRAW:
                await self._withdraw_answer()
            return
        if judge is None:
            return
        verdict = judge.frame(level, ms, self.agent_audible() and not self._barged)
        if self.pacer is not None:
            self.pacer.lean(judge.in_overlap)
        if verdict is Verdict.PAUSE and self.pacer is not None:
            played = await self.pacer.pause()
            logger.info("caller's voice over the agent: paused at %d ms of %s", played, self.sink.item_id or "the reply")
        elif verdict is Verdict.RESUME and self.pacer is not None:
            self.pacer.resume()
            logger.info("the caller's voice was a backchannel: resumed where it paused")
        elif verdict is Verdict.INTERRUPT and self.agent_audible() and not self._barged:
            await self.barge_in()

    def _on_speech_started(self) -> None:
        self._user_speaking = True
        self._speech_starts += 1
        self._reprompts = 0
        self._overlapped = self.agent_audible() and not self._barged

    async def barge_in(self) -> None:
        """The caller really interrupts: silence the device, cancel, and truncate to what was heard."""
        self._barged = True
        self.barge_ins += 1
        item_id = self.sink.item_id
        self._interrupted.interrupt(item_id)
        if self.pacer is not None:
            self.pacer.drop()
        if self._judge is not None:
            self._judge.reset()
        played = int(await self.sink.clear())  # the model's truncate counts whole ms
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
        self._last_activity = self._speech_stopped_at = self.clock()
        if self._overlapped and not self._barged and self.agent_audible():
            self._pending_backchannel = "?"
            logger.info("short speech over the agent treated as a backchannel; the agent goes on")
            return
        await self._answer_caller()

    async def _answer_caller(self, hold: bool = True) -> None:
        """The caller's turn is over as the provider heard it: ask for the answer, held until the caller has been quiet
        long enough at the gateway's own ear (:mod:`gateway.turns.hold`)."""
        if self._hold is not None:  # an earlier answer still unheard: the caller said more since, answer it all
            await self._withdraw_answer(retry=False)
        self._stopped_at = self.clock()
        # a response cut off (or withdrawn) still active: the provider has not yet read the cancel, and what it made
        # before that still comes; it is dropped until the new answer starts (ResponseStarted)
        self._barged = self._barged and self._response_active
        quiet_ms = self.profile.turn_taking.answer_after_quiet_ms
        if hold and quiet_ms:
            waiting = ReplyHold(quiet_ms, self._caller_quiet_ms())
            if not waiting.ready():
                self._held.clear()
                self._hold = waiting
                self._spawn(self._release_if_no_audio(waiting))
        await self.engine.respond()

    def _caller_quiet_ms(self) -> float:
        """How long the caller has been quiet: the gateway's own measure where it has one, else the provider's end
        of speech (which came ``silence_duration_ms`` after the caller's last voice)."""
        now, known = self.clock(), [float("inf")]
        if self._speech_stopped_at is not None:
            known.append((now - self._speech_stopped_at) * 1000 + self.profile.turn_taking.silence_duration_ms)
        if self._last_voice_at is not None:
            known.append((now - self._last_voice_at) * 1000)
        return min(known)

    async def _release_answer(self, hold: ReplyHold) -> None:
        """The caller's turn is really over: what was held sounds now, in order (audio that arrives meanwhile joins
        the queue, so nothing overtakes it)."""
        if self._hold is not hold or self._releasing:
            return
        self._releasing = True
        try:
            while self._held and self._hold is hold:
                item = self._held.pop(0)
                if item is None:
                    await self._reply_done()
                else:
                    await self._sound(item)
            if self._hold is hold:
                self._hold = None
        finally:
            self._releasing = False

    async def _withdraw_answer(self, retry: bool = True) -> None:
        """The caller spoke again before the held answer sounded: it answered half a sentence. It is dropped unheard
        (the model is told nothing of it was heard) and the caller's whole utterance is answered when they finish."""
        held, self._held, self._hold = self._held, [], None
        self._barged = True  # what is still to come of this answer is dropped on arrival
        if self._response_active:
            await self.engine.cancel_response()
        for item_id in dict.fromkeys(a.item_id for a in held if a is not None):
            self._interrupted.interrupt(item_id)
            await self.engine.truncate(item_id, 0)
            amended = self._heard.interrupted(item_id, 0)
            if amended is not None:
                self.hub.publish(self.session_id, amended)
        logger.info("the caller went on after a pause: the answer to what came before was withdrawn unheard")
        if retry:
            self._spawn(self._answer_unless_caller_heard(self._speech_starts))

    async def _answer_unless_caller_heard(self, starts: int) -> None:
        """After a withdrawal the provider should hear the caller go on and end a new turn; if it heard nothing (the
        voice was too soft for its VAD), the caller must not be left waiting: answer what it has, without a hold."""
        await asyncio.sleep(WITHDRAWN_RETRY_S)
        if self._speech_starts == starts and not self._user_speaking and self._hold is None and not self._response_active:
            logger.info("the provider heard no more of the caller: answering what it has")
            await self._answer_caller(hold=False)

    async def _release_if_no_audio(self, hold: ReplyHold) -> None:
        """Caller frames decide the hold; a line that stopped sending them (a muted page) must not hold it forever."""
        while self._hold is hold:
            frames = hold.frames
            await asyncio.sleep(max(0.0, hold.quiet_ms - hold.quiet_so_far_ms) / 1000 + 0.2)
            if self._hold is hold and hold.frames == frames:
                await self._release_answer(hold)

    async def _on_transcript(self, event: TranscriptFinal) -> None:
        if event.role == "user" and self._pending_backchannel is not None:
            self._pending_backchannel = None
            if not self.turn_based and event.text.strip() and not self._lexicon.matches(event.text):
                # short, but words, not aizuchi (「違います」): a turn after all
                logger.info("short speech over the agent was more than a backchannel: the caller's turn")
                if self.agent_audible():
                    await self.barge_in()
                self.hub.publish(self.session_id, event)
                await self._answer_caller()
                return
            self.hub.publish(self.session_id, BackchannelIgnored(event.text))
            if self._judge is not None and self._judge.transcript(backchannel=True) is Verdict.RESUME and self.pacer is not None:
                self.pacer.resume()  # its words say aizuchi: no need to wait out the silence
                logger.info("the caller's words were a backchannel: resumed where it paused")
        if event.role == "assistant":
            event = self._heard.final(event)
        self.hub.publish(self.session_id, event)

    async def _reprompt_when_silent(self) -> None:
        """Turn-based: a caller who says nothing after the agent's turn is asked again (at most MAX_REPROMPTS times)."""
        idle_s = self.profile.turn_taking.idle_reprompt_ms / 1000
        busy = False
        while True:
            await asyncio.sleep(0.2)
            if self.agent_has_the_floor() or self._user_speaking:
                busy = True
                self._last_activity = self.clock()
            elif busy:  # the agent's audio has just ended at the ear: the caller's silence counts from here, not before
                busy = False
                self._last_activity = self.clock()
            elif self.clock() - self._last_activity >= idle_s and self._reprompts < MAX_REPROMPTS:
                self._reprompts += 1
                self._last_activity = self.clock()
                logger.info("the caller said nothing for %.0f s: asking again", idle_s)
                self._stopped_at = self.clock()
                await self.engine.respond(REPROMPT)
