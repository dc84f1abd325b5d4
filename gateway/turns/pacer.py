"""The agent's reply held in the gateway and fed to the caller's device in real time, so it can pause and resume.

No carrier can pause playback (ACS has ``StopAudio``, Twilio and the page ``clear``), and a device plays everything
queued on it. So the gateway keeps the reply and sends only ``LEAD_MS`` ahead of the ear: a pause is the device's
stop plus the sink's word on what was heard (ACS: the playout clock; Twilio: the last echoed mark; page: its clock),
and the reply rewinds to exactly that sample; a resume sends on from there. Nothing is lost, nothing repeated.

A device that cannot say exactly what a flush cut (ACS reports nothing; a Twilio mark echoed around a ``clear`` may be
one that played or one the clear returned) is not flushed for a pause: the gateway knows when it sent, not when the
phone played. So while the caller's voice is over the agent (``lean``) the gateway sends just
``LEAN_LEAD_MS`` ahead, and a pause stops sending instead of flushing: the little that is queued plays out, nothing
is dropped, and the resume continues from the next unsent sample, exact whatever the network's delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..audio import b64decode, b64encode
from ..events import AudioOut

if TYPE_CHECKING:
    from ..sink import AudioSink

logger = logging.getLogger(__name__)
LEAD_MS = 160  # how far ahead of the ear audio is sent: covers network jitter, bounds what a pause must rewind
CHUNK_MS = 40  # two 20 ms carrier frames per send
LEAN_LEAD_MS = 20  # while the caller's voice is over the agent, on a device that reports nothing: what a pause lets play
LEAN_CHUNK_MS = 20


class _Segment:
    __slots__ = ("audio", "item_id", "next")

    def __init__(self, item_id: str) -> None:
        self.item_id = item_id
        self.audio = bytearray()
        self.next = 0  # first byte not yet sent to the device


class PacedPlayout:
    def __init__(self, sink: AudioSink, rate: int, sample_width: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._sink = sink
        self._clock = clock
        self._width = sample_width
        self._bytes_per_ms = rate * sample_width / 1000
        self._chunk = int(CHUNK_MS * self._bytes_per_ms) // sample_width * sample_width
        self._lean_chunk = int(LEAN_CHUNK_MS * self._bytes_per_ms) // sample_width * sample_width
        self._lean = False
        self._flushes_device = sink.exact_flush  # else a pause only stops sending (see the module's docstring)
        self._segments: deque[_Segment] = deque()
        self._reply_done = False
        self._flushed = True
        self._paused = False
        self._placing = False
        self._ear_end = 0.0  # when the audio sent so far has played at the ear (modelled)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.pauses = 0
        self.resumes = 0

    # --- what the conversation tells it ---------------------------------------------------------------------------
    def push(self, audio: AudioOut) -> None:
        if not self._segments or self._segments[-1].item_id != audio.item_id:
            while len(self._segments) > 1 and self._unsent(self._segments[0]) == 0:
                self._segments.popleft()
            if self._segments and self._unsent(self._segments[0]) == 0:
                self._segments.popleft()  # a finished reply is no longer resumable once the next one speaks
            self._segments.append(_Segment(audio.item_id))
        self._segments[-1].audio += b64decode(audio.b64)
        self._reply_done = False
        self._flushed = False
        self._start()

    def reply_done(self) -> None:
        """The provider sent the reply's last audio: flush the device's partial frame once it is all sent."""
        self._reply_done = True
        self._start()

    def lean(self, on: bool) -> None:
        """The caller's voice is over the agent (``on``): a device that reports nothing is kept just ahead of the ear,
        so a pause drops nothing; off again once the overlap is over."""
        if on != self._lean and not self._flushes_device:
            self._lean = on
            self._wake.set()

    async def pause(self) -> float:
        """Stop at the ear now and keep the rest; returns ms of the current item the caller heard (so far)."""
        self._paused = True
        self.pauses += 1
        if not self._flushes_device:
            return self._sink.playout.played_ms()  # the queued ~LEAN_LEAD_MS plays out; the resume sends on from here
        played = await self._sink.clear(keep_item=True)
        self._rewind(self._sink.item_id, played, at_most=True)
        self._flushed = False
        return played

    def _rewind(self, item_id: str, ms: float, at_most: bool) -> None:
        """The item at the ear restarts at the sample heard (``at_most``: never later than already planned); anything
        after it from its start."""
        heard = round(ms * self._bytes_per_ms / self._width) * self._width
        playing = False
        for segment in self._segments:
            if segment.item_id == item_id:
                playing = True
                segment.next = min(segment.next, heard) if at_most else min(heard, len(segment.audio))
            elif playing:
                segment.next = 0

    def resume(self) -> None:
        if self._paused:
            self._paused = False
            self._placing = True  # the feed asks the device where it stopped before it sends on
            self.resumes += 1
            self._start()

    async def _place(self) -> None:
        """The device's own word on where the pause stopped it (the page answers the clear later than the clear
        returns, and may answer after the resume): its word wins over the model's."""
        self._placing = False
        device = await self._sink.heard_at_pause()
        if not self._paused and device is not None and any(s.item_id == device[0] for s in self._segments):
            self._rewind(*device, at_most=False)
        self._ear_end = self._clock()

    def drop(self) -> None:
        """The reply was interrupted: nothing of it will be heard any more."""
        self._segments.clear()
        self._paused = False
        self._flushed = True

    @property
    def paused(self) -> bool:
        return self._paused

    def holding(self) -> bool:
        """Audio of the reply not yet at the device (or paused): the agent's turn is not over."""
        return self._paused or any(self._unsent(s) for s in self._segments) or not self._flushed

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # --- feeding the device ---------------------------------------------------------------------------------------
    @staticmethod
    def _unsent(segment: _Segment) -> int:
        return len(segment.audio) - segment.next

    def _current(self) -> _Segment | None:
        return next((s for s in self._segments if self._unsent(s)), None)

    def _start(self) -> None:
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._feed(), name="paced-playout")

    async def _feed(self) -> None:
        while True:
            if self._placing and not self._paused:
                await self._place()
                continue
            segment = None if self._paused else self._current()
            if segment is None:
                if not self._paused and self._reply_done and not self._flushed:
                    self._flushed = True
                    await self._sink.flush()
                    continue
                self._wake.clear()
                await self._wake.wait()
                continue
            ahead = self._ear_end - self._clock() - (LEAN_LEAD_MS if self._lean else LEAD_MS) / 1000
            if ahead > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), ahead)
                continue
            size = self._lean_chunk if self._lean else self._chunk
            chunk = bytes(segment.audio[segment.next : segment.next + size])
            segment.next += len(chunk)
            self._ear_end = max(self._ear_end, self._clock()) + len(chunk) / self._bytes_per_ms / 1000
            await self._sink.play(AudioOut(b64encode(chunk), len(chunk), segment.item_id))
