"""A real ``voice-gateway serve`` process (the CLI, its signal handlers and Hypercorn config) for tests that need
it; the emulators it talks to run in the test process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
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
    """``env``: more settings as environment variables (e.g. ``REDIS_URL``)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "gateway.log"
    database = tmp_path / "gateway.db"
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway.cli",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            env={**gateway_env(stack, url, database, drain_timeout_s), **(env or {})},
            cwd=tmp_path,
            stdout=sink,
            stderr=sink,
        )
    served = Served(process, url, log, database)
    try:
        await wait_ready(served)
        yield served
    finally:
        if process.returncode is None:
            process.kill()
            await asyncio.wait_for(process.wait(), 10)
        logger.info("gateway output:\n%s", served.output()[-6000:])


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
