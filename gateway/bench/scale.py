"""voice-gateway bench scale: whole calls on 1, 2 and N workers and on two replicas sharing Redis, as one gateway or not.

Each configuration serves the gateway as deployed (``voice-gateway serve --workers W``, ``REDIS_URL`` to a
``redis-server`` started here; last, two separate ``serve`` replicas on one store behind a round-robin proxy without
affinity, as a load balancer that cannot pin) against the ACS and Realtime emulators, places the same calls
(greeting play, one caller turn of real speech, the agent's reply, hang-up) and reads off what the scale-out issue
asks: calls whose media used the pre-warmed Realtime session, extra provider sessions (target 0), requests that
reached a process other than the call's owner and were handed on, take-overs (from the gateway's log), the caller's
set-up time (what handing on costs), whether one console lists every live call, the call events the live console
feeds of every process got (``console_watch``), and CPU per call of the gateway and of Redis. The first row runs
without Redis: its CPU and set-up time are the floor the others are read against.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp
import psutil

from gateway.config import Settings
from gateway.emulators.acs import AcsEmulator, PlayConfig, Silence
from gateway.emulators.acs.call import EmulatedCall
from gateway.emulators.realtime import Pacing, RealtimeEmulator, Say, Script
from gateway.emulators.serving import free_port
from gateway.emulators.stack import OPENAI_KEY, OfflineStack, offline_stack

from .console_watch import ConsoleWatch
from .postgres import throwaway_postgres
from .procs import Service, gateway_command, prepare_dir, service, start_redis, usage, wait_http_ok, wait_workers
from .round_robin import RoundRobinProxy
from .run import base_env

logger = logging.getLogger(__name__)

DATA = Path(__file__).parent / "data"
CONSOLE_TOKEN = "bench-console-token"
FORWARDED = ("forwarded to the call's owner", "relayed to the call's owner")
TAKEN_OVER = "takes the call over"
CALL_WAIT_S = 60.0
READY_S = 120.0  # on a loaded machine, 4 spawned workers import for most of a minute


@dataclass(slots=True)
class ScaleRow:
    workers: int  # per replica
    replicas: int  # separate ``serve`` processes behind a round-robin proxy without affinity (1: no proxy)
    redis: bool
    calls: int
    answered: int  # calls whose caller heard the agent's reply
    sessions: int  # Realtime sessions the provider saw
    prewarmed_pct: float  # answered calls whose media used the session opened while the greeting played
    extra_sessions: int  # sessions beyond one per call (a worker that had not answered opening its own)
    forwarded: int  # callbacks and media sockets handed to the worker that answered
    taken_over: int
    setup_ms_p50: float  # Event Grid's IncomingCall → the media socket connected, as the caller's side saw it
    console_listed: int  # live calls one worker's console listed (target: every call)
    console_seen: int  # call events the least lucky console's live feed got (transcript deltas not counted)
    console_emitted: int  # the same, on the feed that got the most (a console on the calls' own process)
    gateway_ms_cpu_per_call: float
    redis_ms_cpu_per_call: float


def gateway_env(settings: dict[str, object], database_url: str, redis_url: str | None) -> dict[str, str]:
    names = {name.upper() for name in Settings.model_fields}
    env = {k: str(v) for k, v in settings.items()}
    env = {k.upper(): v for k, v in env.items() if k.upper() in names}
    env.update(
        DATABASE_URL=database_url, GATEWAY_SECRET="bench-secret", CONSOLE_TOKEN=CONSOLE_TOKEN,
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


@dataclass(slots=True)
class Deployment:
    url: str  # where carriers reach it
    consoles: list[str]  # where the console feeds are opened
    services: list[Service]

    def cpu_s(self) -> float:
        return sum(usage(svc.ps).cpu_s for svc in self.services)

    def log(self) -> str:
        return "".join(svc.log.read_text(encoding="utf-8", errors="replace") for svc in self.services)


@contextlib.asynccontextmanager
async def deployment(
    stack: OfflineStack, workdir: Path, workers: int, replicas: int, redis_url: str | None, database_url: str | None
) -> AsyncIterator[Deployment]:
    """``serve --workers W`` on one port, or ``replicas`` of it on one store behind a proxy without affinity.
    ``database_url``: the store (default: a SQLite file in ``workdir``)."""
    database_url = database_url or f"sqlite:///{workdir / 'gateway.db'}"
    public = f"http://127.0.0.1:{free_port()}"
    ports = [free_port() for _ in range(replicas)] if replicas > 1 else [int(public.rsplit(":", 1)[1])]
    async with contextlib.AsyncExitStack() as stack_of:
        services = []
        for n, port in enumerate(ports):
            argv = [*gateway_command(), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
            env = gateway_env(stack.settings(public), database_url, redis_url)
            svc = await stack_of.enter_async_context(service(f"gateway-{n}", argv, env, prepare_dir(workdir / f"r{n}")))
            await wait_http_ok(f"http://127.0.0.1:{port}/readyz", READY_S, svc)  # one after the other: one creates the tables
            await wait_workers(svc, workers)
            services.append(svc)
        backends = [f"http://127.0.0.1:{port}" for port in ports]
        if replicas > 1:
            await stack_of.enter_async_context(RoundRobinProxy(backends).serve(int(public.rsplit(":", 1)[1])))
            consoles = backends
        else:
            consoles = backends * max(2, 2 * workers)  # fresh connections: each feed lands on whichever worker accepts
        yield Deployment(public, consoles, services)


async def run_configuration(
    workdir: Path, workers: int, redis_url: str | None, calls: int, redis_ps: psutil.Process | None, replicas: int = 1,
    database_url: str | None = None,
) -> ScaleRow:
    acs = AcsEmulator(play=PlayConfig(duration_s=0.5))
    script = Script(steps=[Say(text="はい、承ります。")], loop=True)
    realtime = RealtimeEmulator(api_keys={OPENAI_KEY}, script=script, pacing=Pacing(realtime_factor=2.0))
    prepare_dir(workdir)
    async with offline_stack(acs=acs, realtime=realtime) as stack, deployment(stack, workdir, workers, replicas, redis_url, database_url) as gw:
        await asyncio.sleep(1.0)  # the processes' first heartbeats: each knows the others
        consoles = ConsoleWatch(gw.consoles, CONSOLE_TOKEN)
        async with consoles.watching():
            before, redis_before = gw.cpu_s(), redis_ps.cpu_times() if redis_ps else None
            placed: list[tuple[float, EmulatedCall]] = []
            for _ in range(calls):  # 10 calls a second, each: greeting, one turn, the reply, then silence
                rang = time.monotonic()
                placed.append((rang, await acs.incoming_call(
                    f"{gw.url}/api/incoming-call", wav=DATA / "caller_greeting_reply_24k.wav", script=[Silence(int(CALL_WAIT_S * 1000))]
                )))  # fmt: skip
                await asyncio.sleep(0.1)
            await until(lambda: all(answered(c) for _, c in placed), CALL_WAIT_S)
            listed = await console_listed(gw.url)
            await asyncio.gather(*(c.hang_up() for _, c in placed), return_exceptions=True)
            await until(lambda: all(s.closed for s in realtime.sessions), 15)
            await asyncio.sleep(1.0)  # the last events' relay through Redis (batched each loop turn) and the feeds' window
            after, redis_after = gw.cpu_s(), redis_ps.cpu_times() if redis_ps else None
        log = gw.log()
    heard = sum(answered(c) for _, c in placed)
    setups = sorted(1000 * (c.timeline.connected_at - rang) for rang, c in placed if c.timeline and c.timeline.connected_at)
    sessions = len(realtime.sessions)
    extra = max(0, sessions - calls)
    redis_cpu = (sum(redis_after[:2]) - sum(redis_before[:2])) if redis_before and redis_after else 0.0
    return ScaleRow(
        workers=workers, replicas=replicas, redis=redis_url is not None, calls=calls, answered=heard, sessions=sessions,
        prewarmed_pct=round(100.0 * max(0, heard - extra) / calls, 1), extra_sessions=extra,
        forwarded=sum(log.count(marker) for marker in FORWARDED), taken_over=log.count(TAKEN_OVER),
        setup_ms_p50=round(setups[len(setups) // 2], 0) if setups else 0.0, console_listed=listed,
        console_seen=consoles.seen, console_emitted=consoles.emitted,
        gateway_ms_cpu_per_call=round(1000 * (after - before) / calls, 1),
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
        async with throwaway_postgres() as database_url:
            logger.info("scale bench: 2 replicas behind a round-robin proxy, on %s", "PostgreSQL" if database_url else "one SQLite file")
            rows.append(await run_configuration(
                out / "replicas-2", 1, redis_url, calls, psutil.Process(process.pid), replicas=2, database_url=database_url
            ))  # fmt: skip
            replica_store = "PostgreSQL (a throw-away cluster)" if database_url else "one SQLite file (no PostgreSQL here: use it in production)"
    finally:
        process.terminate()
        process.wait(10)
    (out / "scale.json").write_text(json.dumps([asdict(r) for r in rows], indent=2), encoding="utf-8")
    return render(rows, note=f"the replicas' store: {replica_store}")


def render(rows: list[ScaleRow], note: str = "") -> str:
    head = (
        "workers  replicas  redis  calls  answered  sessions  pre-warmed %  extra  forwarded  take-overs  set-up ms"
        "  console lists  console events seen  ms CPU/call gw  redis"
    )
    lines = [head]
    for r in rows:
        seen = f"{r.console_seen}/{r.console_emitted}"
        lines.append(
            f"{r.workers:>7}  {r.replicas:>8}  {'yes' if r.redis else 'no':>5}  {r.calls:>5}  {r.answered:>8}  {r.sessions:>8}  "
            f"{r.prewarmed_pct:>12}  {r.extra_sessions:>5}  {r.forwarded:>9}  {r.taken_over:>10}  {r.setup_ms_p50:>9.0f}  "
            f"{r.console_listed:>13}  {seen:>19}  {r.gateway_ms_cpu_per_call:>14}  {r.redis_ms_cpu_per_call:>5}"
        )
    floor = rows[0]
    for r in rows[1:]:
        where = f"{r.replicas} replicas" if r.replicas > 1 else f"{r.workers} worker(s)"
        if floor.gateway_ms_cpu_per_call:
            lines.append(
                f"{where} with Redis: {r.gateway_ms_cpu_per_call / floor.gateway_ms_cpu_per_call:.2f}x the gateway CPU per call "
                f"of 1 worker without; set-up {r.setup_ms_p50 - floor.setup_ms_p50:+.0f} ms (median)"
            )
    if note:
        lines.append(note)
    return "\n".join(lines) + "\n"
