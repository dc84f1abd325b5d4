"""Where the caller's playback is: a virtual clock of audio sent to a device that plays it in real time.

Channels send agent audio faster than real time; the device queues it. To stop it on barge-in and to tell the
model what the caller really heard, we model the queue: each chunk starts when the previous one ends (or now, if
the queue ran dry), so ``played = sent - still queued``.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class PlayoutClock:
    __slots__ = ("_clock", "_end", "_item", "_item_sent_ms")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._end = 0.0
        self._item = ""
        self._item_sent_ms = 0.0

    def sent(self, item_id: str, ms: float) -> None:
        now = self._clock()
        if item_id != self._item:
            self._item, self._item_sent_ms = item_id, 0.0
        self._item_sent_ms += ms
        self._end = max(self._end, now) + ms / 1000

    def queued_ms(self) -> float:
        return max(0.0, (self._end - self._clock()) * 1000)

    def audible(self) -> bool:
        return self._end > self._clock()

    @property
    def item_id(self) -> str:
        return self._item

    def played_ms(self) -> int:
        """Milliseconds of the current item the caller has heard, clamped to what was sent."""
        return int(max(0.0, min(self._item_sent_ms, self._item_sent_ms - self.queued_ms())))

    def clear(self) -> int:
        """The queue was flushed on the device: returns what was heard of the current item."""
        played = self.played_ms()
        self._end = self._clock()
        return played
