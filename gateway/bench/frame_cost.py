"""CPU per media frame of single steps of the hot path, in-process: ``python -m gateway.bench.frame_cost``.

The load ladder measures whole calls, and on a shared machine its CPU figures move with the neighbours' load.
These figures are CPU time (``time.process_time``) of one step repeated in a loop, each next to what it replaced,
so one lever can be judged on its own:

- the media socket: Quart's websocket wrapper against ``gateway.media_socket`` (one frame in, one echoed out,
  through a fake ASGI server that hands over the next frame once the last was sent);
- a Twilio μ-law caller frame's voice level: decoded and resampled to 24 kHz first, against read from the codes;
- an agent frame to a Twilio caller without a mark, against with the mark after it and its echo parsed and booked
  (turn-taking's playout truth); the two extra messages' socket cost is one more frame in + out of the first line;
- the provider client: one audio append out and one audio delta in through the openai SDK's ``websockets`` socket,
  against aiohttp's client websocket (``client_cost``: a loopback server in a child process, median of rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from gateway import event_loop
from gateway.audio import Resampler, b64decode, b64encode, mulaw_decode, mulaw_encode, mulaw_rms, rms

from .client_cost import PCM_B64, clients_us_per_frame

FRAME = '{"kind":"AudioData","audioData":{"data":"' + PCM_B64 + '"}}'  # 20 ms at 24 kHz, as ACS sends it
FRAMES_PER_S = 50  # 20 ms frames, each way


def _echo_app(connection: type, frames: int) -> Any:
    from quart import Quart, websocket

    app = Quart(__name__)
    app.asgi_websocket_class = connection

    @app.websocket("/ws/acs/<key>")
    async def media(key: str) -> None:
        await websocket.accept()
        for _ in range(frames):
            await websocket.send(await websocket.receive())

    return app


async def socket_us_per_frame(connection: type, frames: int) -> float:
    """CPU µs for one frame in and one out through ``connection`` (an ``asgi_websocket_class``)."""
    app = _echo_app(connection, frames)
    await app.startup()
    echoed = asyncio.Event()
    connected = False

    async def receive() -> dict[str, Any]:
        nonlocal connected
        if not connected:
            connected = True
            return {"type": "websocket.connect"}
        await echoed.wait()  # paced as frames are: the next one after the last went out
        echoed.clear()
        return {"type": "websocket.receive", "text": FRAME}

    async def send(event: dict[str, Any]) -> None:
        if event["type"] in ("websocket.accept", "websocket.send"):
            echoed.set()

    scope = {"type": "websocket", "path": "/ws/acs/k", "raw_path": b"/ws/acs/k", "query_string": b"", "headers": [],
             "scheme": "ws", "root_path": "", "http_version": "1.1", "subprotocols": [], "asgi": {"spec_version": "2.3"},
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2), "extensions": {}}  # fmt: skip
    start = time.process_time()
    await app(scope, receive, send)
    return (time.process_time() - start) / frames * 1e6


def step_us(step: Callable[[], object], n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        step()
    return (time.process_time() - start) / n * 1e6


def twilio_level_steps() -> tuple[Callable[[], object], Callable[[], object]]:
    """A μ-law caller frame's level: through 24 kHz PCM (as before), and from the codes."""
    t = np.arange(160) / 8000
    payload = b64encode(mulaw_encode((3000 * np.sin(2 * np.pi * 300 * t)).astype("<i2").tobytes()))
    upsample = Resampler(8000, 24000, "QQ")
    return (
        lambda: rms(b64decode(b64encode(upsample.process(mulaw_decode(b64decode(payload)))))),
        lambda: mulaw_rms(b64decode(payload)),
    )


async def twilio_frame_us(frames: int, marked: bool) -> float:
    """CPU µs per agent frame sent to a Twilio caller (μ-law passed through), with a mark after every frame and
    its echo from Twilio parsed and booked, or with no marks; sending itself is free here."""
    from channels.twilio import wire
    from channels.twilio.media import FRAME_BYTES, TwilioAudioSink
    from gateway.events import AudioOut

    stream = "MZ" + "0" * 32
    echoes = [f'{{"event":"mark","sequenceNumber":"{n + 2}","streamSid":"{stream}","mark":{{"name":"m{n + 1}"}}}}' for n in range(frames)]  # fmt: skip

    async def send(message: str) -> None:
        return None

    sink = TwilioAudioSink(send, stream, "pcmu")
    sink.playout.every_ms = sink.playout.every_ms if marked else float("inf")
    audio = AudioOut(b64encode(bytes(FRAME_BYTES)), FRAME_BYTES, "item")
    start = time.process_time()
    for echo in echoes:
        await sink.play(audio)
        if marked:
            sink.mark_echoed(wire.parse(echo).name)  # type: ignore[union-attr]
    return (time.process_time() - start) / frames * 1e6


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m gateway.bench.frame_cost", description=__doc__)
    p.add_argument("--frames", type=int, default=20_000)
    p.add_argument("--client-frames", type=int, default=5000, help="round trips per provider client and round")
    p.add_argument("--rounds", type=int, default=3, help="provider client rounds (the median is printed)")
    args = p.parse_args(argv)
    if min(args.frames, args.client_frames, args.rounds) < 1:
        p.error("--frames, --client-frames and --rounds must be at least 1")
    frames = args.frames
    from quart.asgi import ASGIWebsocketConnection

    from gateway.media_socket import MediaSocketConnection

    quart = event_loop.run(socket_us_per_frame(ASGIWebsocketConnection, frames))
    lean = event_loop.run(socket_us_per_frame(MediaSocketConnection, frames))
    resampled, direct = (step_us(step, frames) for step in twilio_level_steps())
    unmarked, marked = (event_loop.run(twilio_frame_us(frames, m)) for m in (False, True))
    clients = clients_us_per_frame(args.client_frames, args.rounds)
    per_call_s = {name: us * FRAMES_PER_S / 1000 for name, us in clients.items()}  # one pair per frame time
    sys.stdout.write(
        f"media socket, one frame in + one out: Quart's wrapper {quart:.1f} µs CPU, gateway.media_socket {lean:.1f} µs\n"
        f"Twilio caller frame's voice level: via 24 kHz PCM {resampled:.1f} µs CPU, from the μ-law codes {direct:.1f} µs\n"
        f"Twilio agent frame: without a mark {unmarked:.1f} µs CPU, with its mark and echo {marked:.1f} µs"
        f" (+{marked - unmarked:.1f} µs, and the mark and its echo are one more message out and in on the media socket)\n"
        f"provider client, one audio append out + one audio delta in: websockets (openai SDK) {clients['websockets']:.1f} µs"
        f" CPU, aiohttp {clients['aiohttp']:.1f} µs (at {FRAMES_PER_S} frames each way a second: {per_call_s['websockets']:.2f}"
        f" against {per_call_s['aiohttp']:.2f} ms CPU per call-second)\n"
    )


if __name__ == "__main__":
    main()
