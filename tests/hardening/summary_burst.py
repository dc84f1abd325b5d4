"""One gateway process's store writer with ``n`` conversations that all end at once: run as a subprocess, twice at
the same time on one SQLite file, by test_store_writer.py (two workers of one deployment).

    python -m tests.hardening.summary_burst DB PREFIX N   (then a line on stdin: end the calls)
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time

from gateway.events import SessionEnded, SessionStarted, TranscriptFinal
from gateway.logs import configure_logging
from gateway.store import Store
from gateway.store.writer import StoreWriter
from gateway.summary import Summarizer

logger = logging.getLogger(__name__)


async def burst(database: str, prefix: str, n: int) -> None:
    store = Store(f"sqlite+aiosqlite:///{database}")
    await store.open()
    writer = StoreWriter(store, Summarizer(store, None).compose)
    writer.start()
    started = time.time()
    for i in range(n):
        sid = f"{prefix}-{i}"
        writer.offer(sid, SessionStarted(sid, "phone", "rent-a-car", "+81", started))
        writer.offer(sid, TranscriptFinal(role="user", text=f"予約番号{i}の件です。"))
        writer.offer(sid, TranscriptFinal(role="assistant", text="承知しました。"))
    await writer.flush(120)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    await asyncio.wait_for(asyncio.to_thread(sys.stdin.readline), 120)  # "go": both workers end their calls now
    for i in range(n):
        writer.offer(f"{prefix}-{i}", SessionEnded("hung_up"))
    await writer.stop(timeout=120)
    await store.close()
    sys.stdout.write("done\n")


if __name__ == "__main__":
    configure_logging("INFO")
    asyncio.run(burst(sys.argv[1], sys.argv[2], int(sys.argv[3])))
