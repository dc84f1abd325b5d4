"""Gateway processes sharing a real Redis, as the multi-process tests run them: ``voice-gateway serve`` with
``REDIS_URL`` and the console token, two replicas behind a round-robin proxy without affinity, and what the
consoles of every process list."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from gateway.bench.round_robin import RoundRobinProxy
from gateway.emulators.serving import free_port
from gateway.emulators.stack import OfflineStack
from tests.console.conftest import AUTH, TOKEN
from tests.hardening.served import Served, serve_process


@contextlib.asynccontextmanager
async def serve(
    stack: OfflineStack, directory: Path, redis_url: str, workers: int = 1, env: dict[str, str] | None = None,
    public_url: str | None = None, database: Path | None = None,
) -> AsyncIterator[Served]:
    """``env``: more settings (environment variable names), e.g. a Twilio line's; ``public_url``: where carriers
    reach it (a proxy in front of several replicas), ``database``: a store several replicas share."""
    settings = {"REDIS_URL": redis_url, "CONSOLE_TOKEN": TOKEN, **(env or {})}
    async with serve_process(stack, directory, workers=workers, env=settings, public_url=public_url, database=database) as served:
        yield served


@dataclass
class Replicas:
    a: Served
    b: Served
    proxy: RoundRobinProxy
    url: str  # the proxy's: what carriers and pages reach
    database: Path  # the store both write


@contextlib.asynccontextmanager
async def two_replicas(
    stack: OfflineStack, directory: Path, redis_url: str, env: dict[str, str] | None = None
) -> AsyncIterator[Replicas]:
    """Replicas ``a`` and ``b`` on one store and one Redis behind a proxy that sends each request to the next in turn."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    database = directory / "shared.db"
    async with (
        serve(stack, directory / "a", redis_url, env=env, public_url=url, database=database) as a,
        serve(stack, directory / "b", redis_url, env=env, public_url=url, database=database) as b,
    ):
        proxy = RoundRobinProxy([a.url, b.url])
        async with proxy.serve(port):
            yield Replicas(a, b, proxy, url, database)


async def live_anywhere(url: str, probes: int = 10) -> set[str]:
    """Live sessions as the consoles of the workers see them (fresh connections, so that each worker is asked)."""
    seen: set[str] = set()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
        for _ in range(probes):
            async with http.get(f"{url}/api/console/sessions", headers=AUTH) as response:
                assert response.status == 200
                seen |= {s["session_id"] for s in (await response.json())["sessions"]}
    return seen


async def wait_until_empty(url: str, timeout: float = 15) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while await live_anywhere(url):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"sessions still live after the hang-up: {await live_anywhere(url)}")
        await asyncio.sleep(0.2)
