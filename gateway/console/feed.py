"""The console's push feed: one server-sent-event stream per open console page.

The stream starts with a snapshot of the live sessions, then sends the hub's events in batches (at most one message
per window, so a busy gateway never floods the page), a heartbeat when nothing happens (so the page can tell a
quiet gateway from a dead connection), and a fresh snapshot whenever the page fell so far behind that the hub
dropped events for it. The hub never waits for a page: a slow page loses events, not the callers' time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from ..events import HubEvent
from ..hub import SessionHub
from .batcher import EventBatch
from .wire import session_json, sse, sse_retry

logger = logging.getLogger(__name__)


@dataclass(slots=True, frozen=True)
class FeedConfig:
    window_s: float = 0.1  # longest an event waits to be batched with others
    heartbeat_s: float = 15.0
    queue_size: int = 5000  # events a page may lag behind before it gets a fresh snapshot instead
    retry_ms: int = 2000  # EventSource reconnect delay


class ConsoleFeed:
    def __init__(self, hub: SessionHub, agent: Callable[[], str], config: FeedConfig, stopping: Callable[[], bool]) -> None:
        self.hub = hub
        self.agent = agent
        self.config = config
        self.stopping = stopping
        # subscribe before the snapshot is taken, so nothing falls between the two
        self.sub = hub.subscribe(maxsize=config.queue_size)
        self._notices: list[tuple[str, dict[str, Any]]] = []
        self._wake = asyncio.Event()
        self._getter: asyncio.Task[tuple[str, HubEvent]] | None = None
        self._dropped_seen = 0
        self._ending = False
        self.sent_batches = 0
        self.sent_events = 0

    def notice(self, name: str, data: dict[str, Any]) -> None:
        """A console-level message (e.g. the agent for new sessions changed), sent with the next batch."""
        self._notices.append((name, data))
        self._wake.set()

    def end(self) -> None:
        """Finish the stream at its next wake-up (the gateway is shutting down)."""
        self._ending = True
        self._wake.set()

    def snapshot(self, resync: bool = False) -> bytes:
        sessions = [session_json(info, self.hub) for info in self.hub.all_sessions()]
        return sse("snapshot", {"sessions": sessions, "agent": self.agent(), "now": time.time(), "resync": resync})

    async def stream(self) -> AsyncIterator[bytes]:
        try:
            yield sse_retry(self.config.retry_ms)
            yield self.snapshot()
            loop = asyncio.get_running_loop()
            last_flush = 0.0
            batch = EventBatch()
            while True:
                first = await self._wait(self.config.heartbeat_s)
                if self._ending or self.stopping():
                    yield sse("bye", {"reason": "the gateway is shutting down"})
                    return
                if first is None and not self._notices:
                    yield sse("heartbeat", {"t": time.time(), "live": len(self.hub.all_sessions()), "agent": self.agent()})
                    continue
                if first is not None:
                    batch.add(*first)
                # the first event after a quiet spell goes out at once; under load, one message per window
                await asyncio.sleep(max(0.0, last_flush + self.config.window_s - loop.time()))
                self._drain(batch)
                for frame in self._frames(batch):
                    yield frame
                last_flush = loop.time()
        finally:
            self.close()

    def _frames(self, batch: EventBatch) -> list[bytes]:
        frames = []
        notices, self._notices = self._notices, []
        self._wake.clear()
        for name, data in notices:
            frames.append(sse(name, data))
        received = batch.received
        items = batch.take()
        if items:
            frames.append(sse("batch", {"events": items, "t": time.time()}))
            self.sent_batches += 1
            self.sent_events += received
        if self.sub.dropped > self._dropped_seen:
            logger.warning("console feed fell behind: %d events dropped, sending a fresh snapshot", self.sub.dropped - self._dropped_seen)
            self._dropped_seen = self.sub.dropped
            frames.append(self.snapshot(resync=True))
        return frames

    def _drain(self, batch: EventBatch) -> None:
        queue = self.sub.queue
        while not queue.empty():
            batch.add(*queue.get_nowait())

    async def _wait(self, timeout: float) -> tuple[str, HubEvent] | None:
        """The next hub event, or None when a notice arrived or ``timeout`` passed first."""
        if not self.sub.queue.empty():
            return self.sub.queue.get_nowait()
        if self._notices or self._ending:
            return None
        if self._getter is None:
            self._getter = asyncio.ensure_future(self.sub.queue.get())
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({self._getter, waker}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waker.cancel()
        if self._getter.done():
            getter, self._getter = self._getter, None
            return getter.result()
        return None

    def close(self) -> None:
        self.sub.close()
        if self._getter is not None:
            self._getter.cancel()
            self._getter = None


class FeedRegistry:
    """The open console feeds of this process, so that a control (set agent) can tell every page at once."""

    def __init__(
        self, hub: SessionHub, agent: Callable[[], str], stopping: Callable[[], bool], config: FeedConfig | None = None
    ) -> None:
        self.hub = hub
        self.agent = agent
        self.stopping = stopping
        self.config = config or FeedConfig()
        self._feeds: set[ConsoleFeed] = set()

    def __len__(self) -> int:
        return len(self._feeds)

    def open(self) -> ConsoleFeed:
        feed = ConsoleFeed(self.hub, self.agent, self.config, self.stopping)
        self._feeds.add(feed)
        return feed

    async def stream(self, feed: ConsoleFeed) -> AsyncIterator[bytes]:
        """The feed's frames; when the page goes away (or the app stops) the subscription is released."""
        try:
            async for frame in feed.stream():
                yield frame
        finally:
            self._feeds.discard(feed)
            logger.info("console feed closed (%d open)", len(self._feeds))

    def notice_all(self, name: str, data: dict[str, Any]) -> None:
        for feed in tuple(self._feeds):
            feed.notice(name, data)

    def end_all(self) -> None:
        """Let every open page know the gateway is going away, so shutdown does not wait on console streams."""
        for feed in tuple(self._feeds):
            feed.end()
