"""Which event loop runs the gateway and the benchmark's processes: uvloop where it is installed, else asyncio's own.

uvloop (libuv) does the loop's bookkeeping and socket I/O in C. On the 2-vCPU benchmark machine it took 5-10 % off
the gateway's CPU per call and kept per-frame p99 under 10 ms at 200 calls where asyncio's loop reached 12-26 ms
(``voice-gateway bench``, same run). ``EVENT_LOOP=asyncio`` turns it off; Windows has no uvloop and falls back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

T = TypeVar("T")
EventLoopChoice = Literal["auto", "uvloop", "asyncio"]


def loop_factory(choice: EventLoopChoice = "auto") -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory, or ``None`` for asyncio's default loop."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise SystemExit("EVENT_LOOP=uvloop, but uvloop is not installed on this platform") from None
        return None
    return uvloop.new_event_loop


def hypercorn_worker_class(choice: EventLoopChoice = "auto") -> str:
    """Hypercorn's name for the same choice, for its worker processes."""
    return "uvloop" if loop_factory(choice) is not None else "asyncio"


def run(main: Coroutine[Any, Any, T], choice: EventLoopChoice = "auto") -> T:
    """``asyncio.run`` on the chosen loop."""
    with asyncio.Runner(loop_factory=loop_factory(choice)) as runner:
        return runner.run(main)
