"""The cheapest floor we could write: the bare relay of ``relay.py`` on aiohttp (server and client) instead of
``websockets``.

Same work per frame (slice the base64 out of the JSON, wrap it for the other side, drop everything else), so the
difference between the two floors is the WebSocket library's own cost; the benchmark measures the gateway against
the cheaper one. aiohttp parses frames with its C reader and writes through the transport directly. The frames are
sliced, not parsed with a JSON library: slicing is cheaper than any parser (orjson included), and the floor
should be the least a relay can do.
"""

from __future__ import annotations

import logging

import aiohttp
from aiohttp import WSMsgType, web

from gateway.emulators.serving import stop_on_signals

from .relay import relay_both_ways

logger = logging.getLogger(__name__)


def _text(message: aiohttp.WSMessage) -> str | None:
    return message.data if message.type is WSMsgType.TEXT else None  # type: ignore[no-any-return]


def _app(realtime_url: str, api_key: str, drop_every: int) -> web.Application:
    async def relay(request: web.Request) -> web.WebSocketResponse:
        acs = web.WebSocketResponse(compress=False, max_msg_size=0, autoping=True)
        await acs.prepare(request)
        session: aiohttp.ClientSession = request.app["session"]
        try:
            async with session.ws_connect(
                realtime_url, headers={"Authorization": f"Bearer {api_key}"}, compress=0, max_msg_size=0
            ) as model:
                await relay_both_ways(acs, model, _text, model.send_str, acs.send_str, drop_every)
        except (aiohttp.ClientError, OSError) as exc:
            logger.info("relay connection ended: %s", exc)
        await acs.close()
        return acs

    async def session_ctx(app: web.Application):  # type: ignore[no-untyped-def]
        app["session"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        yield
        await app["session"].close()

    app = web.Application()
    app.cleanup_ctx.append(session_ctx)
    app.router.add_get("/", relay)
    return app


async def serve(host: str, port: int, realtime_url: str, api_key: str, drop_every: int) -> None:
    runner = web.AppRunner(_app(realtime_url, api_key, drop_every), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_port=True).start()
    try:
        await stop_on_signals().wait()
    finally:
        await runner.cleanup()
