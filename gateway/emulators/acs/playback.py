"""Emulated ``:play`` operations: ACS runs them one after another and reports PlayStarted, then PlayCompleted,
PlayFailed or PlayCanceled. No audio is synthesized; a play just lasts as long as its text would take to speak.

SSML sources go to Azure text to speech, which refuses an invalid document; ACS then reports PlayFailed with
``resultInformation`` 400/8565 "Action failed, bad request to Azure AI services. Check input parameters." and the
index of the failed source (the Play action's event-code table in the ACS docs). The emulator validates with the
same reader as its Speech service (``gateway.emulators.ssml``), before anything plays.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from gateway.emulators.ssml import Reading, SsmlError, parse_ssml, plain_text

from .events import result_information
from .models import PlayConfig, PlayRecord

logger = logging.getLogger(__name__)

Emit = Callable[..., Any]
Spawn = Callable[[Coroutine[Any, Any, Any], str], "asyncio.Task[Any]"]

TTS_BAD_REQUEST = (400, 8565, "Action failed, bad request to Azure AI services. Check input parameters.")
INVALID_FILE = (400, 8535, "Action failed, file format is invalid.")
PLAY_CANCELED = (400, 8508, "Action failed, the operation was canceled.")


@dataclass(slots=True, frozen=True)
class PlaySourceText:
    """One play source as the caller would hear it: ``text`` as written, ``spoken`` as voiced (SSML readings
    applied); ``error`` is why text to speech refuses it."""

    kind: str
    text: str
    spoken: str
    readings: tuple[Reading, ...] = ()
    error: str | None = None


def read_play_source(source: Any) -> PlaySourceText:
    """What one ``playSources`` entry says (a file counts as empty text)."""
    if not isinstance(source, dict):
        return PlaySourceText("", "", "")
    kind = str(source.get("kind", "")).lower()
    if kind == "text":
        text = str((source.get("text") or {}).get("text", ""))
        return PlaySourceText(kind, text, text)
    if kind == "ssml":
        ssml = str((source.get("ssml") or {}).get("ssmlText", ""))
        try:
            doc = parse_ssml(ssml)
        except SsmlError as exc:
            return PlaySourceText(kind, plain_text(ssml), "", error=str(exc))
        return PlaySourceText(kind, doc.text, doc.spoken, tuple(doc.readings))
    return PlaySourceText(kind, "", "")


def play_texts(body: dict[str, Any]) -> list[str]:
    """The written text of each play source."""
    return [read_play_source(s).text for s in body.get("playSources") or []]


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
        sources = [read_play_source(s) for s in body.get("playSources") or []]
        loop = bool((body.get("playOptions") or {}).get("loop", False))
        spoken = [s.spoken for s in sources]
        duration = config.max_duration_s if loop else sum(config.duration_for(t) for t in spoken or [""])
        op = body.get("operationContext")
        record = PlayRecord([s.text for s in sources], op if isinstance(op, str) else None, duration,
                            time.monotonic(), spoken=spoken,
                            readings=[r for s in sources for r in s.readings])  # fmt: skip
        failed = next((i for i, s in enumerate(sources) if s.error is not None), None)
        if failed is not None:
            record.failed_source_index, record.error = failed, sources[failed].error
            logger.info("play %s refused by text to speech: %s", record.operation_context, record.error)
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
            if config.fail or record.error is not None:
                await asyncio.sleep(0.05)
                record.ended_at, record.outcome = time.monotonic(), "failed"
                result = result_information(*(TTS_BAD_REQUEST if record.error is not None else INVALID_FILE))
                index = record.failed_source_index or 0
                self._emit("PlayFailed", record.operation_context, result=result, failedPlaySourceIndex=index)
                return
            record.started_at = time.monotonic()
            self._emit("PlayStarted", record.operation_context)
            await asyncio.sleep(record.duration_s)
            record.ended_at, record.outcome = time.monotonic(), "completed"
            self._emit("PlayCompleted", record.operation_context)
        except asyncio.CancelledError:
            record.ended_at = time.monotonic()
            if record.outcome == "canceled":
                self._emit("PlayCanceled", record.operation_context, result=result_information(*PLAY_CANCELED))
            raise
