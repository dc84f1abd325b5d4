"""Demo phone calls without a phone: an in-process ACS emulator rings this gateway and speaks a recorded caller.

The emulator starts on first use (most deployments never need it) on a loopback port, and lives until the app
stops. Its calls go through the gateway's real phone channel (Event Grid webhook, Call Automation SDK, callbacks,
media socket), so the console shows them exactly as it shows a real call. The phone channel answers them with a
call control pointed at this emulator, never at the real ACS: ``attach`` (provided by the phone channel) sets
that line up; without it, emulated calls are unavailable and the console says so. The Twilio line's demo calls are
in ``emulated_twilio.py``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

import aiohttp

if TYPE_CHECKING:
    from ..config import Settings
    from ..emulators.acs import AcsEmulator
    from ..services import Gateway

logger = logging.getLogger(__name__)

CALLER_WAV = Path(__file__).parent / "data" / "caller_reserve_car_24k.wav"
LEAD_SILENCE_MS = 1500  # the caller listens to the greeting before speaking
ANSWER_TIMEOUT_S = 20.0
HANG_UP_AFTER_S = 2.5  # the demo caller hangs up once the agent's answer has played out and this much silence
DEMO_CALL_MAX_S = 60.0  # and in any case after this long



def incoming_call_url(gateway_base: str, settings: Settings) -> str:
    """Where the demo line delivers its IncomingCall: the same endpoint and secret as the real Event Grid's."""
    secret = settings.event_grid_secret
    return f"{gateway_base}/api/incoming-call" + (f"?code={quote(secret.get_secret_value())}" if secret else "")

class AttachEmulator(Protocol):
    """Given by the phone channel: answer calls whose IncomingCall context ``owns`` accepts through the emulator
    at ``acs_endpoint`` (signing with ``access_key``), handing it callback and media URLs under ``gateway_base``."""

    def __call__(self, acs_endpoint: str, access_key: str, gateway_base: str, owns: Callable[[str], bool]) -> None: ...


class EmulatedCallError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(slots=True, frozen=True)
class PlacedCall:
    session_id: str
    caller: str
    call_connection_id: str


def demo_caller_number() -> str:
    """A Japanese mobile number from the 090-0000-xxxx range, different per call so history tells them apart."""
    return f"+81900000{secrets.randbelow(10_000):04d}"


class EmulatedLine:
    """What every demo line shares: refusals, one in-process emulator served on first use, and a clean stop.
    A line brings its emulator and how it places a call; ``OFF_REASON`` says why it is off without ``attach``."""

    OFF_REASON = "this line does not accept emulated calls in this build"

    def __init__(self, gw: Gateway, attach: Any, wav: Path = CALLER_WAV) -> None:
        self.gw = gw
        self.attach = attach
        self.wav = wav
        self.lead_silence_ms = LEAD_SILENCE_MS
        self.emulator_options: dict[str, Any] = {}  # the emulator's config fields (tests shorten the greeting)
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[Any] | None = None

    def unavailable(self) -> str | None:
        """Why a demo call cannot be placed now, or None."""
        if self.attach is None:
            return self.OFF_REASON
        if self.gw.realtime is None:
            return "no Realtime provider is configured (see voice-gateway doctor)"
        if self.gw.draining:
            return "the gateway is draining"
        return None

    async def _serve_emulator(self, emulator: Any, task_name: str) -> str:
        """Serve ``emulator`` until ``close``; returns its base URL once it listens."""
        ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._task = self.gw.spawn(self._serve(emulator, ready), task_name)
        return await ready

    async def _serve(self, emulator: Any, ready: asyncio.Future[str]) -> None:
        try:
            async with emulator.serve() as url:
                ready.set_result(url)
                await self._stop.wait()
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


class EmulatedCalls(EmulatedLine):
    OFF_REASON = "the phone channel does not accept emulated calls in this build"

    def __init__(self, gw: Gateway, attach: AttachEmulator | None, wav: Path = CALLER_WAV) -> None:
        super().__init__(gw, attach, wav)
        self.emulator: AcsEmulator | None = None
        self.acs_url: str | None = None

    async def place(self, gateway_base: str) -> PlacedCall:
        reason = self.unavailable()
        if reason is not None:
            raise EmulatedCallError(503, reason)
        emulator = await self._emulator(gateway_base)
        caller = demo_caller_number()
        try:
            call = await emulator.incoming_call(
                incoming_call_url(gateway_base, self.gw.settings),
                caller,
                wav=self.wav,
                lead_silence_ms=self.lead_silence_ms,
                timeout_s=ANSWER_TIMEOUT_S,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise EmulatedCallError(502, f"the emulator could not reach this gateway at {gateway_base}: {exc}") from exc
        response = call.incoming_response
        body = response.body if response is not None else None
        answered = body.get("answered") if isinstance(body, dict) else None
        if response is None or response.status != 200 or not answered:
            call.end("emulator", notify=False)
            why = body.get("error") if isinstance(body, dict) else None
            status = response.status if response is not None else "no answer"
            raise EmulatedCallError(502, f"the phone channel did not answer the demo call ({status}): {why or 'no reason given'}")
        logger.info("demo call from %s answered as %s", caller, answered[0])
        self.gw.spawn(self._end_when_answered(call), f"demo-call-end-{call.call_connection_id}")
        return PlacedCall(str(answered[0]), caller, call.call_connection_id)

    async def _end_when_answered(self, call: Any) -> None:
        """A demo call ends by itself, as a real caller would: after speaking and hearing the agent's answer to the
        end, the caller hangs up (bounded by ``DEMO_CALL_MAX_S`` whatever happens)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DEMO_CALL_MAX_S
        while call.disconnected_by is None and loop.time() < deadline and not answered_and_quiet(call.timeline):
            await asyncio.sleep(0.25)
        if call.disconnected_by is None:
            logger.info("demo caller hangs up")
            await call.hang_up()

    async def _emulator(self, gateway_base: str) -> AcsEmulator:
        async with self._lock:
            if self.emulator is not None:
                return self.emulator
            from ..emulators.acs import AcsEmulator  # only deployments that use demo calls load the emulator

            key = base64.b64encode(secrets.token_bytes(32)).decode()
            emulator = AcsEmulator(access_key=key, **self.emulator_options)
            self.acs_url = await self._serve_emulator(emulator, "console-acs-emulator")
            assert self.attach is not None
            self.attach(self.acs_url, emulator.config.access_key, gateway_base, lambda ctx: emulator.call_by_context(ctx) is not None)
            self.emulator = emulator
            logger.info("ACS emulator for demo calls at %s", self.acs_url)
            return emulator


def answered_and_quiet(timeline: Any, now: float | None = None) -> bool:
    """The caller has spoken, the agent answered after that, all of it has played out and the line is quiet."""
    import time

    if timeline is None or not timeline.speech:
        return False
    spoken = timeline.speech_end(-1)
    if spoken is None or timeline.first_received_after(spoken) is None:
        return False
    now = time.monotonic() if now is None else now
    answer_s = len(timeline.heard_pcm()) / 2 / timeline.rate  # all that will play (StopAudio cuts excluded)
    return timeline.playback_position_s(now) >= answer_s - 0.05 and now - timeline.received_times[-1] >= HANG_UP_AFTER_S


def loopback_base(scope: dict[str, Any]) -> str:
    """The address this server was reached on, seen from inside the process (0.0.0.0 becomes 127.0.0.1)."""
    scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
    server = scope.get("server") or ("127.0.0.1", 80)
    host, port = str(server[0]), int(server[1] or 80)
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"
