"""A TCP proxy whose far end keeps idle connections only ``keep_alive_s``: a request that arrives on a connection
idle for longer finds it closed, unanswered. That is the race a server's keep-alive timer wins against a client that
sends on a pooled connection at that moment ("Server disconnected"), made certain instead of rare."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from gateway.emulators.serving import free_port


class IdleCloseProxy:
    def __init__(self, upstream_port: int, keep_alive_s: float) -> None:
        self.upstream_port = upstream_port
        self.keep_alive_s = keep_alive_s
        self.connections = 0  # accepted from the client
        self.cut = 0  # closed unanswered because a request came after the keep-alive

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        last = time.monotonic()

        async def downstream() -> None:
            nonlocal last
            while data := await up_reader.read(65536):
                writer.write(data)
                await writer.drain()
                last = time.monotonic()

        answers = asyncio.create_task(downstream())
        try:
            while data := await reader.read(65536):
                if time.monotonic() - last > self.keep_alive_s:
                    self.cut += 1
                    return  # the far end had closed the idle connection: nothing is answered
                up_writer.write(data)
                await up_writer.drain()
                last = time.monotonic()
        finally:
            answers.cancel()
            for w in (writer, up_writer):
                w.close()

    @contextlib.asynccontextmanager
    async def serve(self) -> AsyncIterator[str]:
        port = free_port()
        server = await asyncio.start_server(self._client, "127.0.0.1", port)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.close()
