"""What a shared limit costs a request: the median time of one limiter hit on a loopback Redis (one round trip,
one Lua script), logged for the record (``-o log_cli=true`` shows it) and bounded loosely so a regression to
several round trips, or to a blocking client, fails."""

from __future__ import annotations

import logging
import statistics
import time

from gateway.shared.redis_state import RedisState

logger = logging.getLogger(__name__)

SAMPLES = 2000
BOUND_US = 2000.0  # ~90 µs measured on a loaded 2-core machine; twenty times that means something is wrong


async def test_a_shared_limiter_hit_costs_one_loopback_round_trip(redis_url: str) -> None:
    state = RedisState(redis_url)
    try:
        for n in range(200):  # connection and script cache warm
            await state.hit(f"rate:cost:{n % 50}", 1_000_000, 60)
        samples = []
        for n in range(SAMPLES):
            started = time.perf_counter_ns()
            await state.hit(f"rate:cost:{n % 50}", 1_000_000, 60)
            samples.append((time.perf_counter_ns() - started) / 1000)
    finally:
        await state.close()
    median = statistics.median(samples)
    logger.info(
        "shared limiter hit: median %.1f µs, p90 %.1f µs over %d hits",
        median,
        sorted(samples)[int(SAMPLES * 0.9)],
        SAMPLES,
    )
    assert median < BOUND_US
