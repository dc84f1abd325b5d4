"""The real proof: two ``voice-gateway serve`` processes on different ports sharing ``REDIS_URL``. A browser
conversation on one is listed by the other's console, the other's console can end it, and when the process carrying
a conversation is killed the conversation leaves the other's list within the heartbeat TTL."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import websockets

from gateway.emulators.stack import offline_stack
from gateway.shared.hub_mirror import HEARTBEAT_S, TTL_BEATS
from tests.console.conftest import AUTH
from tests.hardening.served import Served
from tests.redis_server import RedisServer
from tests.shared.served import serve


async def listed(http: aiohttp.ClientSession, served: Served) -> dict[str, Any]:
    async with http.get(f"{served.url}/api/console/sessions", headers=AUTH) as response:
        assert response.status == 200
        return {s["session_id"]: s for s in (await response.json())["sessions"]}


async def until_listed(
    http: aiohttp.ClientSession, served: Served, session_id: str, present: bool, timeout: float
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (session_id in await listed(http, served)) != present:
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(
                f"{session_id} {'never listed' if present else 'still listed'} on {served.url}:\n{served.output()[-3000:]}"
            )
        await asyncio.sleep(0.05)


async def browser_conversation(served: Served) -> tuple[Any, str]:
    socket = await websockets.connect(served.url.replace("http://", "ws://") + "/ws/browser")
    await socket.send(json.dumps({"type": "hello"}))
    while True:
        message = await asyncio.wait_for(socket.recv(), 20)
        if isinstance(message, str) and json.loads(message)["type"] == "ready":
            return socket, json.loads(message)["session_id"]


async def closed(socket: Any, timeout: float) -> None:
    async def drain() -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for _ in socket:
                pass

    await asyncio.wait_for(drain(), timeout)


async def test_two_served_processes_are_one_console(tmp_path: Path, redis_url: str) -> None:
    async with (
        offline_stack() as stack,
        serve(stack, tmp_path / "a", redis_url) as a,
        serve(stack, tmp_path / "b", redis_url) as b,
        aiohttp.ClientSession() as http,
    ):
        socket, session_id = await browser_conversation(a)
        await until_listed(http, b, session_id, present=True, timeout=5)
        assert (await listed(http, b))[session_id]["channel"] == "browser"
        assert session_id in await listed(http, a)
        async with http.get(f"{b.url}/api/console/status", headers=AUTH) as response:
            status = await response.json()
        assert status["live_sessions"] == 0 and status["live_sessions_all_processes"] == 1

        # b's console ends the conversation a carries: a hangs up its socket
        async with http.post(f"{b.url}/api/console/sessions/{session_id}/end", headers=AUTH) as response:
            assert response.status == 202, await response.text()
        await closed(socket, 10)
        await until_listed(http, b, session_id, present=False, timeout=5)

        # a process that dies mid-conversation leaves no ghost in the other's console
        socket, session_id = await browser_conversation(a)
        await until_listed(http, b, session_id, present=True, timeout=5)
        a.process.kill()
        await a.process.wait()
        await until_listed(http, b, session_id, present=False, timeout=HEARTBEAT_S * (TTL_BEATS + 2))
        with contextlib.suppress(Exception):
            await socket.close()


async def test_every_worker_of_one_serve_shows_every_conversation(tmp_path: Path, redis_url: str) -> None:
    """``--workers 2``: whichever worker a console request lands on lists the conversation the other one carries."""
    async with (
        offline_stack() as stack,
        serve(stack, tmp_path / "w", redis_url, workers=2) as gateway,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http,  # a new connection each time
    ):
        socket, session_id = await browser_conversation(gateway)

        async def seen() -> tuple[int, int]:
            """(carries it, lists it) as the worker that answered saw it."""
            async with http.get(f"{gateway.url}/api/console/status", headers=AUTH) as response:
                status = await response.json()
            return status["live_sessions"], status["live_sessions_all_processes"]

        answers = [await seen()]
        while (0, 1) not in answers:  # the worker that does not carry it answers, and lists it
            assert len(answers) < 200, f"the other worker never listed the conversation: {set(answers)}"
            answers.append(await seen())
            await asyncio.sleep(0.02)
        later = {await seen() for _ in range(20)}  # from then on, whichever worker answers lists it
        assert later <= {(1, 1), (0, 1)}, later
        await socket.close()


async def test_conversations_go_on_when_redis_dies_under_a_served_gateway(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server = RedisServer(tmp_path_factory.mktemp("redis-dies")).start()
    try:
        async with (
            offline_stack() as stack,
            serve(stack, tmp_path / "a", server.url) as gateway,
            aiohttp.ClientSession() as http,
        ):
            before, _ = await browser_conversation(gateway)
            server.stop(kill=True)
            socket, session_id = await browser_conversation(gateway)  # a new conversation starts all the same
            listed_now = await listed(http, gateway)
            assert session_id in listed_now and len(listed_now) == 2
            async with http.get(
                f"{gateway.url}/api/console/status", headers={"Authorization": "Bearer wrong"}
            ) as response:
                assert response.status == 403  # the throttle counts here now: a wrong token is still refused
            for open_socket in (before, socket):
                await open_socket.close()
        output = gateway.output()
        assert output.count("Redis unreachable") == 1 and "Traceback" not in output, output[-4000:]
    finally:
        server.stop()
