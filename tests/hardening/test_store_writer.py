"""Every conversation write goes through the one store writer: a few hundred calls ending together in two worker
processes on one SQLite file all get their summary; writes are never concurrent within a process; a write that
keeps failing is logged with its session id and kept until the database takes it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from gateway.events import SessionEnded, SessionStarted, TranscriptFinal
from gateway.store import Store
from gateway.store.schema import conversations
from gateway.store.writer import StoreWriter
from gateway.summary import Summarizer
from tests.hardening.conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]
CALLS_PER_WORKER = 200


async def test_a_few_hundred_calls_ending_together_in_two_workers_all_get_their_summary(tmp_path: Path) -> None:
    """Two workers' calls end at once while something else holds the database's write lock for longer than the
    store's busy timeout (another worker's long transaction, a backup): every write is retried, every summary lands."""
    database = tmp_path / "gateway.db"
    await (store := Store(f"sqlite+aiosqlite:///{database}")).open()  # tables exist before the workers race
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.hardening.summary_burst", str(database), prefix, str(CALLS_PER_WORKER),
            cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        for prefix in ("w1", "w2")
    ]
    logs: list[list[str]] = [[], []]

    async def collect(worker: asyncio.subprocess.Process, lines: list[str]) -> None:
        assert worker.stderr is not None
        async for line in worker.stderr:
            lines.append(line.decode(errors="replace"))

    readers = [asyncio.create_task(collect(w, lines)) for w, lines in zip(workers, logs, strict=True)]
    holder = sqlite3.connect(database, timeout=30, isolation_level=None)
    try:
        for worker in workers:  # both set up, then the calls of both end at the same moment
            assert worker.stdout is not None
            line = await asyncio.wait_for(worker.stdout.readline(), 120)
            assert line.strip() == b"ready", line
        holder.execute("BEGIN IMMEDIATE")  # the write lock is taken by someone else while the calls end
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(b"go\n")
            await worker.stdin.drain()
        with contextlib.suppress(TimeoutError):  # held until both workers met it (bounded)
            await wait_until(lambda: all(any("locked" in line for line in lines) for lines in logs), 20, "lock met")
        holder.execute("COMMIT")
        await asyncio.wait_for(asyncio.gather(*(w.wait() for w in workers), *readers), 240)
        for worker, lines in zip(workers, logs, strict=True):
            assert worker.returncode == 0, "".join(lines)[-3000:]
        async with store.engine.connect() as conn:
            rows = (await conn.execute(select(conversations.c.id, conversations.c.summary))).all()
        assert len(rows) == 2 * CALLS_PER_WORKER
        missing = sorted(cid for cid, summary in rows if not summary)
        assert not missing, f"{len(missing)} summaries lost, e.g. {missing[:5]}"
    finally:
        holder.close()
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
        await store.close()


def ended_calls(writer: StoreWriter, n: int) -> list[str]:
    ids = [f"phone-{i}" for i in range(n)]
    for sid in ids:
        writer.offer(sid, SessionStarted(sid, "phone", "support-desk", "+81", 1.9e9))
        writer.offer(sid, TranscriptFinal(role="user", text="こんにちは"))
    for sid in ids:
        writer.offer(sid, SessionEnded("hung_up"))
    return ids


async def test_writes_are_one_at_a_time_and_summaries_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}")
    await store.open()
    summarizer = Summarizer(store, None)
    writer = StoreWriter(store, summarizer.compose, summary_concurrency=3)
    in_flight = {"writes": 0, "max_writes": 0, "composing": 0, "max_composing": 0}

    def counted(name: str, key: str) -> None:
        original = getattr(obj := (summarizer if key == "composing" else store), name)

        async def wrapper(*args, **kwargs):
            in_flight[key] += 1
            in_flight[f"max_{key}"] = max(in_flight[f"max_{key}"], in_flight[key])
            try:
                await asyncio.sleep(0)  # let anyone else who would run concurrently start
                return await original(*args, **kwargs)
            finally:
                in_flight[key] -= 1

        monkeypatch.setattr(obj, name, wrapper)

    for name in ("start_conversation", "add_turn", "end_conversation", "set_summary"):
        counted(name, "writes")
    counted("compose", "composing")
    writer.compose = summarizer.compose
    writer.start()
    try:
        ids = ended_calls(writer, 300)
        await writer.flush(60)
        rows = {r["id"]: r for r in await store.search_conversations(limit=500)}
        assert all(rows[sid]["summary"] for sid in ids)
        assert in_flight["max_writes"] == 1, in_flight
        assert 1 < in_flight["max_composing"] <= 3, in_flight
    finally:
        await writer.stop()
        await store.close()


async def test_a_failing_write_is_retried_logged_with_its_session_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("gateway.store.writer.RETRY_DELAYS_S", (0.01, 0.01))
    monkeypatch.setattr("gateway.store.writer.KEPT_RETRY_INTERVAL_S", 0.0)
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'gateway.db'}")
    await store.open()
    writer = StoreWriter(store, Summarizer(store, None).compose)
    original = store.set_summary
    down = {"on": True, "attempts": 0}

    async def locked(*args, **kwargs):
        if down["on"]:
            down["attempts"] += 1
            raise OperationalError("UPDATE conversations", {}, Exception("database is locked"))
        return await original(*args, **kwargs)

    monkeypatch.setattr(store, "set_summary", locked)
    writer.start()
    try:
        caplog.set_level(logging.INFO, logger="gateway.store.writer")
        [sid] = ended_calls(writer, 1)
        await wait_until(lambda: writer.kept == 1, 10, "the failed summary kept")
        assert down["attempts"] == 3  # the first try and two retries
        assert any(sid in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
        assert (await store.conversation(sid))["summary"] is None
        # the database recovers: the next write that succeeds brings the kept one back
        down["on"] = False
        writer.offer("phone-next", SessionStarted("phone-next", "phone", "support-desk", "+81", 1.9e9))
        await wait_until(lambda: writer.kept == 0, 10, "the kept summary retried")
        await writer.flush(10)
        assert (await store.conversation(sid))["summary"]
    finally:
        await writer.stop()
        await store.close()
