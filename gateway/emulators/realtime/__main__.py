"""Run the Realtime emulator on its own: ``python -m gateway.emulators.realtime --port 8765 --api-key demo``.

For the CLI demo (point the gateway's Realtime endpoint at it) and for the benchmark (``--bench``), where the
emulator should run in its own process so it does not compete with the gateway's event loop.
"""

from __future__ import annotations

import argparse
import logging

from gateway.emulators.serving import run_main, stop_on_signals

from .config import BenchConfig, EmulatorConfig, Pacing
from .emulator import RealtimeEmulator

logger = logging.getLogger(__name__)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m gateway.emulators.realtime", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--api-key", action="append", dest="api_keys", help="accepted key (repeatable; default: any)")
    p.add_argument("--realtime-factor", type=float, default=None, help="1 = real time, 2 = twice as fast")
    p.add_argument("--chunk-ms", type=int, default=None, help="audio per delta")
    p.add_argument("--bench", action="store_true", help="benchmark mode: no VAD, steady back-to-back replies")
    p.add_argument("--bench-reply-ms", type=int, default=5000)
    p.add_argument("--bench-gap-ms", type=int, default=1000)
    p.add_argument("--native", action="store_true", help="serve with websockets directly (cheapest; benchmark)")
    p.add_argument("--log-level", default="INFO")
    return p.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    keys = frozenset(args.api_keys) if args.api_keys else None
    if args.bench:
        config = EmulatorConfig.for_bench(keys, BenchConfig(args.bench_reply_ms, args.bench_gap_ms))
    else:
        config = EmulatorConfig(api_keys=keys)
    pacing = config.pacing
    config.pacing = Pacing(
        realtime_factor=args.realtime_factor if args.realtime_factor is not None else pacing.realtime_factor,
        chunk_ms=args.chunk_ms or pacing.chunk_ms,
    )
    emulator = RealtimeEmulator(config)
    stop = stop_on_signals()
    async with emulator.serve(args.host, args.port, native=args.native) as url:
        logger.info("Realtime emulator on %s (ws base %s/v1)", url, url.replace("http", "ws", 1))
        await stop.wait()
    s = emulator.stats
    logger.info("stopped: %d sessions, peak %d concurrent, %d dropped", s.accepted, s.max_active, s.dropped)


def main(argv: list[str] | None = None) -> None:
    run_main(_serve, _parse(argv))


if __name__ == "__main__":
    main()
