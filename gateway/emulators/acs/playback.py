"""Emulated ``:play`` operations: ACS runs them one after another and reports PlayStarted, then PlayCompleted,
PlayFailed or PlayCanceled. No audio is synthesized; a play just lasts as long as its text would take to speak."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Coroutine
from typing import Any

from .events import result_information
from .models import PlayConfig, PlayRecord

logger = logging.getLogger(__name__)

Emit = Callable[..., Any]
Spawn = Callable[[Coroutine[Any, Any, Any], str], "asyncio.Task[Any]"]
_TAG = re.compile(r"<[^>]+>")


def play_texts(body: dict[str, Any]) -> list[str]:
    """The spoken text of each play source (SSML without tags; a file counts as empty text)."""
    texts: list[str] = []
    for source in body.get("playSources") or []:
        if not isinstance(source, dict):
            continue
        kind = str(source.get("kind", "")).lower()
        if kind == "text":
            texts.append(str((source.get("text") or {}).get("text", "")))
        elif kind == "ssml":
            texts.append(_TAG.sub("", str((source.get("ssml") or {}).get("ssmlText", ""))))
        else:
            texts.append("")
    return texts


class PlayQueue:
    """The call's media-operation queue for plays; ``config`` overrides the emulator-wide ``PlayConfig``."""

    def __init__(self, emit: Emit, spawn: Spawn, default_config: Callable[[], PlayConfig]) -> None:
        self._emit = emit
        self._spawn = spawn
        self._default_config = default_config
        self.config: PlayConfig | None = None
        self.records: list[PlayRecord] = []
        self._active: dict[asyncio.Task[Any], PlayRecord] = {}
        self._last: asyncio.Task[Any] | None = None

    def play(self, body: dict[str, Any]) -> PlayRecord:
        config = self.config or self._default_config()
        texts = play_texts(body)
        loop = bool((body.get("playOptions") or {}).get("loop", False))
        duration = config.max_duration_s if loop else sum(config.duration_for(t) for t in texts or [""])
        op = body.get("operationContext")
        record = PlayRecord(texts, op if isinstance(op, str) else None, duration, time.monotonic())
        self.records.append(record)
        task = self._spawn(self._run(record, self._last, config), "play")
        self._active[task] = record
        task.add_done_callback(lambda t: self._active.pop(t, None))
        self._last = task
        return record

    def cancel_all(self) -> int:
        """``:cancelAllMediaOperations``: every queued or running play ends with PlayCanceled."""
        return self._cancel("canceled")

    def drop_all(self) -> int:
        """Call teardown: plays stop without events."""
        return self._cancel("dropped")

    def _cancel(self, outcome: str) -> int:
        n = 0
        for task, record in list(self._active.items()):
            if not task.done():
                record.outcome = outcome
                task.cancel()
                n += 1
        return n

    async def _run(self, record: PlayRecord, previous: asyncio.Task[Any] | None, config: PlayConfig) -> None:
        try:
            if previous is not None and not previous.done():
                await asyncio.wait([previous])
            if config.fail:
                await asyncio.sleep(0.05)
                record.ended_at, record.outcome = time.monotonic(), "failed"
                result = result_information(400, 8535, "Action failed, file format is invalid.")
                self._emit("PlayFailed", record.operation_context, result=result, failedPlaySourceIndex=0)
                return
            record.started_at = time.monotonic()
            self._emit("PlayStarted", record.operation_context)
            await asyncio.sleep(record.duration_s)
            record.ended_at, record.outcome = time.monotonic(), "completed"
            self._emit("PlayCompleted", record.operation_context)
        except asyncio.CancelledError:
            record.ended_at = time.monotonic()
            if record.outcome == "canceled":
                self._emit("PlayCanceled", record.operation_context)
            raise
