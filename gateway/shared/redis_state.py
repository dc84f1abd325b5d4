"""``SharedState`` in Redis (``REDIS_URL``): every worker and replica counts the same hits.

Each operation is one round trip and atomic: a sliding window is a sorted set trimmed and counted inside one Lua
script (timed by the Redis server's clock, so hosts with skewed clocks still agree); a budget is a Lua ``INCR`` that
sets ``PEXPIRE`` on the first count (``PEXPIRE NX`` would need Redis 7, which some managed caches are not); a
single-use claim is ``SET NX PX``. Every key sits under ``vg:`` and expires with its window, so nothing grows
without bound. Redis 5 or later.

When Redis goes away mid-run the gateway keeps serving calls. It says so once (and once again when Redis is back),
and for ``RETRY_S`` it does not even try, so a dead Redis costs no call a timeout. Meanwhile:

- counters (rate limits, wrong-token throttle, hand-off lock-outs, tool budgets) fall back to this process's own
  ``LocalState``: still enforced, per process as with one worker. Failing fully open would let a brute force run
  free exactly while Redis is down; failing closed would refuse every caller for an infrastructure fault.
- single-use claims fail closed (``claim_once`` is False): a process cannot know whether another one already took
  the claim, and letting a one-time URL or code be used twice is the harm the claim exists to prevent. The one
  refused retries, which is cheaper than a replay.
- stored values (which process owns a call, which calls have ended) go to this process's own table: a call is then
  handled where its requests land, as it was with one worker, until Redis is back.
- published hub events are dropped (pub/sub keeps nothing anyway); subscribers reconnect and the mirror's periodic
  heartbeats bring every console view back in step.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from redis import asyncio as aioredis
from redis.exceptions import RedisError

from .local import LocalState

logger = logging.getLogger(__name__)

T = TypeVar("T")
PREFIX = "vg:"
RETRY_S = 5.0  # after a failure, Redis is left alone this long (the local fallback answers)
TIMEOUT_S = 0.5  # a Redis slower than this is as good as gone for a live call

# KEYS[1] the window's sorted set; ARGV: limit, window ms, record (1|0), unique member. Returns 0 or ms to wait.
SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now)
end
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], window)
end
return 0
"""
# KEYS[1] the counter; ARGV[1] its lifetime in ms, set by the first count only. Returns the new total.
COUNTER = """
local total = redis.call('INCR', KEYS[1])
if total == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return total
"""


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class RedisState:
    distributed = True

    def __init__(
        self, url: str, fallback: LocalState | None = None, prefix: str = PREFIX, retry_s: float = RETRY_S
    ) -> None:
        self._redis = aioredis.Redis.from_url(
            url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S, decode_responses=True
        )
        self._window = self._redis.register_script(SLIDING_WINDOW)
        self._counter = self._redis.register_script(COUNTER)
        self._prefix = prefix
        self.fallback = fallback or LocalState()
        self.retry_s = retry_s
        self._skip_until = 0.0
        self.down = False  # Redis failed last time it was asked

    async def start(self) -> None:
        await self._guarded(self._redis.ping, _none)
        if not self.down:
            logger.info("shared state: Redis reachable, limits and the console's live view span every process")

    async def close(self) -> None:
        await self._redis.aclose()

    # --- counters -------------------------------------------------------------------------------------------------
    async def hit(self, key: str, limit: int, window_s: float) -> float:
        return await self._guarded(
            lambda: self._sliding(key, limit, window_s, record=True), lambda: self.fallback.hit(key, limit, window_s)
        )

    async def retry_after(self, key: str, limit: int, window_s: float) -> float:
        return await self._guarded(
            lambda: self._sliding(key, limit, window_s, record=False),
            lambda: self.fallback.retry_after(key, limit, window_s),
        )

    async def _sliding(self, key: str, limit: int, window_s: float, record: bool) -> float:
        args = [limit, _ms(window_s), "1" if record else "0", uuid.uuid4().hex]
        wait_ms = await self._window(keys=[self._prefix + key], args=args)
        return int(wait_ms) / 1000

    async def count(self, key: str, ttl_s: float) -> int:
        async def incr() -> int:
            return int(await self._counter(keys=[self._prefix + key], args=[_ms(ttl_s)]))

        return await self._guarded(incr, lambda: self.fallback.count(key, ttl_s))

    async def claim_once(self, key: str, ttl_s: float) -> bool:
        async def claim() -> bool:
            return bool(await self._redis.set(self._prefix + key, "1", nx=True, px=_ms(ttl_s)))

        return await self._guarded(claim, _refuse)

    # --- stored values --------------------------------------------------------------------------------------------
    async def put(self, key: str, value: str, ttl_s: float) -> None:
        async def store() -> None:
            await self._redis.set(self._prefix + key, value, px=_ms(ttl_s))

        await self._guarded(store, lambda: self.fallback.put(key, value, ttl_s))

    async def get(self, key: str) -> str | None:
        return await self._guarded(lambda: self._redis.get(self._prefix + key), lambda: self.fallback.get(key))

    async def delete(self, key: str) -> None:
        async def gone() -> None:
            await self._redis.delete(self._prefix + key)

        await self._guarded(gone, lambda: self.fallback.delete(key))

    # --- pub/sub --------------------------------------------------------------------------------------------------
    async def publish(self, channel: str, message: str) -> None:
        await self._guarded(lambda: self._redis.publish(self._prefix + channel, message), _none)

    async def subscribe(self, channel: str) -> AsyncIterator[str]:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self._prefix + channel)
        except (RedisError, OSError) as exc:
            self._failed(exc)
        return self._messages(pubsub, self._prefix + channel)

    async def _messages(self, pubsub: aioredis.client.PubSub, channel: str) -> AsyncIterator[str]:
        """Reads on through outages: a lost connection is re-made every ``retry_s`` and re-subscribed."""
        try:
            while True:
                _still_cancelled()
                try:
                    if not pubsub.subscribed:
                        await pubsub.subscribe(channel)
                        self._recovered()  # a buffered message proves nothing; a new subscription does
                    message = await pubsub.get_message(timeout=self.retry_s)
                except (RedisError, OSError) as exc:
                    _still_cancelled()
                    self._failed(exc)
                    await pubsub.reset()
                    await asyncio.sleep(self.retry_s)
                    continue
                if message is not None and message["type"] == "message":
                    yield message["data"]
        finally:
            await pubsub.aclose()

    # --- failure handling -----------------------------------------------------------------------------------------
    async def _guarded(self, call: Callable[[], Awaitable[T]], fallback: Callable[[], Awaitable[T]]) -> T:
        if self.down and time.monotonic() < self._skip_until:
            return await fallback()
        try:
            result = await call()
        except (RedisError, OSError) as exc:
            _still_cancelled()
            self._failed(exc)
            return await fallback()
        _still_cancelled()
        self._recovered()
        return result

    def _failed(self, exc: BaseException) -> None:
        self._skip_until = time.monotonic() + self.retry_s
        if not self.down:
            self.down = True
            logger.error(
                "shared state: Redis unreachable or failing (%s); limits now count in this process only, single-use claims are "
                "refused, and other processes' sessions fade from the console until it is back",
                type(exc).__name__,
            )

    def _recovered(self) -> None:
        if self.down:
            self.down = False
            logger.warning("shared state: Redis reachable again; limits span every process")


def _still_cancelled() -> None:
    """Re-raises a cancellation the client lost. A task cancelled while the client awaits a reply can get the reply
    back as if nothing happened (seen with redis-py 8 on Python 3.11: about one shutdown in a dozen), or, racing a
    read timeout, an error instead; without this check a cancelled loop carries on and shutdown waits forever."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def _none() -> None:
    return None


async def _refuse() -> bool:
    return False
