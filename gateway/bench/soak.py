"""``voice-gateway bench soak``: call churn against a served gateway; does anything grow?

One ``voice-gateway serve`` (one worker: the process that is sampled is the one that carries every call) with an
ACS line and a Twilio line, both played by their emulators, and the Realtime emulator as the agent. Calls start at
``calls_per_minute``, alternating ACS and Twilio, each held ``call_s`` with media flowing both ways, then hung up
by the caller. Every ``sample_s`` the gateway process is sampled from outside: RSS and open descriptors
(``/proc/<pid>/fd``, through psutil) and, from the token-protected console status, its asyncio tasks and live
calls (each sample on a fresh connection, so the sampling itself always weighs the same).

The verdicts:
- memory per call: the median over samples with live calls of (RSS − idle RSS) / live calls;
- flat: over the second half of the run the fitted slope of RSS, descriptors and tasks projects less growth than
  ``RSS_TOLERANCE`` of the idle RSS, and less than one call's worth of descriptors and tasks;
- back to baseline: once the churn is over and the gateway idle, tasks and descriptors are at (or below) the idle
  figures taken before it, so a call that left one task or one socket behind fails it. Before the baseline as many
  calls are placed at once as the churn will have live, so that the connection pools (to ACS, Twilio, the model's
  REST API) have grown to their working size: a pool keeps idle connections, even ones the far end has closed,
  until it is used again, and a pool that grew is not a call that leaked.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import secrets
import statistics
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiohttp
import psutil

from gateway.emulators.acs import AcsEmulator, PlayConfig
from gateway.emulators.realtime import RealtimeEmulator
from gateway.emulators.serving import free_port
from gateway.emulators.twilio import TwilioEmulator

from .procs import prepare_dir
from .run import API_KEY, HOST, gateway_env, served_gateway, summary_chat, twilio_env

logger = logging.getLogger(__name__)

MIB = 1024 * 1024
RSS_TOLERANCE = 0.05  # of the idle RSS, projected over the second half
QUIET_S = 8.0  # descriptors unchanged this long = idle (the servers' keep-alive timeouts are 5 s)
SETTLE_TIMEOUT_S = 30.0
SETUP_TIMEOUT_S = 20.0
GREETING_S = 0.5


@dataclass(slots=True, frozen=True)
class Sample:
    at_s: float  # since the churn began (negative: before it)
    rss: int
    fds: int
    tasks: int
    live: int


@dataclass(slots=True)
class SoakReport:
    minutes: float
    calls_per_minute: float
    call_s: float
    baseline: Sample
    final: Sample
    samples: list[Sample] = field(default_factory=list)
    started: int = 0
    connected: int = 0
    left_behind: list[str] = field(default_factory=list)  # descriptors open after the churn that were not before

    def memory_per_call(self) -> float | None:
        """Bytes of RSS per live call (median over the samples that had calls)."""
        per_call = [(s.rss - self.baseline.rss) / s.live for s in self.samples if s.live > 0]
        return statistics.median(per_call) if per_call else None

    def _per_call(self, value: str) -> float:
        base = getattr(self.baseline, value)
        per_call = [(getattr(s, value) - base) / s.live for s in self.samples if s.live > 0]
        return max(1.0, statistics.median(per_call)) if per_call else 1.0

    def slope_per_min(self, value: str) -> float | None:
        half = self.samples[len(self.samples) // 2 :]
        if len(half) < 3 or half[-1].at_s <= half[0].at_s:
            return None
        fit = statistics.linear_regression([s.at_s / 60 for s in half], [float(getattr(s, value)) for s in half])
        return fit.slope

    def _half_minutes(self) -> float:
        half = self.samples[len(self.samples) // 2 :]
        return (half[-1].at_s - half[0].at_s) / 60 if len(half) >= 2 else 0.0

    def flat(self, value: str) -> bool | None:
        slope = self.slope_per_min(value)
        if slope is None:
            return None
        growth = slope * self._half_minutes()
        allowed = RSS_TOLERANCE * self.baseline.rss if value == "rss" else self._per_call(value)
        return growth < allowed

    def back_to_baseline(self) -> bool:
        return self.final.live == 0 and self.final.tasks <= self.baseline.tasks and self.final.fds <= self.baseline.fds

    def passed(self) -> bool:
        return self.back_to_baseline() and all(self.flat(v) is not False for v in ("rss", "fds", "tasks"))

    def render(self) -> str:
        b, f = self.baseline, self.final
        per_call = self.memory_per_call()
        lines = [
            f"Soak: {self.minutes:g} min of churn, {self.calls_per_minute:g} calls/min (ACS and Twilio in turn, {self.call_s:g} s"
            f" each), one gateway worker, {len(self.samples)} samples",
            f"  calls: {self.started} started, {self.connected} with media both ways",
            f"  idle before: RSS {b.rss / MIB:.1f} MiB, {b.fds} fds, {b.tasks} asyncio tasks",
            f"  memory per live call: {'-' if per_call is None else f'{per_call / MIB:.2f} MiB'}"
            f" (peak {max((s.live for s in self.samples), default=0)} live calls)",
        ]
        slopes = []
        for value, unit, scale in (("rss", "MiB/min", MIB), ("fds", "fds/min", 1), ("tasks", "tasks/min", 1)):
            slope, flat = self.slope_per_min(value), self.flat(value)
            verdict = "-" if flat is None else ("flat" if flat else "GROWING")
            slopes.append(f"{value} {'-' if slope is None else f'{slope / scale:+.3f}'} {unit} ({verdict})")
        lines.append(f"  second-half slope: {', '.join(slopes)}")
        back = "yes" if self.back_to_baseline() else "NO"
        lines.append(
            f"  idle after: RSS {f.rss / MIB:.1f} MiB, {f.fds} fds, {f.tasks} asyncio tasks, {f.live} live"
            f" -> every call's sockets and tasks gone: {back}"
        )
        lines += [f"    left open: {d}" for d in self.left_behind]
        return "\n".join(lines) + "\n"

    def write(self, out: Path) -> Path:
        path = prepare_dir(out) / "soak.json"
        data = {**asdict(self), "memory_per_call": self.memory_per_call(), "back_to_baseline": self.back_to_baseline()}
        data["slopes_per_min"] = {v: self.slope_per_min(v) for v in ("rss", "fds", "tasks")}
        path.write_text(json.dumps(data, indent=1), encoding="utf-8")
        return path


class Sampler:
    """The gateway process from outside (psutil) and its console status (token), on a fresh connection each time."""

    def __init__(self, base: str, token: str, pid: int, peers: Mapping[int, str]) -> None:
        self.url = f"{base}/api/console/status"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.process = psutil.Process(pid)
        self.peers = peers  # port -> who listens there, to name the far end of a socket

    async def sample(self, at_s: float) -> Sample:
        with self.process.oneshot():
            rss, fds = self.process.memory_info().rss, self.process.num_fds()
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as http, http.get(self.url, headers=self.headers) as response:
            response.raise_for_status()
            status = await response.json()
        return Sample(round(at_s, 2), rss, fds, int(status["process"]["asyncio_tasks"]), int(status["live_sessions"]))

    def descriptors(self) -> set[str]:
        """What each open descriptor is (a file's path, a socket's ends and state), to name what a call left open."""
        named = {f"{f.path}" for f in self.process.open_files()}
        for c in self.process.net_connections(kind="all"):
            far = f"{self.peers.get(c.raddr.port, c.raddr.ip)}:{c.raddr.port}" if c.raddr else "-"
            near = f"{c.laddr.ip}:{c.laddr.port}" if c.laddr and hasattr(c.laddr, "ip") else str(c.laddr)
            named.add(f"socket {near} -> {far} {c.status}")
        return named

    async def idle(self, at_s: float, baseline: Sample | None = None, timeout_s: float = SETTLE_TIMEOUT_S) -> Sample:
        """Wait until no call is live and the descriptors have not changed for ``QUIET_S`` (pooled keep-alive
        connections closed), or, given a ``baseline``, until tasks and descriptors are back at it."""
        deadline = time.monotonic() + timeout_s
        last = await self.sample(at_s)
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            now = await self.sample(at_s)
            if baseline is not None and now.live == 0 and now.tasks <= baseline.tasks and now.fds <= baseline.fds:
                return now
            if (now.fds, now.tasks, now.live) != (last.fds, last.tasks, last.live):
                quiet_since = time.monotonic()
            elif now.live == 0 and time.monotonic() - quiet_since >= QUIET_S and baseline is None:
                return now
            last = now
        return last


@dataclass(slots=True)
class Stack:
    acs: AcsEmulator
    twilio: TwilioEmulator
    base: str
    token: str
    pid: int
    peers: dict[int, str]


@contextlib.asynccontextmanager
async def _served(workdir: Path, extra_env: Mapping[str, str]) -> AsyncIterator[Stack]:
    realtime = RealtimeEmulator(api_keys={API_KEY}, keep_audio=False, log_appends=False)
    acs = AcsEmulator(play=PlayConfig(duration_s=GREETING_S))
    twilio = TwilioEmulator(say_max_s=GREETING_S)
    async with (
        realtime.serve(HOST) as realtime_url,
        acs.serve(HOST) as acs_url,
        twilio.serve(HOST) as api_base,
        summary_chat() as chat_url,
    ):
        port = free_port()
        token = secrets.token_urlsafe(16)
        env = {
            **gateway_env(port, acs, acs_url, realtime_url, chat_url, workdir, 1),
            **twilio_env(port, twilio, api_base, realtime_url, chat_url, workdir, 1),
            "CONSOLE_TOKEN": token,
        }
        env.update({k: (v + ":" + env[k] if k == "PYTHONPATH" else v) for k, v in extra_env.items()})
        async with served_gateway(workdir, env, 1, port) as gw:
            peers = {
                _port(realtime_url): "realtime", _port(acs_url): "acs", _port(api_base): "twilio", _port(chat_url): "chat",
                port: "gateway",
            }  # fmt: skip
            yield Stack(acs, twilio, f"http://{HOST}:{port}", token, gw.proc.pid, peers)


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


async def _acs_call(stack: Stack, n: int, hold_s: float) -> bool:
    call = await stack.acs.incoming_call(f"{stack.base}/api/incoming-call", caller=f"+8170{n:08d}", timeout_s=SETUP_TIMEOUT_S)
    try:
        await call.wait_for(lambda c: c.media_error is not None or (c.media is not None and c.media.connected), SETUP_TIMEOUT_S)
        up = call.media_error is None
        await asyncio.sleep(hold_s)  # the call's length: a load pattern, nothing timed
        return up
    finally:
        with contextlib.suppress(Exception):
            await call.hang_up(timeout_s=SETUP_TIMEOUT_S)
        stack.acs.calls.pop(call.call_connection_id, None)  # a 30-minute soak would otherwise keep every call's audio


async def _twilio_call(stack: Stack, n: int, hold_s: float) -> bool:
    call = await stack.twilio.incoming_call(
        f"{stack.base}/api/twilio/voice", from_=f"+8170{n:08d}", status_callback=f"{stack.base}/api/twilio/status"
    )
    try:
        await call.wait_for(
            lambda c: c.status.terminal or bool(c.errors) or (c.stream is not None and c.stream.connected_at is not None),
            SETUP_TIMEOUT_S,
        )
        up = not call.errors and call.stream is not None and call.stream.connected_at is not None
        await asyncio.sleep(hold_s)
        return up
    finally:
        with contextlib.suppress(Exception):
            await call.hang_up(timeout_s=SETUP_TIMEOUT_S)
        stack.twilio.calls.pop(call.sid, None)


async def _call(stack: Stack, n: int, hold_s: float) -> bool:
    try:
        return await (_acs_call if n % 2 == 0 else _twilio_call)(stack, n, hold_s)
    except Exception as exc:  # a failed call is counted, the churn goes on
        logger.warning("soak call %d failed: %r", n, exc)
        return False


async def run_soak(
    workdir: Path,
    minutes: float = 30.0,
    calls_per_minute: float = 12.0,
    call_s: float = 20.0,
    sample_s: float = 10.0,
    extra_env: Mapping[str, str] | None = None,
    settle_s: float = SETTLE_TIMEOUT_S,
) -> SoakReport:
    """The churn, sampled; ``extra_env`` is added to the gateway's environment (``PYTHONPATH`` is prepended);
    ``settle_s``: how long the idle gateway may take to get back to its baseline after the churn."""
    prepare_dir(workdir)
    async with _served(workdir, extra_env or {}) as stack:
        sampler = Sampler(stack.base, stack.token, stack.pid, stack.peers)
        at_once = max(2, math.ceil(calls_per_minute * call_s / 60) + 1)  # the churn's live calls, and one for jitter
        await asyncio.gather(*(_call(stack, n, 1.0) for n in range(at_once)))
        baseline = await sampler.idle(0.0)
        before = sampler.descriptors()
        logger.info("soak: idle baseline %s; churn for %g min", baseline, minutes)
        report = SoakReport(minutes, calls_per_minute, call_s, baseline, baseline)
        calls: list[asyncio.Task[bool]] = []
        began = time.monotonic()
        end = began + minutes * 60

        async def sample_until_done() -> None:
            while time.monotonic() < end or any(not c.done() for c in calls):
                report.samples.append(await sampler.sample(time.monotonic() - began))
                await asyncio.sleep(sample_s)

        sampling = asyncio.create_task(sample_until_done())
        for n in itertools.count(at_once):
            if time.monotonic() >= end:
                break
            calls.append(asyncio.create_task(_call(stack, n, call_s)))
            await asyncio.sleep(60.0 / calls_per_minute)
        results = await asyncio.gather(*calls)
        await sampling
        report.started, report.connected = len(results), sum(results)
        report.final = await sampler.idle(time.monotonic() - began, baseline, settle_s)
        if not report.back_to_baseline():
            report.left_behind = sorted(sampler.descriptors() - before)
        return report
