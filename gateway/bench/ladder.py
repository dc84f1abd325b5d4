"""One target under a ladder of loads: ramp to N calls, let it settle, measure a window, judge it, go on.

Per step: latency and loss of marked frames in both directions, CPU of the target's process tree, of the
Realtime emulator, of the load generator and of the whole machine (other people's jobs show up as ``other``), and
the target's resident memory against its idle baseline. A step that is far beyond saturation ends the ladder:
the steps above it could only be worse and would take minutes to show it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil

from .loadgen import MediaLoad
from .metrics import FrameLogArrays, Latency, latency, lateness_ms
from .procs import Service, Usage, system_busy_s, usage
from .targets import Target

logger = logging.getLogger(__name__)

P99_TARGET_MS = 20.0
HOPELESS_P99_MS = 250.0  # a step this slow ends the ladder
HOPELESS_LOSS = 0.01
GRACE_S = 1.0  # after a window, before its frames are judged lost
NOISY_NEIGHBOUR_CORES = 0.2  # other processes this busy during a failed step: measure it again


@dataclass(slots=True, frozen=True)
class LadderOptions:
    steps: tuple[int, ...]
    duration_s: float
    settle_s: float
    ramp_per_s: float
    warmup_calls: int = 0  # placed and hung up before the baseline, so lazy start-up work is not billed to calls


@dataclass(slots=True)
class Window:
    """What was measured around one step, before the frame logs are matched."""

    calls: int
    start: float
    end: float
    setup_failed: int
    live: int
    dropped: int
    target: tuple[Usage, Usage]
    emulator: tuple[Usage, Usage]
    loadgen: tuple[Usage, Usage]
    system_busy_s: float
    baseline_rss: int
    attempt: int = 1


@dataclass(slots=True)
class StepResult:
    calls: int
    live: int
    setup_failed: int
    dropped: int
    uplink: Latency
    downlink: Latency
    target_cores: float
    busiest_process_cores: float  # one worker flat out (1.0) while the total is low means the load is unbalanced
    cpu_ms_per_call_s: float  # CPU milliseconds per call per second of call (10 = 1 % of a core)
    rss_mb: float
    rss_kb_per_call: float
    emulator_cores: float
    loadgen_cores: float
    other_cores: float  # busy CPU of everything else on the machine during the window
    loadgen_lateness: dict[str, float] = field(default_factory=dict)
    attempt: int = 1  # 2: measured again because the first window was disturbed (the later one counts)

    @property
    def ok(self) -> bool:
        return (
            self.setup_failed == 0
            and self.dropped == 0
            and self.live >= self.calls
            and self.uplink.lost == 0
            and self.downlink.lost == 0
            and self.uplink.frames > 0
            and self.downlink.frames > 0
            and self.uplink.p99_ms < P99_TARGET_MS
            and self.downlink.p99_ms < P99_TARGET_MS
        )

    @property
    def hopeless(self) -> bool:
        worst = max(self.uplink.p99_ms, self.downlink.p99_ms)
        lost = max(self.uplink.loss_ratio, self.downlink.loss_ratio)
        return not worst < HOPELESS_P99_MS or lost > HOPELESS_LOSS or self.setup_failed > max(2, self.calls // 20)


@dataclass(slots=True, frozen=True)
class FrameLogs:
    """Both ends of both directions."""

    up_sent: FrameLogArrays
    up_received: FrameLogArrays
    down_sent: FrameLogArrays
    down_received: FrameLogArrays

    @classmethod
    def load(cls, tap_file: Path, load: MediaLoad) -> FrameLogs:
        with np.load(tap_file) as tap:
            up_received = FrameLogArrays(tap["in_stream"], tap["in_seq"], tap["in_time"])
            down_sent = FrameLogArrays(tap["out_stream"], tap["out_seq"], tap["out_time"])
        return cls(FrameLogArrays(*load.sent_arrays()), up_received, down_sent, FrameLogArrays(*load.received_arrays()))


def judge(window: Window, logs: FrameLogs, load: MediaLoad) -> StepResult:
    seconds = window.end - window.start
    target_cpu = window.target[1].cpu_s - window.target[0].cpu_s
    emulator_cpu = window.emulator[1].cpu_s - window.emulator[0].cpu_s
    loadgen_cpu = window.loadgen[1].cpu_s - window.loadgen[0].cpu_s
    n = max(1, window.calls)
    rss = window.target[1].rss
    return StepResult(
        calls=window.calls,
        live=window.live,
        setup_failed=window.setup_failed,
        dropped=window.dropped,
        uplink=latency(logs.up_sent, logs.up_received, window.start, window.end),
        downlink=latency(logs.down_sent, logs.down_received, window.start, window.end),
        target_cores=round(target_cpu / seconds, 3),
        busiest_process_cores=round(window.target[1].busiest_cores(window.target[0]), 3),
        cpu_ms_per_call_s=round(target_cpu / seconds / n * 1000, 3),
        rss_mb=round(rss / 2**20, 1),
        rss_kb_per_call=round((rss - window.baseline_rss) / n / 1024, 1),
        emulator_cores=round(emulator_cpu / seconds, 3),
        loadgen_cores=round(loadgen_cpu / seconds, 3),
        other_cores=round(max(0.0, window.system_busy_s - target_cpu - emulator_cpu - loadgen_cpu) / seconds, 3),
        loadgen_lateness=lateness_ms(load.lateness(window.start, window.end)),
        attempt=window.attempt,
    )


async def ramp(target: Target, count: int, per_s: float) -> int:
    """Place ``count`` calls at ``per_s`` a second; returns how many failed to come up."""
    tasks = []
    for _ in range(count):
        tasks.append(asyncio.create_task(target.open_call()))
        await asyncio.sleep(1.0 / per_s)
    results = await asyncio.gather(*tasks)
    return sum(1 for ok in results if not ok)


async def measure(
    n: int, failed: int, baseline: int, svc: Service, emulator: Service, load: MediaLoad, seconds: float, attempt: int
) -> Window:
    """One window at the current load: CPU of every party, calls still up, and when it started and ended."""
    me = psutil.Process()
    dropped0 = load.closed_early
    t0, e0, l0, s0 = svc.usage(), emulator.usage(), usage(me, descendants=False), system_busy_s()
    start = time.monotonic()
    await asyncio.sleep(seconds)
    end = time.monotonic()
    t1, e1, l1, s1 = svc.usage(), emulator.usage(), usage(me, descendants=False), system_busy_s()
    return Window(
        n, start, end, failed, load.live, load.closed_early - dropped0, (t0, t1), (e0, e1), (l0, l1), s1 - s0, baseline,
        attempt,
    )  # fmt: skip


async def run_ladder(
    target: Target,
    svc: Service,
    emulator: Service,
    load: MediaLoad,
    options: LadderOptions,
    dump: Callable[[], Awaitable[Path]],
) -> list[Window]:
    """Climb the ladder; returns the measured windows (judged again at the end, with complete logs).

    A step that misses the target while other processes on the machine were busy is measured once more, and the
    second window is the one that counts: the machine is shared, and a neighbour's burst is not the gateway's.
    """
    if options.warmup_calls:
        await ramp(target, options.warmup_calls, options.ramp_per_s)
        await target.close_all()
        await asyncio.sleep(1.0)
    baseline = svc.usage().rss
    windows: list[Window] = []
    opened = failed = 0
    for n in options.steps:
        failed += await ramp(target, n - opened, options.ramp_per_s)
        opened = n
        await asyncio.sleep(options.settle_s)
        for attempt in (1, 2):
            window = await measure(n, failed, baseline, svc, emulator, load, options.duration_s, attempt)
            windows.append(window)
            await asyncio.sleep(GRACE_S)
            step = judge(window, FrameLogs.load(await dump(), load), load)
            logger.info(
                "%s %4d calls: up p99 %6.1f ms lost %d | down p99 %6.1f ms lost %d | %.2f cores (busiest process %.2f),"
                " %.2f ms CPU/call/s | other load %.2f cores%s",
                target.name, n, step.uplink.p99_ms, step.uplink.lost, step.downlink.p99_ms, step.downlink.lost,
                step.target_cores, step.busiest_process_cores, step.cpu_ms_per_call_s, step.other_cores,
                " (again)" if attempt > 1 else "",
            )  # fmt: skip
            if step.ok or step.other_cores < NOISY_NEIGHBOUR_CORES:
                break
        if step.hopeless:
            logger.info("%s saturated at %d calls; the ladder stops here", target.name, n)
            break
    return windows
