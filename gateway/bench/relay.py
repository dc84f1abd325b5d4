"""The floor: ``python -m gateway.bench.relay --port P --realtime-url ws://.../v1/realtime?model=m [--library L]``.

A bare relay between the ACS media socket and the Realtime API that does the least a relay can: for each caller
frame it slices the base64 out of the JSON and wraps it as ``input_audio_buffer.append``; for each audio delta
it slices the base64 out and wraps it as ACS ``AudioData``; everything else is dropped. No call control, no
session set-up, no turn-taking, no typed events. Both sides use one library, uncompressed: aiohttp
(``relay_aiohttp.py``, the cheaper floor, the default) or ``websockets`` (the gateway's provider client is
``websockets`` too, through the openai SDK). Running it next to the gateway in the
same benchmark gives the cost of the gateway's work over the cost of moving the bytes at all.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import sys
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Any

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from gateway import event_loop
from gateway.emulators.serving import stop_on_signals
from gateway.relaying import until_either_ends

logger = logging.getLogger(__name__)

_DATA = '"data":"'
_DELTA = '"delta":"'
_AUDIO_DELTAS = ('{"type":"response.output_audio.delta"', '{"type":"response.audio.delta"')


def input_audio_frame(message: str) -> str | None:
    """An ACS ``AudioData`` message as ``input_audio_buffer.append`` (the base64 sliced out, not parsed)."""
    i = message.find(_DATA)
    if i < 0:
        return None
    i += len(_DATA)
    return '{"type":"input_audio_buffer.append","audio":"' + message[i : message.find('"', i)] + '"}'


def audio_data_frame(message: str) -> str | None:
    """A Realtime audio delta as an ACS ``AudioData`` message; ``None`` for anything else."""
    if not message.startswith(_AUDIO_DELTAS):
        return None
    i = message.find(_DELTA)
    if i < 0:
        return None
    i += len(_DELTA)
    return '{"Kind":"AudioData","AudioData":{"Data":"' + message[i : message.find('"', i)] + '"},"StopAudio":null}'


async def relay_both_ways(
    caller: AsyncIterable[Any],
    model: AsyncIterable[Any],
    text_of: Callable[[Any], str | None],
    send_to_model: Callable[[str], Awaitable[None]],
    send_to_caller: Callable[[str], Awaitable[None]],
    drop_every: int = 0,
) -> None:
    """Both directions of one call until either side ends, whichever library carries the frames: ``text_of`` gives
    a received message's text (``None`` for other kinds), the two senders send text."""

    async def caller_to_model() -> None:
        n = 0
        async for message in caller:
            text = text_of(message)
            frame = input_audio_frame(text) if text is not None else None
            if frame is None:
                continue
            n += 1
            if drop_every and n % drop_every == 0:
                continue  # injected loss (the benchmark's own test)
            await send_to_model(frame)

    async def model_to_caller() -> None:
        async for message in model:
            text = text_of(message)
            if text is not None and (frame := audio_data_frame(text)) is not None:
                await send_to_caller(frame)

    await until_either_ends(caller_to_model(), model_to_caller())


def _text(message: str | bytes) -> str | None:
    return message if isinstance(message, str) else None


def _handler(realtime_url: str, api_key: str, drop_every: int):  # type: ignore[no-untyped-def]
    async def relay(acs: ServerConnection) -> None:
        try:
            async with connect(
                realtime_url,
                additional_headers={"Authorization": f"Bearer {api_key}"},
                compression=None,
                max_size=None,
                ping_interval=None,
                proxy=None,
            ) as model:
                await relay_both_ways(acs, model, _text, model.send, acs.send, drop_every)
        except (ConnectionClosed, OSError) as exc:
            logger.info("relay connection ended: %s", exc)

    return relay


async def _serve(host: str, port: int, realtime_url: str, api_key: str, drop_every: int) -> None:
    async with serve(
        _handler(realtime_url, api_key, drop_every),
        host,
        port,
        reuse_port=True,
        compression=None,
        max_size=None,
        ping_interval=None,
    ):
        await stop_on_signals().wait()


RELAY_LIBRARIES = ("aiohttp", "websockets")


def _worker(
    host: str, port: int, realtime_url: str, api_key: str, drop_every: int = 0, library: str = "aiohttp"
) -> None:
    if library == "aiohttp":
        from .relay_aiohttp import serve as serve_aiohttp

        event_loop.run(serve_aiohttp(host, port, realtime_url, api_key, drop_every))
    else:
        event_loop.run(_serve(host, port, realtime_url, api_key, drop_every))


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m gateway.bench.relay", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--realtime-url", required=True, help="ws://host:port/v1/realtime?model=...")
    p.add_argument("--api-key", default="bench")
    p.add_argument("--workers", type=int, default=1, help="processes sharing the port (SO_REUSEPORT)")
    p.add_argument("--drop-every", type=int, default=0, help="drop every Nth caller frame (to test the benchmark)")
    p.add_argument("--library", choices=RELAY_LIBRARIES, default="aiohttp", help="WebSocket library (default aiohttp)")
    p.add_argument("--log-level", default="WARNING")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx = multiprocessing.get_context("spawn")
    extra = [
        ctx.Process(
            target=_worker,
            args=(args.host, args.port, args.realtime_url, args.api_key, args.drop_every, args.library),
            daemon=True,
        )
        for _ in range(max(0, args.workers - 1))
    ]
    for proc in extra:
        proc.start()
    sys.stdout.write(f"ready ws://{args.host}:{args.port}\n")
    sys.stdout.flush()
    try:
        _worker(args.host, args.port, args.realtime_url, args.api_key, args.drop_every, args.library)
    finally:
        for proc in extra:
            proc.terminate()
            proc.join(timeout=5)


if __name__ == "__main__":
    main()
