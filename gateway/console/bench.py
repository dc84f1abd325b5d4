"""Benchmark: hundreds of live sessions in one console page, measured from one run.

    python -m gateway.console.bench --sessions 300 --seconds 20

The gateway runs in this process on a loopback port with the console mounted; headless Chromium (Debian's, never
``playwright install``) opens the console; the benchmark opens N sessions on the hub and drives each through
turns like a real conversation (caller final, turn latency, a stream of agent deltas, agent final, now and then a
tool call or a barge-in). It reports, as percentiles:

- event → page-render lag, measured in the page: a transcript final carries its publish time, and the page
  subtracts it from the clock at the end of the animation frame that drew it;
- the gateway-side cost of ``hub.publish`` (store queue plus every subscriber), and the gateway's event-loop lag
  while all this runs, which is what callers' audio would feel; both also measured first with no console open
  (the baseline), so the console's own share shows as a ratio within the run;
- whether the page kept up: every session listed, no resync snapshots, nothing dropped.

Not a timed test: numbers vary by machine; read them as ratios and percentiles within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..config import Settings
from ..events import BargeIn, HubEvent, ToolCallFinished, ToolCallStarted, TranscriptDelta, TranscriptFinal, TurnLatency
from ..hub import SessionHub, SessionInfo

logger = logging.getLogger(__name__)

CHANNELS = ("phone", "webrtc", "browser")
AGENTS = ("support-desk", "rent-a-car", "vehicle-dispatch")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TOKEN = "console-bench-token"


@dataclass(slots=True, frozen=True)
class BenchConfig:
    sessions: int = 300
    seconds: float = 20.0  # measured time, after every session is open
    turn_s: float = 3.0  # one caller turn plus one agent reply per session, this often
    deltas: int = 12  # agent transcript deltas per reply
    tool_every: int = 4  # a tool call every n-th turn
    barge_every: int = 7  # a barge-in every n-th turn
    ramp_s: float = 3.0  # sessions open spread over this long
    baseline_s: float = 5.0  # the same load with no console open, to compare the gateway-side costs against
    seed: int = 7


@dataclass(slots=True)
class Percentiles:
    n: int
    p50: float
    p90: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: list[float]) -> Percentiles:
        if not values:
            return cls(0, 0.0, 0.0, 0.0, 0.0)
        ordered = sorted(values)

        def at(q: float) -> float:
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

        return cls(len(ordered), at(0.5), at(0.9), at(0.99), round(ordered[-1], 3))


@dataclass(slots=True)
class BenchResult:
    config: BenchConfig
    published: int = 0
    published_per_s: float = 0.0
    render_lag_ms: Percentiles | None = None  # publish → drawn in the page
    batch_lag_ms: Percentiles | None = None  # batch sent → received by the page
    frame_ms: Percentiles | None = None  # time the page spent drawing one frame
    publish_us: Percentiles | None = None  # gateway: one hub.publish
    loop_lag_ms: Percentiles | None = None  # gateway: event-loop delay of a 20 ms timer
    baseline_publish_us: Percentiles | None = None  # the same, with no console open
    baseline_loop_lag_ms: Percentiles | None = None
    rendered_sessions: int = 0
    page_live_sessions: int = 0
    page_batches: int = 0
    page_events: int = 0
    resyncs: int = 0
    feed_dropped: int = 0
    store_backlog: int = 0
    notes: list[str] = field(default_factory=list)

    def report(self) -> str:
        c = self.config
        lines = [
            f"console benchmark: {c.sessions} sessions, {c.seconds:.0f} s measured, a turn every {c.turn_s:.1f} s per session ({c.deltas} deltas per reply)",
            f"published {self.published} hub events ({self.published_per_s:.0f}/s); the page received {self.page_events} items (deltas merged) in {self.page_batches} batches",
            f"sessions listed in the page: {self.rendered_sessions} of {c.sessions} (page model: {self.page_live_sessions}); resync snapshots: {self.resyncs}; events dropped for the page: {self.feed_dropped}",
        ]
        for label, value, unit in (
            ("event → page render lag", self.render_lag_ms, "ms"),
            ("batch sent → page received", self.batch_lag_ms, "ms"),
            ("page frame (draw) time", self.frame_ms, "ms"),
            ("gateway hub.publish cost", self.publish_us, "µs"),
            ("  same load, no console open", self.baseline_publish_us, "µs"),
            ("gateway event-loop lag (20 ms timer)", self.loop_lag_ms, "ms"),
            ("  same load, no console open", self.baseline_loop_lag_ms, "ms"),
        ):
            if value is not None:
                lines.append(f"  {label:<38} n={value.n:<7} p50={value.p50:<9} p90={value.p90:<9} p99={value.p99:<9} max={value.max} {unit}")
        lines.append(f"store writer backlog at the end: {self.store_backlog}")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


class TimedHub:
    """Measures each ``publish`` of the real hub; the benchmark publishes only through this."""

    def __init__(self, hub: SessionHub) -> None:
        self.hub = hub
        self.costs_us: list[float] = []
        self.count = 0

    def publish(self, session_id: str, event: HubEvent) -> None:
        started = time.perf_counter_ns()
        self.hub.publish(session_id, event)
        self.costs_us.append((time.perf_counter_ns() - started) / 1000)
        self.count += 1


async def _drive_session(hub: TimedHub, sid: str, config: BenchConfig, rng: random.Random, stop: asyncio.Event) -> None:
    """One session's conversation: turns until ``stop``; events spaced as a speaking agent would send them."""
    turn = 0
    await asyncio.sleep(rng.uniform(0, config.turn_s))
    while not stop.is_set():
        turn += 1
        hub.publish(sid, TranscriptFinal("user", f"お客様の発話 {turn} です。予約の確認をお願いします。", f"u{turn}"))
        if turn % config.tool_every == 0:
            args = json.dumps({"reservation_number": f"R-{turn:04d}"})
            hub.publish(sid, ToolCallStarted(f"c{turn}", "get_reservation", args))
            hub.publish(sid, ToolCallFinished(f"c{turn}", "get_reservation", args, True, '{"ok":true,"status":"confirmed"}', 12.5))
        hub.publish(sid, TurnLatency(round(rng.uniform(450, 1400), 1)))
        reply_s = config.turn_s * 0.5
        for k in range(config.deltas):
            hub.publish(sid, TranscriptDelta("assistant", f"回答{k} ", f"a{turn}"))
            await asyncio.sleep(reply_s / config.deltas)
            if stop.is_set():
                return
        if turn % config.barge_every == 0:
            hub.publish(sid, BargeIn(rng.randint(300, 2500)))
        hub.publish(sid, TranscriptFinal("assistant", f"エージェントの回答 {turn} です。ご予約は確定しています。", f"a{turn}"))
        await asyncio.sleep(config.turn_s - reply_s)


async def _loop_lag(samples: list[float], stop: asyncio.Event, period_s: float = 0.02) -> None:
    """How late a 20 ms timer fires: what a caller's audio frames would feel on this loop."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        due = loop.time() + period_s
        await asyncio.sleep(period_s)
        samples.append(max(0.0, (loop.time() - due) * 1000))


@contextlib.asynccontextmanager
async def _gateway(directory: Path) -> AsyncIterator[tuple[Any, str]]:
    from ..app import create_app
    from ..emulators.serving import serve_app
    from . import create_console_blueprint

    settings = Settings(_env_file=None, database_url=f"sqlite:///{directory}/bench.db", console_token=TOKEN, gateway_secret="bench", log_level="WARNING")  # type: ignore[call-arg]
    app = create_app(settings)
    if "console" not in app.blueprints:  # until the composition root mounts the console
        app.register_blueprint(create_console_blueprint(app.extensions["gateway"]))
    async with serve_app(app) as url:
        yield app, url


@contextlib.asynccontextmanager
async def _page(url: str, cookie: str, chromium: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1440, "height": 900}, bypass_csp=True)  # Playwright polls with eval
            await context.add_cookies([{"name": "console_token", "value": cookie, "url": url}])
            page = await context.new_page()
            await page.goto(f"{url}/console")
            await page.wait_for_function("window.__console && window.__console.connection === 'live'", timeout=15_000)
            yield page
        finally:
            await browser.close()


@dataclass(slots=True)
class _Phase:
    publish_us: list[float]
    loop_lag_ms: list[float]
    published: int
    seconds: float


async def _measure(hub: TimedHub, seconds: float) -> _Phase:
    """Gateway-side costs over ``seconds`` of the running load."""
    hub.costs_us = []
    hub.count = 0
    lags: list[float] = []
    done = asyncio.Event()
    lag_task = asyncio.create_task(_loop_lag(lags, done), name="bench-loop-lag")
    started = time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - started
    done.set()
    await lag_task
    costs, hub.costs_us = hub.costs_us, []
    return _Phase(costs, lags, hub.count, elapsed)


PAGE_STATS = (
    "(() => { const c = window.__console; return {lags: c.stats.lags, batchLags: c.stats.batchLags, frameMs: c.stats.frameMs,"
    " batches: c.stats.batches, events: c.stats.events, snapshots: c.stats.snapshots,"
    " rendered: c.renderedIds().length, live: c.liveIds().length}; })()"
)
RESET_PAGE_STATS = "(() => { const s = window.__console.stats; for (const k of ['lags','batchLags','frameMs']) s[k].length = 0; s.batches = 0; s.events = 0; })()"


async def run(config: BenchConfig, chromium: str | None = None) -> BenchResult:
    """Opens the sessions, measures the gateway with no console open (baseline), then with the page following them."""
    chromium = chromium or shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise RuntimeError("Chromium is not installed (apt-get install chromium)")
    result = BenchResult(config)
    rng = random.Random(config.seed)
    with tempfile.TemporaryDirectory(prefix="console-bench-") as tmp:
        async with _gateway(Path(tmp)) as (app, url):
            gw = app.extensions["gateway"]
            hub = TimedHub(gw.hub)
            stop = asyncio.Event()
            tasks: list[asyncio.Task[None]] = []
            for n in range(config.sessions):
                sid = f"bench-{n:04d}"
                gw.hub.open(SessionInfo(sid, CHANNELS[n % len(CHANNELS)], AGENTS[n % len(AGENTS)], f"+8190{n:08d}"))
                tasks.append(asyncio.create_task(_drive_session(hub, sid, config, rng, stop), name=f"bench-{sid}"))
                await asyncio.sleep(config.ramp_s / config.sessions)
            try:
                if config.baseline_s > 0:
                    baseline = await _measure(hub, config.baseline_s)
                    result.baseline_publish_us = Percentiles.of(baseline.publish_us)
                    result.baseline_loop_lag_ms = Percentiles.of(baseline.loop_lag_ms)
                async with _page(url, app.blueprints["console"].auth.cookie_value, chromium) as page:
                    await page.wait_for_function(f"window.__console.renderedIds().length >= {config.sessions}", timeout=30_000)
                    await page.evaluate("window.__console.select('bench-0000')")  # a presenter follows one session live
                    await page.evaluate(RESET_PAGE_STATS)  # measure from here: every session open and listed
                    phase = await _measure(hub, config.seconds)
                    await asyncio.sleep(0.5)  # the last batch reaches the page
                    page_stats = await page.evaluate(PAGE_STATS)
                    result.feed_dropped = sum(s.dropped for s in gw.hub._subscribers)
            finally:
                stop.set()
                await asyncio.gather(*tasks)
            result.published = phase.published
            result.published_per_s = phase.published / phase.seconds
            result.publish_us = Percentiles.of(phase.publish_us)
            result.loop_lag_ms = Percentiles.of(phase.loop_lag_ms)
            result.render_lag_ms = Percentiles.of(page_stats["lags"])
            result.batch_lag_ms = Percentiles.of(page_stats["batchLags"])
            result.frame_ms = Percentiles.of(page_stats["frameMs"])
            result.page_batches = page_stats["batches"]
            result.page_events = page_stats["events"]
            result.rendered_sessions = page_stats["rendered"]
            result.page_live_sessions = page_stats["live"]
            result.resyncs = page_stats["snapshots"] - 1
            result.store_backlog = gw.writer.backlog
            for n in range(config.sessions):
                gw.hub.close(f"bench-{n:04d}", "bench_over")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.console.bench", description=__doc__.split("\n\n")[0] if __doc__ else None)
    defaults = BenchConfig()
    parser.add_argument("--sessions", type=int, default=defaults.sessions)
    parser.add_argument("--seconds", type=float, default=defaults.seconds)
    parser.add_argument("--turn-seconds", type=float, default=defaults.turn_s)
    parser.add_argument("--deltas", type=int, default=defaults.deltas)
    parser.add_argument("--baseline-seconds", type=float, default=defaults.baseline_s, help="0 skips the no-console baseline")
    parser.add_argument("--chromium", help="path of the Chromium binary (default: chromium on PATH)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("gateway.app").setLevel(logging.ERROR)  # "channels disabled": expected, nothing is configured
    config = BenchConfig(
        sessions=args.sessions, seconds=args.seconds, turn_s=args.turn_seconds, deltas=args.deltas, baseline_s=args.baseline_seconds
    )
    result = asyncio.run(run(config, args.chromium))
    sys.stdout.write((json.dumps(asdict(result), ensure_ascii=False, indent=1) if args.json else result.report()) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
