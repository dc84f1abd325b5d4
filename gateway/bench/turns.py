"""voice-gateway bench turns: each turn-taking policy against a corpus of real backchannels and interruptions.

Every case is a whole emulated ACS call through ``voice-gateway serve``: the caller answers the greeting, the agent
starts a long reply, and the caller speaks one corpus utterance over it (gateway.bench.turns_corpus). Measured from
outside: when the agent fell silent at the ear (the ACS emulator's StopAudio, from the utterance's voice onset),
what the caller heard of the reply (a backchannel must cost nothing: no sample lost, none repeated), and from the
Realtime emulator whether the reply was cancelled or the backchannel answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import statistics
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path

from gateway.audio import pcm_ms
from gateway.emulators.acs import AcsEmulator, EmulatedCall, PlayConfig, Silence, Speech, speech_from_wav
from gateway.emulators.realtime import Pacing, RealtimeEmulator, Say, Script
from gateway.emulators.serving import free_port

from .procs import prepare_dir
from .run import API_KEY, HOST, bench_agent, gateway_env, served_gateway
from .scenarios import GREETING_REPLY
from .turns_corpus import Case, build_corpus

logger = logging.getLogger(__name__)
POLICIES: dict[str, dict[str, object]] = {
    "barge_in": {"mode": "barge_in", "pause_after_ms": 250},
    "barge_in_no_pause": {"mode": "barge_in", "pause_after_ms": 0},
    "turn_based": {"mode": "turn_based"},
}
REPLY_MS = 6000
ANSWER_MS = 1500
LEAD_IN_MS = 700  # after the caller's greeting reply, about when the agent's reply starts (VAD silence + response)
STAGGER_S = 0.8  # calls of one batch start this far apart, so sessions pair with calls by their order
CASE_TIMEOUT_S = 30.0
SILENT_TARGET_MS = 350
QUIET_S = 2.5  # nothing played at the ear for longer than the provider's end-of-turn silence plus its response
CHECKOUT = str(Path(__file__).resolve().parents[2])


@dataclass(frozen=True, slots=True)
class CaseResult:
    policy: str
    case: str
    kind: str
    offset_ms: float | None  # measured: utterance start after the reply's first audio
    silent_ms: float | None  # voice onset -> StopAudio (the agent silent at the caller's ear)
    stops: int
    heard_ms: float
    cancelled: bool | None
    answered: bool | None


@contextlib.asynccontextmanager
async def _stack(workdir: Path, turn_taking: dict[str, object]) -> AsyncIterator[tuple[AcsEmulator, RealtimeEmulator, str]]:
    realtime = RealtimeEmulator(api_keys={API_KEY}, pacing=Pacing(realtime_factor=2.0))
    acs = AcsEmulator(play=PlayConfig(duration_s=0.5))
    agents = workdir / "agents"
    async with realtime.serve(HOST) as realtime_url, acs.serve(HOST) as acs_url:
        port = free_port()
        env = gateway_env(port, acs, acs_url, realtime_url, workdir, 1)
        env.update(AGENTS_DIR=str(agents), AGENT=bench_agent(agents, "bench-turns", {"silence_duration_ms": 600, "barge_in_min_ms": 800, **turn_taking}))
        env["PYTHONPATH"] = CHECKOUT  # the served gateway is this very checkout, not whatever is installed
        async with served_gateway(workdir, env, 1, port):
            yield acs, realtime, f"http://{HOST}:{port}/api/incoming-call"


async def _call(acs: AcsEmulator, url: str, case: Case, delay_s: float) -> EmulatedCall:
    await asyncio.sleep(delay_s)
    script = [Silence(LEAD_IN_MS + case.offset_ms), Speech(case.audio, case.name), Silence(4000)]
    call = await acs.incoming_call(url, wav=speech_from_wav(GREETING_REPLY), script=script)
    try:
        timeline = await call.wait_for(lambda c: c.timeline, CASE_TIMEOUT_S)
        await call.wait_for(lambda c: timeline.speech_end(-1) is not None and len(timeline.speech) >= 2, CASE_TIMEOUT_S)
        deadline = time.monotonic() + CASE_TIMEOUT_S
        spoke = timeline.speech_end(-1) or 0.0
        while time.monotonic() - max(timeline.playout.playing_end(), spoke) < QUIET_S and time.monotonic() < deadline:
            await asyncio.sleep(0.1)  # neither side has spoken for a while: the reply (and any answer) is over
    except TimeoutError:
        logger.warning("case %s did not finish in %.0f s", case.label, CASE_TIMEOUT_S)
    finally:
        await call.hang_up()
    return call


def _result(policy: str, case: Case, call: EmulatedCall, session) -> CaseResult:  # noqa: ANN001 - SessionRecord or None
    timeline = call.timeline
    start = timeline.speech_start(1) if timeline is not None and len(timeline.speech) >= 2 else None
    first_audio = timeline.received_times[0] if timeline is not None and len(timeline.received_times) else None
    stops = [t for t in timeline.stop_audio_times if start is not None and t > start] if timeline is not None else []
    onset = None if start is None else start + case.onset_ms / 1000
    return CaseResult(
        policy=policy,
        case=case.label,
        kind=case.kind,
        offset_ms=None if start is None or first_audio is None else round((start - first_audio) * 1000),
        silent_ms=None if not stops or onset is None else round((stops[0] - onset) * 1000, 1),
        stops=len(stops),
        heard_ms=pcm_ms(len(call.heard_pcm()), timeline.rate) if timeline is not None else 0.0,
        cancelled=None if session is None else bool(session.truncates or session.cancels),
        answered=None if session is None else len(session.responses) >= 2,
    )


async def run_policy(workdir: Path, policy: str, cases: list[Case]) -> list[CaseResult]:
    prepare_dir(workdir)
    results: list[CaseResult] = []
    async with _stack(workdir, POLICIES[policy]) as (acs, realtime, url):
        for name in dict.fromkeys(c.name for c in cases):
            batch = [c for c in cases if c.name == name]
            realtime.script = Script(
                steps=[Say(text="ご案内をいたします。" * 5, duration_ms=REPLY_MS), Say(text="（返事）", duration_ms=ANSWER_MS)],
                user_transcripts=["こんにちは", batch[0].text],
            )
            since = time.monotonic()
            calls = await asyncio.gather(*(_call(acs, url, c, i * STAGGER_S) for i, c in enumerate(batch)))
            sessions = sorted((s for s in realtime.sessions if s.connected_at >= since), key=lambda s: s.connected_at)
            paired = sessions if len(sessions) == len(calls) else [None] * len(calls)
            results += [_result(policy, c, call, s) for c, call, s in zip(batch, calls, paired, strict=True)]
            logger.info("%s: %s done", policy, name)
    return results


def summarize(results: list[CaseResult]) -> list[dict[str, object]]:
    rows = []
    for policy in dict.fromkeys(r.policy for r in results):
        mine = [r for r in results if r.policy == policy]
        backs = [r for r in mine if r.kind == "backchannel"]
        inters = [r for r in mine if r.kind == "interruption"]
        kept = [r for r in backs if not r.cancelled and not r.answered]
        silent = [r.silent_ms for r in inters if r.silent_ms is not None]
        rows.append(
            {
                "policy": policy,
                "backchannels": len(backs),
                "backchannels_kept": len(kept),
                "backchannels_paused_resumed": sum(1 for r in kept if r.stops),
                "reply_heard_error_ms_max": max((abs(r.heard_ms - REPLY_MS) for r in kept), default=None),
                "interruptions": len(inters),
                "interruptions_taken": sum(1 for r in inters if r.cancelled),
                "silent_at_ear_ms_median": statistics.median(silent) if silent else None,
                "silent_at_ear_ms_max": max(silent) if silent else None,
                "silent_within_350_ms": sum(1 for s in silent if s <= SILENT_TARGET_MS),
            }
        )
    return rows


def render(rows: list[dict[str, object]]) -> str:
    head = "policy               backchannels kept (paused+resumed)  heard error  interruptions taken  silent at ear median/max  <=350 ms"
    lines = [head]
    for r in rows:
        err = "-" if r["reply_heard_error_ms_max"] is None else f"{r['reply_heard_error_ms_max']:.0f} ms"
        med = "-" if r["silent_at_ear_ms_median"] is None else f"{r['silent_at_ear_ms_median']:.0f}/{r['silent_at_ear_ms_max']:.0f} ms"
        lines.append(
            f"{r['policy']:<20} {r['backchannels_kept']:>3}/{r['backchannels']:<3} ({r['backchannels_paused_resumed']:>2})"
            f"{'':<20}{err:>10}  {r['interruptions_taken']:>8}/{r['interruptions']:<4}       {med:>16}  {r['silent_within_350_ms']:>5}"
        )
    return "\n".join(lines) + "\n"


async def run_turns_bench(out: Path, policies: list[str], levels: tuple[float, ...], offsets: tuple[int, ...]) -> str:
    cases = build_corpus(levels, offsets)
    results: list[CaseResult] = []
    for policy in policies:
        results += await run_policy(out / f"work-{policy}", policy, cases)
    rows = summarize(results)
    path = write_report(out, rows, results)
    return render(rows) + f"cases: {len(cases)} per policy; report: {path}\n"


def write_report(out: Path, rows: list[dict[str, object]], results: list[CaseResult]) -> Path:
    path = prepare_dir(out) / "turns.json"
    path.write_text(json.dumps({"summary": rows, "cases": [asdict(r) for r in results]}, ensure_ascii=False, indent=1), encoding="utf-8")
    return path
