"""The moments a caller notices, timed from outside on a few calls through the served gateway.

- CallConnected → greeting play request: how fast the gateway reacts to a call (ACS emulator's request log).
- greeting end (PlayCompleted) → conversation live: the media socket bridged to a Realtime session that was
  opened while the greeting played (the pre-warm); without the pre-warm this would include the provider's
  connection set-up. Also reported: whether the bridged session was opened before the greeting ended.
- greeting end → first agent audio, and caller speech end → first agent audio: the caller answers the greeting
  at once with a short phrase; the agent's reply is the first agent audio.
- caller speech start → StopAudio (barge-in): the caller interrupts a long reply.

Calls run one after another so each Realtime session belongs to exactly one call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from gateway.emulators.acs import AcsEmulator, EmulatedCall, PlayConfig, Silence, speech_from_wav
from gateway.emulators.realtime import Pacing, RealtimeEmulator, Say, Script, SessionRecord
from gateway.emulators.serving import free_port

from .loadgen import DATA_DIR
from .procs import prepare_dir
from .run import API_KEY, HOST, bench_agent, gateway_env, served_gateway, summary_chat

logger = logging.getLogger(__name__)

GREETING_REPLY = DATA_DIR / "caller_greeting_reply_24k.wav"
INTERRUPTION = DATA_DIR / "caller_interrupt_24k.wav"
LONG_REPLY_MS = 8000
CALL_TIMEOUT_S = 25.0
# the moments are a caller's: the shipped policy (pause and resume), not the load steps' never-interrupt profile
MOMENTS_TURN_TAKING = {"mode": "barge_in"}


@dataclass(slots=True, frozen=True)
class CallTimings:
    """Milliseconds for one call; ``None`` where the moment never came."""

    connected_to_play_ms: float | None
    greeting_end_to_live_ms: float | None
    prewarmed: bool
    greeting_end_to_first_audio_ms: float | None
    speech_end_to_first_audio_ms: float | None
    barge_in_ms: float | None
    greeted_twice: bool  # ACS played the greeting and the model was asked to greet as well


def _ms(later: float | None, earlier: float | None) -> float | None:
    return None if later is None or earlier is None else round((later - earlier) * 1000, 1)


def _script() -> Script:
    return Script(
        steps=[Say(text="ご案内をいたします。" * 6, duration_ms=LONG_REPLY_MS), Say(text="はい、お待ちします。")],
        user_transcripts=["こんにちは", "すみません、ちょっと待ってください。"],
    )


def _delivered_at(call: EmulatedCall, event: str) -> float | None:
    return next((d.sent_at for d in call.events(event)), None)


LIVE_EVENTS = ("conversation.item.create", "response.create")  # the conversation began: greeting noted, or asked for


def _bridged_session(realtime: RealtimeEmulator, since: float) -> tuple[SessionRecord, str, float] | None:
    """The call's session (opened during the call, the one the media socket was bridged to), and how and when the
    conversation began on it."""
    for record in realtime.sessions:
        first = next((e for e in record.events if e.type in LIVE_EVENTS), None)
        if record.connected_at >= since and first is not None:
            return record, first.type, first.at
    return None


async def _one_call(acs: AcsEmulator, realtime: RealtimeEmulator, incoming_url: str) -> CallTimings:
    started = time.monotonic()
    call = await acs.incoming_call(
        incoming_url,
        wav=speech_from_wav(GREETING_REPLY),
        script=[Silence(2500), speech_from_wav(INTERRUPTION), Silence(1500)],
    )
    try:
        timeline = await call.wait_for(lambda c: c.timeline, CALL_TIMEOUT_S)
        await call.wait_for(
            lambda c: len(timeline.speech) >= 2 and timeline.first_stop_audio_after(timeline.speech_start(1) or 0),
            CALL_TIMEOUT_S,
        )
    except TimeoutError:
        logger.warning("scenario call did not reach barge-in in %.0fs", CALL_TIMEOUT_S)
    finally:
        await call.hang_up()
    play = next((r.time for r in acs.requests_for("play") if r.call_connection_id == call.call_connection_id), None)
    played = _delivered_at(call, "PlayCompleted")
    bridged = _bridged_session(realtime, started)
    session, began_with, live = bridged if bridged is not None else (None, "", None)
    timeline = call.timeline
    first_audio = timeline.received_times[0] if timeline is not None and len(timeline.received_times) else None
    interrupt = timeline.speech_start(1) if timeline is not None and len(timeline.speech) >= 2 else None
    stop = timeline.first_stop_audio_after(interrupt) if timeline is not None and interrupt is not None else None
    speech_end = timeline.speech_end(0) if timeline is not None else None
    answer = timeline.first_received_after(speech_end) if timeline is not None and speech_end is not None else None
    greeted_twice = bool(play is not None and began_with == "response.create")
    return CallTimings(
        connected_to_play_ms=_ms(play, _delivered_at(call, "CallConnected")),
        greeting_end_to_live_ms=_ms(live, played),
        prewarmed=bool(session and played and session.connected_at < played),
        # a second greeting from the model would be timed instead of the answer: those calls do not count here
        greeting_end_to_first_audio_ms=None if greeted_twice else _ms(first_audio, played),
        speech_end_to_first_audio_ms=None if greeted_twice else _ms(answer, speech_end),
        barge_in_ms=_ms(stop, interrupt),
        greeted_twice=greeted_twice,
    )


@contextlib.asynccontextmanager
async def _stack(
    workdir: Path, workers: int, greeting_s: float
) -> AsyncIterator[tuple[AcsEmulator, RealtimeEmulator, str]]:
    realtime = RealtimeEmulator(api_keys={API_KEY}, script=_script(), pacing=Pacing(realtime_factor=1.0))
    acs = AcsEmulator(play=PlayConfig(duration_s=greeting_s))
    async with realtime.serve(HOST) as realtime_url, acs.serve(HOST) as acs_url, summary_chat() as chat_url:
        port = free_port()
        env = gateway_env(port, acs, acs_url, realtime_url, chat_url, workdir, workers)
        env["AGENT"] = bench_agent(workdir / "agents", "bench-moments", MOMENTS_TURN_TAKING)
        async with served_gateway(workdir, env, workers, port):
            yield acs, realtime, f"http://{HOST}:{port}/api/incoming-call"


async def run_scenarios(workdir: Path, workers: int, calls: int = 3, greeting_s: float = 2.0) -> list[CallTimings]:
    """``calls`` calls in turn through ``voice-gateway serve --workers N``."""
    prepare_dir(workdir)
    results = []
    async with _stack(workdir, workers, greeting_s) as (acs, realtime, incoming_url):
        for _ in range(calls):
            results.append(await _one_call(acs, realtime, incoming_url))
            await asyncio.sleep(0.5)
    return results
