"""voice-gateway bench outbound: call set-up time of outbound calls, from the ``POST /api/calls`` request to the
first agent audio at the callee's ear, on ACS and on Twilio, from one run.

``voice-gateway serve`` runs as deployed (a subprocess) against the ACS, Twilio and Realtime emulators on loopback;
each call is placed over HTTP with the API token exactly as an integrator does, answered by the emulated callee,
and timed from outside: the request, the carrier's answer (the emulator's CallConnected / ``in-progress``, the
floor: what no gateway can save), and the first frame of agent audio the callee receives. The agent speaks first
(``greeting_mode: agent``) and no machine check runs, so the figure is the gateway's own path: dial, answer, warm
session, media bridge, first audio. Calls run one after another, each ended before the next is placed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp

from gateway.emulators.acs import AcsEmulator, PlayConfig
from gateway.emulators.realtime import RealtimeEmulator, Say, Script
from gateway.emulators.serving import free_port
from gateway.emulators.twilio import TwilioEmulator

from .procs import prepare_dir
from .run import API_KEY, HOST, gateway_env, served_gateway, summary_chat

logger = logging.getLogger(__name__)
CARRIERS = ("acs", "twilio")
CALLER_ID = "+815012345678"
API_TOKEN = "bench-outbound-api-token"
CALL_TIMEOUT_S = 30.0
PROFILE = """---
name: bench-outbound
title: 発信の接続時間 (bench)
greeting: お世話になっております。サンプル商事でございます。
greeting_mode: agent
turn_taking:
  mode: turn_based
---
ご案内してください。
"""


class BenchFailed(Exception):
    """A call the bench could not place or time; the message says which and why."""


@dataclass(frozen=True, slots=True)
class SetUp:
    carrier: str
    answered_s: float  # request -> the carrier reports the callee answered
    first_audio_s: float  # request -> the callee receives the agent's first audio


def prospect(i: int) -> str:
    return f"+8190{12340000 + i:08d}"


async def _place(http: aiohttp.ClientSession, base: str, carrier: str, to: str) -> str:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with http.post(f"{base}/api/calls", json={"to": to, "carrier": carrier, "agent": "bench-outbound"}, headers=headers) as r:
        body = await r.json(content_type=None)
        if r.status != 202:
            raise BenchFailed(f"{carrier}: POST /api/calls answered {r.status}: {body}")
        return str(body["id"])


async def _ended(http: aiohttp.ClientSession, base: str, call_id: str) -> None:
    """Until the gateway's record of the call is done (so that the next call starts on a quiet gateway)."""
    deadline = time.monotonic() + CALL_TIMEOUT_S
    while time.monotonic() < deadline:
        async with http.get(f"{base}/api/calls/{call_id}", headers={"Authorization": f"Bearer {API_TOKEN}"}) as r:
            if r.status == 200 and (await r.json()).get("done"):
                return
        await asyncio.sleep(0.05)
    raise BenchFailed(f"call {call_id} never ended in the gateway's record")


async def acs_call(http: aiohttp.ClientSession, base: str, acs: AcsEmulator, i: int) -> SetUp:
    to = prospect(i)
    started = time.monotonic()
    call_id = await _place(http, base, "acs", to)
    call = await acs.wait_for_call(lambda c: c.direction == "outbound" and to in str(c.callee), CALL_TIMEOUT_S)
    await call.wait_for("CallConnected", CALL_TIMEOUT_S)
    answered = time.monotonic()
    await call.wait_for(lambda c: c.timeline is not None and len(c.timeline.received_times) > 0, CALL_TIMEOUT_S)
    first = call.timeline.received_times[0]
    await call.hang_up()
    await _ended(http, base, call_id)
    return SetUp("acs", answered - started, first - started)


async def twilio_call(http: aiohttp.ClientSession, base: str, twilio: TwilioEmulator, i: int) -> SetUp:
    to = prospect(i)
    started = time.monotonic()
    call_id = await _place(http, base, "twilio", to)
    call = await twilio.wait_for_call(lambda c: c.to == to, CALL_TIMEOUT_S)
    await call.wait_for(lambda c: any(s.playout.played for s in c.streams), CALL_TIMEOUT_S)
    first = min(s.playout.played[0].at for s in call.streams if s.playout.played)
    answered = next(at for status, at in call.status_log if status == "in-progress")
    await call.hang_up()
    await _ended(http, base, call_id)
    return SetUp("twilio", answered - started, first - started)


def summary(results: list[SetUp]) -> dict[str, dict[str, float]]:
    """Per carrier: p50 / p95 / max of the set-up, and of the carrier's answer (the floor), in ms."""
    table: dict[str, dict[str, float]] = {}
    for carrier in dict.fromkeys(r.carrier for r in results):
        setups = sorted(r.first_audio_s * 1000 for r in results if r.carrier == carrier)
        answers = sorted(r.answered_s * 1000 for r in results if r.carrier == carrier)
        table[carrier] = {
            "calls": len(setups),
            "setup_p50_ms": round(statistics.median(setups), 1),
            "setup_p95_ms": round(percentile(setups, 95), 1),
            "setup_max_ms": round(setups[-1], 1),
            "answer_p50_ms": round(statistics.median(answers), 1),
            "answer_p95_ms": round(percentile(answers, 95), 1),
            "gateway_p50_ms": round(statistics.median(s - a for s, a in zip(setups, answers, strict=True)), 1),
        }
    return table


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list (small samples: no interpolation invents a value)."""
    rank = max(1, min(len(sorted_values), math.ceil(p / 100 * len(sorted_values))))
    return sorted_values[rank - 1]


def render(table: dict[str, dict[str, float]]) -> str:
    lines = ["outbound call set-up (POST /api/calls -> the callee hears the agent's first audio)",
             f"{'carrier':8} {'calls':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'answer p50':>11} {'gateway p50':>12}"]
    for carrier, row in table.items():
        lines.append(
            f"{carrier:8} {row['calls']:>5} {row['setup_p50_ms']:>8.1f} {row['setup_p95_ms']:>8.1f} {row['setup_max_ms']:>8.1f}"
            f" {row['answer_p50_ms']:>11.1f} {row['gateway_p50_ms']:>12.1f}"
        )
    lines.append("answer: request -> the carrier reports the callee answered (the emulated ring, the floor); gateway: set-up - answer")
    return "\n".join(lines) + "\n"


async def run_outbound_bench(out: Path, calls: int, carriers: tuple[str, ...]) -> tuple[str, dict[str, dict[str, float]]]:
    workdir = out / "outbound"
    prepare_dir(workdir)
    (workdir / "agents").mkdir(parents=True, exist_ok=True)
    (workdir / "agents" / "bench-outbound.md").write_text(PROFILE, encoding="utf-8")
    realtime = RealtimeEmulator(api_keys={API_KEY}, script=Script(when_exhausted=Say(clips=("hello",))))
    acs = AcsEmulator(play=PlayConfig(duration_s=0.5))
    twilio = TwilioEmulator()
    results: list[SetUp] = []
    async with (
        realtime.serve(HOST) as realtime_url,
        acs.serve(HOST) as acs_url,
        twilio.serve(HOST) as twilio_url,
        summary_chat() as chat_url,
    ):
        port = free_port()
        env = gateway_env(port, acs, acs_url, realtime_url, chat_url, workdir, 1)
        env.update(
            AGENTS_DIR=str(workdir / "agents"), AGENT="bench-outbound", API_TOKEN=API_TOKEN, ACS_PHONE_NUMBER=CALLER_ID,
            TWILIO_ACCOUNT_SID=twilio.config.account_sid, TWILIO_AUTH_TOKEN=twilio.config.auth_token,
            TWILIO_API_BASE=twilio_url, TWILIO_PHONE_NUMBER=CALLER_ID,
        )
        async with served_gateway(workdir, env, 1, port), aiohttp.ClientSession() as http:
            base = f"http://{HOST}:{port}"
            for carrier in carriers:
                for i in range(calls):
                    placed = acs_call(http, base, acs, i) if carrier == "acs" else twilio_call(http, base, twilio, 1000 + i)
                    results.append(await placed)
                    logger.info("%s call %d: set-up %.0f ms", carrier, i + 1, results[-1].first_audio_s * 1000)
    table = summary(results)
    (out / "outbound.json").write_text(json.dumps({"summary": table, "calls": [asdict(r) for r in results]}, indent=1), encoding="utf-8")
    return render(table), table
