"""The cheapest floor we could write: the bare relay of ``relay.py`` on aiohttp (server and client) instead of
``websockets``.

Same work per frame (slice the base64 out of the JSON, wrap it for the other side, drop everything else), so the
difference between the two floors is the WebSocket library's own cost; the benchmark measures the gateway against
the cheaper one. aiohttp parses frames with its C reader and writes through the transport directly. The frames are
sliced, not parsed with a JSON library: slicing is cheaper than any parser (orjson included), and the floor
should be the least a relay can do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

import aiohttp
from aiohttp import WSMsgType, web

from .relay import audio_data_frame, input_audio_frame

logger = logging.getLogger(__name__)


async def _caller_to_model(acs: web.WebSocketResponse, model: aiohttp.ClientWebSocketResponse, drop_every: int) -> None:
    n = 0
    async for message in acs:
        if message.type is not WSMsgType.TEXT:
            continue
        frame = input_audio_frame(message.data)
        if frame is None:
            continue
        n += 1
        if drop_every and n % drop_every == 0:
            continue  # injected loss (the benchmark's own test)
        await model.send_str(frame)


async def _model_to_caller(model: aiohttp.ClientWebSocketResponse, acs: web.WebSocketResponse) -> None:
    async for message in model:
        if message.type is not WSMsgType.TEXT:
            continue
        frame = audio_data_frame(message.data)
        if frame is not None:
            await acs.send_str(frame)


def _app(realtime_url: str, api_key: str, drop_every: int) -> web.Application:
    async def relay(request: web.Request) -> web.WebSocketResponse:
        acs = web.WebSocketResponse(compress=False, max_msg_size=0, autoping=True)
        await acs.prepare(request)
        session: aiohttp.ClientSession = request.app["session"]
        try:
            async with session.ws_connect(
                realtime_url, headers={"Authorization": f"Bearer {api_key}"}, compress=0, max_msg_size=0
            ) as model:
                tasks = [
                    asyncio.create_task(_caller_to_model(acs, model, drop_every)),
                    asyncio.create_task(_model_to_caller(model, acs)),
                ]
                try:
                    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
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
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(_app(realtime_url, api_key, drop_every), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_port=True).start()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
