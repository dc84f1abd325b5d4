"""voice-gateway simulate-call: a phone call against a running gateway, as ACS (or, with --carrier twilio, Twilio)
would place it.

For developers without a phone number: an in-process ACS emulator rings the gateway through Event Grid, answers
its REST calls, streams the WAV as the caller's voice in real time, and reports what the caller heard. A gateway
started with nothing configured (the offline demo) already uses this emulator's address and key; any other gateway
needs ACS_ENDPOINT / ACS_ACCESS_KEY as printed. With --carrier twilio an in-process Twilio emulator requests the
gateway's Voice URL, signed, and streams the caller over Media Streams; the offline demo's Twilio line uses its
account already, any other gateway needs the TWILIO_* settings as printed. Every failure is one line saying what to
do; exit 0 means the call connected, the agent spoke and the call ended.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from .audio import AudioChunk, pcm_ms, rms, wav_bytes
from .offline import SIMULATOR_ACS_PORT, SIMULATOR_TWILIO_PORT

logger = logging.getLogger(__name__)

SAMPLE_CALLER_WAV = Path(__file__).parent / "console" / "data" / "caller_reserve_car_24k.wav"
AGENT_GRACE_S = 10.0  # a slow agent still gets this long to answer before the caller gives up
APOLOGY_CONTEXT = "apology"  # the operation context the gateway's phone channel gives its "cannot help now" play


class CallFailed(Exception):
    """One line for the user: what went wrong and what to do."""


def add_simulate_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sim = sub.add_parser("simulate-call", help="place an emulated phone call against a running gateway", description=__doc__)
    sim.add_argument("--wav", type=Path, default=SAMPLE_CALLER_WAV, help="what the caller says: a 16-bit mono WAV (default: a shipped sample caller asking for a rental car)")
    sim.add_argument("--carrier", choices=("acs", "twilio"), default="acs", help="who places the call: ACS (Event Grid, Call Automation) or Twilio (Voice URL, Media Streams); default acs")
    sim.add_argument("--gateway", default="http://127.0.0.1:8000", help="the gateway's base URL (default http://127.0.0.1:8000)")
    sim.add_argument("--acs-port", type=int, default=SIMULATOR_ACS_PORT, help=f"port of the emulated ACS endpoint the gateway calls (default {SIMULATOR_ACS_PORT})")
    sim.add_argument("--twilio-port", type=int, default=SIMULATOR_TWILIO_PORT, help=f"port of the emulated Twilio REST API the gateway calls (default {SIMULATOR_TWILIO_PORT})")
    sim.add_argument("--caller", default="+819012345678", help="the caller's phone number (default +819012345678)")
    sim.add_argument("--code", default="", help="the gateway's EVENT_GRID_SECRET, if it has one")
    sim.add_argument("--listen", type=float, default=8.0, help="seconds to keep listening after the caller has spoken (default 8)")
    sim.add_argument("--out", type=Path, help="write what the caller heard to this WAV file")
    sim.set_defaults(func=cmd_simulate_call)


def check_wav(path: Path) -> float:
    """The WAV's length in seconds; ``CallFailed`` when it is missing or not 16-bit mono PCM."""
    if not path.is_file():
        raise CallFailed(f"--wav {path}: no such file (leave --wav out to use the shipped sample caller)")
    try:
        with wave.open(str(path), "rb") as w:
            if w.getsampwidth() != 2 or w.getnchannels() != 1:
                raise CallFailed(f"--wav {path}: must be 16-bit mono PCM (it is {8 * w.getsampwidth()}-bit, {w.getnchannels()} channel(s))")
            return w.getnframes() / w.getframerate()
    except (wave.Error, EOFError) as exc:
        raise CallFailed(f"--wav {path}: not a readable WAV file ({exc})") from None


@dataclass(slots=True)
class Outcome:
    heard_s: float
    ended_by: str


def refusal(status: int | str, body: Any, acs_url: str, key: str, gateway: str) -> str:
    """Why the gateway did not answer the IncomingCall, as one actionable line."""
    error = body.get("error", "") if isinstance(body, dict) else ""
    detail = str(body.get("detail", "")) if isinstance(body, dict) else ""
    wiring = f"ACS_ENDPOINT={acs_url} ACS_ACCESS_KEY={key} PUBLIC_BASE_URL={gateway}"
    if status == 401:
        return "the gateway refused the call: it has an EVENT_GRID_SECRET; pass it with --code"
    if status == 503:
        return f"the gateway's phone channel is off ({error or 'not configured'}): start it with nothing configured (offline demo), or with {wiring} and an AI provider"
    if status == 502 and "HMAC" in detail:
        return f"the gateway signs with another ACS key than this emulator's: start it with {wiring}"
    if status == 502:
        return f"the gateway answered through another ACS than this emulator ({detail[:120] or error}): start it with {wiring}"
    if status == 200 and isinstance(body, dict) and body.get("rejected_busy"):
        return "the gateway is at capacity (MAX_MEDIA_SESSIONS) and rejected the call as busy"
    return f"the gateway did not answer the call (HTTP {status}: {error or detail or body!r:.160}); see voice-gateway doctor"


async def place_call(args: argparse.Namespace, wav_s: float, out: TextIO) -> Outcome:
    import aiohttp

    from .emulators.acs import AcsEmulator
    from .emulators.acs.playback import play_texts

    emulator = AcsEmulator()
    key = emulator.config.access_key
    try:
        serving = emulator.serve(port=args.acs_port)
        acs_url = await serving.__aenter__()
    except OSError as exc:
        raise CallFailed(f"cannot serve the emulated ACS on port {args.acs_port} ({exc.strerror}): is another simulate-call running? (--acs-port)") from None
    try:
        started = time.monotonic()
        stamp = lambda: f"{time.monotonic() - started:6.2f}s"  # noqa: E731
        url = f"{args.gateway.rstrip('/')}/api/incoming-call" + (f"?code={quote(args.code)}" if args.code else "")
        try:
            call = await emulator.incoming_call(url, args.caller, wav=args.wav, timeout_s=20)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise CallFailed(f"cannot reach the gateway at {args.gateway} ({type(exc).__name__}): is it running? (./run.sh serve)") from None
        response = call.incoming_response
        body = response.body if response is not None else None
        if response is None or response.status != 200 or not (isinstance(body, dict) and body.get("answered")):
            raise CallFailed(refusal(response.status if response else "no answer", body, acs_url, key, args.gateway))
        try:
            await call.wait_for("CallConnected", 15)
        except TimeoutError:
            raise CallFailed("the gateway answered but the call never connected: its callbacks did not arrive (is its PUBLIC_BASE_URL this address?)") from None
        out.write(f"{stamp()} call connected\n")
        try:
            await call.wait_for(lambda c: c.timeline is not None or c.disconnected_by is not None, 30)
        except TimeoutError:
            raise CallFailed("the call connected but the gateway never started media streaming (see the gateway's log)") from None
        for play in emulator.requests_for("play"):
            texts = play_texts(play.body or {})  # a text source, or the written text of an SSML one
            out.write(f"        greeting played: {texts[0] if texts else ''}\n")
        if call.disconnected_by is None:
            out.write(f"{stamp()} media streaming started; the caller says {args.wav.name} ({wav_s:.1f}s)\n")
            try:  # the caller speaks, then listens; the gateway may end the call first
                await call.wait_for(lambda c: c.disconnected_by is not None, wav_s + args.listen)
            except TimeoutError:
                await until_agent_spoke(call, AGENT_GRACE_S, lambda: call.disconnected_by is not None)
                await call.hang_up()
        apologised = any((p.body or {}).get("operationContext") == APOLOGY_CONTEXT for p in emulator.requests_for("play"))
        if apologised:
            raise CallFailed("the gateway's AI provider could not be reached: it apologised and hung up (check its key with voice-gateway doctor)")
        out.write(f"{stamp()} call ended by the {'caller' if call.disconnected_by == 'caller' else 'gateway'}\n")
        heard = call.heard_pcm()
        timeline = call.timeline
        rate = timeline.rate if timeline else 24000
        out.write(f"caller heard {pcm_ms(len(heard), rate) / 1000:.2f}s of agent audio (level {rms(heard):.0f})\n")
        if timeline and timeline.speech:
            end = timeline.speech_end(0)
            first = timeline.first_received_after(end or 0)
            if first is not None and end is not None:
                out.write(f"first agent audio {1000 * (first - end):.0f} ms after the caller stopped\n")
        if args.out:
            args.out.write_bytes(wav_bytes(AudioChunk(heard, rate)))
            out.write(f"wrote {args.out}\n")
        return Outcome(pcm_ms(len(heard), rate) / 1000, call.disconnected_by or "caller")
    finally:
        await serving.__aexit__(None, None, None)


async def until_agent_spoke(call: Any, timeout_s: float, ended: Callable[[], bool]) -> None:
    """On a busy machine the agent may answer late: keep listening (bounded) until some agent audio arrived."""
    deadline = time.monotonic() + timeout_s
    while not call.heard_pcm() and not ended() and time.monotonic() < deadline:
        await asyncio.sleep(0.2)


async def simulate_call(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        wav_s = check_wav(args.wav)
        if getattr(args, "carrier", "acs") == "twilio":
            from .simulate_twilio import place_twilio_call

            outcome = await place_twilio_call(args, wav_s, out)
        else:
            outcome = await place_call(args, wav_s, out)
    except CallFailed as exc:
        out.write(f"simulate-call: {exc}\n")
        return 1
    if outcome.heard_s <= 0:
        out.write("simulate-call: the call connected but the caller heard no agent audio (see the gateway's log)\n")
        return 1
    return 0


def cmd_simulate_call(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.ERROR)
    return asyncio.run(simulate_call(args))
