"""``simulate-call --carrier twilio``: a phone call against a running gateway, as Twilio would place it.

An in-process Twilio emulator (its REST API on ``--twilio-port``, the offline gateway's ``TWILIO_API_BASE``) requests
the gateway's Voice URL signed with the emulated account's auth token, runs the TwiML it answers (the greeting's
``<Say>``, then ``<Connect><Stream>``), streams the WAV as the caller's μ-law in real time and reports what the
caller heard. Any other gateway needs the TWILIO_* settings and PUBLIC_BASE_URL printed on a refusal.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from typing import TYPE_CHECKING, TextIO

from .audio import AudioChunk, pcm_ms, rms, wav_bytes

if TYPE_CHECKING:
    from .emulators.twilio import TwilioCall, TwilioEmulator
    from .simulate import Outcome

logger = logging.getLogger(__name__)

LINE_RATE = 8000  # what a Twilio caller hears: μ-law 8 kHz
FRAME_S = 0.02
STREAM_TIMEOUT_S = 30.0  # the greeting plays before the stream connects


def wiring(emulator: TwilioEmulator, api_base: str, gateway: str) -> str:
    """The settings a gateway needs to take this emulator's calls (the emulator's published test credentials)."""
    cfg = emulator.config
    return f"TWILIO_ACCOUNT_SID={cfg.account_sid} TWILIO_AUTH_TOKEN={cfg.auth_token} TWILIO_API_BASE={api_base} PUBLIC_BASE_URL={gateway}"


def refusal(call: TwilioCall, settings_line: str, gateway: str) -> str | None:
    """Why the gateway did not answer the Voice URL request with a stream, as one actionable line (None: it did)."""
    if not call.webhooks:
        return "the emulated Twilio never requested the gateway's Voice URL (see the log)"
    answer = call.webhooks[0]
    if answer.error is not None:
        if answer.error == "timeout":
            return f"the gateway at {gateway} did not answer the Voice URL within 15 s (see its log)"
        return f"cannot reach the gateway at {gateway} ({answer.error.split(':')[0]}): is it running? (./run.sh serve)"
    if answer.status == 403:
        return (
            f"the gateway refused Twilio's signature: Twilio signs the exact URL it calls, so --gateway must be the gateway's"
            f" PUBLIC_BASE_URL (an offline gateway's is http://127.0.0.1:<port>) and its token this emulator's: start it with {settings_line}"
        )
    if answer.status == 503 and "not configured" in answer.body:
        return f"the gateway's Twilio channel is off: start it with nothing configured (offline demo), or with {settings_line} and an AI provider"
    if answer.status == 503:
        return f"the gateway is not taking calls ({answer.body[:120]})"
    if answer.status == 404:
        return f"the gateway at {gateway} has no Twilio Voice URL (/api/twilio/voice): is it this project's gateway, and up to date?"
    if answer.status != 200:
        return f"the gateway did not answer the call (HTTP {answer.status}: {answer.body[:120]!r}); see voice-gateway doctor"
    if "<Reject" in answer.body:
        return "the gateway is at capacity (MAX_MEDIA_SESSIONS) and rejected the call as busy"
    if "<Stream" not in answer.body:
        return "the gateway has no AI provider that answers: it apologised and hung up (check its key with voice-gateway doctor)"
    return None


def apologised(emulator: TwilioEmulator, call: TwilioCall) -> bool:
    """The gateway replaced the call's TwiML with a spoken apology (its AI provider failed mid-call)."""
    return any(r.call_sid == call.sid and "Twiml" in r.params and "<Say" in r.params["Twiml"][-1] for r in emulator.requests)


def first_agent_audio_ms(call: TwilioCall, speech_s: float) -> float | None:
    """Milliseconds from the caller's last speech frame to the first agent audio after it."""
    stream = call.stream
    if stream is None:
        return None
    frames = math.ceil(speech_s / FRAME_S)
    if len(stream.sent_times) < frames:
        return None
    end = stream.sent_times[frames - 1] + FRAME_S
    first = next((media.at for media in stream.received if media.at >= end and media.mulaw), None)
    return None if first is None else 1000 * (first - end)


async def place_twilio_call(args: argparse.Namespace, wav_s: float, out: TextIO) -> Outcome:
    from .emulators.twilio import StatusCallbackDisorder, TwilioEmulator
    from .simulate import AGENT_GRACE_S, CallFailed, Outcome, until_agent_spoke

    # status callbacks as Twilio sends them: separate requests, no ordering guarantee (the gateway must cope)
    emulator = TwilioEmulator(status_callbacks=StatusCallbackDisorder(duplicate=True, reorder=True))
    try:
        serving = emulator.serve(port=args.twilio_port)
        api_base = await serving.__aenter__()
    except OSError as exc:
        raise CallFailed(f"cannot serve the emulated Twilio on port {args.twilio_port} ({exc.strerror}): is another simulate-call running? (--twilio-port)") from None
    try:
        gateway = args.gateway.rstrip("/")
        settings_line = wiring(emulator, api_base, gateway)
        started = time.monotonic()
        stamp = lambda: f"{time.monotonic() - started:6.2f}s"  # noqa: E731
        call = await emulator.incoming_call(
            f"{gateway}/api/twilio/voice",
            from_=args.caller,
            status_callback=f"{gateway}/api/twilio/status",
            status_callback_events=("initiated", "ringing", "answered", "completed"),
            script=[args.wav],
        )
        why = refusal(call, settings_line, gateway)
        if why is not None:
            raise CallFailed(why)
        out.write(f"{stamp()} call connected (Twilio call {call.sid})\n")
        try:
            await call.wait_for(lambda c: c.stream is not None or c.status.terminal, STREAM_TIMEOUT_S)
        except TimeoutError:
            raise CallFailed("the gateway answered but Twilio never got to its <Stream> (see the gateway's log)") from None
        for entry in call.twiml_log:
            if entry.verb == "Say" and entry.text:
                out.write(f"        greeting said: {entry.text}\n")
                break
        await _wait_streaming(call, settings_line)
        if not call.status.terminal:
            out.write(f"{stamp()} media stream started; the caller says {args.wav.name} ({wav_s:.1f}s)\n")
            try:  # the caller speaks, then listens; the gateway may end the call first
                await call.wait_for(lambda c: c.status.terminal, wav_s + args.listen)
            except TimeoutError:
                await until_agent_spoke(call, AGENT_GRACE_S, lambda: call.status.terminal)
                if not call.status.terminal:
                    await call.hang_up()
        await call.ended(timeout_s=15.0)
        if apologised(emulator, call):
            raise CallFailed("the gateway's AI provider could not be reached: it apologised and hung up (check its key with voice-gateway doctor)")
        by = "caller" if call.ended_by == "caller" else "gateway"
        out.write(f"{stamp()} call ended by the {by}\n")
        heard = call.heard_pcm()
        out.write(f"caller heard {pcm_ms(len(heard), LINE_RATE) / 1000:.2f}s of agent audio (level {rms(heard):.0f})\n")
        latency = first_agent_audio_ms(call, wav_s)
        if latency is not None:
            out.write(f"first agent audio {latency:.0f} ms after the caller stopped\n")
        if args.out:
            args.out.write_bytes(wav_bytes(AudioChunk(heard, LINE_RATE)))
            out.write(f"wrote {args.out}\n")
        return Outcome(pcm_ms(len(heard), LINE_RATE) / 1000, by)
    finally:
        await serving.__aexit__(None, None, None)


async def _wait_streaming(call: TwilioCall, settings_line: str) -> None:
    """The stream connected, or one line saying why it did not."""
    from .simulate import CallFailed

    stream = call.stream
    if stream is None:
        return  # the call ended before its <Connect> (reported as an apology or a plain end)
    try:
        await call.wait_for(lambda c: stream.connected_at is not None or stream.closed.is_set() or c.errors, 10.0)
    except TimeoutError:
        raise CallFailed("the gateway's media socket did not open within 10 s (see the gateway's log)") from None
    if stream.connected_at is None:
        detail = call.errors[-1].message if call.errors else "no reason given"
        raise CallFailed(f"the gateway refused the media stream ({detail[:140]}): start it with {settings_line}")

