"""serve binds its socket first: /healthz answers while the gateway is still being built, /readyz waits for it."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp

from gateway.app import create_app
from gateway.emulators.serving import serve_app
from gateway.warmup import WarmingFront
from tests.conftest import make_settings


async def test_health_at_once_readiness_after_the_warm_up(tmp_path) -> None:
    front = WarmingFront()
    release = asyncio.Event()

    async def build(resources: contextlib.AsyncExitStack):
        await release.wait()  # a slow start-up (imports, emulators, store)
        return create_app(make_settings(tmp_path))

    warming = asyncio.create_task(front.warm_up(build))
    async with serve_app(front) as url, aiohttp.ClientSession() as http:
        async with http.get(f"{url}/healthz") as r:
            assert r.status == 200
        async with http.get(f"{url}/readyz") as r:
            assert r.status == 503 and (await r.json())["status"] == "warming up"
        page = asyncio.create_task(http.get(f"{url}/api/status"))  # waits for the gateway, is not refused
        await asyncio.sleep(0)
        assert not page.done()
        release.set()
        await warming
        async with await page as r:
            assert r.status == 200 and "agents" in await r.json()
        async with http.get(f"{url}/readyz") as r:
            assert r.status == 200 and (await r.json())["status"] == "ready"
