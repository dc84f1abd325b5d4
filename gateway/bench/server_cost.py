"""Server CPU per media frame, Hypercorn against Granian: ``python -m gateway.bench.server_cost``.

The ladder measures whole calls and moves with the neighbours' load; this isolates the server lever (``SERVER``):
a bare ASGI echo app served by each server in this process (on the gateway's event loop), a client in another
process sending an ACS-sized frame on each of ``--sockets`` sockets and waiting for its echo, ``--frames`` times.
The figure is this process's CPU (every thread: Granian's Rust ones too) per frame in and out.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import sys
from typing import Any

from gateway import event_loop
from gateway.emulators.serving import free_port

from .frame_cost import FRAME


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    while (message := await receive())["type"] == "websocket.receive":
        await send({"type": "websocket.send", "text": message.get("text"), "bytes": message.get("bytes")})


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def server_us_per_frame(server: str, sockets: int, frames: int) -> float:
    from hypercorn.asyncio.run import worker_serve
    from hypercorn.config import Config
    from hypercorn.utils import wrap_app

    from gateway.granian_serving import serve_with_granian

    port = free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    stop = asyncio.Event()
    if server == "granian":
        serving = asyncio.create_task(serve_with_granian(echo, config, None, stop))
    else:
        serving = asyncio.create_task(worker_serve(wrap_app(echo, 0, "asgi"), config, shutdown_trigger=stop.wait))
    client = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.bench.server_cost", "--client", str(port), "--sockets", str(sockets), "--frames", str(frames),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert client.stdout is not None
    if await client.stdout.readline() != b"connected\n":  # the handshakes are not counted
        raise RuntimeError(f"the {server} echo client could not connect")
    start = cpu_s()
    if await client.wait() != 0:
        raise RuntimeError(f"the {server} echo client failed")
    used = cpu_s() - start
    stop.set()
    await serving
    return used / (sockets * frames) * 1e6


async def run_client(port: int, sockets: int, frames: int) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        connections = [await http.ws_connect(f"http://127.0.0.1:{port}/ws/acs/k", compress=0) for _ in range(sockets)]
        sys.stdout.write("connected\n")
        sys.stdout.flush()

        async def ping_pong(ws: aiohttp.ClientWebSocketResponse) -> None:
            for _ in range(frames):
                await ws.send_str(FRAME)
                await ws.receive()

        await asyncio.gather(*(ping_pong(ws) for ws in connections))
        for ws in connections:
            await ws.close()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m gateway.bench.server_cost", description=__doc__)
    p.add_argument("--sockets", type=int, default=10)
    p.add_argument("--frames", type=int, default=2000, help="frames per socket")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--client", type=int, default=0, help=argparse.SUPPRESS)  # the client process: the port
    args = p.parse_args(argv)
    if args.client:
        event_loop.run(run_client(args.client, args.sockets, args.frames))
        return
    from gateway.granian_serving import available

    servers = ("hypercorn", "granian") if available() else ("hypercorn",)
    for n in range(args.rounds):
        figures = {s: event_loop.run(server_us_per_frame(s, args.sockets, args.frames)) for s in servers}
        sys.stdout.write(
            f"round {n + 1}: server CPU per frame in + echoed out: "
            + ", ".join(f"{s} {us:.1f} µs" for s, us in figures.items()) + "\n"
        )  # fmt: skip


if __name__ == "__main__":
    main()
