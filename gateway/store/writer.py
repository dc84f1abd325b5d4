"""Persists hub events through a queue, so a slow database never stalls a live conversation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ..events import HubEvent, SessionEnded, SessionStarted, ToolCallFinished, TranscriptAmended, TranscriptFinal
from .store import Store

logger = logging.getLogger(__name__)

Summarize = Callable[[str], Awaitable[None]]


class StoreWriter:
    def __init__(self, store: Store, on_ended: Summarize | None = None) -> None:
        self.store = store
        self.on_ended = on_ended
        self._queue: asyncio.Queue[tuple[str, HubEvent]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._followups: set[asyncio.Task[None]] = set()

    def offer(self, session_id: str, event: HubEvent) -> None:
        if isinstance(event, SessionStarted | TranscriptFinal | TranscriptAmended | ToolCallFinished | SessionEnded):
            self._queue.put_nowait((session_id, event))

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="store-writer")

    async def _run(self) -> None:
        while True:
            session_id, event = await self._queue.get()
            try:
                await self._write(session_id, event)
            except Exception:  # keep writing the rest; the event is logged with its session
                logger.exception("store write failed for %s (%s)", session_id, type(event).__name__)
            finally:
                self._queue.task_done()

    async def _write(self, session_id: str, event: HubEvent) -> None:
        match event:
            case SessionStarted():
                await self.store.start_conversation(session_id, event.channel, event.agent, event.caller, event.started_at)
            case TranscriptFinal() if event.text.strip():
                await self.store.add_turn(session_id, event.role, event.text, event.at)
            case TranscriptAmended():
                await self.store.amend_turn(session_id, "assistant", event.original, event.text)
            case ToolCallFinished():
                await self.store.add_tool_call(
                    session_id, event.call_id, event.name, event.arguments, event.output, event.ok, event.duration_ms
                )
            case SessionEnded():
                await self.store.end_conversation(session_id, event.outcome, event.ended_at)
                if self.on_ended is not None:
                    task = asyncio.create_task(self.on_ended(session_id), name=f"summary-{session_id}")
                    self._followups.add(task)
                    task.add_done_callback(self._followups.discard)

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything queued so far is written (and summaries started by it are done)."""
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
            if self._followups:
                await asyncio.wait(set(self._followups), timeout=timeout)
        except TimeoutError:
            logger.warning("store writer still has %d events after %.0fs", self._queue.qsize(), timeout)

    async def stop(self, timeout: float = 10.0) -> None:
        await self.flush(timeout)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
