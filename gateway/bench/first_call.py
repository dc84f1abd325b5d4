"""``voice-gateway bench first-call``: is the first call after start-up as fast as the tenth?

For each carrier a fresh ``voice-gateway serve`` is started (so the first call of one carrier is not warmed by the
other's), then calls are placed one after another and timed from outside, by the emulators that play the carrier:

- ACS: IncomingCall (Event Grid POST sent) → the ``answer`` request at ACS, and CallConnected (callback sent) →
  the greeting's ``play`` request at ACS.
- Twilio: the Voice webhook POST sent → its TwiML answer received.

Before the first call each emulator's HTTP client makes one request to the emulator's own server (never to the
gateway): a client's first request pays its own start-up (~10 ms here), which would otherwise be counted as the
gateway's.

"First" is the slowest of the first ``workers`` calls of a fresh serve (each worker's first call is a first call, and
which worker takes which call is the kernel's choice); "warm" is the median of the calls after those. With
``rounds`` > 1 the whole run is repeated, each round on a fresh serve, and "first" is the median over the rounds: one
sample is at the mercy of whatever else the machine does in that moment. The target is first ≤ 2× warm.
"""

from __future__ import annotations

import contextlib
import logging
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from gateway.emulators.acs import AcsEmulator, EmulatedCall, PlayConfig
from gateway.emulators.realtime import RealtimeEmulator
from gateway.emulators.serving import free_port
from gateway.emulators.twilio import TwilioCall, TwilioEmulator

from .procs import prepare_dir
from .run import API_KEY, HOST, gateway_env, served_gateway, summary_chat, twilio_env

logger = logging.getLogger(__name__)

TARGET_RATIO = 2.0
CALL_TIMEOUT_S = 20.0
GREETING_S = 0.3


@dataclass(slots=True)
class Moment:
    """One moment timed on every call: per round (a fresh serve), in call order (ms; ``None`` where it never came)."""

    name: str
    rounds: list[list[float | None]] = field(default_factory=list)

    def first(self, workers: int) -> float | None:
        firsts = [max(found) for ms in self.rounds if (found := [v for v in ms[:workers] if v is not None])]
        return statistics.median(firsts) if firsts else None

    def warm(self, workers: int) -> float | None:
        rest = [v for ms in self.rounds for v in ms[workers:] if v is not None]
        return statistics.median(rest) if rest else None

    def ratio(self, workers: int) -> float | None:
        first, warm = self.first(workers), self.warm(workers)
        return None if first is None or not warm else first / warm


@dataclass(slots=True)
class FirstCallReport:
    workers: int
    calls: int
    rounds: int
    moments: list[Moment]

    def passed(self) -> bool:
        return all((m.ratio(self.workers) or float("inf")) <= TARGET_RATIO for m in self.moments)

    def render(self) -> str:
        lines = [
            f"First call vs warm ({self.rounds} round(s), each a fresh serve per carrier and {self.calls} calls in sequence;"
            f" {self.workers} worker(s))",
            f"  {'moment':<40} {'first ms':>9} {'warm p50':>9} {'ratio':>6}  (target <= {TARGET_RATIO:.0f}x)",
        ]
        for m in self.moments:
            first, warm, ratio = m.first(self.workers), m.warm(self.workers), m.ratio(self.workers)
            verdict = "ok" if ratio is not None and ratio <= TARGET_RATIO else "MISSED"
            lines.append(f"  {m.name:<40} {_fmt(first):>9} {_fmt(warm):>9} {_fmt(ratio, 'x'):>6}  {verdict}")
            for n, ms in enumerate(m.rounds, 1):
                lines.append(f"    round {n}: {', '.join(_fmt(v) for v in ms)}")
        return "\n".join(lines) + "\n"


async def _prime_client(http: aiohttp.ClientSession, own_base: str | None) -> None:
    """One request from the emulator's client to the emulator itself (any answer will do)."""
    async with http.get(f"{own_base}/first-call-bench-prime") as response:
        await response.read()


def _fmt(value: float | None, unit: str = "") -> str:
    return "-" if value is None else f"{value:.1f}{unit}"


def _ms(later: float | None, earlier: float | None) -> float | None:
    return None if later is None or earlier is None else round((later - earlier) * 1000, 1)


@contextlib.asynccontextmanager
async def _acs_gateway(workdir: Path, workers: int) -> AsyncIterator[tuple[AcsEmulator, str]]:
    realtime = RealtimeEmulator(api_keys={API_KEY})
    acs = AcsEmulator(play=PlayConfig(duration_s=GREETING_S))
    async with realtime.serve(HOST) as realtime_url, acs.serve(HOST) as acs_url, summary_chat() as chat_url:
        port = free_port()
        env = gateway_env(port, acs, acs_url, realtime_url, chat_url, workdir, workers)
        async with served_gateway(workdir, env, workers, port):
            await _prime_client(acs.http(), acs.base_url)
            yield acs, f"http://{HOST}:{port}/api/incoming-call"


@contextlib.asynccontextmanager
async def _twilio_gateway(workdir: Path, workers: int) -> AsyncIterator[tuple[TwilioEmulator, str]]:
    realtime = RealtimeEmulator(api_keys={API_KEY})
    twilio = TwilioEmulator(say_max_s=GREETING_S)
    async with realtime.serve(HOST) as realtime_url, twilio.serve(HOST) as api_base, summary_chat() as chat_url:
        port = free_port()
        env = twilio_env(port, twilio, api_base, realtime_url, chat_url, workdir, workers)
        async with served_gateway(workdir, env, workers, port):
            await _prime_client(twilio.http(), twilio.base_url)
            yield twilio, f"http://{HOST}:{port}"


async def _acs_call(acs: AcsEmulator, incoming_url: str, n: int) -> tuple[float | None, float | None]:
    """One ACS call up to its media socket, then hung up: (IncomingCall → answer, CallConnected → play) in ms."""
    rung = time.monotonic()
    call = await acs.incoming_call(incoming_url, caller=f"+8180{n:08d}", timeout_s=CALL_TIMEOUT_S)
    try:

        def request_time(c: EmulatedCall, operation: str) -> float | None:
            return next((r.time for r in acs.requests_for(operation) if r.call_connection_id == c.call_connection_id), None)

        with contextlib.suppress(TimeoutError):
            await call.wait_for(lambda c: request_time(c, "play") is not None, CALL_TIMEOUT_S)
            await call.wait_for(lambda c: c.media_error is not None or (c.media is not None and c.media.connected), CALL_TIMEOUT_S)
        connected = next((d.sent_at for d in call.events("CallConnected")), None)
        return _ms(request_time(call, "answer"), rung), _ms(request_time(call, "play"), connected)
    finally:
        with contextlib.suppress(Exception):
            await call.hang_up(timeout_s=CALL_TIMEOUT_S)


async def _twilio_call(twilio: TwilioEmulator, base: str, n: int) -> float | None:
    """One Twilio call up to its media stream, then hung up: Voice webhook → TwiML answer in ms."""
    rung = time.monotonic()
    call: TwilioCall = await twilio.incoming_call(
        f"{base}/api/twilio/voice", from_=f"+8180{n:08d}", status_callback=f"{base}/api/twilio/status"
    )
    answered = time.monotonic()
    ok = bool(call.webhooks) and call.webhooks[0].ok
    try:
        with contextlib.suppress(TimeoutError):
            await call.wait_for(
                lambda c: c.status.terminal or bool(c.errors) or (c.stream is not None and c.stream.connected_at is not None),
                CALL_TIMEOUT_S,
            )
    finally:
        with contextlib.suppress(Exception):
            await call.hang_up(timeout_s=CALL_TIMEOUT_S)
    return _ms(answered, rung) if ok else None


async def run_first_call(
    workdir: Path, workers: int = 1, calls: int = 12, carriers: tuple[str, ...] = ("acs", "twilio"), rounds: int = 3
) -> FirstCallReport:
    """Per round and carrier: a gateway started for it, then ``calls`` calls in sequence."""
    answer, play, webhook = Moment("ACS IncomingCall -> answer"), Moment("ACS CallConnected -> greeting play"), Moment("Twilio Voice webhook -> TwiML")
    for n in range(rounds):
        if "acs" in carriers:
            answer.rounds.append([])
            play.rounds.append([])
            async with _acs_gateway(prepare_dir(workdir / f"acs-{n}"), workers) as (acs, url):
                for i in range(calls):
                    answered_ms, play_ms = await _acs_call(acs, url, i)
                    answer.rounds[-1].append(answered_ms)
                    play.rounds[-1].append(play_ms)
        if "twilio" in carriers:
            webhook.rounds.append([])
            async with _twilio_gateway(prepare_dir(workdir / f"twilio-{n}"), workers) as (twilio, base):
                for i in range(calls):
                    webhook.rounds[-1].append(await _twilio_call(twilio, base, i))
    moments = ([answer, play] if "acs" in carriers else []) + ([webhook] if "twilio" in carriers else [])
    return FirstCallReport(workers, calls, rounds, moments)

