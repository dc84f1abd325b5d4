"""Holds the agent's answer until the caller has really finished speaking.

The provider ends the caller's turn after ``silence_duration_ms`` of quiet (500 ms by default), but a Japanese
caller's pause inside one sentence runs longer (「いいえ、｜違います」「あ、｜それはもう大丈夫です」: 0.4-0.7 s). An
answer to the first half, played while the caller says the second half, is the agent talking over the caller. So the
answer the provider makes for the caller's turn is held at the gateway until the caller has been quiet
``quiet_ms`` since their last voice. If the caller speaks again first, the held answer was to half a sentence: it is
withdrawn unheard, and the caller's whole utterance is answered when they finish.

The hold costs nothing when the provider is slower than ``quiet_ms`` (its first audio usually comes well after the
end-of-turn silence); it only ever delays an answer that would have started inside the caller's pause.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from .overlap import ONSET_RMS


class HoldVerdict(Enum):
    WAIT = "wait"
    RELEASE = "release"  # the caller has been quiet long enough: the answer may sound
    WITHDRAW = "withdraw"  # the caller went on speaking: the answer was to half a sentence


@dataclass(slots=True)
class ReplyHold:
    quiet_ms: float  # the caller quiet this long since their last voice: their turn is over
    quiet_so_far_ms: float  # how long the caller had already been quiet when the hold began
    onset_rms: float = ONSET_RMS  # the caller's voice, as the overlap judge hears its onset
    withdraw_after_ms: float = 100.0  # voice this long (not a click or a breath) means the caller goes on
    voiced_ms: float = 0.0
    frames: int = 0

    def ready(self) -> bool:
        return self.quiet_so_far_ms >= self.quiet_ms

    def frame(self, level: float, ms: float) -> HoldVerdict:
        """One caller frame of ``ms`` milliseconds at RMS ``level``."""
        self.frames += 1
        if level >= self.onset_rms:
            self.quiet_so_far_ms = 0.0
            self.voiced_ms += ms
            return HoldVerdict.WITHDRAW if self.voiced_ms >= self.withdraw_after_ms else HoldVerdict.WAIT
        self.quiet_so_far_ms += ms
        return HoldVerdict.RELEASE if self.ready() else HoldVerdict.WAIT

