"""``voice-gateway simulate-call``: a phone call against a running gateway, as ACS would place it.

For developers without a phone number: an in-process ACS emulator rings the gateway through Event Grid, answers
its REST calls, streams the WAV as the caller's voice in real time, and reports what the caller heard. The
gateway must use this emulator as its ACS (``ACS_ENDPOINT`` / ``ACS_ACCESS_KEY`` as printed).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path
from urllib.parse import quote

from .audio import AudioChunk, pcm_ms, rms, wav_bytes

logger = logging.getLogger(__name__)


def add_simulate_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sim = sub.add_parser("simulate-call", help="place an emulated phone call against a running gateway")
    sim.add_argument("--wav", required=True, type=Path, help="what the caller says (16-bit mono WAV)")
    sim.add_argument("--gateway", default="http://127.0.0.1:8000", help="the gateway's base URL")
    sim.add_argument("--acs-port", type=int, default=8765, help="port of the emulated ACS endpoint")
    sim.add_argument("--caller", default="+819012345678")
    sim.add_argument("--code", default="", help="the gateway's EVENT_GRID_SECRET, if it has one")
    sim.add_argument("--listen", type=float, default=8.0, help="seconds to keep listening after speaking")
    sim.add_argument("--out", type=Path, help="write what the caller heard to this WAV file")
    sim.set_defaults(func=cmd_simulate_call)


async def simulate_call(args: argparse.Namespace) -> int:
    from .emulators.acs import AcsEmulator

    emulator = AcsEmulator()
    out = sys.stdout
    async with emulator.serve(port=args.acs_port) as acs_url:
        out.write(f"emulated ACS at {acs_url}; the gateway needs ACS_ENDPOINT={acs_url} ACS_ACCESS_KEY={emulator.config.access_key}\n")
        started = time.monotonic()
        url = f"{args.gateway}/api/incoming-call" + (f"?code={quote(args.code)}" if args.code else "")
        call = await emulator.incoming_call(url, args.caller, wav=args.wav)
        if call.incoming_response is None or call.incoming_response.status != 200:
            status = call.incoming_response.status if call.incoming_response else "no answer"
            out.write(f"the gateway did not answer the call ({status}); see `voice-gateway doctor`\n")
            return 1
        try:
            await call.wait_for("CallConnected", 10)
            out.write(f"{time.monotonic() - started:6.2f}s call connected\n")
            await call.wait_for("MediaStreamingStarted", 30)
            for play in emulator.requests_for("play"):
                source = (play.body or {}).get("playSources", [{}])[0].get("text", {})
                out.write(f"        greeting played: {source.get('text', '')}\n")
            out.write(f"{time.monotonic() - started:6.2f}s media streaming started; caller speaks {args.wav.name}\n")
            await asyncio.sleep(args.listen)
        finally:
            await call.hang_up()
        timeline = call.timeline
        heard = call.heard_pcm()
        rate = timeline.rate if timeline else 24000
        out.write(f"{time.monotonic() - started:6.2f}s hung up\n")
        out.write(f"caller heard {pcm_ms(len(heard), rate) / 1000:.2f}s of agent audio (level {rms(heard):.0f}), ")
        out.write(f"StopAudio x{len(timeline.stop_audio_times) if timeline else 0}\n")
        if timeline and timeline.speech:
            first = timeline.first_received_after(timeline.speech_end(0) or 0)
            if first is not None:
                out.write(f"first agent audio {1000 * (first - (timeline.speech_end(0) or first)):.0f} ms after the caller stopped\n")
        if args.out:
            args.out.write_bytes(wav_bytes(AudioChunk(heard, rate)))
            out.write(f"wrote {args.out}\n")
    return 0


def cmd_simulate_call(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(simulate_call(args))
