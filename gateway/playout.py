"""Where the caller's playback is: a virtual clock of audio sent to a device that plays it in real time.

Channels send agent audio faster than real time; the device queues it. To stop it on barge-in and to tell the
model what the caller really heard, we model the queue: each chunk starts when the previous one ends (or now, if
the queue ran dry), so ``played = sent - still queued``.
"""

from __future__ import annotations

import time
from collections import deque
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


class ReplyGate:
    """Once a reply is interrupted, no frame of it goes out again.

    A sink sends a chunk as many frames with an ``await`` between each; a barge-in handled meanwhile sends the
    device's stop, and without this gate the rest of the chunk would follow the stop (and re-arm the playout
    clock), as would any delta of the cancelled reply the provider had already sent. A sink takes a ticket per
    chunk and asks before and after every frame whether it still holds.
    """

    __slots__ = ("_cut", "_epoch")

    def __init__(self, keep: int = 16) -> None:
        self._cut: deque[str] = deque(maxlen=keep)  # item ids of recently interrupted replies
        self._epoch = 0

    def ticket(self, item_id: str) -> int | None:
        """A ticket for one chunk of ``item_id``, or ``None`` when that reply was interrupted."""
        return None if item_id and item_id in self._cut else self._epoch

    def holds(self, ticket: int | None) -> bool:
        return ticket is not None and ticket == self._epoch

    def interrupt(self, item_id: str) -> None:
        """Call before sending the device's stop: chunks in flight stop at their next frame."""
        self._epoch += 1
        if item_id and item_id not in self._cut:
            self._cut.append(item_id)
