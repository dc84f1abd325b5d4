"""``voice-gateway bench first-call``: every moment is timed on every call from outside, and the verdict compares
each round's first call (the slowest of the first ``workers``) with the warm median.

Not a timed test: the figures of a shared machine are not asserted, only that they were all measured and how the
verdict reads them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.bench.first_call import FirstCallReport, Moment, run_first_call


def test_the_verdict_compares_each_workers_first_call_with_the_warm_median() -> None:
    slow_second_worker = Moment("m", rounds=[[5.0, 50.0, 10.0, 10.0, 11.0], [6.0, 7.0, 9.0, 10.0, 12.0]])
    assert slow_second_worker.first(1) == 5.5  # median over rounds of each round's first call
    assert slow_second_worker.first(2) == 28.5  # with two workers the second call is a first call too
    assert slow_second_worker.warm(2) == 10.0
    assert FirstCallReport(1, 5, 2, [slow_second_worker]).passed()
    failing = FirstCallReport(2, 5, 2, [slow_second_worker])
    assert not failing.passed() and "MISSED" in failing.render()
    never_came = FirstCallReport(1, 3, 1, [Moment("m", rounds=[[None, 5.0, 5.0]])])
    assert not never_came.passed()


@pytest.mark.slow
async def test_first_call_bench_times_every_moment_of_every_call(tmp_path: Path) -> None:
    report = await run_first_call(tmp_path, workers=1, calls=3, rounds=1)
    text = report.render()
    names = [m.name for m in report.moments]
    assert names == ["ACS IncomingCall -> answer", "ACS CallConnected -> greeting play", "Twilio Voice webhook -> TwiML"]
    for moment in report.moments:
        [calls] = moment.rounds
        assert len(calls) == 3 and all(ms is not None and ms > 0 for ms in calls), text
        assert moment.ratio(1) is not None, text
    assert "first ms" in text and "round 1:" in text
