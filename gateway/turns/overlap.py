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

MAX_GAP_MS = 120.0  # silence inside one utterance that still counts as speaking


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
    onset_rms: float = 200.0  # PCM16 RMS of a 20 ms frame that starts the clock and keeps it (about -44 dBFS)
    voiced_rms: float = 400.0  # what counts towards an interruption (about -38 dBFS): noise must not interrupt
    max_pause_ms: float = 1500.0  # soft sound that never becomes an interruption (a noisy line): resume anyway
    until_quiet: bool = False  # after such a resume, nothing pauses again until the line is quiet once
    voiced_ms: float = 0.0
    since_onset_ms: float = 0.0
    silence_ms: float = 0.0
    in_overlap: bool = False
    paused: bool = False

    def frame(self, level: float, ms: float, agent_audible: bool) -> Verdict:
        """One caller frame of ``ms`` milliseconds at RMS ``level``; ``agent_audible`` counts a paused agent as audible.

        A pause costs the caller nothing (the reply resumes at the sample it stopped), so a soft onset is enough to
        pause; only clearly voiced audio counts towards an interruption."""
        voicing = level >= self.onset_rms
        if self.until_quiet:
            self.until_quiet = voicing
            return Verdict.NONE
        if not self.in_overlap:
            if not (voicing and agent_audible):
                return Verdict.NONE
            self.in_overlap, self.voiced_ms, self.since_onset_ms, self.silence_ms = True, 0.0, 0.0, 0.0
        self.since_onset_ms += ms
        if level >= self.voiced_rms:
            self.voiced_ms += ms
        self.silence_ms = 0.0 if voicing else self.silence_ms + ms
        if self.voiced_ms >= self.barge_in_min_ms:
            self.reset()
            return Verdict.INTERRUPT
        still_speaking = self.silence_ms <= MAX_GAP_MS  # a stop closure (コンパ|クト) or a breath is not the end
        if not self.paused and self.pause_after_ms and still_speaking and self.since_onset_ms >= self.pause_after_ms:
            self.paused = True
            return Verdict.PAUSE
        if self.paused and self.since_onset_ms >= self.max_pause_ms:
            self.reset()
            self.until_quiet = True
            return Verdict.RESUME
        if self.silence_ms >= self.resume_after_silence_ms:
            was_paused = self.paused
            self.reset()
            return Verdict.RESUME if was_paused else Verdict.NONE
        return Verdict.NONE

    def reset(self) -> None:
        self.in_overlap = self.paused = False
        self.voiced_ms = self.since_onset_ms = self.silence_ms = 0.0
