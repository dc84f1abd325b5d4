"""Where the caller's playback is: a virtual clock of audio sent to a device that plays it in real time.

Channels send agent audio faster than real time; the device queues it. To stop it on barge-in and to tell the
model what the caller really heard, we model the queue: each chunk starts when the previous one ends (or now, if
the queue ran dry), so ``played = sent - still queued``.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Protocol


class Playout(Protocol):
    """What a sink knows of the caller's playback: the one interface turn-taking reads, whatever the carrier."""

    def sent(self, item_id: str, ms: float) -> None: ...

    def audible(self) -> bool: ...

    @property
    def item_id(self) -> str: ...

    def played_ms(self) -> int: ...

    def clear(self) -> float:
        """The device's queue was flushed: ms heard of the current item, to the sample (a pause resumes from it), and
        from now on all that was sent of it, so a resumed reply counts on from there."""
        ...


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

    @property
    def item_sent_ms(self) -> float:
        """Position in the current item of the end of what was sent (after a clear: of what was heard)."""
        return self._item_sent_ms

    def rewound(self, item_id: str, ms: float) -> None:
        """After a clear, the device's own word on where it stopped replaces the model's: a resume counts on from
        there."""
        self._item, self._item_sent_ms = item_id, ms

    def audible(self) -> bool:
        return self._end > self._clock()

    @property
    def item_id(self) -> str:
        return self._item

    def played_ms(self) -> int:
        """Milliseconds of the current item the caller has heard, clamped to what was sent."""
        return int(max(0.0, min(self._item_sent_ms, self._item_sent_ms - self.queued_ms())))

    def clear(self) -> float:
        """The queue was flushed on the device: returns ms heard of the current item, unrounded (to the sample, not
        the millisecond: a pause rewinds the reply to exactly there)."""
        played = max(0.0, min(self._item_sent_ms, self._item_sent_ms - self.queued_ms()))
        self._end = self._clock()
        self._item_sent_ms = played
        return played


ACK_SLACK_MS = 400.0  # a page's "drained" while the model still has more than this queued is stale (an underrun)
ACK_GRACE_S = 2.0  # a page that never acknowledges: audible at most this long past the modelled end


class AcknowledgedPlayout(PlayoutClock):
    """The modelled clock, held open until the device says it played everything (the browser page's ``drained``).

    A page starts playing only when audio arrives and after a short pre-buffer, so it is always behind the model, never
    ahead: the caller's turn opens at the later of the two. An acknowledgement while the model still has more than
    ``ACK_SLACK_MS`` queued came from a mid-reply underrun and counts for nothing.
    """

    __slots__ = ("_unacked",)

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock)
        self._unacked = False

    def sent(self, item_id: str, ms: float) -> None:
        super().sent(item_id, ms)
        self._unacked = True

    def acknowledged(self) -> bool:
        """The device played all it had; ``True`` if that closes the playout."""
        if self.queued_ms() > ACK_SLACK_MS:
            return False
        self._unacked = False
        return True

    def audible(self) -> bool:
        return super().audible() or (self._unacked and self._clock() < self._end + ACK_GRACE_S)

    def clear(self) -> float:
        self._unacked = False
        return super().clear()


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


MARK_EVERY_MS = 200.0
MARK_GRACE_S = 2.0  # marks this late after the modelled end of playout: the device is not playing any more


class MarkedPlayout:
    """Playout truth from the device's own word, for carriers that echo marks (Twilio).

    The sink puts a named mark into the device's queue at least every ``every_ms`` of audio and at each reply's end;
    the device echoes a mark when the audio before it has played. After a clear the device echoes every pending mark
    at once: those were NOT played to the end. With a mark after every frame (``every_ms`` = the carrier's frame, as
    the Twilio sink does), a clear accounts for every sample: the device plays frame by frame, so when the clear lands
    one frame is sounding (the one after the last echoed mark, already on its way to the handset: heard whole) and the
    rest is dropped unheard. ``clear(sounding=True)`` counts that frame; a resume then starts at the next one, so
    nothing is lost or repeated. A modelled clock only bounds ``audible`` when a device stops echoing altogether.
    """

    __slots__ = ("_clock", "_discarded", "_drained", "_end", "_heard_ms", "_item", "_item_sent_ms", "_pending", "_seq", "_unmarked_ms", "every_ms")

    def __init__(self, clock: Callable[[], float] = time.monotonic, every_ms: float = MARK_EVERY_MS) -> None:
        self._clock = clock
        self.every_ms = every_ms
        self._end = 0.0
        self._item = ""
        self._item_sent_ms = 0.0
        self._heard_ms = 0.0  # of the current item, from echoed marks
        self._unmarked_ms = 0.0  # sent since the last mark
        self._pending: OrderedDict[str, tuple[str, float]] = OrderedDict()  # mark → (item, its position in the item)
        self._discarded: deque[str] = deque(maxlen=256)  # marks pending at a clear: their echo means "not heard"
        self._seq = 0
        self._drained = asyncio.Event()
        self._drained.set()

    def sent(self, item_id: str, ms: float) -> None:
        now = self._clock()
        if item_id != self._item:
            self._item, self._item_sent_ms, self._heard_ms = item_id, 0.0, 0.0
        self._item_sent_ms += ms
        self._unmarked_ms += ms
        self._end = max(self._end, now) + ms / 1000
        self._drained.clear()

    def mark_due(self, reply_end: bool = False) -> bool:
        """Whether the sink should send a mark now (every ``every_ms`` of audio, and after a reply's last audio)."""
        return self._unmarked_ms >= self.every_ms or (reply_end and self._unmarked_ms > 0)

    def place_mark(self) -> str:
        """The name of a mark the sink sends right after the audio counted so far."""
        self._seq += 1
        name = f"m{self._seq}"
        self._pending[name] = (self._item, self._item_sent_ms)
        self._unmarked_ms = 0.0
        return name

    def echoed(self, name: str) -> bool:
        """A mark came back; ``True`` when it means its audio was heard (not a post-clear echo, not unknown)."""
        if name not in self._pending:
            return False  # discarded by a clear, or never ours
        while self._pending:  # marks play in order: every earlier one was heard too
            pending, (item, position) = self._pending.popitem(last=False)
            if item == self._item:
                self._heard_ms = max(self._heard_ms, position)
            if pending == name:
                break
        if not self._pending and self._unmarked_ms == 0:
            self._drained.set()
        return True

    def audible(self) -> bool:
        waiting = bool(self._pending) or self._unmarked_ms > 0
        return waiting and self._clock() < self._end + MARK_GRACE_S

    @property
    def item_id(self) -> str:
        return self._item

    def played_ms(self) -> int:
        return int(min(self._heard_ms, self._item_sent_ms))

    def queued_ms(self) -> float:
        return max(0.0, self._item_sent_ms - self._heard_ms) if self.audible() else 0.0

    def clear(self, sounding: bool = False) -> int:
        """The device's queue was flushed: pending marks will come back; returns what was heard of the current item.

        ``sounding``: the device was playing when the clear landed, so the first pending mark's frame was heard whole
        (exact with a mark per frame, when the clear follows the last echo the device sent before it, as a clear
        sent from the media socket's own loop does)."""
        if sounding and self._pending:
            item, position = next(iter(self._pending.values()))
            if item == self._item and position - self._heard_ms <= self.every_ms:
                self._heard_ms = position
        played = self.played_ms()
        self._discarded.extend(self._pending)
        self._pending.clear()
        self._unmarked_ms = 0.0
        self._end = self._clock()
        self._item_sent_ms = float(played)
        self._drained.set()
        return played

    def was_discarded(self, name: str) -> bool:
        return name in self._discarded

    async def drained(self, timeout: float) -> bool:
        """Wait (bounded) until every mark sent has come back; ``True`` if it did."""
        try:
            await asyncio.wait_for(self._drained.wait(), timeout)
        except TimeoutError:
            return False
        return True
