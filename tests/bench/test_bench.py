"""``voice-gateway bench`` at a tiny load: the report has every figure, and lost frames fail the run loudly.

Not a timed test: latencies on a shared machine prove nothing here. It checks that the harness measures (frames
matched both ways through the served gateway and the relay, CPU and memory sampled, call moments timed) and that
it notices when frames go missing.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from gateway.bench.cli import add_bench_parser
from tests.bench.served_records import assert_stopped_without_a_kill, assert_summarised_by_the_model

pytestmark = pytest.mark.slow


def bench(*argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="voice-gateway")
    add_bench_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench", *argv])
    printed = io.StringIO()
    with redirect_stdout(printed):
        code = args.func(args)
    return code, printed.getvalue()


def test_bench_measures_the_gateway_and_the_relay(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    code, text = bench(
        "--max-calls", "3", "--duration", "3", "--workers", "2", "--moments", "1", "--out", str(tmp_path)
    )
    assert code == 0, text
    report = json.loads((tmp_path / "bench.json").read_text(encoding="utf-8"))
    assert (tmp_path / "bench.png").stat().st_size > 10_000
    assert set(report["targets"]) == {"gateway", "relay"}
    for kind in ("gateway", "relay"):
        step = report["targets"][kind]["steps"][-1]  # a disturbed step is measured again
        assert step["calls"] == step["live"] == 3 and step["setup_failed"] == 0
        for direction in ("uplink", "downlink"):
            figures = step[direction]
            assert figures["frames"] > 3 * 40, (kind, direction, figures)  # 3 calls x 3 s of 20 ms frames, or close
            assert figures["lost"] == 0, (kind, direction, figures)
            assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"] <= figures["max_ms"]
        assert step["target_cores"] > 0 and step["cpu_ms_per_call_s"] > 0 and step["rss_mb"] > 0
        assert step["emulator_cores"] > 0 and step["loadgen_cores"] > 0
    assert set(report["capacity"]) == {"gateway", "relay"}
    assert report["cost_ratio"][0]["calls"] == 3 and report["cost_ratio"][0]["ratio"] > 0
    moments = report["moments"]
    for name in ("connected_to_play_ms", "greeting_end_to_live_ms", "barge_in_ms"):
        assert moments[name]["calls"] == 1 and moments[name]["median"] > 0, (name, moments[name])
    [timed] = report["scenario_calls"]
    # with two workers the media socket may reach the worker that did not play the greeting (it then greets again)
    first_audio = moments["greeting_end_to_first_audio_ms"]
    assert first_audio["calls"] == (0 if timed["greeted_twice"] else 1), (first_audio, timed)
    # the browser path: the reply's first sentence reached the page as audio, and the parts add up to the whole
    [talk] = report["browser_conversations"]
    whole = talk["sentence_to_first_frame_ms"]
    parts = [talk[k] for k in ("sentence_to_synthesis_ms", "synthesis_to_first_audio_ms", "first_audio_to_frame_ms")]
    assert whole is not None and whole > 0 and all(p is not None and p >= 0 for p in parts), talk
    assert abs(sum(parts) - whole) < 1.0, talk
    assert report["browser_moments"]["sentence_to_first_frame_ms"]["median"] == whole
    assert "first LLM sentence -> first audio frame at the page" in text
    assert (
        "capacity (every step up to N: p99 < 20 ms both ways, no frame lost)" in text
        and "gateway CPU per call / bare relay" in text
    )
    # the calls the bench hung up were summarised by the chat model, and the gateway stopped by itself after them
    assert asyncio.run(assert_summarised_by_the_model(tmp_path / "gateway")) >= 3
    assert_stopped_without_a_kill(caplog)


def test_lost_frames_fail_the_run_loudly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # --out relative to where the command runs, as the README writes it
    code, text = bench(
        "--targets", "relay", "--max-calls", "2", "--duration", "2", "--workers", "1", "--moments", "0",
        "--relay-drop-every", "10", "--require-calls", "2", "--out", "bench-results",
    )  # fmt: skip
    assert code == 3
    report = json.loads((tmp_path / "bench-results" / "bench.json").read_text(encoding="utf-8"))
    step = report["targets"]["relay"]["steps"][-1]
    assert step["uplink"]["lost"] >= step["uplink"]["frames"] // 10 - 2 > 0
    assert step["downlink"]["lost"] == 0
    assert report["capacity"]["relay"] == 0
    assert "FRAMES LOST" in text and "FAILED: relay carried 0 calls" in text


def test_twilio_target_carries_calls_over_media_streams(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The Twilio line measured as the ACS one is: μ-law frames matched both ways through the served gateway."""
    code, text = bench(
        "--targets", "acs,twilio", "--start", "2", "--max-calls", "2", "--duration", "2", "--workers", "1",
        "--moments", "0", "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0, text
    report = json.loads((tmp_path / "bench.json").read_text(encoding="utf-8"))
    assert set(report["targets"]) == {"gateway", "twilio"}
    step = report["targets"]["twilio"]["steps"][-1]
    assert step["calls"] == step["live"] == 2 and step["setup_failed"] == 0 and step["dropped"] == 0
    for direction in ("uplink", "downlink"):
        figures = step[direction]
        assert figures["frames"] > 2 * 40 and figures["lost"] == 0, (direction, figures)
        assert 0 < figures["p50_ms"] <= figures["p99_ms"]
    assert step["cpu_ms_per_call_s"] > 0 and step["target_cores"] > 0
    assert "twilio" in report["capacity"] and "twilio " in text
    for kind in ("gateway", "twilio"):
        assert asyncio.run(assert_summarised_by_the_model(tmp_path / kind)) >= 2
    assert_stopped_without_a_kill(caplog)


def test_outbound_set_up_is_timed_on_both_carriers_in_one_run(tmp_path: Path) -> None:
    """``bench outbound``: calls placed over the API of a served gateway, timed at the emulated callee's ear."""
    code, text = bench("outbound", "--calls", "3", "--out", str(tmp_path))
    assert code == 0, text
    report = json.loads((tmp_path / "outbound.json").read_text(encoding="utf-8"))
    assert set(report["summary"]) == {"acs", "twilio"} and len(report["calls"]) == 6
    for carrier, row in report["summary"].items():
        assert row["calls"] == 3
        assert 0 < row["answer_p50_ms"] < row["setup_p50_ms"] <= row["setup_p95_ms"] <= row["setup_max_ms"], (carrier, row)
    assert all(0 < call["answered_s"] < call["first_audio_s"] for call in report["calls"])  # heard after the answer
    assert "acs " in text and "twilio " in text and "p95 ms" in text


def test_outbound_bench_refuses_an_unknown_carrier(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="unknown sip"):
        bench("outbound", "--carriers", "acs,sip", "--out", str(tmp_path))
