"""Each limit holds across two gateway processes sharing ``REDIS_URL`` (two apps, each with its own ``Gateway``,
stand for two workers): the console's wrong-token throttle, hand-off lock-outs, session tool budgets and the mint
limit. Without ``REDIS_URL`` each process counts alone, as before. A Redis that dies leaves calls going on."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from quart import Quart

from gateway.app import create_app
from gateway.handoff import MAX_FAILED_CLAIMS, TooManyAttempts
from gateway.services import Gateway
from tests.conftest import make_settings
from tests.console.conftest import AUTH, TOKEN
from tests.redis_server import RedisServer


@contextlib.asynccontextmanager
async def two_gateways(tmp_path: Path, **overrides: object) -> AsyncIterator[tuple[Quart, Quart]]:
    """Two apps on one database, as two worker processes are; ``overrides`` go to both."""
    overrides.setdefault("console_token", TOKEN)
    first = create_app(make_settings(tmp_path, **overrides))
    second = create_app(make_settings(tmp_path, **overrides))
    async with first.test_app(), second.test_app():
        yield first, second


def gw(app: Quart) -> Gateway:
    return app.extensions["gateway"]


async def test_wrong_console_tokens_count_on_every_process(tmp_path: Path, redis_url: str) -> None:
    async with two_gateways(tmp_path, redis_url=redis_url) as apps:
        clients = [app.test_client() for app in apps]
        wrong = [
            (
                await clients[n % 2].get("/api/console/status", headers={"Authorization": f"Bearer guess-{n}"})
            ).status_code
            for n in range(20)
        ]
        assert wrong == [403] * 20
        for client in clients:  # the 21st guess is refused wherever it lands, even with the right token
            assert (await client.get("/api/console/status", headers=AUTH)).status_code == 429
            assert (await client.post("/api/console/login", json={"token": TOKEN})).status_code == 429


async def test_without_redis_each_process_counts_alone(tmp_path: Path) -> None:
    async with two_gateways(tmp_path) as apps:
        clients = [app.test_client() for app in apps]
        for n in range(20):
            await clients[0].get("/api/console/status", headers={"Authorization": f"Bearer guess-{n}"})
        assert (await clients[0].get("/api/console/status", headers=AUTH)).status_code == 429
        assert (await clients[1].get("/api/console/status", headers=AUTH)).status_code == 200


async def test_handoff_lock_outs_hold_on_every_process(tmp_path: Path, redis_url: str) -> None:
    async with two_gateways(tmp_path, redis_url=redis_url) as apps:
        first, second = gw(apps[0]), gw(apps[1])
        await first.store.start_conversation("web-victim", "webrtc", "support-desk", "browser", 1.9e9)
        code = await first.handoffs.issue("web-victim")
        wrong = "000000" if code != "000000" else "000001"
        for n in range(MAX_FAILED_CLAIMS):  # the guesses are spread over both processes
            assert await (first, second)[n % 2].handoffs.claim(wrong, "phone-attacker", "+819011112222") is None
        for process in (first, second):
            with pytest.raises(TooManyAttempts):
                await process.handoffs.claim(code, "phone-attacker")
            with pytest.raises(TooManyAttempts):  # a new call from the same number is locked out too
                await process.handoffs.claim(code, "phone-attacker-again", "+819011112222")
        await second.store.start_conversation("phone-owner", "phone", "support-desk", "+81", 1.9e9)
        continued = await second.handoffs.claim(code, "phone-owner", "+819033334444")
        assert continued is not None and continued.conversation_id == "web-victim"


async def test_a_session_tool_budget_is_spent_on_every_process(tmp_path: Path, redis_url: str) -> None:
    async with two_gateways(tmp_path, redis_url=redis_url, session_tool_calls=3) as apps:
        token = gw(apps[0]).tokens.mint("web-budget", "support-desk")
        auth = {"Authorization": f"Bearer {token}"}
        body = {"session_id": "web-budget", "arguments": {}}
        clients = [app.test_client() for app in apps]
        statuses = [
            (await clients[n % 2].post("/api/tools/get_current_time", json=body, headers=auth)).status_code
            for n in range(5)
        ]
        assert statuses == [200, 200, 200, 429, 429]


async def test_the_mint_limit_counts_a_client_on_every_process(tmp_path: Path, redis_url: str) -> None:
    async with two_gateways(tmp_path, redis_url=redis_url, mint_rate_per_minute=3) as apps:
        limiters = [gw(app).mint_limiter for app in apps]
        assert [await limiters[n % 2].hit("198.51.100.7") for n in range(3)] == [0, 0, 0]
        assert all([await limiter.hit("198.51.100.7") > 0 for limiter in limiters])
        assert await limiters[1].hit("198.51.100.8") == 0


async def test_calls_go_on_when_redis_dies(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisServer(tmp_path_factory.mktemp("redis-dies")).start()
    try:
        async with two_gateways(tmp_path, redis_url=server.url, session_tool_calls=2) as apps:
            client = apps[0].test_client()
            token = gw(apps[0]).tokens.mint("web-on", "support-desk")
            auth = {"Authorization": f"Bearer {token}"}
            body = {"session_id": "web-on", "arguments": {}}
            assert (await client.post("/api/tools/get_current_time", json=body, headers=auth)).status_code == 200
            server.stop(kill=True)
            with caplog.at_level(logging.WARNING):
                # the tool call goes on, the budget is still enforced (counted here now), the console still answers
                assert (await client.post("/api/tools/get_current_time", json=body, headers=auth)).status_code == 200
                assert (await client.post("/api/tools/get_current_time", json=body, headers=auth)).status_code == 200
                assert (await client.post("/api/tools/get_current_time", json=body, headers=auth)).status_code == 429
                assert (await client.get("/api/console/sessions", headers=AUTH)).status_code == 200
            said = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
            assert 1 <= len(said) <= len(apps)  # once per process, not once per operation
            assert not [r for r in caplog.records if r.exc_info]  # said once, plainly: no traceback
    finally:
        server.stop()
