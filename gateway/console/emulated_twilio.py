"""Demo phone calls on the Twilio line: an in-process Twilio emulator dials this gateway's Voice URL and speaks a
recorded caller over Media Streams.

The emulator signs as this gateway's own Twilio account (the settings' SID and token, which never leave the
process) and reaches the gateway on loopback while signing the public URLs, as Twilio would. The Twilio channel
controls these calls (hang-up, apology) through the emulator's REST API, never Twilio's: ``attach`` (given by the
channel) sets that up; without a configured Twilio line, demo calls on it are unavailable and the console says so.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .emulated import (
    ANSWER_TIMEOUT_S,
    CALLER_WAV,
    DEMO_CALL_MAX_S,
    HANG_UP_AFTER_S,
    EmulatedCallError,
    EmulatedLine,
    PlacedCall,
    demo_caller_number,
)

if TYPE_CHECKING:
    from ..emulators.twilio import TwilioCall, TwilioEmulator
    from ..services import Gateway

logger = logging.getLogger(__name__)

CHANNEL = "twilio"
AttachTwilioEmulator = Callable[[str, Callable[[str], bool]], None]


class TwilioDemoCalls(EmulatedLine):
    OFF_REASON = "the Twilio channel is off (TWILIO_ACCOUNT_SID + TWILIO_AUTH_TOKEN + PUBLIC_BASE_URL)"

    def __init__(self, gw: Gateway, attach: AttachTwilioEmulator | None, wav: Path = CALLER_WAV) -> None:
        super().__init__(gw, attach, wav)
        self.emulator: TwilioEmulator | None = None

    async def place(self, gateway_base: str) -> PlacedCall:
        from ..emulators.twilio import Silence

        reason = self.unavailable()
        if reason is not None:
            raise EmulatedCallError(503, reason)
        emulator = await self._emulator(gateway_base)
        public = (self.gw.settings.public_base_url or gateway_base).rstrip("/")
        caller = demo_caller_number()
        call = await emulator.incoming_call(
            f"{public}/api/twilio/voice",
            from_=caller,
            status_callback=f"{public}/api/twilio/status",
            status_callback_events=("initiated", "ringing", "answered", "completed"),
            script=[Silence(self.lead_silence_ms), self.wav],
        )
        answer = call.webhooks[0] if call.webhooks else None
        if answer is None or not answer.ok or "<Stream" not in answer.body:
            call.end("emulator")
            why = (answer.error or f"HTTP {answer.status}") if answer is not None else "no request made"
            raise EmulatedCallError(502, f"the Twilio channel did not answer the demo call with a stream ({why})")
        session_id = await self._session_of(caller)
        logger.info("Twilio demo call from %s answered as %s", caller, session_id)
        self.gw.spawn(self._end_when_answered(call), f"twilio-demo-call-end-{call.sid}")
        return PlacedCall(session_id, caller, call.sid)

    async def _session_of(self, caller: str) -> str:
        """The session the Twilio line opened for this caller (it registers the call before answering)."""
        deadline = time.monotonic() + ANSWER_TIMEOUT_S
        while time.monotonic() < deadline:
            found = next((s for s in self.gw.hub.live_sessions() if s.channel == CHANNEL and s.caller == caller), None)
            if found is not None:
                return found.session_id
            await asyncio.sleep(0.05)
        raise EmulatedCallError(502, "the Twilio channel answered but opened no session")

    async def _end_when_answered(self, call: TwilioCall) -> None:
        """The demo caller hangs up once it has spoken and heard the agent's answer to the end (bounded)."""
        deadline = time.monotonic() + DEMO_CALL_MAX_S
        spoke_at: float | None = None
        while not call.status.terminal and time.monotonic() < deadline:
            if spoke_at is None and call.stream is not None and not call.audio.busy:
                spoke_at = time.monotonic()
            if spoke_at is not None and answered_and_quiet(call, spoke_at):
                break
            await asyncio.sleep(0.25)
        if not call.status.terminal:
            logger.info("Twilio demo caller hangs up")
            await call.hang_up()

    async def _emulator(self, gateway_base: str) -> TwilioEmulator:
        async with self._lock:
            if self.emulator is not None:
                return self.emulator
            from ..emulators.twilio import TwilioEmulator  # only deployments that use demo calls load the emulator

            settings = self.gw.settings
            assert settings.twilio_account_sid and settings.twilio_auth_token and self.attach is not None
            public = (settings.public_base_url or gateway_base).rstrip("/")
            emulator = TwilioEmulator(
                settings.twilio_account_sid,
                settings.twilio_auth_token.get_secret_value(),
                rewrite_url=to_loopback(public, gateway_base),
                **self.emulator_options,
            )
            api_base = await self._serve_emulator(emulator, "console-twilio-emulator")
            self.attach(api_base, lambda call_sid: call_sid in emulator.calls)
            self.emulator = emulator
            logger.info("Twilio emulator for demo calls at %s", api_base)
            return emulator


def to_loopback(public: str, loopback: str) -> Callable[[str], str]:
    """Twilio signs the public URL; the emulator connects to the same path on this process's loopback address."""
    ws_public = public.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    ws_loopback = loopback.replace("https://", "wss://", 1).replace("http://", "ws://", 1)

    def rewrite(url: str) -> str:
        for prefix, local in ((public, loopback), (ws_public, ws_loopback)):
            if url.startswith(prefix):
                return local + url[len(prefix) :]
        return url

    return rewrite


def answered_and_quiet(call: TwilioCall, spoke_at: float, now: float | None = None) -> bool:
    """Agent audio played after the caller spoke, nothing is left to play and the line has been quiet a while."""
    stream = call.stream
    if stream is None or not stream.playout.played:
        return False
    last = stream.playout.played[-1].at
    now = time.monotonic() if now is None else now
    return last > spoke_at and stream.playout.buffered_ms == 0 and now - last >= HANG_UP_AFTER_S
