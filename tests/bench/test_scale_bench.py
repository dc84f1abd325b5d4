"""``voice-gateway bench scale`` at a tiny load: every configuration's row is measured, and with two workers sharing
Redis, and with two replicas behind a proxy without affinity, every call keeps its pre-warmed session (no extra
provider session), one console lists every call and every console's live feed got every call event.

Not a timed test: the CPU figures on a shared machine prove nothing here; the counts do.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.bench.test_bench import bench

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")]


def test_scale_bench_keeps_every_call_on_its_pre_warmed_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(Path(__file__).parents[2]), os.environ.get("PYTHONPATH")])))
    code, text = bench("scale", "--scale-workers", "2", "--calls", "4", "--out", str(tmp_path))
    assert code == 0, text
    rows = json.loads((tmp_path / "scale.json").read_text(encoding="utf-8"))
    assert [(r["workers"], r["replicas"], r["redis"]) for r in rows] == [(1, 1, False), (2, 1, True), (1, 2, True)]
    for row in rows:
        assert row["answered"] == row["calls"] == 4, row
        assert row["extra_sessions"] == 0 and row["prewarmed_pct"] == 100.0, row
        assert row["console_listed"] == 4 and row["taken_over"] == 0, row
        assert row["gateway_ms_cpu_per_call"] > 0 and row["setup_ms_p50"] > 0, row
        assert row["console_emitted"] >= 4 * 4 and row["console_seen"] == row["console_emitted"], row  # ≥ 4 events a call
    assert rows[2]["forwarded"] > 0  # round robin: a replica got requests of the other's calls, and handed them on
    assert "pre-warmed %" in text
