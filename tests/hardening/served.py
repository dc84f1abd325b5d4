"""A real ``voice-gateway serve`` process (the CLI, its signal handlers and Hypercorn config) for tests that need
it; the emulators it talks to run in the test process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from gateway.config import Settings
from gateway.emulators.serving import free_port
from gateway.emulators.stack import OfflineStack

logger = logging.getLogger(__name__)

GATEWAY_SECRET = "served-test-secret"


@dataclass
class Served:
    process: asyncio.subprocess.Process
    url: str
    log: Path
    database: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def gateway_env(stack: OfflineStack, url: str, database: Path, drain_timeout_s: float) -> dict[str, str]:
    """The settings as environment variables, the way a deployment passes them; nothing inherited can interfere."""
    values = stack.settings(url)
    values.update(
        database_url=f"sqlite:///{database}",
        gateway_secret=GATEWAY_SECRET,
        drain_timeout_s=str(drain_timeout_s),
        log_level="INFO",
        server=os.environ.get("SERVER", "hypercorn"),  # a test run with SERVER=granian serves every gateway with it
    )
    names = {name.upper() for name in Settings.model_fields}
    env = {
        k: v for k, v in os.environ.items() if k.upper() not in names and k not in ("PUBLIC_BASE_URL", "APP_BASE_URL")
    }
    env.update({name.upper(): str(value) for name, value in values.items()})
    return env


@contextlib.asynccontextmanager
async def serve_gateway(
    stack: OfflineStack, tmp_path: Path, drain_timeout_s: float, workers: int = 1, env: dict[str, str] | None = None
) -> AsyncIterator[Served]:
    """``env``: more settings as environment variables (e.g. ``REDIS_URL``). Killed at the end, its output logged."""
    async with serve_process(stack, tmp_path, drain_timeout_s=drain_timeout_s, workers=workers, env=env, graceful_s=None) as served:
        try:
            yield served
        finally:
            logger.info("gateway output:\n%s", served.output()[-6000:])


@contextlib.asynccontextmanager
async def serve_process(
    stack: OfflineStack,
    directory: Path,
    *,
    drain_timeout_s: float = 5.0,
    workers: int = 1,
    env: dict[str, str] | None = None,
    public_url: str | None = None,
    database: Path | None = None,
    log_name: str = "gateway.log",
    graceful_s: float | None = 15.0,
) -> AsyncIterator[Served]:
    """``voice-gateway serve`` run from ``directory`` as a deployment runs it. ``env``: more settings (environment
    variable names); ``public_url``: where carriers reach it (a proxy in front of several replicas); ``database``:
    a store several processes share. Stopped with SIGTERM (a drain), killed if still there after ``graceful_s``
    (``None``: killed at once)."""
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = directory / log_name
    database = database or directory / "gateway.db"
    args = ["-m", "gateway.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable, *args, env={**gateway_env(stack, public_url or url, database, drain_timeout_s), **(env or {})},
            cwd=directory, stdout=sink, stderr=sink,
        )  # fmt: skip
    served = Served(process, url, log, database)
    try:
        await wait_ready(served)
        yield served
    finally:
        if process.returncode is None:
            if graceful_s is not None:
                process.send_signal(signal.SIGTERM)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(process.wait(), graceful_s)
            if process.returncode is None:
                process.kill()
                await asyncio.wait_for(process.wait(), 10)


async def readyz(http: aiohttp.ClientSession, url: str) -> int:
    async with http.get(f"{url}/readyz", timeout=aiohttp.ClientTimeout(total=3)) as response:
        return response.status


async def wait_ready(served: Served, timeout: float = 90.0) -> None:
    """Until /readyz says 200. Bounded generously: on a loaded machine spawned workers import for tens of seconds."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if served.process.returncode is not None:
                raise AssertionError(f"the gateway exited with {served.process.returncode}:\n{served.output()}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                if await readyz(http, served.url) == 200:
                    return
            await asyncio.sleep(0.1)
    raise TimeoutError(f"the gateway never became ready:\n{served.output()}")
