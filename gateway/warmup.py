"""Bind first, warm up after: ``serve`` answers ``/healthz`` within a moment of starting.

Importing the SDKs, starting the offline emulators and opening the store take seconds on a small machine. The
socket is bound at once by this thin ASGI front: ``/healthz`` answers 200 (the process is up), ``/readyz`` 503
"warming up" until the gateway is built and started, and every other request waits for it (bounded by the client).

``warm_first_call`` runs in the app's start-up (so in every worker, and before ``/readyz`` says ready): it pays what
the first call would otherwise pay on its own clock (measured with ``voice-gateway bench first-call`` and
``PYTHONPROFILEIMPORTTIME``): the openai SDK imports its Realtime types on the first ``client.realtime`` (~0.1 s, on
the event loop, while the greeting's play request waits), the Azure SDK its aiohttp transport on the first request,
the agent profiles are parsed on the first lookup, the carriers' SDK clients are built on first use, ACS's signing
keys (JWKS) are fetched at the first callback, and the app's URL map is compiled on the first request.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

logger = logging.getLogger(__name__)


# Modules the SDKs import lazily on a call's path (on the event loop): imported here, in a thread, at start-up.
FIRST_CALL_IMPORTS = (
    "openai.resources.realtime",  # the first client.realtime: every Realtime event type (~0.1 s)
    "websockets.asyncio.client",  # the first provider socket's connect()
    "azure.core.pipeline.transport._aiohttp",  # the ACS client's first request (answer)
    "azure.core.rest._aiohttp",
    "anyio._core._sockets",  # httpx's first connection (the chat model's summary after the first call)
    "anyio._core._streams",
    "encodings.utf_8_sig",  # the first Event Grid body
)


def _import_all(names: Iterable[str]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:  # an SDK moved a module: the first call pays for it again, nothing breaks
            logger.debug("warm-up: %s not importable (%s)", name, exc)


async def warm_first_call(app: Any, gw: Any, carrier_controls: Iterable[Any]) -> None:
    """Pay at start-up what the first call would pay: SDK imports (off the loop), the profiles parsed, the provider's
    Realtime resource and the carriers' SDK clients built (inside the serving loop, where they must live), ACS's
    signing keys fetched (the first callback would wait for them), and one request through the app (its URL map
    compiled, a response rendered). Sends nothing to a provider or carrier API."""
    started = time.perf_counter()
    await asyncio.to_thread(_import_all, FIRST_CALL_IMPORTS)
    gw.profiles.all()
    target = gw.realtime
    if target is not None:
        _ = target.client.beta.realtime if target.beta else target.client.realtime
    for control in carrier_controls:
        await control.warm()
    if gw.acs_jwt is not None:
        await gw.acs_jwt.warm()
    await app.test_client().get("/healthz")
    logger.info("first-call warm-up done in %.0f ms", (time.perf_counter() - started) * 1000)


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

