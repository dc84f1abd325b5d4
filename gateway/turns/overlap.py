"""Judges the caller's voice over the agent, frame by frame: pause at once, resume after a backchannel, or interrupt.

Counted from the gateway's own voice onset (the provider's ``speech_started`` comes hundreds of ms later): once
``pause_after_ms`` have passed since the onset with the caller still voicing (soft consonants and short gaps between
morae do not delay it), the agent pauses at the caller's ear; voiced speech reaching ``barge_in_min_ms``
is an interruption; a caller who falls silent for ``resume_after_silence_ms`` before that was backchannelling, and
the agent resumes. ``pause_after_ms == 0`` never pauses (the agent talks on until the interruption is certain).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Verdict(Enum):
    NONE = "none"
    PAUSE = "pause"
    RESUME = "resume"
    INTERRUPT = "interrupt"


@dataclass(slots=True)
class OverlapJudge:
    pause_after_ms: int
    barge_in_min_ms: int
    resume_after_silence_ms: int
    voiced_ms: float = 0.0
    since_onset_ms: float = 0.0
    silence_ms: float = 0.0
    in_overlap: bool = False
    paused: bool = False

    def frame(self, voiced: bool, ms: float, agent_audible: bool) -> Verdict:
        """One caller frame of ``ms`` milliseconds; ``agent_audible`` counts a paused agent as audible."""
        if not self.in_overlap:
            if not (voiced and agent_audible):
                return Verdict.NONE
            self.in_overlap, self.voiced_ms, self.since_onset_ms, self.silence_ms = True, 0.0, 0.0, 0.0
        self.since_onset_ms += ms
        if voiced:
            self.voiced_ms += ms
            self.silence_ms = 0.0
        else:
            self.silence_ms += ms
        if self.voiced_ms >= self.barge_in_min_ms:
            self.reset()
            return Verdict.INTERRUPT
        if not self.paused and self.pause_after_ms and voiced and self.since_onset_ms >= self.pause_after_ms:
            self.paused = True
            return Verdict.PAUSE
        if self.silence_ms >= self.resume_after_silence_ms:
            was_paused = self.paused
            self.reset()
            return Verdict.RESUME if was_paused else Verdict.NONE
        return Verdict.NONE

    def reset(self) -> None:
        self.in_overlap = self.paused = False
        self.voiced_ms = self.since_onset_ms = self.silence_ms = 0.0
