"""Who answered, told from the first seconds of their audio: a person says a short "もしもし" and waits; an
answering machine's greeting runs on ("ただいま電話に出ることができません…") without such a pause.

A carrier without answering-machine detection (ACS) streams the callee's audio before the agent says anything, and
this check decides: speech followed by ``silence_ms`` of quiet within ``max_greeting_ms`` is a person; speech still
going at ``max_greeting_ms`` is a machine. Nothing heard for ``timeout_ms`` counts as a person (someone who
picked up and waits for the caller to speak): losing a live prospect costs more than talking to a machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gateway.audio import SAMPLE_WIDTH, rms

Verdict = Literal["person", "machine"]
SPEECH_RMS = 400.0  # PCM16 level above which a frame is voice (line noise and silence stay far below)


@dataclass(slots=True)
class ShortSilenceCheck:
    rate: int
    silence_ms: int = 800
    max_greeting_ms: int = 3000
    timeout_ms: int = 6000
    heard_ms: float = 0.0  # since the stream started
    speech_started_ms: float | None = None
    quiet_ms: float = 0.0  # quiet since the last voiced frame
    reason: str = ""

    def feed(self, pcm: bytes) -> Verdict | None:
        """One chunk of the callee's audio (PCM16 mono at ``rate``); a verdict once there is one."""
        ms = len(pcm) / SAMPLE_WIDTH / self.rate * 1000
        self.heard_ms += ms
        if rms(pcm) >= SPEECH_RMS:
            if self.speech_started_ms is None:
                self.speech_started_ms = self.heard_ms - ms
            self.quiet_ms = 0.0
        else:
            self.quiet_ms += ms
        return self._verdict()

    def _verdict(self) -> Verdict | None:
        if self.speech_started_ms is None:
            if self.heard_ms >= self.timeout_ms:
                self.reason = f"nothing said for {self.timeout_ms} ms"
                return "person"
            return None
        if self.quiet_ms >= self.silence_ms:
            talked = self.heard_ms - self.quiet_ms - self.speech_started_ms
            self.reason = f"a short greeting ({talked:.0f} ms), then silence"
            return "person"
        if self.heard_ms - self.speech_started_ms >= self.max_greeting_ms:
            self.reason = f"a greeting longer than {self.max_greeting_ms} ms without a pause"
            return "machine"
        return None
