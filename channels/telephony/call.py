"""One phone call, whatever the carrier: greeting while the AI session warms up, the media bridge, a clean end.

Timeline: the call is answered → the Realtime session starts in the background and the carrier greets at once (so
the caller never hears dead air) → the greeting ends → the carrier connects the media socket → it picks up the
already-warm session (never a second one) → the conversation runs → hang-up. If the provider cannot be had, the
caller hears an apology and the call ends cleanly, transcript kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from gateway.conversation import Conversation
from gateway.engines.base import EngineUnavailable
from gateway.engines.realtime import RealtimeSession
from gateway.events import Health, SessionError, TranscriptFinal
from gateway.hub import SessionInfo
from gateway.logs import session_context
from gateway.profiles import AgentProfile
from gateway.services import Gateway

from .bridge import pump_media
from .carrier import CallControl, MediaAdapter
from .handoff import DtmfHandoff
from .transfer import transfer_to_operator
from .warmup import ENGINE_WAIT_S, EngineWarmup

logger = logging.getLogger(__name__)

APOLOGY = "申し訳ございません。ただいまシステムに接続できません。恐れ入りますが、しばらくしてからおかけ直しください。"
APOLOGY_HANGUP_S = 20.0
GOODBYE_DRAIN_S = 5.0  # at most this long for the caller to hear the last words before the hang-up


def phone_session_id(call_key: str) -> str:
    return f"phone-{call_key}"


class PhoneCall:
    def __init__(
        self, gw: Gateway, control: CallControl, call_key: str, caller: str, profile: AgentProfile, audio_format: str = "pcm",
        channel: str = "phone",
    ) -> None:
        self.gw = gw
        self.channel = channel  # the session's channel as the console and the store name it
        self.control = control
        self.call_key = call_key
        self.session_id = phone_session_id(call_key)
        self.caller = caller
        self.profile = profile
        self.connection_id = ""  # the carrier's id of the call (ACS call connection id, Twilio CallSid)
        self.greeting_spoken: str | None = None
        self.conversation: Conversation | None = None
        self.outcome = "completed"
        self.warmup = EngineWarmup(gw, self.session_id, caller, profile, audio_format, channel)
        self.handoff = DtmfHandoff(gw, self.session_id, caller)
        self.adapter: MediaAdapter | None = None
        self._registered = False
        self._ended = False
        self._apologising = False
        self._hangup_timer: asyncio.Task[object] | None = None
        self._greeting_known = False  # whether this worker saw the greeting played (or fail)
        self._connected = False  # the answer handled (deliveries are at-least-once: a repeat changes nothing)
        self._streaming_requested = False
        self.media_connected = asyncio.Event()

    @property
    def engine(self) -> RealtimeSession | None:
        return self.warmup.engine

    @property
    def ended(self) -> bool:
        return self._ended

    # --- set-up -------------------------------------------------------------------------------------------------
    def register(self) -> None:
        if self._registered or self._ended:
            return
        self._registered = True
        self.gw.media_pending.pop(self.session_id, None)  # the hub counts it from now on
        info = SessionInfo(self.session_id, self.channel, self.profile.name, self.caller)
        self.gw.hub.open(info, end=self.hang_up)
        self.gw.transfers.open(self.session_id, lambda reason: transfer_to_operator(self, reason))

    def prewarm(self) -> None:
        """Open the Realtime session now, while the greeting plays; created once, reused by the media socket."""
        self.warmup.start()

    async def engine_ready(self, timeout: float = ENGINE_WAIT_S) -> RealtimeSession:
        return await self.warmup.ready(timeout)

    def engine_failed(self) -> bool:
        return self.warmup.failed()

    def greeting_text(self) -> str | None:
        return self.gw.settings.greeting_text or self.profile.greeting

    def greeting_voice(self) -> str:
        voice = self.profile.tts_voice or self.gw.settings.greeting_voice
        if self.gw.settings.greeting_voice and self.gw.settings.greeting_text:
            voice = self.gw.settings.greeting_voice
        return voice

    # --- the carrier's news ---------------------------------------------------------------------------------------
    async def on_connected(self, connection_id: str) -> None:
        """The call is answered: warm the session up and greet (or, without a greeting, bridge at once)."""
        if self._connected or self._ended:
            return
        self._connected = True
        self.connection_id = connection_id or self.connection_id
        self.register()
        self.prewarm()
        self._greeting_known = True
        greeting = self.greeting_text()
        if self.profile.greeting_mode == "play" and greeting:
            try:
                await self.control.greet(self.connection_id, greeting, self.greeting_voice(), self.profile.language)
            except Exception as exc:  # the caller must not wait in silence for a greeting that will never play
                logger.error("greeting play failed (%s): the agent greets instead", exc)
                await self._bridge()
                return
            self.greeting_said(greeting)
        else:
            await self._bridge()

    async def listen_first(self, connection_id: str) -> None:
        """The call is answered and the callee must be heard before the agent says anything (a machine check on a
        carrier without detection): the session warms up and the media stream starts; ``on_connected`` follows
        once the check says a person answered (its greeting, if any, then plays over the running stream)."""
        if self._ended:
            return
        self.connection_id = connection_id or self.connection_id
        self.register()
        self.prewarm()
        await self._bridge()

    def greeting_said(self, greeting: str) -> None:
        """The carrier speaks ``greeting`` (ACS: a play; Twilio: ``<Say>`` in the answer): the record has it."""
        self._greeting_known = True
        self.greeting_spoken = greeting
        self.gw.hub.publish(self.session_id, TranscriptFinal("assistant", greeting))

    async def greeting_done(self, ok: bool) -> None:
        self._greeting_known = True
        if not ok:
            self.greeting_spoken = None  # the agent will greet instead
        await self._bridge()

    async def apology_done(self) -> None:
        await self.hang_up()

    async def _bridge(self) -> None:
        """Ask the carrier to connect the media socket (once); if it cannot, the caller hears the apology."""
        if self._streaming_requested or self._ended:
            return
        self._streaming_requested = True
        if self.engine_failed():
            await self.apologise()
            return
        try:
            await self.control.start_bridge(self.connection_id)
        except Exception as exc:
            logger.error("starting media streaming failed: %s", exc)
            await self.apologise()

    async def apologise(self) -> None:
        """Tell the caller we cannot help right now, then hang up (also if the carrier never says it is done)."""
        if self._apologising or not self.connection_id:
            return
        self._apologising = True
        if not self.outcome.startswith("provider"):  # keep "provider_lost" when the session died mid-call
            self.outcome = "provider_unavailable"
        self.gw.hub.publish(self.session_id, SessionError("AI provider unavailable: apology played, call ended", fatal=True))
        try:
            voice = self.profile.tts_voice or self.gw.settings.greeting_voice
            await self.control.apologise(self.connection_id, APOLOGY, voice, self.profile.language)
        except Exception:  # if even the apology fails, hang up at once
            logger.exception("apology play failed")
            await self.hang_up()
            return
        self._hangup_timer = self.gw.spawn(self._hang_up_later(APOLOGY_HANGUP_S), f"apology-timeout-{self.session_id}")

    async def _hang_up_later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        await self.hang_up()

    async def hang_up(self) -> None:
        if self.connection_id and not self._ended:
            if self.conversation is not None:  # the goodbye may still be held by the gateway's paced playout
                await self.conversation.played_out(GOODBYE_DRAIN_S)
            if self.adapter is not None:
                await self.adapter.drained(GOODBYE_DRAIN_S)
            try:
                await self.control.hang_up(self.connection_id)
            except Exception as exc:  # already gone is fine
                logger.info("hang-up: %s", exc)
        await self.finish("hung_up" if self.outcome == "completed" else self.outcome)

    # --- media ----------------------------------------------------------------------------------------------------
    async def run_media(self, adapter: MediaAdapter, receive: Callable[[], Awaitable[str | bytes]]) -> None:
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
        self.adapter = adapter
        conversation = Conversation(self.session_id, engine, adapter.sink, self.gw.hub, self.profile)
        self.conversation = conversation
        await conversation.begin(self.greeting_spoken)
        runner = asyncio.create_task(conversation.run(), name=f"conversation-{self.session_id}")

        def keyed(digits: str) -> None:
            conversation.keyed(digits)
            self.handoff.keyed(digits, conversation)

        try:
            await pump_media(receive, adapter, engine, conversation, runner, keyed, self.gw.settings.max_ws_message_bytes)
        finally:
            if runner.done() and not runner.cancelled() and runner.result() == "provider_lost":
                self.outcome = "provider_lost"
                self.gw.spawn(self.apologise(), f"apology-{self.session_id}")
            else:
                runner.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await runner

    async def finish(self, outcome: str) -> None:
        """Close everything this call owns; safe to call more than once."""
        if self._ended:
            return
        self._ended = True
        self.gw.media_pending.pop(self.session_id, None)
        self.gw.transfers.close(self.session_id)
        if self._hangup_timer is not None and self._hangup_timer is not asyncio.current_task():
            self._hangup_timer.cancel()
        with session_context(self.session_id):
            await self.warmup.close()
            if self._registered:
                self.gw.hub.close(self.session_id, outcome)
            logger.info("call ended (%s)", outcome)
