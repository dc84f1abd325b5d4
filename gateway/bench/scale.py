"""voice-gateway bench scale: whole calls on 1, 2 and N workers sharing Redis, as one gateway or not.

Each configuration serves the gateway as deployed (``voice-gateway serve --workers W``, ``REDIS_URL`` to a
``redis-server`` started here) against the ACS and Realtime emulators, places the same calls (greeting play, one
caller turn of real speech, the agent's reply, hang-up) and reads off what the scale-out issue asks: calls whose
media used the pre-warmed Realtime session, extra provider sessions (target 0), requests forwarded to the owning
worker and take-overs (from the gateway's log), whether one worker's console lists every live call, and CPU per
call of the gateway and of Redis. The first row runs without Redis: its CPU is the floor the others are read against.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp
import psutil

from gateway.config import Settings
from gateway.emulators.acs import AcsEmulator, PlayConfig, Silence
from gateway.emulators.acs.call import EmulatedCall
from gateway.emulators.realtime import Pacing, RealtimeEmulator, Say, Script
from gateway.emulators.serving import free_port
from gateway.emulators.stack import OPENAI_KEY, offline_stack

from .procs import gateway_command, prepare_dir, service, usage, wait_http_ok, wait_workers
from .run import base_env

logger = logging.getLogger(__name__)

DATA = Path(__file__).parent / "data"
CONSOLE_TOKEN = "bench-console-token"
FORWARDED = ("forwarded to the call's owner", "relayed to the call's owner")
TAKEN_OVER = "takes the call over"
CALL_WAIT_S = 60.0


@dataclass(slots=True)
class ScaleRow:
    workers: int
    redis: bool
    calls: int
    answered: int  # calls whose caller heard the agent's reply
    sessions: int  # Realtime sessions the provider saw
    prewarmed_pct: float  # answered calls whose media used the session opened while the greeting played
    extra_sessions: int  # sessions beyond one per call (a worker that had not answered opening its own)
    forwarded: int  # callbacks and media sockets handed to the worker that answered
    taken_over: int
    console_listed: int  # live calls one worker's console listed (target: every call)
    gateway_ms_cpu_per_call: float
    redis_ms_cpu_per_call: float


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], str] | None:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(directory)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, f"redis://127.0.0.1:{port}/0"


def gateway_env(settings: dict[str, object], workdir: Path, redis_url: str | None) -> dict[str, str]:
    names = {name.upper() for name in Settings.model_fields}
    env = {k: str(v) for k, v in settings.items()}
    env = {k.upper(): v for k, v in env.items() if k.upper() in names}
    env.update(
        DATABASE_URL=f"sqlite:///{workdir / 'gateway.db'}", GATEWAY_SECRET="bench-secret", CONSOLE_TOKEN=CONSOLE_TOKEN,
        LOG_LEVEL="INFO", DRAIN_TIMEOUT_S="5",
    )
    env["PYTHONPATH"] = base_env()["PYTHONPATH"]  # the code under test (this checkout's gateway), as every bench child
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


async def console_listed(url: str, probes: int = 6) -> int:
    """The most live sessions one worker's console listed (fresh connections: each probe may ask another worker)."""
    most = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        for _ in range(probes):
            async with http.get(f"{url}/api/console/sessions", headers={"Authorization": f"Bearer {CONSOLE_TOKEN}"}) as response:
                most = max(most, len((await response.json())["sessions"]))
    return most


async def until(check, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


def answered(call: EmulatedCall) -> bool:
    return call.timeline is not None and bool(call.timeline.received)


async def run_configuration(workdir: Path, workers: int, redis_url: str | None, calls: int, redis_ps: psutil.Process | None) -> ScaleRow:
    acs = AcsEmulator(play=PlayConfig(duration_s=0.5))
    script = Script(steps=[Say(text="はい、承ります。")], loop=True)
    realtime = RealtimeEmulator(api_keys={OPENAI_KEY}, script=script, pacing=Pacing(realtime_factor=2.0))
    prepare_dir(workdir)
    async with offline_stack(acs=acs, realtime=realtime) as stack:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        argv = [*gateway_command(), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
        async with service("gateway", argv, gateway_env(stack.settings(url), workdir, redis_url), workdir) as gateway:
            await wait_http_ok(f"{url}/readyz", 60, gateway)
            await wait_workers(gateway, workers)
            await asyncio.sleep(1.0)  # the workers' first heartbeats: each knows the others
            before, redis_before = usage(gateway.ps), redis_ps.cpu_times() if redis_ps else None
            placed: list[EmulatedCall] = []
            for _ in range(calls):  # 10 calls a second, each: greeting, one turn, the reply, then silence
                placed.append(await acs.incoming_call(
                    f"{url}/api/incoming-call", wav=DATA / "caller_greeting_reply_24k.wav", script=[Silence(int(CALL_WAIT_S * 1000))]
                ))  # fmt: skip
                await asyncio.sleep(0.1)
            await until(lambda: all(answered(c) for c in placed), CALL_WAIT_S)
            listed = await console_listed(url)
            await asyncio.gather(*(c.hang_up() for c in placed), return_exceptions=True)
            await until(lambda: all(s.closed for s in realtime.sessions), 15)
            after, redis_after = usage(gateway.ps), redis_ps.cpu_times() if redis_ps else None
            log = gateway.log.read_text(encoding="utf-8", errors="replace")
    heard = sum(answered(c) for c in placed)
    sessions = len(realtime.sessions)
    extra = max(0, sessions - calls)
    redis_cpu = (sum(redis_after[:2]) - sum(redis_before[:2])) if redis_before and redis_after else 0.0
    return ScaleRow(
        workers=workers, redis=redis_url is not None, calls=calls, answered=heard, sessions=sessions,
        prewarmed_pct=round(100.0 * max(0, heard - extra) / calls, 1), extra_sessions=extra,
        forwarded=sum(log.count(marker) for marker in FORWARDED), taken_over=log.count(TAKEN_OVER), console_listed=listed,
        gateway_ms_cpu_per_call=round(1000 * (after.cpu_s - before.cpu_s) / calls, 1),
        redis_ms_cpu_per_call=round(1000 * redis_cpu / calls, 1),
    )  # fmt: skip


async def run_scale_bench(out: Path, worker_counts: list[int], calls: int) -> str:
    prepare_dir(out)
    rows = [await run_configuration(out / "w1-local", 1, None, calls, None)]
    redis = start_redis(out)
    if redis is None:
        return render(rows, note="redis-server is not installed: only the row without shared state was run")
    process, redis_url = redis
    try:
        await asyncio.sleep(0.5)
        for workers in worker_counts:
            logger.info("scale bench: %d worker(s) with Redis", workers)
            rows.append(await run_configuration(out / f"w{workers}-redis", workers, redis_url, calls, psutil.Process(process.pid)))
    finally:
        process.terminate()
        process.wait(10)
    (out / "scale.json").write_text(json.dumps([asdict(r) for r in rows], indent=2), encoding="utf-8")
    return render(rows)


def render(rows: list[ScaleRow], note: str = "") -> str:
    head = "workers  redis  calls  answered  sessions  pre-warmed %  extra  forwarded  take-overs  console lists  ms CPU/call gw  redis"
    lines = [head]
    for r in rows:
        lines.append(
            f"{r.workers:>7}  {'yes' if r.redis else 'no':>5}  {r.calls:>5}  {r.answered:>8}  {r.sessions:>8}  {r.prewarmed_pct:>12}  "
            f"{r.extra_sessions:>5}  {r.forwarded:>9}  {r.taken_over:>10}  {r.console_listed:>13}  {r.gateway_ms_cpu_per_call:>14}  {r.redis_ms_cpu_per_call:>5}"
        )
    floor = rows[0].gateway_ms_cpu_per_call
    for r in rows[1:]:
        if floor:
            lines.append(f"{r.workers} worker(s) with Redis: {r.gateway_ms_cpu_per_call / floor:.2f}x the gateway CPU per call of 1 worker without")
    if note:
        lines.append(note)
    return "\n".join(lines) + "\n"
