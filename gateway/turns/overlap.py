"""Judges the caller's voice over the agent, frame by frame: pause at once, resume after a backchannel, or interrupt.

Counted from the gateway's own voice onset (the provider's ``speech_started`` comes hundreds of ms later). One
*episode* runs from that onset until the caller has been quiet for a while (``episode_gap_ms``), so an interruption
with a pause in it (「いいえ、｜違います」「あ、｜それはもう大丈夫です」) is judged as one utterance:

- ``pause_after_ms`` after the onset, if the onset had substance (``min_onset_ms`` of voice; a click does not), the
  agent pauses at the caller's ear, whether or not the caller is still voicing at that instant (a short 「あ、」 then
  a breath must not leave the agent talking over what follows);
- voiced speech adding up to ``barge_in_min_ms`` within the episode is an interruption;
- a caller quiet for ``resume_after_silence_ms`` was backchannelling, and the agent resumes; if the caller speaks
  again within the episode the agent pauses again at once (no new ``pause_after_ms`` wait) and the voice keeps
  adding up;
- speech longer than a plain aizuchi (``verdict_after_voiced_ms``) waits for its transcript instead
  (:meth:`OverlapJudge.transcript`: backchannel words resume, anything else is the caller's turn), at most
  ``verdict_wait_ms`` after the caller fell silent.

``pause_after_ms == 0`` never pauses (the agent talks on until the interruption is certain).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

ONSET_RMS = 200.0  # PCM16 RMS of a 20 ms frame that is the caller's voice starting (about -44 dBFS)


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
    onset_rms: float = ONSET_RMS  # a frame this loud starts the clock and keeps it
    voiced_rms: float = 400.0  # what counts towards an interruption (about -38 dBFS): noise must not interrupt
    min_onset_ms: float = 60.0  # voice an onset needs before it may pause the agent (a click or a pop does not)
    episode_gap_ms: float = 1000.0  # quiet this long ends the episode: the next voice is a new utterance
    verdict_after_voiced_ms: float = 450.0  # longer than a plain aizuchi: its words decide, not the silence
    verdict_wait_ms: float = 1500.0  # after the caller fell silent, resume anyway if no transcript came
    max_pause_ms: float = 1500.0  # soft sound that never becomes an interruption (a noisy line): resume anyway
    until_quiet: bool = False  # after such a resume, nothing pauses again until the line is quiet once
    voiced_ms: float = 0.0
    onset_ms: float = 0.0
    since_onset_ms: float = 0.0
    silence_ms: float = 0.0
    in_overlap: bool = False
    paused: bool = False
    resumed: bool = False  # the agent resumed once in this episode: returning voice pauses it again at once

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
            self.reset()
            self.in_overlap = True
        self.since_onset_ms += ms
        if voicing:
            self.onset_ms += ms
        if level >= self.voiced_rms:
            self.voiced_ms += ms
        self.silence_ms = 0.0 if voicing else self.silence_ms + ms
        if self.voiced_ms >= self.barge_in_min_ms:
            self.reset()
            return Verdict.INTERRUPT
        if not self.paused and self.pause_after_ms and agent_audible:
            again = self.resumed and voicing  # the same caller speaking again after a resume
            first = not self.resumed and self.since_onset_ms >= self.pause_after_ms and self.onset_ms >= self.min_onset_ms
            if again or first:
                self.paused = True
                return Verdict.PAUSE
        if self.paused:
            if self.since_onset_ms >= self.max_pause_ms and self.voiced_ms < self.min_onset_ms:
                self.reset()
                self.until_quiet = True  # a noisy line, not a voice
                return Verdict.RESUME
            wait = self.resume_after_silence_ms
            if self.voiced_ms >= self.verdict_after_voiced_ms:
                wait += self.verdict_wait_ms  # words will say what it was (see transcript())
            if self.silence_ms >= wait:
                self.paused, self.resumed = False, True
                return Verdict.RESUME
            return Verdict.NONE
        if self.silence_ms >= self.episode_gap_ms or not (agent_audible or voicing):
            self.reset()
        return Verdict.NONE

    def transcript(self, backchannel: bool) -> Verdict:
        """The provider's transcript of the caller's speech arrived: backchannel words resume a paused agent at once,
        anything else interrupts (the caller took the turn)."""
        if not backchannel:
            self.reset()
            return Verdict.INTERRUPT
        was_paused = self.paused
        if self.in_overlap:
            self.paused, self.resumed = False, True
        return Verdict.RESUME if was_paused else Verdict.NONE

    def reset(self) -> None:
        self.in_overlap = self.paused = self.resumed = False
        self.voiced_ms = self.onset_ms = self.since_onset_ms = self.silence_ms = 0.0
