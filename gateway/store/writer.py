"""Every conversation write goes through here: one writer task per process, so a slow or contended database never
stalls a live conversation and never sees a burst of concurrent writers (a few hundred calls ending at once made
SQLite answer "database is locked" when each summary wrote on its own).

Summaries are composed by a few tasks (bounded: composing may ask the chat model) and written by the same writer.
A write that fails is retried a few times; if it still fails it is logged with its session id and kept, and tried
again after the next write that succeeds. Nothing is dropped without an error line naming its session.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..events import HubEvent, SessionEnded, SessionStarted, ToolCallFinished, TranscriptAmended, TranscriptFinal
from .store import Store

logger = logging.getLogger(__name__)

Compose = Callable[[str], Awaitable[str | None]]  # the summary text of a conversation (None: nothing to summarise)

RETRY_DELAYS_S = (0.05, 0.25, 1.0)  # backoff between attempts of one write
KEPT_RETRY_INTERVAL_S = 2.0  # kept writes are tried again at most this often (each one attempt)


@dataclass(slots=True, frozen=True)
class SummaryReady:
    """A composed summary, waiting for the writer."""

    text: str
    kind: str = "summary.ready"


@dataclass(slots=True, frozen=True)
class SummaryWanted:
    """A conversation ended and needs its summary composed."""

    kind: str = "summary.wanted"


Write = HubEvent | SummaryReady
PERSISTED = (SessionStarted, TranscriptFinal, TranscriptAmended, ToolCallFinished, SessionEnded)


class StoreWriter:
    def __init__(
        self, store: Store, compose: Compose | None = None, *, summary_concurrency: int = 4, keep_limit: int = 2000
    ) -> None:
        self.store = store
        self.compose = compose
        self.summary_concurrency = summary_concurrency
        self._queue: asyncio.Queue[tuple[str, Write]] = asyncio.Queue()
        self._summaries: asyncio.Queue[str] = asyncio.Queue()
        self._kept: deque[tuple[str, Write | SummaryWanted]] = deque()
        self._keep_limit = keep_limit
        self._kept_tried_at = 0.0
        self._outstanding = 0  # queued or in progress, writes and summaries
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: list[asyncio.Task[None]] = []

    def offer(self, session_id: str, event: HubEvent) -> None:
        if isinstance(event, PERSISTED):
            self._enqueue(session_id, event)

    @property
    def backlog(self) -> int:
        return self._queue.qsize() + self._summaries.qsize()

    @property
    def kept(self) -> int:
        """Writes that failed every attempt and wait for the database to come back."""
        return len(self._kept)

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._run(), name="store-writer"))
        if self.compose is not None:
            for i in range(self.summary_concurrency):
                self._tasks.append(asyncio.create_task(self._summarize_loop(), name=f"summary-composer-{i}"))

    # --- bookkeeping ---------------------------------------------------------------------------------------------
    def _enqueue(self, session_id: str, item: Write | SummaryWanted) -> None:
        self._outstanding += 1
        self._idle.clear()
        if isinstance(item, SummaryWanted):
            self._summaries.put_nowait(session_id)
        else:
            self._queue.put_nowait((session_id, item))

    def _done(self) -> None:
        self._outstanding -= 1
        if self._outstanding == 0:
            self._idle.set()

    def _keep(self, session_id: str, item: Write | SummaryWanted) -> None:
        if len(self._kept) >= self._keep_limit:
            lost_id, lost = self._kept.popleft()
            logger.error("store write lost for %s (%s): %d failed writes already kept", lost_id, lost.kind, self._keep_limit)
        self._kept.append((session_id, item))

    def _retry_kept(self) -> None:
        """After a write succeeded: the database is back, so the kept writes get another attempt (in their order)."""
        now = time.monotonic()
        if not self._kept or now - self._kept_tried_at < KEPT_RETRY_INTERVAL_S:
            return
        self._kept_tried_at = now
        logger.info("retrying %d kept store write(s)", len(self._kept))
        while self._kept:
            self._enqueue(*self._kept.popleft())

    # --- the writer ----------------------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            session_id, item = await self._queue.get()
            try:
                if await self._attempt(session_id, item):
                    self._retry_kept()
            finally:
                self._done()

    async def _attempt(self, session_id: str, item: Write) -> bool:
        delays = (*RETRY_DELAYS_S, None)
        for attempt, delay in enumerate(delays, 1):
            try:
                await self._write(session_id, item)
                return True
            except Exception as exc:  # any driver or pool error: retried, then kept
                reason = f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:160]}"
                if delay is None:
                    logger.error(
                        "store write failed for %s (%s) after %d attempts, kept for a later pass: %s",
                        session_id, item.kind, attempt, reason,
                    )
                    self._keep(session_id, item)
                    return False
                logger.warning("store write failed for %s (%s), retrying: %s", session_id, item.kind, reason)
                await asyncio.sleep(delay)
        return False

    async def _write(self, session_id: str, event: Write) -> None:
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
                if self.compose is not None:
                    self._enqueue(session_id, SummaryWanted())
            case SummaryReady():
                await self.store.set_summary(session_id, event.text)
                logger.info("summary written for %s", session_id)

    # --- summaries -----------------------------------------------------------------------------------------------
    async def _summarize_loop(self) -> None:
        assert self.compose is not None
        while True:
            session_id = await self._summaries.get()
            try:
                text = await self.compose(session_id)
                if text:
                    self._enqueue(session_id, SummaryReady(text))
            except Exception as exc:  # reading the transcript failed: kept like a failed write
                logger.error("summary of %s could not be composed, kept for a later pass: %s", session_id, type(exc).__name__)
                self._keep(session_id, SummaryWanted())
            finally:
                self._done()

    # --- life ----------------------------------------------------------------------------------------------------
    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything offered so far is written, summaries included (kept failures do not count)."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            logger.warning("store writer still has %d writes queued after %.0fs", self.backlog, timeout)

    async def stop(self, timeout: float = 10.0) -> None:
        await self.flush(timeout)
        if self._kept:  # one last attempt for what failed, then say what could not be written
            self._kept_tried_at = 0.0
            self._retry_kept()
            await self.flush(timeout)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for session_id, item in self._kept:
            logger.error("store write lost at shutdown for %s (%s): the database did not take it", session_id, item.kind)
