"""A reverse proxy without affinity, as a load balancer that cannot pin (Azure Container Apps): each HTTP request and
each WebSocket goes to the next backend in turn, whatever call it belongs to; a backend that refuses connections
(a replica that died) is skipped, as a load balancer's health probe would take it out. For the replica tests and `bench scale`."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from gateway.emulators.serving import free_port
from gateway.relaying import until_either_ends

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "host", "content-length", "te", "trailer"}
HANDSHAKE = {"sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-accept"}


class RoundRobinProxy:
    def __init__(self, backends: list[str]) -> None:
        self.backends = backends
        self._next = itertools.cycle(range(len(backends)))
        self.sent: list[int] = [0] * len(backends)  # requests and sockets per backend
        self._http: aiohttp.ClientSession | None = None

    def _pick(self) -> str:
        index = next(self._next)
        self.sent[index] += 1
        return self.backends[index]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP | HANDSHAKE}
        body = await request.read()
        for _ in self.backends:
            backend = self._pick()
            try:
                if request.headers.get("Upgrade", "").lower() == "websocket":
                    return await self._websocket(request, backend, headers)
                return await self._http_request(request, backend, headers, body)
            except aiohttp.ClientConnectorError:
                continue  # that replica is gone: the next one
        return web.Response(status=502, text="no backend answered")

    async def _http_request(self, request: web.Request, backend: str, headers: dict[str, str], body: bytes) -> web.Response:
        assert self._http is not None
        async with self._http.request(request.method, backend + request.path_qs, headers=headers, data=body, allow_redirects=False) as answer:
            content = await answer.read()
            passed = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP | {"content-encoding"}}
            return web.Response(body=content, status=answer.status, headers=passed)

    async def _websocket(self, request: web.Request, backend: str, headers: dict[str, str]) -> web.StreamResponse:
        assert self._http is not None
        try:
            upstream = await self._http.ws_connect(backend.replace("http://", "ws://") + request.path_qs, headers=headers, autoping=False)
        except aiohttp.WSServerHandshakeError as exc:
            return web.Response(status=exc.status, text=exc.message)
        client = web.WebSocketResponse(autoping=False)
        await client.prepare(request)

        async def pipe(source, sink) -> None:  # type: ignore[no-untyped-def]
            async for message in source:
                if message.type == aiohttp.WSMsgType.TEXT:
                    await sink.send_str(message.data)
                elif message.type == aiohttp.WSMsgType.BINARY:
                    await sink.send_bytes(message.data)
                else:
                    return

        await until_either_ends(pipe(client, upstream), pipe(upstream, client))
        await upstream.close()
        await client.close(code=upstream.close_code or 1000)
        return client

    @contextlib.asynccontextmanager
    async def serve(self, port: int | None = None) -> AsyncIterator[str]:
        port = port or free_port()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        self._http = aiohttp.ClientSession(auto_decompress=False)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            await self._http.close()
            await runner.cleanup()
