"""``voice-gateway bench turns --quick`` on every carrier: one table row per policy and carrier, every figure measured.

Not a timed test: how fast the agent fell silent is the benchmark's business. This checks that each line (ACS,
Twilio, the browser WebSocket) ran live calls through the served gateway, that the figures in the table are the ones
measured (a backchannel kept and resumed against the control call, an interruption stopped at the ear and taken),
and that nothing in it is a placeholder.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import re
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from gateway.bench.cli import add_bench_parser
from gateway.bench.turns import CARRIERS
from tests.bench.served_records import assert_stopped_without_a_kill, assert_summarised_by_the_model

pytestmark = pytest.mark.slow
ROW = re.compile(
    r"^(?P<policy>\w+)\s+(?P<carrier>\w+)\s+(?P<false>\d+)/(?P<backs>\d+)\s+(?P<lost>\d+)/(?P<rep>\d+)\s+"
    r"(?P<exact>\d+)/(?P<kept>\d+)\s+(?P<p50>[\d-]+)/(?P<p95>[\d-]+)\s+(?P<missed>\d+)/(?P<inters>\d+)\s+"
    r"(?P<turns>\d+)/(?P<cases>\d+)\s+(?P<excluded>\d+)\s*$"
)


def bench(*argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="voice-gateway")
    add_bench_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench", *argv])
    printed = io.StringIO()
    with redirect_stdout(printed):
        code = args.func(args)
    return code, printed.getvalue()


def test_quick_turns_bench_measures_every_carrier(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    code, text = bench("turns", "--quick", "--policies", "barge_in", "--parallel-carriers", "--out", str(tmp_path))
    assert code == 0, text
    report = json.loads((tmp_path / "turns.json").read_text(encoding="utf-8"))
    rows = {m["carrier"]: m.groupdict() for line in text.splitlines() if (m := ROW.match(line))}
    assert set(rows) == set(CARRIERS), text
    for summary in report["summary"]:
        carrier = summary["carrier"]
        row = rows[carrier]
        assert summary["policy"] == row["policy"] == "barge_in"
        # the table prints the measured summary, figure for figure
        assert int(row["backs"]) == summary["backchannels"] == 1 and int(row["inters"]) == summary["interruptions"] == 1
        assert int(row["false"]) == summary["false_interruptions"] and int(row["missed"]) == summary["interruptions_missed"]
        assert int(row["lost"]) == summary["lost_samples_max"] and int(row["rep"]) == summary["repeated_samples_max"]
        assert row["p50"] == f"{summary['silent_ms_p50']:.0f}" and row["p95"] == f"{summary['silent_ms_p95']:.0f}"
        assert summary["unmeasured"] == 0 and summary["silent_measured"] == 1, summary
    cases = report["cases"]
    assert {(c["carrier"], c["kind"]) for c in cases} == {(c, k) for c in CARRIERS for k in ("backchannel", "interruption")}
    for case in cases:
        where = (case["carrier"], case["case"])
        # the caller spoke into the reply (measured from the first reply audio at the ear, near the scripted 1000 ms)
        assert case["offset_ms"] is not None and 500 < case["offset_ms"] < 3000, (where, case)
        assert case["heard_error_samples"] is not None, where  # compared with the control call's reply
        if case["kind"] == "interruption":
            assert case["cancelled"] and case["answered"], (where, case)  # taken as the caller's turn
            assert case["stops"] >= 1 and 0 < case["silent_ms"] < 3000, (where, case)
            assert not case["missed"], (where, case)
        else:
            assert case["cancelled"] is False and not case["answered"], (where, case)  # kept, not answered
            assert case["paused"], (where, case)  # paused at the ear, then resumed (barge_in pauses at 250 ms)
            assert case["lost_samples"] == 0 and case["repeated_samples"] == 0, (where, case)  # to the sample
            assert abs(case["heard_error_samples"]) < 8000 * 2, (where, case)  # within 2 s: the reply went on
    # every line's gateway summarised its calls with the chat model (the phone lines' Realtime emulator has no chat
    # completions route: their summaries go to a chat emulator) and stopped by itself once they were over
    for carrier in CARRIERS:
        assert asyncio.run(assert_summarised_by_the_model(tmp_path / f"work-{carrier}-barge_in")) >= 2
    assert_stopped_without_a_kill(caplog)
