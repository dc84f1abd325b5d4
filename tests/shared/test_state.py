"""The shared-state interface, the same tests for both implementations: this process's (``LocalState``) and a real
``redis-server`` (``RedisState``); then what only Redis has: two processes' counts add up, keys expire, and a Redis
that dies mid-run leaves the gateway working (counters local, single-use claims refused) until it is back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import pytest
from redis import asyncio as aioredis

from gateway.shared import LocalState, SharedState
from gateway.shared.redis_state import PREFIX, RedisState
from tests.redis_server import RedisServer

T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 5.0, what: str = "condition") -> T:
    """Polls ``check`` until it returns something truthy, bounded by ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"{what} not met within {timeout}s")
        await asyncio.sleep(0.02)


@pytest.fixture(params=["local", "redis"])
async def state(request: pytest.FixtureRequest) -> AsyncIterator[SharedState]:
    if request.param == "local":
        yield LocalState()
        return
    redis = RedisState(request.getfixturevalue("redis_url"))
    await redis.start()
    try:
        yield redis
    finally:
        await redis.close()


async def test_a_sliding_window_refuses_past_its_limit_and_says_how_long(state: SharedState) -> None:
    assert [await state.hit("rate:a", 3, 0.4) for _ in range(3)] == [0, 0, 0]
    retry = await state.hit("rate:a", 3, 0.4)
    assert 0 < retry <= 0.4
    assert await state.retry_after("rate:a", 3, 0.4) > 0
    assert await state.hit("rate:b", 3, 0.4) == 0  # another key has its own count
    await eventually(lambda: _allowed(state, "rate:a", 3, 0.4), 2.0, "the window to pass")


async def _allowed(state: SharedState, key: str, limit: int, window_s: float) -> bool:
    return await state.hit(key, limit, window_s) == 0


async def test_retry_after_records_nothing(state: SharedState) -> None:
    for _ in range(5):
        assert await state.retry_after("lock:x", 2, 60) == 0
    assert [await state.hit("lock:x", 2, 60) for _ in range(3)][-1] > 0


async def test_a_counter_counts_until_its_time_is_up(state: SharedState) -> None:
    assert [await state.count("budget:s", 0.3) for _ in range(3)] == [1, 2, 3]
    assert await state.count("budget:t", 0.3) == 1
    # counting does not extend the life set by the first count
    await eventually(lambda: _restarted(state, "budget:s", 0.3), 2.0, "the counter to expire")


async def _restarted(state: SharedState, key: str, ttl_s: float) -> bool:
    return await state.count(key, ttl_s) == 1


async def test_a_claim_has_one_winner_until_it_expires(state: SharedState) -> None:
    results = await asyncio.gather(*(state.claim_once("media:u1", 0.3) for _ in range(8)))
    assert sorted(results) == [False] * 7 + [True]
    assert await state.claim_once("media:u2", 0.3)
    await eventually(lambda: state.claim_once("media:u1", 0.3), 2.0, "the claim to expire")


async def test_published_messages_reach_every_subscriber_in_order(state: SharedState) -> None:
    first, second = await state.subscribe("hub"), await state.subscribe("hub")
    other = await state.subscribe("elsewhere")
    for n in range(3):
        await state.publish("hub", f"m{n}")
    for messages in (first, second):
        assert [await asyncio.wait_for(anext(messages), 5) for _ in range(3)] == ["m0", "m1", "m2"]
    await state.publish("elsewhere", "only-here")
    assert await asyncio.wait_for(anext(other), 5) == "only-here"
    for messages in (first, second, other):
        await messages.aclose()


# --- Redis only -------------------------------------------------------------------------------------------------------
async def test_two_processes_count_the_same_hits(redis_url: str) -> None:
    one, two = RedisState(redis_url), RedisState(redis_url)
    try:
        assert [await s.hit("rate:mint:198.51.100.1", 4, 60) for s in (one, two, one, two)] == [0, 0, 0, 0]
        assert await one.hit("rate:mint:198.51.100.1", 4, 60) > 0
        assert await two.hit("rate:mint:198.51.100.1", 4, 60) > 0
        assert [await s.count("tool-budget:web-1", 60) for s in (one, two, two)] == [1, 2, 3]
        assert await one.claim_once("single:x", 60) and not await two.claim_once("single:x", 60)
    finally:
        await one.close()
        await two.close()


async def test_every_key_is_namespaced_bounded_and_expiring(redis_url: str) -> None:
    state = RedisState(redis_url)
    raw = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        for _ in range(50):
            await state.hit("rate:flood", 5, 30)
        await state.count("tool-budget:s", 120)
        await state.claim_once("single:y", 90)
        keys = sorted(await raw.keys("*"))
        assert keys == [f"{PREFIX}rate:flood", f"{PREFIX}single:y", f"{PREFIX}tool-budget:s"]
        assert await raw.zcard(f"{PREFIX}rate:flood") == 5  # refused hits are not stored
        for key, ttl_ms in zip(keys, (30_000, 90_000, 120_000), strict=True):
            assert 0 < await raw.pttl(key) <= ttl_ms
    finally:
        await raw.aclose()
        await state.close()


async def test_a_redis_that_dies_mid_run_leaves_the_gateway_working(
    tmp_path_factory: pytest.TempPathFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisServer(tmp_path_factory.mktemp("redis-dies")).start()
    state = RedisState(server.url, retry_s=0.2)
    try:
        messages = await state.subscribe("hub")
        assert await state.hit("rate:c", 2, 60) == 0
        server.stop(kill=True)
        with caplog.at_level(logging.WARNING, logger="gateway.shared.redis_state"):
            # counters fall back to this process's count: still enforced, never an error
            assert [await state.hit("rate:c", 2, 60) for _ in range(3)] == [0, 0, pytest.approx(60, abs=1)]
            assert await state.count("tool-budget:s", 60) == 1
            assert await state.claim_once("single:z", 60) is False  # fails closed: it may have been claimed
            await state.publish("hub", "lost")  # dropped, not raised
        down = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
        assert len(down) == 1 and server.url not in down[0].getMessage()
        caplog.clear()
        server.start(port=server.port)
        with caplog.at_level(logging.WARNING, logger="gateway.shared.redis_state"):
            assert await eventually(lambda: state.claim_once("single:z", 60), 5.0, "Redis to be used again")
            # the subscriber re-subscribed by itself: a message published now arrives
            received = asyncio.ensure_future(anext(messages))
            await eventually(lambda: _published_until(state, "hub", "back", received), 10.0, "the subscriber to return")
            assert received.result() == "back"
        assert any("reachable again" in r.getMessage() for r in caplog.records)
        await messages.aclose()
    finally:
        await state.close()
        server.stop()


async def _published_until(state: RedisState, channel: str, message: str, received: asyncio.Future[str]) -> bool:
    await state.publish(channel, message)
    await asyncio.sleep(0.05)
    return received.done()


async def test_a_stored_value_is_read_back_replaced_deleted_and_expires(state: SharedState) -> None:
    assert await state.get("owner:k1") is None
    await state.put("owner:k1", "http://127.0.0.1:1", 5)
    await state.put("owner:k1", "http://127.0.0.1:2", 5)  # replaced, not kept from the first put
    assert await state.get("owner:k1") == "http://127.0.0.1:2"
    await state.delete("owner:k1")
    assert await state.get("owner:k1") is None
    await state.put("owner:k2", "x", 0.1)
    await eventually(lambda: _gone(state, "owner:k2"), 2.0, "the value to expire")


async def _gone(state: SharedState, key: str) -> bool:
    return await state.get(key) is None
