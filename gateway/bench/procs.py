"""The processes under test: start them as deployed, wait until they serve, measure their CPU and memory, stop them.

Each service runs from a scratch directory with an environment built here from scratch (nothing inherited), so
a developer's ``.env`` or shell variables cannot change what is measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psutil

from gateway.emulators.serving import free_port

logger = logging.getLogger(__name__)


def prepare_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def gateway_command() -> list[str]:
    """``voice-gateway`` as installed next to this interpreter (the deployed entry point), else ``-m gateway.cli``."""
    script = Path(sys.executable).with_name("voice-gateway")
    if script.exists():
        return [str(script)]
    found = shutil.which("voice-gateway")
    return [found] if found else [sys.executable, "-m", "gateway.cli"]


def python_module(module: str) -> list[str]:
    return [sys.executable, "-m", module]


@dataclass(slots=True, frozen=True)
class Usage:
    """CPU seconds (user + system) and resident memory of a process tree at one moment."""

    at: float
    cpu_s: float
    rss: int
    processes: int
    per_process: dict[int, float]  # pid -> CPU seconds, to see how evenly workers share the load

    def busiest_cores(self, earlier: Usage) -> float:
        """CPU of the busiest single process between ``earlier`` and now, in cores (1.0 = one core flat out)."""
        seconds = self.at - earlier.at
        deltas = [cpu - earlier.per_process.get(pid, 0.0) for pid, cpu in self.per_process.items()]
        return max(deltas, default=0.0) / seconds if seconds > 0 else 0.0


def usage(root: psutil.Process, descendants: bool = True) -> Usage:
    """Sum over ``root`` and (by default) all its descendants (Hypercorn's and the relay's workers are children)."""
    cpu, rss, n = 0.0, 0, 0
    per_process: dict[int, float] = {}
    try:
        members = [root, *root.children(recursive=True)] if descendants else [root]
    except psutil.NoSuchProcess:
        members = []
    for proc in members:
        try:
            with proc.oneshot():
                times = proc.cpu_times()
                cpu += times.user + times.system
                per_process[proc.pid] = times.user + times.system
                rss += proc.memory_info().rss
                n += 1
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return Usage(time.monotonic(), cpu, rss, n, per_process)


def system_busy_s() -> float:
    """CPU seconds the whole machine has spent busy (all cores), to tell our load from everyone else's."""
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


class Service:
    """A started subprocess with its log file; ``lines`` reads its stdout (the emulator's command channel)."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.name = name
        self.proc = proc
        self.log = log
        self.ps = psutil.Process(proc.pid)

    def usage(self) -> Usage:
        return usage(self.ps)

    async def read_line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"{self.name} exited (see {self.log})")
        return line.decode().strip()

    async def command(self, line: str, expect: str, timeout: float = 30.0) -> None:
        """Send one command line on stdin and wait for the line that acknowledges it."""
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode())
        await self.proc.stdin.drain()
        while (answer := await self.read_line(timeout)) != expect:
            logger.debug("%s said %r", self.name, answer)

    async def stop(self, timeout: float = 15.0) -> None:
        if self.proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.terminate()
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            logger.warning("%s did not stop in %.0fs; killing it", self.name, timeout)
            for child in self.ps.children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()


@contextlib.asynccontextmanager
async def service(
    name: str, argv: Sequence[str], env: Mapping[str, str], workdir: Path, *, pipes: bool = False
) -> AsyncIterator[Service]:
    """Run ``argv`` in ``workdir`` with exactly ``env``; stderr goes to ``workdir/<name>.log``."""
    log = prepare_dir(workdir) / f"{name}.log"
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=workdir,
            env=dict(env),
            stdin=asyncio.subprocess.PIPE if pipes else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if pipes else asyncio.subprocess.DEVNULL,
            stderr=err,
        )
    svc = Service(name, proc, log)
    try:
        yield svc
    finally:
        await svc.stop()


async def wait_http_ok(url: str, timeout: float, proc: Service | None = None) -> None:
    """Poll ``url`` until it answers 200 (the gateway's /readyz), failing early if the process died."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            if proc is not None and proc.proc.returncode is not None:
                raise RuntimeError(f"{proc.name} exited with {proc.proc.returncode} (see {proc.log})")
            try:
                async with http.get(url, timeout=aiohttp.ClientTimeout(total=2)) as response:
                    if response.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} not ready after {timeout:.0f}s")
            await asyncio.sleep(0.2)


async def wait_listening(host: str, port: int, timeout: float, proc: Service | None = None) -> None:
    """Wait until something accepts TCP connections on ``host:port``."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.proc.returncode is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.proc.returncode} (see {proc.log})")
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f}s") from None
            await asyncio.sleep(0.1)
        else:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return


async def wait_workers(svc: Service, workers: int, timeout: float = 20.0) -> None:
    """Hypercorn's master forks its workers after it starts; wait until all of them exist."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            python_children = [c for c in svc.ps.children() if "python" in c.name().lower() or c.cmdline()]
        except psutil.NoSuchProcess:
            python_children = []
        if workers <= 1 or len(python_children) >= workers:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{svc.name}: {workers} workers did not start")


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], str] | None:
    """A throw-away ``redis-server`` on a free loopback port (None when it is not installed)."""
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(directory)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, f"redis://127.0.0.1:{port}/0"
