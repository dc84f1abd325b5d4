"""One browser conversation over the WebSocket fallback, and this process's table of them.

A conversation outlives its socket: when the page's connection drops, the agent stops talking (what was never
heard is cut from the history) and the conversation waits ``grace_s`` for the page to come back with its session
id and token; only then does it end. A second socket for the same conversation replaces the first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from gateway.audio import b64encode
from gateway.conversation import Conversation
from gateway.engines.cascade import CascadeSession
from gateway.hub import SessionInfo, Subscription
from gateway.logs import session_context
from gateway.profiles import AgentProfile
from gateway.services import Gateway

from . import wire
from .link import Link
from .media import BrowserAudioSink

logger = logging.getLogger(__name__)

MAX_BAD_MESSAGES = 8
VOICES = {"ja": "ja-JP-NanamiNeural", "en": "en-US-AvaMultilingualNeural"}


def owner_key(session_id: str) -> str:
    """The key under which the process carrying a browser conversation is recorded (``gateway/shared/owners.py``)."""
    return f"browser:{session_id}"


def speech_locale(profile: AgentProfile, lang: str | None) -> tuple[str, str | None]:
    """Recognition locale and voice: the profile's. A bare language ("ja", "en") is the page's UI language and
    changes nothing; a full locale of another supported language ("en-US") switches recognition and voice."""
    if lang and "-" in lang:
        primary = lang.split("-")[0].lower()
        if primary != profile.language.split("-")[0].lower() and primary in VOICES:
            return lang, VOICES[primary]
    return profile.language, None


class AudioBudget:
    """Caller audio may not arrive much faster than it is spoken: a page that floods the socket is cut off."""

    def __init__(self, bytes_per_s: float, burst_s: float = 3.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = bytes_per_s
        self.capacity = bytes_per_s * burst_s
        self.tokens = self.capacity
        self.clock = clock
        self._last = clock()

    def take(self, nbytes: int) -> bool:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.rate)
        self._last = now
        self.tokens -= nbytes
        return self.tokens >= 0


class BrowserSession:
    def __init__(
        self,
        gw: Gateway,
        session_id: str,
        profile: AgentProfile,
        engine: CascadeSession,
        caller: str,
        grace_s: float,
        on_end: Callable[[BrowserSession], None],
    ) -> None:
        self.gw = gw
        self.session_id = session_id
        self.profile = profile
        self.engine = engine
        self.caller = caller
        self.grace_s = grace_s
        self.token = gw.tokens.mint(session_id, profile.name)
        self.sink = BrowserAudioSink()
        self.conversation = Conversation(session_id, engine, self.sink, gw.hub, profile)
        self.link: Link | None = None
        self.outcome = ""
        self.reconnects = 0
        self._on_end = on_end
        self._runner: asyncio.Task[object] | None = None
        self._pump: asyncio.Task[object] | None = None
        self._grace: asyncio.Task[object] | None = None
        self._finishing: asyncio.Task[object] | None = None
        self._ended = False

    @property
    def ended(self) -> bool:
        return self._ended

    # --- life cycle ---------------------------------------------------------------------------------------------------
    def open(self) -> None:
        """Register with the hub and start the conversation (the engine is already started)."""
        self.gw.hub.open(SessionInfo(self.session_id, "browser", self.profile.name, self.caller), end=self.end_by_operator)
        subscription = self.gw.hub.subscribe(self.session_id)
        self._pump = self.gw.spawn(self._forward(subscription), f"browser-pump-{self.session_id}")
        self._runner = self.gw.spawn(self._run(), f"conversation-{self.session_id}")

    async def greet(self) -> None:
        greeting = self.gw.settings.greeting_text or self.profile.greeting
        if self.profile.greeting_mode == "play" and greeting:
            await self.engine.say(greeting)  # the configured words, synthesized at once: no LLM round trip
        else:
            await self.conversation.begin(None)

    async def _run(self) -> None:
        try:
            outcome = await self.conversation.run()
        except asyncio.CancelledError:
            self._begin_finish("shutdown")  # a no-op when our own finish cancelled us
            raise
        if not self._ended:
            await self.finish(outcome if outcome != "completed" else "engine_ended")

    async def _forward(self, subscription: Subscription) -> None:
        """Transcripts, tool calls and errors of this conversation, to whichever socket is attached."""
        try:
            while True:
                _, event = await subscription.queue.get()
                message = wire.hub_event(event)
                link = self.link
                if message is not None and link is not None:
                    await link.send(message)
        finally:
            subscription.close()

    async def finish(self, outcome: str) -> None:
        """End the conversation for good; safe to call more than once and from any of its tasks. The work runs in
        its own task: a page closing its socket (which cancels the socket's handler) cannot leave it half done."""
        await asyncio.shield(self._begin_finish(outcome))

    def _begin_finish(self, outcome: str) -> asyncio.Task[object]:
        if self._finishing is None:
            self._ended = True
            self.outcome = outcome
            self._finishing = self.gw.spawn(self._finish(outcome), f"browser-finish-{self.session_id}")
        return self._finishing

    async def _finish(self, outcome: str) -> None:
        with session_context(self.session_id):
            tasks = [t for t in (self._grace, self._pump, self._runner) if t is not None]
            for task in tasks:
                task.cancel()
            await self.engine.close()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.gw.hub.close(self.session_id, outcome)
            self._on_end(self)
            await self.gw.owners.ended(owner_key(self.session_id))  # a page coming back anywhere finds it ended
            link, self.link = self.link, None
            if link is not None:
                await link.send(wire.ended(outcome))
                await link.close(wire.SERVER_ERROR if outcome.startswith("provider") else wire.NORMAL, outcome[:100])
            logger.info("browser conversation ended (%s)", outcome)

    async def end_by_operator(self) -> None:
        await self.finish("ended_by_operator")

    def sentence_to_audio_ms(self) -> list[float]:
        """Per response: the LLM's first complete sentence → the first frame of its audio sent to the page (ms).

        The benchmark's measure of the cascade's own latency (synthesis + framing + socket), from the engine's
        ``ResponseTiming`` and the sink's per-item first-frame times (both ``time.monotonic``)."""
        out = []
        for timing in self.engine.timings:
            sent = [self.sink.first_frame_sent[i] for i in timing.item_ids if i in self.sink.first_frame_sent]
            if timing.first_sentence_at is not None and sent:
                out.append((min(sent) - timing.first_sentence_at) * 1000)
        return out

    # --- sockets ----------------------------------------------------------------------------------------------------------
    async def attach(self, link: Link) -> None:
        old, self.link = self.link, link
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
        self.sink.attach(link)
        if old is not None and old is not link:
            logger.info("conversation resumed on a new socket; closing the old one")
            await old.send(wire.error("replaced", "This conversation continued on another connection."))
            await old.close(wire.REPLACED, "replaced")

    async def run_socket(self, link: Link, receive: Callable[[], Awaitable[str | bytes | None]], resumed: bool) -> None:
        """Serve one socket of this conversation, from its hello to its end (whichever way it ends)."""
        try:
            await self.attach(link)
            turns = self.profile.turn_taking
            barge_in_ms = 0 if turns.mode == "turn_based" else turns.barge_in_min_ms  # 0: the page never stops the agent
            await link.send(wire.ready(self.session_id, self.token, self.profile.name, resumed, self.engine.language, barge_in_ms))
            if resumed:
                self.reconnects += 1
                logger.info("browser socket resumed the conversation")
            else:
                await self.greet()
            await self.serve(link, receive)
        except asyncio.CancelledError:
            logger.info("browser socket closed by the page")
            raise
        finally:
            await self.detach(link)

    async def detach(self, link: Link) -> None:
        """The page's socket closed: stop talking into the void, then give the page time to come back."""
        if self._ended:
            return
        if self.link is link:
            self.link = None
            if self.conversation.agent_audible():
                item_id, played = self.sink.item_id, self.sink.playout.played_ms()
                await self.engine.cancel_response()
                await self.engine.truncate(item_id, played)
            await self.conversation.drop_held_answer()
            if self.conversation.pacer is not None:
                self.conversation.pacer.drop()  # the reply held by the gateway goes nowhere now, nor to the next socket
            self.sink.detach(link)
        if self.link is None and self._grace is None:
            logger.info("browser socket dropped; waiting %.0f s for the page to reconnect", self.grace_s)
            self._grace = self.gw.spawn(self._expire(), f"browser-grace-{self.session_id}")

    async def _expire(self) -> None:
        await asyncio.sleep(self.grace_s)
        self._grace = None
        await self.finish("disconnected")

    async def serve(self, link: Link, receive: Callable[[], Awaitable[str | bytes | None]]) -> None:
        """Pump one socket's messages into the conversation until the socket or the conversation ends."""
        bad = 0
        budget = AudioBudget(2 * wire.SAMPLE_RATE * 2)  # twice real time, after a burst of a few seconds
        while not self._ended and self.link is link:
            message = await receive()
            try:
                item = wire.parse_client(message)
            except wire.MessageTooBig as exc:
                logger.warning("oversized browser message closed the socket: %s", exc)
                await link.send(wire.error(exc.code, str(exc)))
                await link.close(wire.TOO_BIG, "message too big")
                return
            except wire.WireError as exc:
                bad += 1
                await link.send(wire.error(exc.code, str(exc)))
                if bad >= MAX_BAD_MESSAGES:
                    logger.warning("too many malformed browser messages; closing the socket")
                    await link.close(wire.POLICY, "too many malformed messages")
                    return
                continue
            if type(item) is wire.Audio:
                if not budget.take(len(item.pcm)):
                    logger.warning("the page sends audio far faster than real time; closing its socket")
                    await link.send(wire.error("flood", "Audio arrives faster than it can be spoken."))
                    await link.close(wire.POLICY, "audio flood")
                    return
                await self.conversation.caller_audio(b64encode(item.pcm))  # measures voice; may start the agent's audio
                if self.conversation.admits_caller_audio():
                    await self.engine.send_pcm(item.pcm)
            elif isinstance(item, wire.Control):
                await self._control(link, item)
            else:  # a second hello
                bad += 1
                await link.send(wire.error("bad_message", "hello was already received"))

    async def _control(self, link: Link, control: wire.Control) -> None:
        if control.kind == "stop":
            await self.finish("caller_ended")
        elif control.kind == "barge_in":
            if self.conversation.agent_audible():
                await self.conversation.barge_in()  # clears the page, which acknowledges the barge-in
            else:
                await link.send(wire.CLEAR)  # nothing left to cancel; still acknowledge so the page plays again
        elif control.kind == "drained":
            self.sink.drained()
        elif control.kind == "played" and control.ms is not None:
            self.sink.reported(control.ms, control.samples)
        elif control.kind == "ping":
            await link.send(wire.PONG)


class BrowserSessions:
    """This process's browser conversations by session id (a socket resumed elsewhere is relayed here, ``gateway/forwarding.py``)."""

    def __init__(self) -> None:
        self.live: dict[str, BrowserSession] = {}

    def add(self, session: BrowserSession) -> None:
        self.live[session.session_id] = session

    def remove(self, session: BrowserSession) -> None:
        if self.live.get(session.session_id) is session:
            del self.live[session.session_id]

    def get(self, session_id: str) -> BrowserSession | None:
        return self.live.get(session_id)

    async def close_all(self, outcome: str) -> None:
        for session in list(self.live.values()):
            try:
                await session.finish(outcome)
            except Exception:  # one session failing to close must not keep the others open
                logger.exception("closing browser session %s failed", session.session_id)
