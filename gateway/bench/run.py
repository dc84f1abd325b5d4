"""One target, start to finish: its Realtime emulator, the target itself (gateway or relay), the ladder, the verdict.

Every target gets a fresh emulator process and a fresh load generator, so the two runs of one benchmark share
nothing but the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import gateway
from gateway.emulators.acs import AcsEmulator, PlayConfig
from gateway.emulators.chat import ChatEmulator
from gateway.emulators.serving import free_port, serve_app
from gateway.emulators.stack import chat_settings
from gateway.emulators.twilio import TwilioEmulator
from gateway.profiles import PACKAGED_AGENTS
from gateway.serving import stop_deadline_s
from gateway.store import Store

from .ladder import FrameLogs, LadderOptions, StepResult, Window, judge, run_ladder
from .loadgen import MediaLoad
from .procs import (
    Service,
    gateway_command,
    prepare_dir,
    python_module,
    service,
    start_redis,
    wait_http_ok,
    wait_listening,
    wait_workers,
)
from .targets import BenchMediaLeg, GatewayTarget, RelayTarget, Target
from .twilio_target import BenchStream, TwilioTarget
from .twilio_wire import mulaw_speech_frames

logger = logging.getLogger(__name__)

API_KEY = "sk-bench"
HOST = "127.0.0.1"
MODEL = "gpt-realtime"
RELAY_TARGETS = {"relay": "aiohttp", "relay-websockets": "websockets"}  # the bare relays and their WebSocket library
CARRIERS = ("gateway", "twilio")  # the gateway's phone lines: ACS, Twilio
GRANIAN = "-granian"  # a carrier's target with this suffix: the same gateway served by Granian (SERVER=granian)
CARRIER_TARGETS = (*CARRIERS, *(f"{carrier}{GRANIAN}" for carrier in CARRIERS))


def carrier_of(kind: str) -> tuple[str, str]:
    """A carrier target's phone line and server: ``twilio-granian`` is ``("twilio", "granian")``."""
    carrier = kind.removesuffix(GRANIAN)
    return carrier, "hypercorn" if carrier == kind else "granian"


@dataclass(slots=True, frozen=True)
class TargetOptions:
    kind: str  # one of CARRIER_TARGETS ("gateway" is the ACS line) or RELAY_TARGETS
    workers: int
    ladder: LadderOptions
    reply_ms: int = 5000
    gap_ms: int = 1000
    greeting_s: float = 1.0
    profile: bool = False  # gateway only: one worker under cProfile (slower: figures are for finding hot spots)
    drop_every: int = 0  # relay only: drop every Nth caller frame (proves that loss is caught)


@dataclass(slots=True)
class TargetResult:
    kind: str
    workers: int
    steps: list[StepResult]
    workdir: str
    profile: str | None = None


def base_env() -> dict[str, str]:
    """The children's whole environment: nothing is inherited (see procs.py), except that they import this very
    ``gateway`` package (a checkout's, not whichever one is installed in the interpreter)."""
    return {"PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8", "PYTHONPATH": str(Path(gateway.__file__).resolve().parent.parent)}


@contextlib.asynccontextmanager
async def realtime_emulator(workdir: Path, options: TargetOptions) -> AsyncIterator[tuple[Service, str]]:
    port = free_port()
    argv = [*python_module("gateway.bench.emulator"), "--port", str(port), "--api-key", API_KEY,
            "--reply-ms", str(options.reply_ms), "--gap-ms", str(options.gap_ms)]  # fmt: skip
    async with service("realtime-emulator", argv, base_env(), workdir, pipes=True) as emu:
        ready = await emu.read_line(30)
        if not ready.startswith("ready "):
            raise RuntimeError(f"realtime emulator said {ready!r}")
        yield emu, ready.split(" ", 1)[1]


def bench_agent(directory: Path, name: str, turn_taking: dict[str, object]) -> str:
    """A copy of the shipped support-desk profile under ``name`` with its own ``turn_taking``; returns the name."""
    source = (PACKAGED_AGENTS / "support-desk.md").read_text(encoding="utf-8")
    head, body = source.split("---", 2)[1:]
    lines = [line for line in head.strip().splitlines() if not line.startswith(("name:", "turn_taking:", "  "))]
    lines += [f"name: {name}", "turn_taking:", *(f"  {key}: {value}" for key, value in turn_taking.items())]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.md").write_text("---\n" + "\n".join(lines) + "\n---" + body, encoding="utf-8")
    return name


# The load's caller talks without a break over an agent that talks without a break: a load pattern, not a
# conversation. Turn-taking would (rightly) pause and interrupt the agent all the time; the relay is what is measured.
LOAD_TURN_TAKING = {"pause_after_ms": 0, "barge_in_min_ms": 60000}  # a minute of voice: never, in a load step
# A bench hangs up all its calls before it stops its gateway, so the drain has nothing of the bench's to wait for; a
# session still live then is one no caller will end (with several workers and no REDIS_URL, the worker that got a
# call's callbacks but not its media keeps a session of its own), which the drain hangs up at this deadline.
DRAIN_TIMEOUT_S = 5.0


@contextlib.asynccontextmanager
async def summary_chat() -> AsyncIterator[str]:
    """The chat model a phone bench's gateway summarises its ended calls with (``gateway_env``, ``twilio_env``):
    their OpenAI base URL is the Realtime emulator's, which has no chat completions route, so without it every call
    would log a failed summary and wait out the SDK's retries, in the shutdown too."""
    async with serve_app(ChatEmulator(keys=(API_KEY,)).app, HOST) as url:
        yield url


def provider_env(realtime_url: str, chat_url: str) -> dict[str, str]:
    """Realtime on the Realtime emulator (the OpenAI form), chat completions on the chat emulator (the Azure form)."""
    chat = {name.upper(): value for name, value in chat_settings(chat_url, API_KEY).items()}
    return {"OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": f"{realtime_url}/v1", **chat}


def served_env(port: int, workdir: Path, workers: int) -> dict[str, str]:
    """What every served gateway of the benchmark gets, whichever providers it is wired to."""
    return {
        **base_env(),
        "AGENTS_DIR": str(workdir / "agents"),
        "AGENT": bench_agent(workdir / "agents", "bench-load", LOAD_TURN_TAKING),
        "HOST": HOST,
        "PORT": str(port),
        "WORKERS": str(workers),
        "PUBLIC_BASE_URL": f"http://{HOST}:{port}",
        "DATABASE_URL": f"sqlite:///{workdir / 'gateway.db'}",
        "GATEWAY_SECRET": secrets.token_urlsafe(24),
        "LOG_LEVEL": "WARNING",
        "DRAIN_TIMEOUT_S": str(DRAIN_TIMEOUT_S),
    }


def gateway_env(
    port: int, acs: AcsEmulator, acs_url: str, realtime_url: str, chat_url: str, workdir: Path, workers: int
) -> dict[str, str]:
    return {
        **served_env(port, workdir, workers),
        "ACS_ENDPOINT": acs_url,
        "ACS_ACCESS_KEY": acs.config.access_key,
        "ACS_RESOURCE_ID": acs.config.resource_id,
        "ACS_JWKS_URL": f"{acs_url}/calling/keys",
        **provider_env(realtime_url, chat_url),
    }


def twilio_env(
    port: int, twilio: TwilioEmulator, api_base: str, realtime_url: str, chat_url: str, workdir: Path, workers: int
) -> dict[str, str]:
    """A gateway whose only phone line is Twilio (μ-law passed through to the provider, as deployed by default)."""
    return {
        **served_env(port, workdir, workers),
        "TWILIO_ACCOUNT_SID": twilio.config.account_sid,
        "TWILIO_AUTH_TOKEN": twilio.config.auth_token,
        "TWILIO_API_BASE": api_base,
        "TWILIO_AUDIO": "pcmu",
        **provider_env(realtime_url, chat_url),
    }


@contextlib.asynccontextmanager
async def served_gateway(
    workdir: Path, env: dict[str, str], workers: int, port: int, profile: Path | None = None
) -> AsyncIterator[Service]:
    """``voice-gateway serve`` as deployed (all its workers), or one worker under cProfile.

    The database is created first, as a deployment's would exist already: workers that start together on an empty
    SQLite file race to create the tables, and the loser fails its start-up.
    """
    store = Store(env["DATABASE_URL"].replace("sqlite:///", "sqlite+aiosqlite:///", 1))
    await store.open()
    await store.close()
    if profile is not None:
        argv = [sys.executable, "-m", "cProfile", "-o", str(profile), "-m", "gateway.cli", "serve", "--workers", "1"]
    else:
        argv = [*gateway_command(), "serve", "--workers", str(workers)]
    argv += ["--host", HOST, "--port", str(port)]
    async with shared_state(workdir, env, 1 if profile else workers), service("gateway", argv, env, workdir) as gw:
        try:
            await wait_http_ok(f"http://{HOST}:{port}/readyz", 60, gw)
            await wait_workers(gw, 1 if profile else workers)
            await asyncio.sleep(1.0)  # let late workers finish their start-up
            yield gw
        finally:  # SIGTERM, then as long as its drain may take (a kill before that is a failure worth its warning)
            await gw.stop(stop_deadline_s(float(env.get("DRAIN_TIMEOUT_S", DRAIN_TIMEOUT_S))))


@contextlib.asynccontextmanager
async def shared_state(workdir: Path, env: dict[str, str], workers: int) -> AsyncIterator[None]:
    """Several workers serve as deployed, sharing calls through Redis (``serve`` runs one worker without it): a
    throw-away ``redis-server`` for the gateway's lifetime, unless ``env`` names one."""
    if workers <= 1 or env.get("REDIS_URL"):
        yield
        return
    redis = start_redis(workdir)
    if redis is None:
        raise SystemExit(f"--workers {workers}: workers share calls through Redis and redis-server is not installed "
                         "(apt-get install redis-server), or use --workers 1")  # fmt: skip
    process, env["REDIS_URL"] = redis
    try:
        yield
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 10)


def _remove_dumps(workdir: Path) -> None:
    for old in workdir.glob("tap-*.npz"):
        old.unlink()


async def run_target(options: TargetOptions, workdir: Path) -> TargetResult:
    prepare_dir(workdir)
    dumps = iter(range(1_000_000))
    async with realtime_emulator(workdir, options) as (emu, realtime_url):

        async def dump() -> Path:
            path = workdir / f"tap-{next(dumps)}.npz"
            await emu.command(f"dump {path}", f"dumped {path}")
            return path

        carrier, server = carrier_of(options.kind)
        load = MediaLoad(mulaw_speech_frames() if carrier == "twilio" else None)
        load.start()
        profile = workdir / "gateway.prof" if options.profile else None

        async def climb(target: Target, process: Service) -> list[Window]:
            """The ladder against ``target`` served by ``process``; its calls are hung up whatever happens."""
            try:
                return await run_ladder(target, process, emu, load, options.ladder, dump)
            finally:
                await target.close_all()
        try:
            if carrier == "gateway":
                acs = AcsEmulator(
                    play=PlayConfig(duration_s=options.greeting_s),
                    media_factory=functools.partial(BenchMediaLeg, load),
                    media_max_duration_s=3600.0,
                )
                async with acs.serve(HOST) as acs_url, summary_chat() as chat_url:
                    port = free_port()
                    env = gateway_env(port, acs, acs_url, realtime_url, chat_url, workdir, options.workers)
                    env["SERVER"] = server
                    async with served_gateway(workdir, env, options.workers, port, profile) as gw:
                        target = GatewayTarget(acs, f"http://{HOST}:{port}/api/incoming-call")
                        target.name = options.kind
                        windows = await climb(target, gw)
            elif carrier == "twilio":
                twilio = TwilioEmulator(
                    say_max_s=options.greeting_s, max_stream_s=3600.0, stream_factory=functools.partial(BenchStream, load)
                )
                async with twilio.serve(HOST) as api_base, summary_chat() as chat_url:
                    port = free_port()
                    env = twilio_env(port, twilio, api_base, realtime_url, chat_url, workdir, options.workers)
                    env["SERVER"] = server
                    async with served_gateway(workdir, env, options.workers, port, profile) as gw:
                        target = TwilioTarget(twilio, f"http://{HOST}:{port}")
                        target.name = options.kind
                        windows = await climb(target, gw)
            else:
                port = free_port()
                rt_ws = realtime_url.replace("http://", "ws://") + f"/v1/realtime?model={MODEL}"
                argv = [*python_module("gateway.bench.relay"), "--port", str(port), "--realtime-url", rt_ws,
                        "--api-key", API_KEY, "--workers", str(options.workers), "--drop-every", str(options.drop_every),
                        "--library", RELAY_TARGETS[options.kind]]  # fmt: skip
                async with service(options.kind, argv, base_env(), workdir) as relay:
                    await wait_listening(HOST, port, 30, relay)
                    await wait_workers(relay, options.workers - 1)  # the first process is a worker too
                    await asyncio.sleep(1.0)
                    windows = await climb(RelayTarget(load, f"ws://{HOST}:{port}/", options.kind), relay)
        finally:
            await load.stop()
        logs = FrameLogs.load(await dump(), load)
    _remove_dumps(workdir)
    steps = [judge(w, logs, load) for w in windows]
    return TargetResult(
        options.kind, 1 if options.profile else options.workers, steps, str(workdir), str(profile) if profile else None
    )
