"""Polling helper shared by the emulators' ``wait_for`` methods."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def poll_until(predicate: Callable[[], bool], limit: float, what: str) -> None:
    """Wait until ``predicate()`` holds (polled every 20 ms); ``TimeoutError`` naming ``what`` after ``limit`` s."""
    for _ in range(max(1, round(limit / 0.02))):
        if predicate():
            return
        await asyncio.sleep(0.02)
    if not predicate():
        raise TimeoutError(f"{what}: condition not met within {limit} s")
