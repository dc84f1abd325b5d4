"""Streaming energy VAD on 20 ms windows, shaped like the service's ``server_vad``.

The real service decides turns with a neural VAD; for tests what matters is that real speech starts a turn and
digital silence or quiet noise does not, and that the reported times line up with the audio. An RMS threshold
with a minimum speech run and a silence hangover does that for a few microseconds per frame, which keeps the
~500-call benchmark affordable. Times are milliseconds of audio since the session started (not wall clock),
as in the service's ``audio_start_ms``/``audio_end_ms``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from gateway.audio import REALTIME_RATE, SAMPLE_WIDTH

if TYPE_CHECKING:
    from .config import VadTuning
    from .session_config import TurnDetection

WINDOW_MS = 20
WINDOW_BYTES = REALTIME_RATE * WINDOW_MS // 1000 * SAMPLE_WIDTH


@dataclass(frozen=True, slots=True)
class VadParams:
    """One detector setting, derived from the session's turn detection and the emulator's ``VadTuning``."""

    rms_threshold: float = 300.0
    hold_ratio: float = 0.5
    min_speech_ms: int = 60
    silence_duration_ms: int = 500
    prefix_padding_ms: int = 300


def vad_params(td: TurnDetection | None, tuning: VadTuning) -> VadParams:
    """The detector setting for a session's turn detection (defaults when it is off), scaled by ``tuning``."""
    if td is None:
        return VadParams()
    return VadParams(
        rms_threshold=tuning.rms_at_default_threshold * td.threshold / 0.5,
        hold_ratio=tuning.hold_ratio,
        min_speech_ms=tuning.min_speech_ms,
        silence_duration_ms=td.silence_duration_ms,
        prefix_padding_ms=td.prefix_padding_ms,
    )


@dataclass(frozen=True, slots=True)
class VadEvent:
    """A turn boundary. ``at_ms`` follows the service: start includes the prefix padding, stop the hangover.

    ``speech_ms`` is where speech really began (start) or ended (stop), without padding or hangover.
    """

    kind: Literal["started", "stopped"]
    at_ms: int
    speech_ms: int


class EnergyVad:
    """Feed PCM16 24 kHz as it arrives; get turn boundaries back."""

    def __init__(self, params: VadParams) -> None:
        self.params = params
        self._rest = b""
        self._window = 0  # index of the next window to classify
        self._speaking = False
        self._run = 0  # consecutive loud windows while silent
        self._onset = 0  # window index where the current loud run began
        self._quiet_ms = 0
        self._last_voice_end_ms = 0

    @property
    def speaking(self) -> bool:
        return self._speaking

    @property
    def position_ms(self) -> int:
        """Audio classified so far."""
        return self._window * WINDOW_MS

    def configure(self, params: VadParams) -> None:
        """Apply a new ``session.update`` without losing the stream position."""
        self.params = params

    def reset(self) -> None:
        """Forget a turn in progress (``input_audio_buffer.clear``); the position carries on."""
        self._speaking = False
        self._run = 0
        self._quiet_ms = 0

    def skip(self, nbytes: int) -> None:
        """Advance the clock over audio that is not analysed (VAD switched off)."""
        total = len(self._rest) + nbytes
        self._window += total // WINDOW_BYTES
        self._rest = b"\0" * (total % WINDOW_BYTES)

    def push(self, pcm: bytes) -> list[VadEvent]:
        buf = self._rest + pcm if self._rest else pcm
        n = len(buf) // WINDOW_BYTES
        if n == 0:
            self._rest = buf
            return []
        cut = n * WINDOW_BYTES
        self._rest = buf[cut:]
        x = np.frombuffer(buf, dtype="<i2", count=cut // SAMPLE_WIDTH).astype(np.float32).reshape(n, -1)
        levels = np.sqrt(np.einsum("ij,ij->i", x, x) / x.shape[1])
        return self._classify(levels.tolist())

    def _classify(self, levels: list[float]) -> list[VadEvent]:
        p = self.params
        events: list[VadEvent] = []
        need = max(1, -(-p.min_speech_ms // WINDOW_MS))
        hold = p.rms_threshold * p.hold_ratio
        for level in levels:
            k = self._window
            self._window += 1
            if not self._speaking:
                if level >= p.rms_threshold:
                    if self._run == 0:
                        self._onset = k
                    self._run += 1
                    if self._run >= need:
                        self._speaking = True
                        self._quiet_ms = 0
                        self._last_voice_end_ms = (k + 1) * WINDOW_MS
                        onset_ms = self._onset * WINDOW_MS
                        events.append(VadEvent("started", max(0, onset_ms - p.prefix_padding_ms), onset_ms))
                else:
                    self._run = 0
            elif level >= hold:
                self._quiet_ms = 0
                self._last_voice_end_ms = (k + 1) * WINDOW_MS
            else:
                self._quiet_ms += WINDOW_MS
                if self._quiet_ms >= p.silence_duration_ms:
                    self._speaking = False
                    self._run = 0
                    events.append(VadEvent("stopped", (k + 1) * WINDOW_MS, self._last_voice_end_ms))
        return events
