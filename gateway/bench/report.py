"""The verdict of one benchmark run: capacity, cost against the bare relay, call moments; as JSON, a PNG, and text."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .browser import BrowserTimings
from .ladder import P99_TARGET_MS, StepResult
from .run import CARRIER_TARGETS, TargetResult
from .scenarios import CallTimings

TARGET_CALLS = 500
MAX_CPU_RATIO = 1.3  # issue 16: the gateway at most 1.3x the cheapest bare relay's CPU per call-second
MIN_CAPACITY_SHARE = 0.9  # and at least 90 % of its capacity
RELAY_KINDS = ("relay", "relay-websockets")
CARRIER_KINDS = CARRIER_TARGETS


@dataclass(slots=True, frozen=True)
class CostRatio:
    calls: int
    gateway_ms: float
    relay_ms: float
    ratio: float
    both_ok: bool


@dataclass(slots=True)
class BenchReport:
    command: str
    machine: dict[str, Any]
    options: dict[str, Any]
    targets: dict[str, TargetResult]
    scenarios: list[CallTimings] = field(default_factory=list)
    browser: list[BrowserTimings] = field(default_factory=list)

    # -- verdicts --
    def counted(self, kind: str) -> list[StepResult]:
        """One result per N: the later window where a step was measured twice."""
        result = self.targets.get(kind)
        return list({s.calls: s for s in result.steps}.values()) if result else []

    def capacity(self, kind: str) -> int:
        """The largest N up to which every step met the target (p99 under 20 ms both ways, nothing lost)."""
        held = 0
        for step in self.counted(kind):
            if not step.ok:
                break
            held = step.calls
        return held

    def floor(self) -> str | None:
        """The cheapest bare relay measured in this run (least mean CPU per call-second over the rungs every relay
        measured: a saturated rung's CPU per call falls, so rungs only one of them reached would skew it): what the
        gateway's cost is a multiple of."""
        relays = [kind for kind in RELAY_KINDS if self.counted(kind)]
        common = set.intersection(*({s.calls for s in self.counted(kind)} for kind in relays)) if relays else set()

        def cost(kind: str) -> float:
            steps = [s for s in self.counted(kind) if s.calls in common] or self.counted(kind)
            return statistics.mean(s.cpu_ms_per_call_s for s in steps)

        return min(relays, key=cost) if relays else None

    def capacity_share(self, carrier: str) -> float | None:
        """The carrier's capacity as a share of the floor's (1.0: as many calls within target as the bare relay)."""
        floor = self.floor()
        if floor is None or carrier not in self.targets or self.capacity(floor) == 0:
            return None
        return round(self.capacity(carrier) / self.capacity(floor), 2)

    def cost_ratios(self, carrier: str = "gateway") -> list[CostRatio]:
        """The carrier's CPU per call-second over the floor's, at each N both were measured."""
        floor = self.floor()
        if carrier not in self.targets or floor is None:
            return []
        by_n = {s.calls: s for s in self.counted(floor)}
        ratios = []
        for step in self.counted(carrier):
            floor = by_n.get(step.calls)
            if floor is not None and floor.cpu_ms_per_call_s > 0:
                ratio = round(step.cpu_ms_per_call_s / floor.cpu_ms_per_call_s, 2)
                ratios.append(
                    CostRatio(step.calls, step.cpu_ms_per_call_s, floor.cpu_ms_per_call_s, ratio, step.ok and floor.ok)
                )
        return ratios

    def headline_ratio(self, carrier: str = "gateway") -> CostRatio | None:
        """At the largest N both carried within target; else at the smallest N measured for both."""
        ratios = self.cost_ratios(carrier)
        fine = [r for r in ratios if r.both_ok]
        if fine:
            return fine[-1]
        return ratios[0] if ratios else None

    def moments(self) -> dict[str, dict[str, float | None]]:
        return median_max(self.scenarios, CallTimings)

    def browser_moments(self) -> dict[str, dict[str, float | None]]:
        return median_max(self.browser, BrowserTimings)

    def to_json(self) -> dict[str, Any]:
        headline = self.headline_ratio()
        return {
            "command": self.command,
            "machine": self.machine,
            "options": self.options,
            "targets": {k: dataclasses.asdict(v) for k, v in self.targets.items()},
            "capacity": {k: self.capacity(k) for k in self.targets},
            "target": {
                "calls": TARGET_CALLS, "p99_ms": P99_TARGET_MS, "max_cpu_ratio": MAX_CPU_RATIO,
                "min_capacity_share": MIN_CAPACITY_SHARE,
            },  # fmt: skip
            "cost_ratio": [dataclasses.asdict(r) for r in self.cost_ratios()],
            "headline_cost_ratio": dataclasses.asdict(headline) if headline else None,
            "floor": self.floor(),
            "by_carrier": {
                carrier: {
                    "cost_ratio": [dataclasses.asdict(r) for r in self.cost_ratios(carrier)],
                    "headline_cost_ratio": dataclasses.asdict(h) if (h := self.headline_ratio(carrier)) else None,
                    "capacity_share": self.capacity_share(carrier),
                }
                for carrier in CARRIER_KINDS
                if carrier in self.targets
            },
            "moments": self.moments(),
            "scenario_calls": [dataclasses.asdict(t) for t in self.scenarios],
            "browser_moments": self.browser_moments(),
            "browser_conversations": [dataclasses.asdict(t) for t in self.browser],
        }

    def write(self, out: Path) -> tuple[Path, Path]:
        out.mkdir(parents=True, exist_ok=True)
        report, plot = out / "bench.json", out / "bench.png"
        report.write_text(json.dumps(_finite(self.to_json()), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        plot_latency({kind: self.counted(kind) for kind in self.targets}, plot)
        return report, plot

    # -- text --
    def render(self, paths: tuple[Path, Path] | None = None) -> str:
        lines = [
            f"voice-gateway bench: {self.machine['cpus']} CPUs, {self.options['workers']} worker(s), "
            f"{self.options['duration_s']:.0f} s per step, ramp {self.options['ramp_per_s']:.0f} calls/s",
            "",
            f"{'target':16} {'calls':>5}  {'uplink p50/p95/p99 ms':>22}  {'downlink p50/p95/p99 ms':>24}  {'lost up/down':>12}"
            f"  {'cores':>5}  {'ms CPU/call/s':>13}  {'RSS MB':>6}  {'KB/call':>7}  {'other load':>10}",
        ]
        for kind, result in self.targets.items():
            for s in result.steps:
                lines.append(_step_line(kind, s))
        for kind in self.targets:
            steps = self.counted(kind)
            if steps:
                top = steps[-1]
                lines.append(
                    f"  {kind} at {top.calls}: load generator {top.loadgen_cores:.2f} cores, its own send lateness p99 "
                    f"{_num(top.loadgen_lateness.get('p99_ms'))} ms; Realtime emulator {top.emulator_cores:.2f} cores; "
                    f"busiest {kind} process {top.busiest_process_cores:.2f} cores"
                )
        lines.append("")
        caps = ", ".join(f"{k} {self.capacity(k)} calls" for k in self.targets)
        lines.append(
            f"capacity (every step up to N: p99 < {P99_TARGET_MS:.0f} ms both ways, no frame lost): {caps}  (target: {TARGET_CALLS})"
        )
        floor = self.floor()
        for carrier in (c for c in CARRIER_KINDS if c in self.targets):
            ratios = self.cost_ratios(carrier)
            if not ratios:
                continue
            each = ", ".join(f"{r.ratio:.2f}x at {r.calls}{'' if r.both_ok else '*'}" for r in ratios)
            headline = self.headline_ratio(carrier)
            assert headline is not None
            lines.append(
                f"{carrier} CPU per call / bare relay: {headline.ratio:.2f}x at {headline.calls} calls "
                f"({headline.gateway_ms:.2f} vs {headline.relay_ms:.2f} ms CPU per call-second of {floor}; "
                f"target <= {MAX_CPU_RATIO:.1f}x)"
            )
            lines.append(f"  every step: {each}   (* a target missed its latency there)")
            share = self.capacity_share(carrier)
            lines.append(
                f"  capacity share: {carrier} {self.capacity(carrier)} / {floor} {self.capacity(floor or '')} calls"
                f" = {'-' if share is None else f'{share:.0%}'} (target >= {MIN_CAPACITY_SHARE:.0%})"
            )
        if self.scenarios:
            lines.append("")
            lines.append(f"call moments ({len(self.scenarios)} calls through the served gateway, median / max):")
            labels = {
                "connected_to_play_ms": "CallConnected -> greeting play request",
                "greeting_end_to_live_ms": "greeting end -> conversation live (pre-warmed session)",
                "greeting_end_to_first_audio_ms": "greeting end -> first agent audio (caller answers at once)",
                "speech_end_to_first_audio_ms": "caller speech end -> first agent audio",
                "barge_in_ms": "caller speech start -> StopAudio (barge-in)",
            }
            for name, stats in self.moments().items():
                some = (
                    f"  ({stats['calls']} of {len(self.scenarios)} calls)"
                    if stats["calls"] != len(self.scenarios)
                    else ""
                )
                lines.append(
                    f"  {labels.get(name, name):58} {_num(stats['median']):>8} / {_num(stats['max'])} ms{some}"
                )
            warm = sum(1 for t in self.scenarios if t.prewarmed)
            lines.append(f"  Realtime session opened before the greeting ended: {warm}/{len(self.scenarios)} calls")
            twice = sum(1 for t in self.scenarios if t.greeted_twice)
            if twice:
                lines.append(
                    f"  greeted twice (ACS played it, then the model was asked to greet): {twice}/{len(self.scenarios)} calls"
                )
        if self.browser:
            lines.append("")
            lines.append(
                f"browser WebSocket path ({len(self.browser)} conversations through the served gateway, median / max):"
            )
            labels = {
                "sentence_to_first_frame_ms": "first LLM sentence -> first audio frame at the page",
                "sentence_to_synthesis_ms": "  of which: sentence -> synthesis requested (gateway)",
                "synthesis_to_first_audio_ms": "  of which: synthesis -> first audio (speech emulator)",
                "first_audio_to_frame_ms": "  of which: first audio -> frame at the page (gateway)",
            }
            for name, stats in self.browser_moments().items():
                lines.append(f"  {labels.get(name, name):58} {_num(stats['median']):>8} / {_num(stats['max'])} ms")
        if paths:
            lines.append("")
            lines.append(f"report: {paths[0]}  plot: {paths[1]}")
        return "\n".join(lines) + "\n"


def median_max(records: list[Any], kind: type) -> dict[str, dict[str, float | None]]:
    """Median and max of each ``*_ms`` field over the records that reached that moment."""
    summary: dict[str, dict[str, float | None]] = {}
    for name in (f.name for f in dataclasses.fields(kind) if f.name.endswith("_ms")):
        values = [v for record in records if (v := getattr(record, name)) is not None]
        summary[name] = {
            "median": round(statistics.median(values), 1) if values else None,
            "max": max(values) if values else None,
            "calls": len(values),
        }
    return summary


def _num(value: float | None) -> str:
    return (
        "-"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else f"{value:.0f}"
        if value >= 100
        else f"{value:.1f}"
    )


def _step_line(kind: str, s: StepResult) -> str:
    up = f"{_num(s.uplink.p50_ms)}/{_num(s.uplink.p95_ms)}/{_num(s.uplink.p99_ms)}"
    down = f"{_num(s.downlink.p50_ms)}/{_num(s.downlink.p95_ms)}/{_num(s.downlink.p99_ms)}"
    lost = f"{s.uplink.lost}/{s.downlink.lost}"
    flag = "" if s.ok else "  x " + ", ".join(_misses(s))
    return (
        f"{kind:16} {s.calls:>5}  {up:>22}  {down:>24}  {lost:>12}  {s.target_cores:>5.2f}  {s.cpu_ms_per_call_s:>13.2f}"
        f"  {s.rss_mb:>6.0f}  {s.rss_kb_per_call:>7.0f}  {s.other_cores:>10.2f}{flag}{'  (measured again)' if s.attempt > 1 else ''}"
    )


def _misses(s: StepResult) -> list[str]:
    misses = []
    if s.uplink.lost or s.downlink.lost:
        misses.append("FRAMES LOST")
    if not (s.uplink.p99_ms < P99_TARGET_MS and s.downlink.p99_ms < P99_TARGET_MS):
        misses.append(f"p99 over {P99_TARGET_MS:.0f} ms")
    if s.setup_failed:
        misses.append(f"{s.setup_failed} calls failed to start")
    if s.dropped or s.live < s.calls:
        misses.append(f"{max(s.dropped, s.calls - s.live)} calls dropped")
    if not s.uplink.frames or not s.downlink.frames:
        misses.append("no frames")
    return misses


def _finite(value: Any) -> Any:
    """NaN (a direction with no frames) becomes null: JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def machine_info() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def plot_latency(targets: dict[str, list[StepResult]], path: Path) -> None:
    """Latency percentiles against N, per direction, gateway against relay (log scale, 20 ms target line)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    styles = {"gateway": "-", "twilio": "-.", "relay": "--", "relay-websockets": ":", "gateway-granian": "-", "twilio-granian": "-."}
    colours = {"p50_ms": "tab:green", "p95_ms": "tab:orange", "p99_ms": "tab:red"}
    for ax, direction in zip(axes[:2], ("uplink", "downlink"), strict=True):
        for kind, steps in targets.items():
            calls = [s.calls for s in steps]
            for pct, colour in colours.items():
                values = [max(getattr(getattr(s, direction), pct), 0.01) for s in steps]
                ax.plot(calls, values, styles.get(kind, "-"), color=colour, marker="o", label=f"{kind} {pct[:-3]}")
        ax.axhline(P99_TARGET_MS, color="black", linewidth=0.8, linestyle=":", label="20 ms target")
        ax.set_yscale("log")
        ax.set_xlabel("concurrent calls")
        ax.set_ylabel("per-frame forwarding latency (ms)")
        ax.set_title(f"{direction} ({'caller -> model' if direction == 'uplink' else 'model -> caller'})")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    cpu = axes[2]
    for kind, steps in targets.items():
        cpu.plot(
            [s.calls for s in steps],
            [s.cpu_ms_per_call_s for s in steps],
            styles.get(kind, "-"),
            marker="o",
            label=kind,
        )
    cpu.set_xlabel("concurrent calls")
    cpu.set_ylabel("CPU ms per call-second (10 = 1 % of a core)")
    cpu.set_title("CPU per call")
    cpu.grid(True, alpha=0.3)
    cpu.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
