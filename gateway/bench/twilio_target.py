"""The ``twilio`` target: calls rung by the Twilio emulator (signed Voice URL, TwiML, status callbacks) whose media
streams are the load generator's lean legs speaking Media Streams (``twilio_wire.py``), measured as the ACS
target is."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from gateway.emulators.acs.caller_audio import CallerAudio
from gateway.emulators.twilio import StreamConnectError, StreamPlayout, TwilioCall, TwilioEmulator
from gateway.emulators.twilio.ids import new_sid
from gateway.emulators.twilio.signature import signature_headers
from gateway.emulators.twilio.stream import StreamIdentity
from gateway.emulators.twilio.twiml import StreamSpec

from .loadgen import Leg, MediaLoad
from .targets import CALL_SETUP_TIMEOUT_S, hang_up_all
from .twilio_wire import TwilioWire
from .wsclient import HandshakeError

logger = logging.getLogger(__name__)


class BenchStream:
    """A ``<Stream>`` served by the bench's ``MediaLoad`` instead of the emulator's ``MediaStreamClient`` (same
    constructor, the parts of its interface the emulator's call uses; nothing is recorded per frame)."""

    def __init__(
        self, load: MediaLoad, spec: StreamSpec, identity: StreamIdentity, audio: CallerAudio, *,
        connect_url: str | None = None, on_change: Callable[[], None] = lambda: None, open_timeout_s: float = 5.0,
        **_ignored: Any,
    ) -> None:  # fmt: skip
        self.load = load
        self.spec = spec
        self.identity = identity
        self.url = connect_url or spec.url
        self.stream_sid = new_sid("MZ")
        self.playout = StreamPlayout()  # stays empty: the leg plays and echoes marks itself
        self.open_timeout_s = open_timeout_s
        self._on_change = on_change
        self.connected_at: float | None = None
        self.closed = asyncio.Event()
        self.leg: Leg | None = None
        self.wire = TwilioWire(identity.account_sid, identity.call_sid, self.stream_sid, spec.parameters)

    @property
    def connected(self) -> bool:
        return self.leg is not None and not self.leg.closed.is_set()

    async def start(self) -> None:
        headers = signature_headers(self.identity.auth_token, self.spec.url, ())
        try:
            self.leg = await self.load.open(self.url, headers, timeout=self.open_timeout_s, wire=self.wire)
        except HandshakeError as exc:
            self.closed.set()
            raise StreamConnectError(f"gateway refused the stream: {exc}", exc.status or None) from exc
        except (OSError, TimeoutError) as exc:
            self.closed.set()
            raise StreamConnectError(f"stream handshake failed: {exc!r}") from exc
        self.connected_at = time.monotonic()
        self.closed = self.leg.closed
        self._on_change()  # the call's waiters see the stream up

    async def stop(self, send_stop: bool = True) -> None:
        if self.leg is None or self.leg.closed.is_set():
            return
        if send_stop:
            self.wire.stop(self.leg)
        self.load.stop_leg(self.leg)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.leg.closed.wait(), 3.0)

    def received_mulaw(self) -> bytes:
        return b""


class TwilioTarget:
    """Inbound Twilio calls to the served gateway's Voice URL, with its status callback, as a Twilio number rings."""

    name = "twilio"

    def __init__(self, twilio: TwilioEmulator, gateway_base: str) -> None:
        self.twilio = twilio
        self.voice_url = f"{gateway_base}/api/twilio/voice"
        self.status_url = f"{gateway_base}/api/twilio/status"
        self.calls: list[TwilioCall] = []

    async def open_call(self) -> bool:
        n = len(self.calls)
        try:
            call = await self.twilio.incoming_call(self.voice_url, from_=f"+8190{n:08d}", status_callback=self.status_url)
        except Exception as exc:  # the emulator could not even start the call
            logger.warning("twilio call %d failed: %s", n, exc)
            return False
        self.calls.append(call)
        if not call.webhooks or not call.webhooks[0].ok:
            logger.warning("twilio call %d: the Voice URL answered %s", n, call.webhooks[0].status if call.webhooks else None)
            return False

        def media_up(c: TwilioCall) -> bool:
            stream = c.stream
            return c.status.terminal or bool(c.errors) or (stream is not None and stream.connected_at is not None)

        try:
            await call.wait_for(media_up, timeout_s=CALL_SETUP_TIMEOUT_S)
        except TimeoutError:
            logger.warning("twilio call %d: media never started", n)
            return False
        stream = call.stream
        return not call.errors and stream is not None and stream.connected_at is not None

    async def close_all(self) -> None:
        await hang_up_all(self.calls)
