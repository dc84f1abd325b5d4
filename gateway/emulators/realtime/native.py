"""Serve the emulator with the ``websockets`` library directly, without ASGI: the benchmark's server.

Through Quart and Hypercorn every WebSocket message costs tens of microseconds in pure-Python layers, and
Hypercorn always accepts ``permessage-deflate`` when the client offers it (the openai SDK does), so each audio
delta is also zlib-compressed. At ~500 calls x 100 messages/s that alone saturates a core. This server runs
the very same ``RealtimeSession`` code with the same handshake rules, negotiates compression only when
``accept_compression`` is set (the bench preset does not), and aborts TCP without any lookup. Tests use the Quart app (``RealtimeEmulator.serve()``); the benchmark may use this one.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from .handshake import Endpoint, Handshake, Refusal, negotiate
from .session import RealtimeSession

if TYPE_CHECKING:
    from .emulator import RealtimeEmulator

logger = logging.getLogger(__name__)


class NativeSocket:
    """Adapts a ``websockets`` server connection to what ``RealtimeSession`` needs."""

    def __init__(self, conn: ServerConnection) -> None:
        self.conn = conn

    async def send(self, data: str) -> None:
        await self.conn.send(data)

    async def receive(self) -> str | bytes:
        return await self.conn.recv()

    async def close(self, code: int, reason: str = "") -> None:
        await self.conn.close(code, reason)

    def abort(self) -> None:
        self.conn.transport.abort()


def _refuse(conn: ServerConnection, refusal: Refusal) -> Response:
    response = conn.respond(refusal.status, refusal.body())
    response.headers["Content-Type"] = "application/json"
    return response


@contextlib.asynccontextmanager
async def serve_native(emulator: RealtimeEmulator, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve ``emulator`` on ``host:port`` until the block exits; yields ``http://host:port``."""
    handshakes: dict[int, Handshake] = {}

    def process_request(conn: ServerConnection, request: Request) -> Response | None:
        stats = emulator.stats
        stats.attempts += 1
        status = emulator.faults.refusal()
        if status is not None:
            stats.refused_fault += 1
            return _refuse(conn, Refusal(status, "service_unavailable", "The service is temporarily unavailable."))
        url = urlsplit(request.path)
        try:
            endpoint = Endpoint(url.path)
        except ValueError:
            stats.refused_bad_request += 1
            return _refuse(conn, Refusal(404, "not_found", f"No WebSocket endpoint at {url.path}."))
        headers = {k.lower(): v for k, v in request.headers.raw_items()}
        subprotocols = [p.strip() for p in headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
        outcome = negotiate(endpoint, headers, dict(parse_qsl(url.query)), subprotocols, emulator.config.api_keys)
        if isinstance(outcome, Refusal):
            if outcome.status == 401:
                stats.refused_auth += 1
            else:
                stats.refused_bad_request += 1
            return _refuse(conn, outcome)
        handshakes[id(conn)] = outcome
        return None

    def select_subprotocol(conn: ServerConnection, offered: list[str]) -> str | None:
        return "realtime" if "realtime" in offered else None

    async def handler(conn: ServerConnection) -> None:
        outcome = handshakes.pop(id(conn))
        client = conn.remote_address
        session = RealtimeSession(emulator, outcome, NativeSocket(conn), {"client": client})
        accepted = conn.response.headers.get("Sec-WebSocket-Extensions", "") if conn.response is not None else ""
        session.record.extensions = [e.split(";")[0].strip() for e in accepted.split(",") if e.strip()]
        emulator.register(session)
        try:
            await session.run()
        finally:
            emulator.unregister(session)

    async with serve(
        handler,
        host,
        port,
        process_request=process_request,
        select_subprotocol=select_subprotocol,
        compression="deflate" if emulator.config.accept_compression else None,
        max_size=None,
        ping_interval=None,
    ) as server:
        bound = next(iter(server.sockets)).getsockname()
        yield f"http://{host}:{bound[1]}"
