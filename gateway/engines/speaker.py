"""Speaks one response sentence by sentence: while the LLM is still writing sentence n+1, sentence n is synthesized
and its audio already streams to the caller. Each sentence goes to the service as SSML from ``render`` (the
readings module: phone numbers, dates, place names read right).

Sentences are synthesized one after another on the conversation's synthesizer (the Speech service keeps their
order anyway); stopping cancels the synthesis in flight at once and drops whatever was still queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from .speech_io import SynthesisFailed, Synthesizer

logger = logging.getLogger(__name__)

SYNTHESIS_RATE = 24_000
_END = None

# (item_id, sentence, pcm chunk, first chunk of the sentence) for every piece of audio as it arrives
AudioCallback = Callable[[str, str, bytes, bool], None]


class Speaker:
    def __init__(
        self, synth: Synthesizer, render: Callable[[str], str], on_audio: AudioCallback, on_error: Callable[[str], None]
    ) -> None:
        self._synth = synth
        self._render = render
        self._on_audio = on_audio
        self._on_error = on_error
        self._queue: asyncio.Queue[tuple[str, str] | Callable[[], None] | None] = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name="speaker")
        self.started: list[str] = []  # sentences whose synthesis began, in order
        self.failed = False

    def say(self, item_id: str, sentence: str) -> None:
        self._queue.put_nowait((item_id, sentence))

    def mark(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once every sentence queued so far has been synthesized (and not if stopped before)."""
        self._queue.put_nowait(callback)

    async def finish(self) -> None:
        """Wait until every queued sentence has been synthesized and handed on."""
        self._queue.put_nowait(_END)
        await asyncio.shield(self._task)

    async def stop(self) -> None:
        if not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            job = await self._queue.get()
            if job is _END:
                return
            if callable(job):
                job()
                continue
            if self.failed:
                continue  # the service failed on an earlier sentence: the caller gets the text in the transcript only
            item_id, sentence = job
            self.started.append(sentence)
            first = True
            stream = self._synth.speak(self._render(sentence))
            try:
                async for pcm in stream:
                    self._on_audio(item_id, sentence, pcm, first)
                    first = False
            except SynthesisFailed as exc:
                self.failed = True
                logger.warning("synthesis failed: %s", exc)
                self._on_error(f"speech synthesis failed: {exc}")
            finally:
                await stream.aclose()
