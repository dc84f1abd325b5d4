"""``voice-gateway bench soak`` for a few seconds: the report has its figures, a clean gateway gets back to its idle
baseline after the churn, and a gateway whose calls each leave a task and a socket behind is caught.

Not a timed test: the slopes of so short a run prove nothing and are not asserted; the back-to-baseline property is
exact (counts, not durations).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.bench.soak import run_soak

pytestmark = pytest.mark.slow

SHORT = {"minutes": 0.12, "calls_per_minute": 40.0, "call_s": 1.5, "sample_s": 1.0, "settle_s": 15.0}

# Loaded into the served gateway only (through its PYTHONPATH): every phone call, ACS or Twilio, leaves one task
# and one socket behind, as a forgotten background job or an unclosed client would.
LEAK = '''
import asyncio, socket
from channels.telephony.call import PhoneCall

LEFT_BEHIND = []
_init = PhoneCall.__init__

def leaky_init(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    LEFT_BEHIND.append(asyncio.get_running_loop().create_task(asyncio.sleep(3600)))
    LEFT_BEHIND.append(socket.socket())

PhoneCall.__init__ = leaky_init
'''


async def test_soak_reports_its_figures_and_gets_back_to_the_idle_baseline(tmp_path: Path) -> None:
    report = await run_soak(tmp_path, **SHORT)
    text = report.render()
    assert report.started >= 4 and report.connected == report.started, text
    assert len(report.samples) >= 5 and max(s.live for s in report.samples) >= 1, text
    assert report.baseline.rss > 0 and report.baseline.fds > 0 and report.baseline.tasks > 0
    per_call = report.memory_per_call()
    assert per_call is not None, text
    assert report.back_to_baseline(), text
    assert report.final.tasks <= report.baseline.tasks and report.final.fds <= report.baseline.fds
    assert "every call's sockets and tasks gone: yes" in text and "memory per live call" in text
    saved = json.loads(report.write(tmp_path).read_text(encoding="utf-8"))
    assert saved["back_to_baseline"] is True and len(saved["samples"]) == len(report.samples)


async def test_soak_catches_calls_that_leave_a_task_and_a_socket_behind(tmp_path: Path) -> None:
    plugin = tmp_path / "leak"
    plugin.mkdir()
    (plugin / "sitecustomize.py").write_text(LEAK, encoding="utf-8")
    report = await run_soak(tmp_path / "run", **SHORT, extra_env={"PYTHONPATH": str(plugin)})
    text = report.render()
    calls = report.started
    assert calls >= 4, text
    assert not report.back_to_baseline(), text
    # the churn's calls each left one more task; descriptors are up too (by fewer when a connection pool the
    # baseline counted has shrunk since)
    assert report.final.tasks - report.baseline.tasks >= calls, text
    assert report.final.fds > report.baseline.fds, text
    assert "every call's sockets and tasks gone: NO" in text
