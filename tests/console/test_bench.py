"""The 300-session benchmark works end to end (at a small size here; the real run is `python -m gateway.console.bench`)."""

from __future__ import annotations

import pytest

from gateway.console.bench import BenchConfig, run

from .browser import chromium_path, needs_chromium

pytestmark = pytest.mark.browser


async def test_benchmark_runs_and_measures_in_the_page() -> None:
    needs_chromium()
    result = await run(BenchConfig(sessions=12, seconds=1.5, turn_s=1.0, deltas=4, ramp_s=0.3, baseline_s=0.5), chromium_path())
    assert result.rendered_sessions == 12 and result.page_live_sessions == 12
    assert result.resyncs == 0 and result.feed_dropped == 0
    assert result.published > 50 and result.page_batches > 0
    assert result.render_lag_ms is not None and result.render_lag_ms.n > 0
    assert result.publish_us is not None and result.publish_us.n == result.published
    assert "event → page render lag" in result.report()
    assert result.baseline_publish_us is not None and result.baseline_publish_us.n > 0
