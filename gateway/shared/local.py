"""This process's own live state: what one worker needs, and what every process falls back to without Redis."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from typing import Any

MAX_TRACKED_KEYS = 10_000
SUBSCRIBER_BACKLOG = 10_000


class SlidingWindows:
    """Hits per key in a sliding window, synchronous; memory stays bounded (``MAX_TRACKED_KEYS``)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = MAX_TRACKED_KEYS) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}

    def retry_after(self, key: str, limit: int, window_s: float) -> float:
        hits = self._hits.get(key)
        if not hits:
            return 0.0
        now = self._clock()
        while hits and now - hits[0] >= window_s:
            hits.popleft()
        if len(hits) >= limit:
            return max(0.0, window_s - (now - hits[0]))
        return 0.0

    def hit(self, key: str, limit: int, window_s: float) -> float:
        retry = self.retry_after(key, limit, window_s)
        if retry:
            return retry
        now = self._clock()
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self._max_keys:
                self._prune(now, window_s)
            hits = self._hits[key] = deque()
        hits.append(now)
        return 0.0

    def _prune(self, now: float, window_s: float) -> None:
        for key in [k for k, h in self._hits.items() if not h or now - h[-1] >= window_s]:
            del self._hits[key]
        if len(self._hits) >= self._max_keys:  # everyone is active: forget the oldest half
            for key in sorted(self._hits, key=lambda k: self._hits[k][-1])[: self._max_keys // 2]:
                del self._hits[key]


class _Expiring:
    """Values (counts, claims, stored strings) that vanish ``ttl`` after they were first set; the oldest go first when the table is full."""

    def __init__(self, clock: Callable[[], float], max_keys: int) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._items: OrderedDict[str, tuple[Any, float]] = OrderedDict()

    def get(self, key: str) -> Any:
        item = self._items.get(key)
        if item is None:
            return None
        if item[1] <= self._clock():
            del self._items[key]
            return None
        return item[0]

    def pop(self, key: str) -> None:
        self._items.pop(key, None)

    def set(self, key: str, value: Any, ttl_s: float, renew: bool = False) -> None:
        """``renew``: the lifetime starts again (a stored value replaced); else it runs from the first set."""
        expires = self._items[key][1] if key in self._items and not renew else self._clock() + ttl_s
        self._items[key] = (value, expires)
        while len(self._items) > self._max_keys:
            self._items.popitem(last=False)


class LocalState:
    """``SharedState`` inside this process (one worker; or a worker whose Redis is away, see ``RedisState``)."""

    distributed = False

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = MAX_TRACKED_KEYS) -> None:
        self.windows = SlidingWindows(clock, max_keys)
        self._counters = _Expiring(clock, max_keys)
        self._claims = _Expiring(clock, max_keys)
        self._values = _Expiring(clock, max_keys)
        self._channels: dict[str, set[asyncio.Queue[str]]] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def hit(self, key: str, limit: int, window_s: float) -> float:
        return self.windows.hit(key, limit, window_s)

    async def retry_after(self, key: str, limit: int, window_s: float) -> float:
        return self.windows.retry_after(key, limit, window_s)

    async def count(self, key: str, ttl_s: float) -> int:
        total = (self._counters.get(key) or 0) + 1
        self._counters.set(key, total, ttl_s)
        return total

    async def claim_once(self, key: str, ttl_s: float) -> bool:
        if self._claims.get(key) is not None:
            return False
        self._claims.set(key, 1, ttl_s)
        return True

    async def put(self, key: str, value: str, ttl_s: float) -> None:
        self._values.set(key, value, ttl_s, renew=True)

    async def get(self, key: str) -> str | None:
        value = self._values.get(key)
        return value if isinstance(value, str) else None

    async def delete(self, key: str) -> None:
        self._values.pop(key)

    async def publish(self, channel: str, message: str) -> None:
        for queue in tuple(self._channels.get(channel, ())):
            if not queue.full():  # like Redis, a subscriber that does not keep up loses messages, not memory
                queue.put_nowait(message)

    async def subscribe(self, channel: str) -> AsyncIterator[str]:
        queue: asyncio.Queue[str] = asyncio.Queue(SUBSCRIBER_BACKLOG)
        self._channels.setdefault(channel, set()).add(queue)
        return self._messages(channel, queue)

    async def _messages(self, channel: str, queue: asyncio.Queue[str]) -> AsyncIterator[str]:
        try:
            while True:
                yield await queue.get()
        finally:
            self._channels[channel].discard(queue)
