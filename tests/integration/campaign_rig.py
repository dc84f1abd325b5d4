"""Driving campaigns through the HTTP API the console's Campaigns view uses (here with the API token), and scripted
prospects who talk a moment then hang up."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp

from tests.integration.outbound_rig import API_TOKEN

HEADERS = {"Authorization": f"Bearer {API_TOKEN}"}


async def create_campaign(base: str, body: dict[str, Any], headers: dict[str, str] = HEADERS) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.post(f"{base}/api/campaigns", json=body, headers=headers) as r:
        return r.status, await r.json()


async def campaign(base: str, campaign_id: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{base}/api/campaigns/{campaign_id}", headers=HEADERS) as r:
        assert r.status == 200, await r.text()
        return dict(await r.json())


async def campaign_page(base: str, campaign_id: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """``GET /api/campaigns/<id>`` with ``?offset=&limit=`` (one page of rows)."""
    url = f"{base}/api/campaigns/{campaign_id}"
    async with aiohttp.ClientSession() as http, http.get(url, params=query, headers=HEADERS) as r:
        return r.status, await r.json()


async def campaigns(base: str) -> list[dict[str, Any]]:
    """Every campaign, newest first."""
    async with aiohttp.ClientSession() as http, http.get(f"{base}/api/campaigns", headers=HEADERS) as r:
        assert r.status == 200, await r.text()
        return list((await r.json())["campaigns"])


async def control(base: str, campaign_id: str, action: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.post(f"{base}/api/campaigns/{campaign_id}/{action}", headers=HEADERS) as r:
        return r.status, await r.json()


async def export(base: str, campaign_id: str) -> tuple[str, bytes]:
    async with aiohttp.ClientSession() as http, http.get(f"{base}/api/campaigns/{campaign_id}/export.csv", headers=HEADERS) as r:
        assert r.status == 200
        return r.headers["Content-Type"], await r.read()


async def campaign_reaches(
    base: str, campaign_id: str, condition: Callable[[dict[str, Any]], bool], timeout: float = 60.0
) -> dict[str, Any]:
    """The campaign (summary and rows) once ``condition`` holds (polled, as the console does)."""
    deadline = time.monotonic() + timeout
    while True:
        found = await campaign(base, campaign_id)
        if condition(found):
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"campaign {campaign_id} never reached the condition: {found}")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def prospects_hang_up(
    next_call: Callable[[set[str]], Awaitable[Any]], key: Callable[[Any], str], talk: Callable[[Any], Awaitable[None]]
) -> AsyncIterator[set[str]]:
    """Every new call the gateway places is answered by ``talk`` (which hangs up); yields the keys of calls seen."""
    seen: set[str] = set()

    async def answer_all() -> None:
        async with asyncio.TaskGroup() as group:
            while True:
                call = await next_call(seen)
                seen.add(key(call))
                group.create_task(talk(call))

    task = asyncio.create_task(answer_all())
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
