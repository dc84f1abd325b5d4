"""The whole benchmark in one call: the gateway's ladder, the bare relay's ladder, then the call moments."""

from __future__ import annotations

import logging
import shlex
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from .browser import run_browser_moments
from .ladder import LadderOptions
from .report import BenchReport, machine_info
from .run import TargetOptions, run_target
from .scenarios import run_scenarios

logger = logging.getLogger(__name__)

@dataclass(slots=True, frozen=True)
class BenchOptions:
    out: Path
    steps: tuple[int, ...]
    duration_s: float = 15.0
    settle_s: float = 5.0
    ramp_per_s: float = 20.0
    workers: int = 2
    targets: tuple[str, ...] = ("gateway", "relay")
    scenario_calls: int = 3
    reply_ms: int = 5000
    gap_ms: int = 1000
    profile: bool = False
    relay_drop_every: int = 0  # fault injection for the smoke test: the relay drops every Nth caller frame


def ladder_steps(start: int, step: int, maximum: int) -> tuple[int, ...]:
    """``start``, then every multiple of ``step`` above it, up to and including ``maximum``."""
    first = max(1, min(start, maximum))
    steps = {first, maximum}
    steps.update(n for n in range(step, maximum + 1, max(1, step)) if n > first)
    return tuple(sorted(steps))


async def run_bench(options: BenchOptions, command: str | None = None) -> BenchReport:
    out = options.out.resolve()  # the child processes run in their own directories
    warmup = 3 * options.workers  # enough for every worker to see a call, whichever accepts which
    ladder = LadderOptions(options.steps, options.duration_s, options.settle_s, options.ramp_per_s, warmup)
    report = BenchReport(
        command=command or shlex.join(["voice-gateway", *sys.argv[1:]]),
        machine=machine_info(),
        options={k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(options).items()},
        targets={},
    )
    for kind in options.targets:
        logger.info("%s: ladder %s, %.0f s per step", kind, ", ".join(map(str, options.steps)), options.duration_s)
        target = TargetOptions(
            kind, options.workers, ladder, options.reply_ms, options.gap_ms,
            profile=options.profile and kind == "gateway", drop_every=options.relay_drop_every,
        )  # fmt: skip
        report.targets[kind] = await run_target(target, out / kind)
    if options.scenario_calls > 0 and "gateway" in options.targets:
        logger.info("call moments: %d calls through the served gateway", options.scenario_calls)
        report.scenarios = await run_scenarios(out / "moments", options.workers, options.scenario_calls)
        logger.info("browser moments: %d conversations through the served gateway", options.scenario_calls)
        report.browser = await run_browser_moments(out / "browser", options.workers, options.scenario_calls)
    return report
