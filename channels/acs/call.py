"""One phone call: greeting while the AI session warms up, then the media bridge, then a clean end.

Timeline: CallConnected → start the Realtime session in the background and play the greeting at once (ACS
text-to-speech, so the caller never hears dead air) → PlayCompleted → start media streaming → the media socket
arrives and picks up the already-warm session (never a second one) → the conversation runs → hang-up.
If the provider cannot be had, the caller hears an apology and the call ends cleanly, transcript kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from gateway import readings
from gateway.conversation import Conversation
from gateway.engines.base import EngineUnavailable
from gateway.engines.realtime import RealtimeSession
from gateway.events import Health, SessionError, TranscriptFinal
from gateway.handoff import CODE_DIGITS, TooManyAttempts
from gateway.hub import SessionInfo
from gateway.logs import session_context
from gateway.profiles import AgentProfile
from gateway.services import Gateway

from .control import CallControl
from .media import AcsAudioSink, CallerAudio
from .wire import AudioFrame, AudioMetadata, Dtmf, WireError, parse_media

logger = logging.getLogger(__name__)

APOLOGY = "申し訳ございません。ただいまシステムに接続できません。恐れ入りますが、しばらくしてからおかけ直しください。"
GREETING_CONTEXT = "greeting"
APOLOGY_CONTEXT = "apology"
ENGINE_WAIT_S = 15.0
APOLOGY_HANGUP_S = 20.0
MAX_BAD_MEDIA_MESSAGES = 100  # ACS never sends malformed messages; a socket that sends this many is not ACS
ACS_RATES = (16_000, 24_000)


class MediaRefused(Exception):
    """The media socket broke the protocol; the socket is closed with ``code`` (1008 policy, 1009 too big)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def phone_session_id(call_key: str) -> str:
    return f"phone-{call_key}"


class PhoneCall:
    def __init__(self, gw: Gateway, control: CallControl, call_key: str, caller: str, profile: AgentProfile) -> None:
        self.gw = gw
        self.control = control
        self.call_key = call_key
        self.session_id = phone_session_id(call_key)
        self.caller = caller
        self.profile = profile
        self.connection_id = ""
        self.greeting_spoken: str | None = None
        self.engine: RealtimeSession | None = None
        self.conversation: Conversation | None = None
        self.outcome = "completed"
        self._engine_task: asyncio.Task[object] | None = None
        self._registered = False
        self._ended = False
        self._apologising = False
        self._hangup_timer: asyncio.Task[object] | None = None
        self._digits = ""
        self._greeting_known = False  # whether this worker saw the greeting played (or fail)
        self._connected = False  # CallConnected handled (deliveries are at-least-once: a repeat changes nothing)
        self._streaming_requested = False
        self.media_connected = asyncio.Event()

    # --- set-up -------------------------------------------------------------------------------------------------
    def register(self) -> None:
        if self._registered or self._ended:
            return
        self._registered = True
        self.gw.media_pending.pop(self.session_id, None)  # the hub counts it from now on
        info = SessionInfo(self.session_id, "phone", self.profile.name, self.caller)
        self.gw.hub.open(info, end=self.hang_up)

    def prewarm(self) -> None:
        """Open the Realtime session now, while the greeting plays; created once, reused by the media socket."""
        if self._engine_task is None:
            with session_context(self.session_id):
                self._engine_task = self.gw.spawn(self._start_engine(), f"prewarm-{self.session_id}")

    async def _start_engine(self) -> RealtimeSession | EngineUnavailable:
        """Any failure here is this call's to report: logged now, returned as the task's result (the caller is told
        at the next step: the greeting's end or the media socket's arrival)."""
        try:
            setup = self.gw.agent_setup(self.session_id, "phone", self.caller, self.profile)
            engine = self.gw.realtime_session(setup)
            await engine.start()
        except EngineUnavailable as exc:
            logger.error("realtime session set-up failed: %s", exc)
            return exc
        except Exception as exc:
            logger.exception("realtime session set-up failed")
            return EngineUnavailable(f"session set-up failed: {type(exc).__name__}: {exc}")
        self.engine = engine
        logger.info("realtime session ready")
        return engine

    async def engine_ready(self, timeout: float = ENGINE_WAIT_S) -> RealtimeSession:
        self.prewarm()
        assert self._engine_task is not None
        try:
            result = await asyncio.wait_for(asyncio.shield(self._engine_task), timeout)
        except TimeoutError:
            raise EngineUnavailable("the AI provider did not answer in time") from None
        if isinstance(result, EngineUnavailable):
            raise result
        assert isinstance(result, RealtimeSession)
        return result

    def engine_failed(self) -> bool:
        task = self._engine_task
        return bool(task and task.done() and not task.cancelled() and isinstance(task.result(), EngineUnavailable))

    def _ssml(self, text: str, voice: str) -> str:
        return readings.ssml(text, voice, self.profile.language, self.gw.readings.current())

    # --- callbacks ------------------------------------------------------------------------------------------------
    async def on_connected(self, connection_id: str) -> None:
        if self._connected or self._ended:
            return
        self._connected = True
        self.connection_id = connection_id or self.connection_id
        self.register()
        self.prewarm()
        self._greeting_known = True
        greeting = self.greeting_text()
        if self.profile.greeting_mode == "play" and greeting:
            voice = self.profile.tts_voice or self.gw.settings.greeting_voice
            if self.gw.settings.greeting_voice and self.gw.settings.greeting_text:
                voice = self.gw.settings.greeting_voice
            try:
                await self.control.play_ssml(self.connection_id, self._ssml(greeting, voice), GREETING_CONTEXT)
            except Exception as exc:  # the caller must not wait in silence for a greeting that will never play
                logger.error("greeting play failed (%s): the agent greets instead", exc)
                await self._bridge()
                return
            self.greeting_spoken = greeting
            self.gw.hub.publish(self.session_id, TranscriptFinal("assistant", greeting))
        else:
            await self._bridge()

    async def _bridge(self) -> None:
        """Ask ACS to connect the media socket (once); if it cannot, the caller hears the apology."""
        if self._streaming_requested or self._ended:
            return
        self._streaming_requested = True
        if self.engine_failed():
            await self.apologise()
            return
        try:
            await self.control.start_streaming(self.connection_id)
        except Exception as exc:
            logger.error("starting media streaming failed: %s", exc)
            await self.apologise()

    def greeting_text(self) -> str | None:
        return self.gw.settings.greeting_text or self.profile.greeting

    async def on_play_finished(self, operation_context: str, ok: bool) -> None:
        if operation_context == APOLOGY_CONTEXT:
            await self.hang_up()
            return
        if operation_context != GREETING_CONTEXT:
            return
        self._greeting_known = True
        if not ok:
            self.greeting_spoken = None  # the agent will greet instead
        await self._bridge()

    async def apologise(self) -> None:
        """Tell the caller we cannot help right now, then hang up (also if the play never completes)."""
        if self._apologising or not self.connection_id:
            return
        self._apologising = True
        if not self.outcome.startswith("provider"):  # keep "provider_lost" when the session died mid-call
            self.outcome = "provider_unavailable"
        self.gw.hub.publish(self.session_id, SessionError("AI provider unavailable: apology played, call ended", fatal=True))
        try:
            voice = self.profile.tts_voice or self.gw.settings.greeting_voice
            await self.control.play_ssml(self.connection_id, self._ssml(APOLOGY, voice), APOLOGY_CONTEXT)
        except Exception:  # if even the play fails, hang up at once
            logger.exception("apology play failed")
            await self.hang_up()
            return
        self._hangup_timer = self.gw.spawn(self._hang_up_later(APOLOGY_HANGUP_S), f"apology-timeout-{self.session_id}")

    async def _hang_up_later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        await self.hang_up()

    async def hang_up(self) -> None:
        if self.connection_id and not self._ended:
            try:
                await self.control.hang_up(self.connection_id)
            except Exception as exc:  # already gone is fine
                logger.info("hang-up: %s", exc)
        await self.finish("hung_up" if self.outcome == "completed" else self.outcome)

    # --- media ----------------------------------------------------------------------------------------------------
    async def run_media(self, receive: Callable[[], Awaitable[str | bytes]], send: Callable[[str], Awaitable[None]]) -> None:
        """Bridge the media socket to the engine until either side ends."""
        self.register()
        self.media_connected.set()
        self.gw.hub.publish(self.session_id, Health("connected", "phone audio connected"))
        try:
            engine = await self.engine_ready()
        except EngineUnavailable as exc:
            logger.error("no AI session for this call: %s", exc)
            await self.apologise()
            return
        if self.greeting_spoken is None and not self._greeting_known:
            # this worker did not see the call connect (its callbacks went to another worker): the greeting was
            # played there if the profile plays one, so the agent must not greet a second time
            self.greeting_spoken = self.greeting_text() if self.profile.greeting_mode == "play" else None
        sink = AcsAudioSink(send, self.control.sample_rate)
        caller_audio = CallerAudio(self.control.sample_rate)
        conversation = Conversation(self.session_id, engine, sink, self.gw.hub, self.profile)
        self.conversation = conversation
        await conversation.begin(self.greeting_spoken)
        runner = asyncio.create_task(conversation.run(), name=f"conversation-{self.session_id}")
        bad_frames = 0
        max_bytes = self.gw.settings.max_ws_message_bytes
        try:
            while not runner.done():
                message = await receive()
                try:
                    if len(message) > max_bytes:  # also bounded by Hypercorn when served by the CLI
                        raise MediaRefused(1009, "media message too big")
                    item = parse_media(message)
                    if type(item) is AudioFrame:
                        b64 = caller_audio.to_engine(item.b64)
                    elif isinstance(item, AudioMetadata) and item.sample_rate not in ACS_RATES:
                        raise WireError(f"unsupported sample rate {item.sample_rate}")
                except (WireError, ValueError, TypeError, OverflowError, RecursionError) as exc:  # malformed, not ACS
                    bad_frames += 1
                    if bad_frames <= 3:
                        logger.warning("malformed media message ignored: %s", exc)
                    if bad_frames > MAX_BAD_MEDIA_MESSAGES:
                        raise MediaRefused(1008, "too many malformed media messages") from None
                    continue
                if type(item) is AudioFrame:
                    await engine.send_audio_b64(b64)
                    await conversation.caller_audio(b64)
                elif isinstance(item, AudioMetadata):
                    if item.sample_rate != self.control.sample_rate:
                        logger.warning("ACS streams %d Hz, expected %d Hz; resampling", item.sample_rate, self.control.sample_rate)
                        caller_audio = CallerAudio(item.sample_rate)
                elif isinstance(item, Dtmf):
                    self._on_dtmf(item.digits, conversation)
        finally:
            if runner.done() and not runner.cancelled() and runner.result() == "provider_lost":
                self.outcome = "provider_lost"
                self.gw.spawn(self.apologise(), f"apology-{self.session_id}")
            else:
                runner.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await runner

    def _on_dtmf(self, digits: str, conversation: Conversation) -> None:
        """Keyed digits collect into a handoff code; six of them continue a conversation from another channel."""
        self._digits = (self._digits + digits)[-CODE_DIGITS:]
        if len(self._digits) == CODE_DIGITS:
            code, self._digits = self._digits, ""
            self.gw.spawn(self._continue_from(code, conversation), f"handoff-{self.session_id}")

    async def _continue_from(self, code: str, conversation: Conversation) -> None:
        await self.gw.writer.flush(timeout=5)
        try:
            continuation = await self.gw.handoffs.claim(code, self.session_id, self.caller)
        except TooManyAttempts:
            await conversation.engine.respond("引き継ぎコードの入力が多すぎるため、しばらく確認できません。お詫びして、このままご用件を伺ってください。")
            return
        if continuation is None:
            await conversation.engine.respond("お客様が入力された引き継ぎコードは無効でした。コードをご確認いただくようお願いしてください。")
            return
        await conversation.continue_from(continuation)

    async def finish(self, outcome: str) -> None:
        """Close everything this call owns; safe to call more than once."""
        if self._ended:
            return
        self._ended = True
        self.gw.media_pending.pop(self.session_id, None)
        if self._hangup_timer is not None and self._hangup_timer is not asyncio.current_task():
            self._hangup_timer.cancel()
        with session_context(self.session_id):
            if self._engine_task is not None and not self._engine_task.done():
                self._engine_task.cancel()
                await asyncio.gather(self._engine_task, return_exceptions=True)
            if self.engine is not None:
                await self.engine.close()
            if self._registered:
                self.gw.hub.close(self.session_id, outcome)
            logger.info("call ended (%s)", outcome)
