"""The turns bench's phone lines: ``voice-gateway serve`` answering ACS or Twilio calls, the Realtime emulator as
the provider.

Each case is a whole emulated call: the caller answers the greeting, the agent starts a long reply, and the caller
speaks one corpus utterance over it. The ACS emulator's phone playout (cut by ``StopAudio``) and the Twilio
emulator's 20 ms playout clock (cut by ``clear``) say what the caller heard and when the agent fell silent; the
Realtime emulator's session says whether the reply was cancelled or truncated and whether the caller's speech
became a turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from gateway.audio import SAMPLE_WIDTH
from gateway.emulators.acs import AcsEmulator, EmulatedCall, PlayConfig, Silence, Speech, speech_from_wav
from gateway.emulators.realtime import Pacing, RealtimeEmulator, Say, Script
from gateway.emulators.realtime.records import SessionRecord
from gateway.emulators.serving import free_port
from gateway.emulators.twilio import TwilioCall, TwilioEmulator

from .run import API_KEY, HOST, bench_agent, gateway_env, served_gateway, summary_chat, twilio_env
from .scenarios import GREETING_REPLY
from .turns_corpus import Case
from .turns_ear import Intervals, Observation, observe

logger = logging.getLogger(__name__)

REPLY_MS = 6000
ANSWER_MS = 1500
GREETING_TEXT = "こんにちは"
LEAD_IN_MS = 1200  # after the caller's greeting reply, about when the agent's reply starts (held until 1 s of quiet)
TAIL_MS = 4000
STAGGER_S = 0.8  # calls of one batch start this far apart, so provider sessions pair with calls by their order
CASE_TIMEOUT_S = 40.0
QUIET_S = 2.5  # nothing played at the ear for longer than the provider's end-of-turn silence plus its response
PROVIDER_VAD = {"silence_duration_ms": 600, "barge_in_min_ms": 800}

def caller_script(case: Case | None) -> list[Silence | Speech]:
    """After the greeting reply: the utterance ``offset_ms`` into the reply (the control call keeps quiet)."""
    if case is None:
        return [Silence(LEAD_IN_MS + 1000), Silence(2000), Silence(TAIL_MS)]
    return [Silence(LEAD_IN_MS + case.offset_ms), Speech(case.audio, case.name), Silence(TAIL_MS)]


def provider_view(session: SessionRecord | None) -> tuple[bool | None, bool | None, bool | None]:
    """(cancelled, turn, answered) as the Realtime emulator saw the call."""
    if session is None:
        return None, None, None
    return bool(session.truncates or session.cancels), len(session.user_turns) >= 2, len(session.responses) >= 2


def reply_audio(session: SessionRecord | None) -> bytes | None:
    """The reply's audio exactly as the provider sent it for this call (the reference a resumed reply must match
    when the gateway passes it through untouched: ACS at 24 kHz, Twilio in μ-law)."""
    return session.responses[0].audio_sent if session is not None and session.responses else None


class RealtimeLine:
    """What both phone lines share: the Realtime emulator, its script per batch, and pairing sessions with calls."""

    def __init__(self, realtime: RealtimeEmulator) -> None:
        self.realtime = realtime

    def script_for(self, cases: list[Case | None]) -> None:
        text = next((c.text for c in cases if c is not None), "")
        self.realtime.script = Script(
            steps=[Say(text="ご案内をいたします。" * 5, duration_ms=REPLY_MS), Say(text="（返事）", duration_ms=ANSWER_MS)],
            user_transcripts=[GREETING_TEXT, text],
        )

    async def run_batch(self, cases: list[Case | None]) -> list[Observation]:
        """The batch's calls at once (staggered, so provider sessions pair with calls by their order), then each
        observed at its carrier's ear."""
        self.script_for(cases)
        since = time.monotonic()
        calls = await asyncio.gather(*(self._call(c, i * STAGGER_S) for i, c in enumerate(cases)))
        sessions = self.sessions_since(since, len(calls))
        return [self._observe(i, *row) for i, row in enumerate(zip(cases, calls, sessions, strict=True))]

    async def _call(self, case: Case | None, delay_s: float) -> Any:
        raise NotImplementedError

    def _observe(self, index: int, case: Case | None, call: Any, session: SessionRecord | None) -> Observation:
        raise NotImplementedError

    def sessions_since(self, since: float, calls: int) -> list[SessionRecord | None]:
        sessions = sorted((s for s in self.realtime.sessions if s.connected_at >= since), key=lambda s: s.connected_at)
        return list(sessions) if len(sessions) == calls else [None] * calls


async def hang_up(call: EmulatedCall | TwilioCall, carrier: str, case: Case | None) -> None:
    """The caller hangs up; a call the gateway never ended in time (a loaded machine) is left to the report as
    unmeasured rather than ending the whole run."""
    try:
        await call.hang_up()
    except (TimeoutError, OSError) as exc:
        logger.warning("%s: case %s did not hang up cleanly: %s", carrier, case.label if case else "control", exc)


async def wait_quiet(last_sound: Callable[[], float | None], timeout_s: float) -> None:
    """Until neither side has made a sound for ``QUIET_S`` (the reply and any answer are over), or the timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        last = last_sound()
        if last is not None and time.monotonic() - last >= QUIET_S:
            return
        await asyncio.sleep(0.1)
    logger.warning("a call did not fall quiet in %.0f s", timeout_s)


class AcsLine(RealtimeLine):
    carrier = "acs"

    def __init__(self, realtime: RealtimeEmulator, acs: AcsEmulator, url: str) -> None:
        super().__init__(realtime)
        self.acs = acs
        self.url = url

    async def _call(self, case: Case | None, delay_s: float) -> EmulatedCall:
        await asyncio.sleep(delay_s)
        call = await self.acs.incoming_call(self.url, wav=speech_from_wav(GREETING_REPLY), script=caller_script(case))
        spoken = 1 if case is None else 2
        try:
            timeline = await call.wait_for(lambda c: c.timeline, CASE_TIMEOUT_S)
            await call.wait_for(lambda c: len(timeline.speech) >= spoken and timeline.speech_end(-1) is not None, CASE_TIMEOUT_S)
            await call.wait_for(lambda c: timeline.first_received_after(timeline.speech_end(0) or 0.0) is not None, CASE_TIMEOUT_S)
            await wait_quiet(lambda: max(timeline.playout.playing_end(), timeline.speech_end(-1) or 0.0), CASE_TIMEOUT_S)
        except TimeoutError:
            logger.warning("acs: case %s did not finish in %.0f s", case.label if case else "control", CASE_TIMEOUT_S)
        finally:
            await hang_up(call, "acs", case)
        return call

    def _observe(self, index: int, case: Case | None, call: EmulatedCall, session: SessionRecord | None) -> Observation:
        timeline = call.timeline
        if timeline is None:
            return observe(index, None, None, None, [], [], 0, provider_view(session))
        playout = timeline.playout
        bps = playout.bytes_per_s
        intervals: Intervals = [(s.start, s.start + s.played_bytes(bps) / bps) for s in playout.segments]
        start0 = timeline.speech_start(0)
        start1 = timeline.speech_start(1) if len(timeline.speech) >= 2 else None
        heard = b"".join(s.pcm[: s.played_bytes(bps)] for s in playout.segments if start0 is not None and s.end(bps) > start0)
        onset_ms = None if case is None else case.onset_ms
        return observe(
            index, onset_ms, start0, start1, intervals, list(timeline.stop_audio_times), timeline.rate,
            provider_view(session), heard, SAMPLE_WIDTH, reply_audio(session),
        )  # fmt: skip


class TwilioLine(RealtimeLine):
    carrier = "twilio"

    def __init__(self, realtime: RealtimeEmulator, twilio: TwilioEmulator, base: str) -> None:
        super().__init__(realtime)
        self.twilio = twilio
        self.base = base

    async def _call(self, case: Case | None, delay_s: float) -> TwilioCall:
        await asyncio.sleep(delay_s)
        script = [speech_from_wav(GREETING_REPLY), *caller_script(case)]
        call = await self.twilio.incoming_call(f"{self.base}/api/twilio/voice", status_callback=f"{self.base}/api/twilio/status", script=script)
        spoken = 1 if case is None else 2

        def last_sound() -> float | None:
            stream = call.stream  # the script (utterance, then its tail of silence) is over and the reply was heard
            if stream is None or len(stream.speech_started) < spoken or call.audio.busy or not stream.playout.played:
                return None
            return stream.playout.played[-1].at + 0.02

        try:
            await call.wait_for(lambda c: c.stream is not None and c.stream.connected_at is not None, CASE_TIMEOUT_S)
            await wait_quiet(last_sound, CASE_TIMEOUT_S)
        except TimeoutError:
            logger.warning("twilio: case %s did not finish in %.0f s", case.label if case else "control", CASE_TIMEOUT_S)
        finally:
            await hang_up(call, "twilio", case)
        return call

    def _observe(self, index: int, case: Case | None, call: TwilioCall, session: SessionRecord | None) -> Observation:
        stream = call.stream
        if stream is None:
            return observe(index, None, None, None, [], [], 0, provider_view(session))
        played = stream.playout.played
        intervals = [(f.at, f.at + len(f.mulaw) / 8000) for f in played]
        starts = [t for _, t in stream.speech_started]
        start0 = starts[0] if starts else None
        start1 = starts[1] if len(starts) >= 2 else None
        clears = [c.at for c in stream.playout.clears]
        heard = b"".join(f.mulaw for f in played if start0 is not None and f.at + len(f.mulaw) / 8000 > start0)
        onset_ms = None if case is None else case.onset_ms
        return observe(index, onset_ms, start0, start1, intervals, clears, 8000, provider_view(session), heard, 1, reply_audio(session))


@contextlib.asynccontextmanager
async def phone_line(carrier: str, workdir: Path, turn_taking: dict[str, object]) -> AsyncIterator[AcsLine | TwilioLine]:
    """``voice-gateway serve`` (this checkout) wired to the Realtime emulator and to the ACS or Twilio emulator."""
    realtime = RealtimeEmulator(api_keys={API_KEY}, pacing=Pacing(realtime_factor=2.0))
    agents = workdir / "agents"
    agent = bench_agent(agents, "bench-turns", {**PROVIDER_VAD, **turn_taking})
    async with realtime.serve(HOST) as realtime_url, summary_chat() as chat_url:
        port = free_port()
        if carrier == "acs":
            acs = AcsEmulator(play=PlayConfig(duration_s=0.5))
            async with acs.serve(HOST) as acs_url:
                env = gateway_env(port, acs, acs_url, realtime_url, chat_url, workdir, 1)
                env.update(AGENTS_DIR=str(agents), AGENT=agent)
                async with served_gateway(workdir, env, 1, port):
                    yield AcsLine(realtime, acs, f"http://{HOST}:{port}/api/incoming-call")
        else:
            twilio = TwilioEmulator(say_max_s=0.5)
            async with twilio.serve(HOST) as api_base:
                env = twilio_env(port, twilio, api_base, realtime_url, chat_url, workdir, 1)
                env.update(AGENTS_DIR=str(agents), AGENT=agent)
                async with served_gateway(workdir, env, 1, port):
                    yield TwilioLine(realtime, twilio, f"http://{HOST}:{port}")
