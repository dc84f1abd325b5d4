"""Granian's Rust HTTP/WebSocket engine (``SERVER=granian``) on sockets this process bound, in its own event loop.

Granian's own runner owns the process: it binds, spawns workers, and on SIGTERM closes every websocket before the
app can drain its calls (granian#796). The gateway needs the opposite order (drain, then close), a peer listener
per process and warm-up behind a bound socket, which ``gateway/serving.py`` already does around Hypercorn. So only
Granian's per-listener engine is used here: one ``ASGIWorker`` per listening socket, scheduling the app on the
running loop, stopped by its ``WorkerSignal`` once the drain is over. What changes per frame is the WebSocket
framing and the socket I/O, done in Rust (tokio-tungstenite, no compression) instead of Hypercorn's wsproto.

Differences that remain: Granian buffers a WebSocket message up to its own limit (tungstenite's 64 MiB) before
the app's ``MAX_WS_MESSAGE_BYTES`` check refuses it (Hypercorn refuses past the limit while reading), and its
responses carry ``server: granian``. Private parts of Granian are used, hence the pin to one minor version.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Sequence
from typing import Any

logger = logging.getLogger(__name__)

BACKLOG = 1024
HEADER_BYTES = 64 * 1024  # as Hypercorn's h11_max_incomplete_size here: a request's head may not be larger
STOP_WAIT_S = 5.0  # for the engines to let go of their listeners once told to stop
RUNTIME_THREADS = 1  # Rust I/O threads per listener: the gateway's cost is the Python side, one is enough


def available() -> bool:
    try:
        import granian._granian  # noqa: F401
    except ImportError:
        return False
    return True


def _worker(index: int, sock: socket.socket) -> tuple[Any, int]:
    """The engine for one listener, and the descriptor it serves (a duplicate of ``sock``'s it closes when done)."""
    from granian._granian import ASGIWorker, SocketHolder
    from granian.constants import SSLProtocols
    from granian.http import HTTP1Settings

    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted sockets inherit it: no Nagle on frames
    duplicate = os.dup(sock.fileno())
    holder = SocketHolder(duplicate, False, BACKLOG)
    no_tls = (False, None, None, None, str(SSLProtocols.tls13), None, [], False)  # a proxy in front terminates TLS
    worker = ASGIWorker(
        index,
        (None, holder),
        None,  # no IPC with a Granian supervisor
        RUNTIME_THREADS,
        512,  # blocking threads of the Rust runtime (Granian's default)
        1,  # Python threads: the app runs on this loop, none are used
        30,
        BACKLOG,  # backpressure: connections served at once per listener
        "1",  # HTTP/1.1 (with websockets); the carriers and browsers speak nothing else to the gateway
        HTTP1Settings(max_buffer_size=HEADER_BYTES + 8192),
        None,
        True,  # websockets
        None,  # no static files
        *no_tls,
        (None, None),  # no metrics
    )
    return worker, duplicate


def _is_open(fd: int, inode: int) -> bool:
    try:
        return os.fstat(fd).st_ino == inode
    except OSError:
        return False


async def _stopped(served: list[tuple[int, int]], timeout: float = STOP_WAIT_S) -> None:
    """Wait until every engine has let go of its listener: its Rust threads are done with the interpreter then (one
    still running when the interpreter exits aborts the process)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while any(_is_open(fd, inode) for fd, inode in served) and loop.time() < deadline:
        await asyncio.sleep(0.01)


DENIAL_BODY = "websocket.http.response.body"


def whole_denials(app: Any) -> Any:
    """``app`` with a websocket's denial response (Quart's refusal of a media socket: 403, 409) sent as one body:
    Granian takes the ASGI denial extension's body in a single message only, and refuses ``more_body`` chunks."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await app(scope, receive, send)
            return
        chunks: list[bytes] = []

        async def send_whole(message: dict[str, Any]) -> None:
            if message["type"] != DENIAL_BODY:
                await send(message)
            elif message.get("more_body"):
                chunks.append(message.get("body", b""))
            else:
                await send(
                    {"type": DENIAL_BODY, "body": b"".join((*chunks, message.get("body", b""))), "more_body": False}
                )

        await app(scope, receive, send_whole)

    return wrapped


@contextlib.asynccontextmanager
async def granian_listeners(app: Any, sockets: Sequence[socket.socket]) -> AsyncIterator[None]:
    """Serve ``app`` (ASGI, lifespan included) on ``sockets`` until the block exits; the sockets stay the caller's."""
    from granian._futures import _future_watcher_wrapper, _new_cbscheduler
    from granian._granian import WorkerSignal
    from granian.asgi import LifespanProtocol, _callback_wrapper

    loop = asyncio.get_running_loop()
    lifespan = LifespanProtocol(app)
    await lifespan.startup()
    if lifespan.interrupt:
        raise RuntimeError(f"the app's start-up failed: {lifespan.exc}")
    callback = _future_watcher_wrapper(_callback_wrapper(whole_denials(app), {}, lifespan.state))
    stops, served = [], []
    try:
        for index, sock in enumerate(sockets, start=1):
            stop = WorkerSignal()
            worker, fd = _worker(index, sock)
            worker.serve_async(_new_cbscheduler(loop, callback, impl_asyncio=True), loop, stop)
            stops.append(stop)
            served.append((fd, os.fstat(fd).st_ino))
        yield
    finally:
        for stop in stops:
            stop.set()
        await _stopped(served)
        await lifespan.shutdown()


async def serve_with_granian(app: Any, config: Any, sockets: Any, stop: asyncio.Event) -> None:
    """``serve_app``'s Granian branch: the same listeners Hypercorn would serve (``sockets``, or made from
    ``config.bind``), served until ``stop`` is set (after the drain)."""
    sockets = sockets or config.create_sockets()  # no TLS is configured: the listeners are all plain
    async with granian_listeners(app, sockets.insecure_sockets):
        await stop.wait()
