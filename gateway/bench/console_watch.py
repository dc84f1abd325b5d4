"""What consoles on every process see of the calls, live: the console's own event stream (``/api/console/events``,
server-sent events), not its listing.

Several feeds are opened before the calls (fresh connections: on ``serve --workers N`` each lands on whichever worker
accepts it; with replicas, one per replica). Each counts the events it receives of the bench's calls, transcript
deltas left out (a feed merges the deltas of one batch window, so their count depends on timing, not on loss). The
feed that saw the most is the reference ("emitted": a feed on a call's own process sees its events without Redis);
the one that saw the fewest is what the least lucky console showed ("seen"). Target: seen = emitted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

import aiohttp

logger = logging.getLogger(__name__)

NOT_COUNTED = {"transcript.delta"}


class ConsoleWatch:
    def __init__(self, urls: list[str], token: str) -> None:
        self.urls = urls
        self.token = token
        self.counts = [0] * len(urls)
        self.opened = [False] * len(urls)  # each feed got its first snapshot
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def seen(self) -> int:
        return min(self.counts, default=0)

    @property
    def emitted(self) -> int:
        return max(self.counts, default=0)

    @contextlib.asynccontextmanager
    async def watching(self, timeout: float = 20.0) -> AsyncIterator[ConsoleWatch]:
        """The feeds, open (each has its snapshot) for the duration of the block."""
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http:
            self._tasks = [asyncio.create_task(self._feed(http, i, url)) for i, url in enumerate(self.urls)]
            try:
                deadline = asyncio.get_running_loop().time() + timeout
                while not all(self.opened) and asyncio.get_running_loop().time() < deadline:
                    await asyncio.sleep(0.05)
                yield self
            finally:
                for task in self._tasks:
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _feed(self, http: aiohttp.ClientSession, index: int, url: str) -> None:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "text/event-stream"}
        async with http.get(f"{url}/api/console/events", headers=headers, timeout=aiohttp.ClientTimeout(total=None)) as response:
            if response.status != 200:
                logger.warning("console feed at %s answered %d", url, response.status)
                return
            event = ""
            async for raw in response.content:
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "snapshot":
                    self.opened[index] = True
                elif line.startswith("data: ") and event == "batch":
                    items = json.loads(line[6:])["events"]
                    self.counts[index] += sum(1 for item in items if item.get("kind") not in NOT_COUNTED)
