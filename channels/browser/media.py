"""The page's ear: agent PCM as binary frames, ``clear`` on barge-in, and a model of the page's playout.

The page plays what it receives at once and gap-free, so the gateway knows what was heard the way the phone
channel does (sent minus still queued) without waiting for the page to answer; the agent stays audible until the
page acknowledges it played everything (``drained``), so a turn-based caller's turn opens when it really ended. The
page's own ``played`` report after a ``clear`` places a paused reply's resume to the sample. While no socket is attached (the page is reconnecting)
agent audio is dropped and not counted as heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable

from gateway.audio import b64decode, pcm_ms
from gateway.events import AudioOut
from gateway.playout import AcknowledgedPlayout, ReplyGate

from .link import Link
from .wire import CLEAR, SAMPLE_RATE

MAX_FRAME_BYTES = 9_600  # 200 ms: bigger synthesis chunks are split so the page's queue fills evenly
KEEP_TIMINGS = 64
ANSWER_WAIT_S = 0.5  # a resume waits at most this long for the page's answer to the pause's clear


class BrowserAudioSink:
    exact_flush = True  # the page answers a clear with the exact samples it played

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.playout = AcknowledgedPlayout(clock)  # the page's "drained" closes it
        self.gate = ReplyGate()
        self.link: Link | None = None
        self.frames_sent = 0
        self.bytes_sent = 0
        self.dropped_chunks = 0
        self.clears = 0
        self.reported_played_ms: list[int] = []
        self._runs: list[list] = []  # sent since the last clear, as the page will play it: [item id, from ms, ms]
        self._paused_runs: list[list] | None = None  # the runs a pause cleared, until the page says how far it got
        self._paused_at: tuple[str, float] | None = None
        self._answered = asyncio.Event()  # the page answered the last pause's clear
        self.first_frame_sent: OrderedDict[str, float] = OrderedDict()  # item id → monotonic time of its first frame

    def attach(self, link: Link) -> None:
        self.link = link

    def detach(self, link: Link) -> None:
        if self.link is link:
            self.link = None
            self.playout.clear()  # nothing queued on a page that is gone will be heard

    @property
    def item_id(self) -> str:
        return self.playout.item_id

    async def play(self, audio: AudioOut) -> None:
        link = self.link
        if link is None or link.closed:
            self.dropped_chunks += 1
            return
        ticket = self.gate.ticket(audio.item_id)
        pcm = b64decode(audio.b64)
        for start in range(0, len(pcm), MAX_FRAME_BYTES):
            if not self.gate.holds(ticket):
                return  # an interrupted reply: nothing of it may follow the clear
            frame = pcm[start : start + MAX_FRAME_BYTES]
            # Counted before it goes: a clear that comes while this frame is on its way still finds it among what
            # was sent (the socket sends in order, so the frame reaches the page before that clear, and the page
            # may have begun playing it: its ``played`` answer then counts part of it).
            if audio.item_id not in self.first_frame_sent:
                self.first_frame_sent[audio.item_id] = self.clock()
                while len(self.first_frame_sent) > KEEP_TIMINGS:
                    self.first_frame_sent.popitem(last=False)
            ms = pcm_ms(len(frame), SAMPLE_RATE)
            self.playout.sent(audio.item_id, ms)
            self._log(audio.item_id, self.playout.item_sent_ms - ms, ms)
            if not await link.send(frame):
                self.dropped_chunks += 1
                return
            self.frames_sent += 1
            self.bytes_sent += len(frame)
            if not self.gate.holds(ticket):
                return

    async def clear(self, keep_item: bool = False) -> float:
        """Stop the device now; ``keep_item``: a pause, the reply's rest may still be sent (a resume).

        Returns the model's word on what was heard; the page answers the clear with its own (``played``), which
        places a pause's resume exactly (``heard_at_pause``): the page starts a burst after a short pre-buffer, so
        it is behind the model by a few tens of ms."""
        self.gate.interrupt("" if keep_item else self.playout.item_id)
        self.clears += 1
        self._paused_runs, self._paused_at = (self._runs if keep_item else None), None
        self._answered.clear()
        self._runs = []
        if self.link is not None:
            await self.link.send(CLEAR)
        return self.playout.clear()

    def audible(self) -> bool:
        return self.playout.audible()

    async def flush(self) -> None:
        """Frames go out whole as they come: nothing is held back."""

    def drained(self) -> None:
        """The page's player ran out of audio: it has played everything it was sent."""
        self.playout.acknowledged()

    def reported(self, played_ms: int, samples: int | None = None) -> None:
        """The page flushed on a clear after playing ``samples`` since its previous flush."""
        self.reported_played_ms.append(played_ms)
        del self.reported_played_ms[:-32]
        if self._paused_runs is not None and samples is not None:
            self._paused_at = self._locate(self._paused_runs, samples * 1000 / SAMPLE_RATE)
            self._paused_runs = None
        self._answered.set()  # (a page that sends no samples has said all it will)

    async def heard_at_pause(self) -> tuple[str, float] | None:
        """Where the page said it stopped at the last pause (item, ms into it); once. Its answer to the pause's clear
        is awaited (at most ``ANSWER_WAIT_S``): it queues behind the microphone frames the page sent before the clear
        reached it, so on a loaded gateway the silence that resumes the reply can be read before it."""
        if self._paused_runs is not None and self.link is not None and not self.link.closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._answered.wait(), ANSWER_WAIT_S)
        heard, self._paused_at = self._paused_at, None
        if heard is not None:
            self.playout.rewound(*heard)
        return heard

    def _log(self, item_id: str, start_ms: float, ms: float) -> None:
        last = self._runs[-1] if self._runs else None
        if last is not None and last[0] == item_id and abs(last[1] + last[2] - start_ms) < 1e-6:
            last[2] += ms
        else:
            self._runs.append([item_id, start_ms, ms])

    @staticmethod
    def _locate(runs: list[list], played_ms: float) -> tuple[str, float] | None:
        """The (item, ms into it) the page reached after ``played_ms`` of the audio sent since the last clear."""
        for item_id, start_ms, ms in runs:
            if played_ms <= ms:
                return item_id, start_ms + played_ms
            played_ms -= ms
        return (runs[-1][0], runs[-1][1] + runs[-1][2]) if runs else None
