"""Bind first, warm up after: ``serve`` answers ``/healthz`` within a moment of starting.

Importing the SDKs, starting the offline emulators and opening the store take seconds on a small machine. The
socket is bound at once by this thin ASGI front: ``/healthz`` answers 200 (the process is up), ``/readyz`` 503
"warming up" until the gateway is built and started, and every other request waits for it (bounded by the client).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)


class WarmingFront:
    """The ASGI app Hypercorn serves; ``app`` is the gateway's Quart app once ``warm_up`` has built and started it."""

    def __init__(self) -> None:
        self.app: Any = None
        self.ready = asyncio.Event()
        self.failed: BaseException | None = None
        self._resources = contextlib.AsyncExitStack()

    async def warm_up(self, build: Callable[[contextlib.AsyncExitStack], Any]) -> None:
        """``build(resources)`` returns the app (an awaitable); resources it enters are closed on shutdown."""
        try:
            app = await build(self._resources)
            await app.startup()
            self.app = app
        except BaseException as exc:
            self.failed = exc
            raise
        finally:
            self.ready.set()

    async def close(self) -> None:
        if self.app is not None:
            await self.app.shutdown()
        await self._resources.aclose()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if self.app is None:
            path = scope.get("path", "")
            if scope["type"] == "http" and path in ("/healthz", "/readyz"):
                status, body = (200, {"status": "ok"}) if path == "/healthz" else (503, {"status": "warming up"})
                await _json(send, status, body)
                return
            await self.ready.wait()
            if self.app is None:
                if scope["type"] == "http":
                    await _json(send, 503, {"status": "start-up failed"})
                return
        await self.app(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _json(send: Any, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})

