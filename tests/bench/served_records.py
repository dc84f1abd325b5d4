"""What a bench's served gateway left in its work directory: every call summarised by the chat model, and a
shutdown that needed no kill.

A bench wires its gateway's summaries to a chat emulator; were the route missing, each call would log a failed
summary and keep a digest instead (and the shutdown would wait out the SDK's retries).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from gateway.store import Store
from gateway.summary import NOTHING_SAID

DIGEST_END = "からの自動まとめ）"  # how the summary kept without a model ends (gateway/summary.py ``_digest``)


async def assert_summarised_by_the_model(workdir: Path) -> int:
    """Every ended call in ``workdir``'s gateway has a summary the chat model wrote; returns how many calls."""
    log = (workdir / "gateway.log").read_text(encoding="utf-8")
    assert "by the chat model failed" not in log, log[-3000:]
    store = Store(f"sqlite+aiosqlite:///{workdir / 'gateway.db'}")
    try:
        rows = await store.search_conversations(limit=500)
    finally:
        await store.close()
    assert rows, f"no calls recorded in {workdir}"
    for row in rows:
        summary = row["summary"] or ""
        assert summary and summary != NOTHING_SAID and not summary.endswith(DIGEST_END), row
    return len(rows)


def assert_stopped_without_a_kill(caplog: pytest.LogCaptureFixture) -> None:
    """The bench stopped its gateway with SIGTERM and the gateway exited by itself (``procs.Service.stop``)."""
    killed = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and "did not stop" in r.getMessage()]
    assert not killed, killed
