"""CPU per frame of the provider client, in-process: the leg to the Realtime API, one library against another.

The gateway's provider socket is the openai SDK's: ``websockets``' asyncio ``connect`` with the SDK's headers and
the gateway's options (no compression), opened by ``open_provider_socket`` itself here; aiohttp's client websocket,
opened as the aiohttp relay (the floor) opens it, is the cheaper one. Each client sends an
``input_audio_buffer.append`` of a 20 ms 24 kHz PCM16 frame and waits for one ``response.output_audio.delta`` of
the same audio, ``frames`` times, against one aiohttp echo server run in a child process: the figure is this
process's CPU (``time.process_time``) per append out + delta in, the handshake not counted, so the server's work
is not in it but the client's whole share is (framing, masking, the event loop's wake-up per message received).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable

from gateway import event_loop
from gateway.emulators.serving import free_port
from gateway.engines.realtime_wire import audio_append

PCM_B64 = "A" * 1280  # 20 ms of 24 kHz PCM16 (960 bytes) in base64, as the gateway sends and the bench's deltas carry
APPEND = audio_append(PCM_B64)
DELTA = (
    '{"type":"response.output_audio.delta","event_id":"event_000000000042","response_id":"resp_0123456789abcdef",'
    '"item_id":"item_0123456789abcdef","output_index":0,"content_index":0,"delta":"' + PCM_B64 + '"}'
)  # the emulator's delta, field for field


async def serve(port: int) -> None:
    """The shared server: every text message is answered with one audio delta, until stdin closes."""
    from aiohttp import WSMsgType, web

    async def realtime(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False, max_msg_size=0)
        await ws.prepare(request)
        async for message in ws:
            if message.type is WSMsgType.TEXT:
                await ws.send_str(DELTA)
        return ws

    app = web.Application()
    app.router.add_get("/{tail:.*}", realtime)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    sys.stdout.write("listening\n")
    sys.stdout.flush()
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # the parent closes stdin to stop us
    await runner.cleanup()


Send = Callable[[str], Awaitable[object]]


async def ping_pong_us(send: Send, receive: Callable[[], Awaitable[object]], frames: int) -> float:
    """CPU µs per ``send`` of an append and ``receive`` of the server's delta."""
    start = time.process_time()
    for _ in range(frames):
        await send(APPEND)
        await receive()
    return (time.process_time() - start) / frames * 1e6


async def sdk_websockets_us(url: str, frames: int) -> float:
    """The gateway's own provider socket: the openai SDK's connection, opened by ``open_provider_socket``."""
    from openai import AsyncOpenAI

    from gateway.engines.providers import RealtimeTarget
    from gateway.engines.realtime_socket import open_provider_socket

    base = "http" + url.removeprefix("ws")
    client = AsyncOpenAI(api_key="bench", base_url=base, websocket_base_url=url)
    socket = await open_provider_socket(RealtimeTarget("openai", client, "gpt-realtime", False, base))
    try:
        return await ping_pong_us(socket.send_raw, socket.recv_bytes, frames)
    finally:
        await socket.close()
        await client.close()


async def aiohttp_us(url: str, frames: int) -> float:
    """aiohttp's client websocket with the aiohttp relay's options (uncompressed, no size limit)."""
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url + "/realtime?model=m", compress=0, max_msg_size=0) as ws:
            return await ping_pong_us(ws.send_str, ws.receive, frames)


async def with_server(measure: Callable[[str], Awaitable[dict[str, float]]]) -> dict[str, float]:
    """Run ``measure(ws_url)`` against the shared server in a child process."""
    port = free_port()
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.bench.client_cost", str(port), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )  # fmt: skip
    assert server.stdin is not None and server.stdout is not None
    try:
        if await server.stdout.readline() != b"listening\n":
            raise RuntimeError("the provider client bench's server did not start")
        return await measure(f"ws://127.0.0.1:{port}/v1")
    finally:
        server.stdin.close()
        await server.wait()


def clients_us_per_frame(frames: int, rounds: int) -> dict[str, float]:
    """Median over ``rounds`` (the clients in turn each round) of each client's CPU µs per append out + delta in."""

    async def measure(url: str) -> dict[str, float]:
        figures: dict[str, list[float]] = {"websockets": [], "aiohttp": []}
        for _ in range(rounds):
            figures["websockets"].append(await sdk_websockets_us(url, frames))
            figures["aiohttp"].append(await aiohttp_us(url, frames))
        return {name: sorted(values)[len(values) // 2] for name, values in figures.items()}

    return event_loop.run(with_server(measure))


if __name__ == "__main__":  # the server's child process: python -m gateway.bench.client_cost PORT
    event_loop.run(serve(int(sys.argv[1])))
