"""The live state every worker process (and replica) must agree on, behind one small interface.

A gateway with several processes behaves as one only if its limits count every process's hits: a rate limit per
client, a lock-out after too many wrong codes, a budget of tool calls per session, a code or URL used once. Each is
one of three primitives below, keyed by a string the caller namespaces (``rate:mint:<client>``); the hub's events
travel on ``publish``/``subscribe`` (see ``hub_mirror``). ``LocalState`` keeps it in this process (one worker, the
tests of one process); ``RedisState`` shares it through ``REDIS_URL``. Both pass the same tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol


class SharedState(Protocol):
    distributed: bool  # True when other processes see the same state (then the hub mirror runs)

    async def start(self) -> None:
        """Connect (or note that the store is unreachable and carry on); never raises for a missing store."""

    async def close(self) -> None: ...

    async def hit(self, key: str, limit: int, window_s: float) -> float:
        """Count a hit in a sliding ``window_s`` window: 0 when it is within ``limit`` (and recorded), else the
        seconds until the oldest hit leaves the window (nothing recorded)."""
        ...

    async def retry_after(self, key: str, limit: int, window_s: float) -> float:
        """What ``hit`` would answer, recording nothing (a lock-out check)."""
        ...

    async def count(self, key: str, ttl_s: float) -> int:
        """Add one to a counter that lives ``ttl_s`` from its first count; the new total (a budget)."""
        ...

    async def claim_once(self, key: str, ttl_s: float) -> bool:
        """True for the first claimant of ``key`` within ``ttl_s``, False for every later one (single use)."""
        ...

    async def put(self, key: str, value: str, ttl_s: float) -> None:
        """Store ``value`` under ``key`` for ``ttl_s`` (replacing what was there): a fact every process may read."""
        ...

    async def get(self, key: str) -> str | None:
        """What ``put`` stored under ``key`` and has not expired or been deleted; ``None`` otherwise."""
        ...

    async def delete(self, key: str) -> None: ...

    async def publish(self, channel: str, message: str) -> None:
        """Fire and forget to every subscriber of ``channel`` (none stored: a subscriber that is away misses it)."""
        ...

    async def subscribe(self, channel: str) -> AsyncIterator[str]:
        """Subscribed when this returns: the messages of ``channel`` from then on, until the iterator is closed."""
        ...
