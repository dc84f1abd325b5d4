"""Run the WebRTC emulator on its own: ``python -m gateway.emulators.webrtc --port 8766 --api-key demo``.

Point the gateway at it with ``OPENAI_API_KEY=demo OPENAI_BASE_URL=http://127.0.0.1:8766/v1`` and open the page.
A desktop browser ignores loopback ICE candidates unless started with ``--allow-loopback-in-peer-connection``;
``--lan-ice`` makes the emulated peer offer the machine's real addresses instead.
"""

from __future__ import annotations

import argparse
import logging

from gateway.emulators.serving import run_main, stop_on_signals

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
    stop = stop_on_signals()
    async with emulator.serve(args.host, args.port) as url:
        logger.info("WebRTC emulator on %s (OPENAI_BASE_URL=%s/v1)", url, url)
        await stop.wait()
    logger.info("stopped: %d keys minted, %d calls", len(emulator.mints), len(emulator.calls))


def main(argv: list[str] | None = None) -> None:
    run_main(_serve, _parse(argv))


if __name__ == "__main__":
    main()
