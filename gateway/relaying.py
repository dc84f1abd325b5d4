"""Two directions of one relayed connection, run until either ends.

A relayed socket (a forwarded media socket, the benchmark's bare relay, the test rig's proxy) is two loops, one per
direction; when one side closes, the other loop must stop too, or its task waits for ever on a socket nobody reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


async def until_either_ends(one: Coroutine[Any, Any, None], other: Coroutine[Any, Any, None]) -> None:
    """Run both directions; when the first returns (or fails), cancel the other and wait for it."""
    tasks = [asyncio.create_task(one), asyncio.create_task(other)]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
