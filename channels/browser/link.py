"""One browser WebSocket as the session sees it: sends serialised (audio, transcripts and errors come from different
tasks), failures turned into ``False`` so a vanished page never raises into the conversation, closed at most once."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

logger = logging.getLogger(__name__)


class Link:
    def __init__(self, ws: Any) -> None:
        self._ws = ws  # the concrete Quart websocket object, usable from any task
        self._lock = asyncio.Lock()
        self.closed = False

    async def send(self, data: str | bytes) -> bool:
        if self.closed:
            return False
        async with self._lock:
            try:
                await self._ws.send(data)
            except Exception as exc:  # the socket went away under us (any transport error): the page is gone
                logger.debug("send on a closed browser socket: %s", exc)
                self.closed = True
                return False
        return True

    async def close(self, code: int, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        try:
            await self._ws.close(code, reason)
        except Exception as exc:  # already closed by the peer
            logger.debug("closing browser socket: %s", exc)
