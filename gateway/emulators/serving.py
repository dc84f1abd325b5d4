"""Run an ASGI app (an emulator, or the gateway itself) on a loopback port inside the current event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
from hypercorn.asyncio import serve
from hypercorn.config import Config

logger = logging.getLogger(__name__)


CLIENT_POOL_IDLE_S = 4.0  # under the 5 s keep-alive of the gateway's server (Hypercorn's default)


def client_session() -> aiohttp.ClientSession:
    """An emulator's HTTP client to the gateway (webhooks, callbacks): a pooled connection idle for longer than
    ``CLIENT_POOL_IDLE_S`` is not reused, so a delivery never goes out on a connection the gateway's server is
    closing at that moment (a soak lost one call of 359 to "Server disconnected" that way). Create it in the
    running loop."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(keepalive_timeout=CLIENT_POOL_IDLE_S))


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def _wait_listening(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.02)
        else:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            return


def _server_of(app: object) -> str:
    """The gateway's own ``SERVER`` setting when ``app`` is the gateway (so a test run with ``SERVER=granian`` serves
    it as a deployment would), Hypercorn for the emulators."""
    gateway = getattr(app, "extensions", {}).get("gateway")
    return getattr(getattr(gateway, "settings", None), "server", "hypercorn")


@contextlib.asynccontextmanager
async def serve_app(app: object, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve ``app`` with Hypercorn (the gateway: with its ``SERVER``) until the block exits; yields its base URL."""
    port = port or free_port(host)
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = 1.0
    shutdown = asyncio.Event()
    if _server_of(app) == "granian":
        from gateway.granian_serving import serve_with_granian

        serving = serve_with_granian(app, config, None, shutdown)
    else:
        serving = serve(app, config, shutdown_trigger=shutdown.wait)  # type: ignore[arg-type]
    task = asyncio.create_task(serving)
    try:
        await _wait_listening(host, port)
        yield f"http://{host}:{port}"
    finally:
        shutdown.set()
        try:
            await asyncio.wait_for(task, timeout=5)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()


def stop_on_signals() -> asyncio.Event:
    """An event that SIGINT / SIGTERM set, so an emulator run as its own process stops cleanly."""
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


def run_main(serve: Callable[[Any], Awaitable[None]], args: Any) -> None:
    """The ``main()`` of an emulator module: logging as the command line asked, then serve until stopped."""
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from gateway import event_loop

    event_loop.run(serve(args))
