"""Run the WebRTC emulator on its own: ``python -m gateway.emulators.webrtc --port 8766 --api-key demo``.

Point the gateway at it with ``OPENAI_API_KEY=demo OPENAI_BASE_URL=http://127.0.0.1:8766/v1`` and open the page.
A desktop browser ignores loopback ICE candidates unless started with ``--allow-loopback-in-peer-connection``;
``--lan-ice`` makes the emulated peer offer the machine's real addresses instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from .config import WebRtcEmulatorConfig
from .emulator import WebRtcEmulator

logger = logging.getLogger(__name__)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m gateway.emulators.webrtc", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8766)
    p.add_argument(
        "--api-key", action="append", dest="api_keys", help="accepted provider key (repeatable; default: any)"
    )
    p.add_argument("--lan-ice", action="store_true", help="offer the machine's addresses, not 127.0.0.1")
    p.add_argument("--log-level", default="INFO")
    return p.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    config = WebRtcEmulatorConfig(
        api_keys=frozenset(args.api_keys) if args.api_keys else None, loopback_ice=not args.lan_ice
    )
    emulator = WebRtcEmulator(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with emulator.serve(args.host, args.port) as url:
        logger.info("WebRTC emulator on %s (OPENAI_BASE_URL=%s/v1)", url, url)
        await stop.wait()
    logger.info("stopped: %d keys minted, %d calls", len(emulator.mints), len(emulator.calls))


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
