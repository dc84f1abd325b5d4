"""The benchmark's Realtime service: ``python -m gateway.bench.emulator --port P``.

The Realtime emulator's bench preset (no VAD, 20 ms deltas of looped speech in real time) served natively by
``websockets`` in a process of its own, with the marker tap attached. It takes orders on stdin, one per line:
``dump PATH`` writes what the tap has seen so far to PATH (``.npz``) and answers ``dumped PATH`` on stdout, so
the benchmark can judge each step of its ladder while the run goes on; EOF or SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from gateway.emulators.realtime import BenchConfig, EmulatorConfig, RealtimeEmulator
from gateway.emulators.serving import run_main, stop_on_signals

from .tap import MarkerTap

logger = logging.getLogger(__name__)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m gateway.bench.emulator", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--api-key", default=None, help="the only key accepted (default: any)")
    p.add_argument("--reply-ms", type=int, default=5000, help="length of each agent reply")
    p.add_argument("--gap-ms", type=int, default=1000, help="pause between replies")
    p.add_argument("--log-level", default="WARNING")
    return p.parse_args(argv)


async def _commands(tap: MarkerTap, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while not stop.is_set():
        line = (await reader.readline()).decode().strip()
        if not line:
            break  # EOF: the benchmark went away
        verb, _, arg = line.partition(" ")
        if verb == "dump" and arg:
            tap.save(Path(arg))
            sys.stdout.write(f"dumped {arg}\n")
            sys.stdout.flush()
        else:
            logger.warning("unknown command %r", line)
    stop.set()


async def _serve(args: argparse.Namespace) -> None:
    tap = MarkerTap()
    keys = frozenset({args.api_key}) if args.api_key else None
    emulator = RealtimeEmulator(EmulatorConfig.for_bench(keys, BenchConfig(args.reply_ms, args.gap_ms, tap=tap)))
    stop = stop_on_signals()
    async with emulator.serve(args.host, args.port, native=True) as url:
        sys.stdout.write(f"ready {url}\n")
        sys.stdout.flush()
        commands = asyncio.create_task(_commands(tap, stop))
        await stop.wait()
        commands.cancel()
        await asyncio.gather(commands, return_exceptions=True)


def main(argv: list[str] | None = None) -> None:
    run_main(_serve, _parse(argv))


if __name__ == "__main__":
    main()
