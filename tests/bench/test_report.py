"""The benchmark's verdict against the floor: the cheaper bare relay is the floor, and each carrier gets its CPU
ratio and capacity share against it (issue 16's targets: at most 1.3x, at least 90 %)."""

from __future__ import annotations

from gateway.bench.ladder import StepResult
from gateway.bench.metrics import Latency
from gateway.bench.report import BenchReport
from gateway.bench.run import TargetResult


def step(calls: int, cpu_ms: float, p99_ms: float = 5.0) -> StepResult:
    way = Latency(frames=50 * calls, lost=0, p50_ms=1.0, p95_ms=2.0, p99_ms=p99_ms, max_ms=p99_ms + 1)
    return StepResult(
        calls=calls, live=calls, setup_failed=0, dropped=0, uplink=way, downlink=way, target_cores=0.5,
        busiest_process_cores=0.3, cpu_ms_per_call_s=cpu_ms, rss_mb=100.0, rss_kb_per_call=100.0, emulator_cores=0.1,
        loadgen_cores=0.1, other_cores=0.0,
    )  # fmt: skip


def report(**targets: list[StepResult]) -> BenchReport:
    results = {kind.replace("_", "-"): TargetResult(kind, 2, steps, "") for kind, steps in targets.items()}
    return BenchReport("voice-gateway bench", {"cpus": 2}, {"workers": 2, "duration_s": 10, "ramp_per_s": 20}, results)


def test_each_carrier_is_measured_against_the_cheaper_relay() -> None:
    bench = report(
        gateway=[step(20, 12.0), step(40, 11.0, p99_ms=30.0)],
        twilio=[step(20, 15.0), step(40, 14.0)],
        relay=[step(20, 6.0), step(40, 5.5), step(60, 5.0)],
        relay_websockets=[step(20, 9.0), step(40, 8.0)],
    )
    assert bench.floor() == "relay"
    assert [(r.calls, r.ratio, r.both_ok) for r in bench.cost_ratios("gateway")] == [(20, 2.0, True), (40, 2.0, False)]
    assert [r.ratio for r in bench.cost_ratios("twilio")] == [2.5, 2.55]
    assert bench.capacity_share("gateway") == round(20 / 60, 2) and bench.capacity_share("twilio") == round(40 / 60, 2)
    text = bench.render()
    assert "gateway CPU per call / bare relay: 2.00x at 20 calls" in text and "of relay; target <= 1.3x" in text
    assert "capacity share: twilio 40 / relay 60 calls = 67% (target >= 90%)" in text
    summary = bench.to_json()
    assert summary["floor"] == "relay" and summary["by_carrier"]["twilio"]["capacity_share"] == 0.67


def test_the_websockets_relay_is_the_floor_when_it_is_the_cheaper_one() -> None:
    bench = report(gateway=[step(20, 12.0)], relay=[step(20, 9.0), step(40, 2.0)], relay_websockets=[step(20, 6.0)])
    assert bench.floor() == "relay-websockets"  # compared where both were measured, not on relay's saturated rung
    assert bench.cost_ratios("gateway")[0].ratio == 2.0
