"""Configuration of the Realtime emulator: who may connect, how fast replies stream, how VAD is tuned.

Everything a test or the benchmark may want to vary lives here as plain dataclasses, so that the protocol code
never reads globals and two emulators in one process never share state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from .script import Script


@dataclass(slots=True)
class Pacing:
    """How fast response audio is streamed.

    The real service generates audio faster than real time, so clients must buffer; ``realtime_factor`` models
    that (1.0 = exactly real time, 2.0 = twice as fast, 0 or ``inf`` = as fast as the socket takes it).
    ``chunk_ms`` is the audio carried by one ``response.output_audio.delta`` (the service sends ~100 ms; the bench
    mode uses 20 ms). ``first_audio_delay_ms`` models the model's thinking time before the first delta.
    """

    realtime_factor: float = 2.0
    chunk_ms: int = 100
    first_audio_delay_ms: int = 0

    @property
    def chunk_interval_s(self) -> float:
        """Seconds between two deltas (0 when unpaced)."""
        if self.realtime_factor <= 0 or self.realtime_factor == float("inf"):
            return 0.0
        return self.chunk_ms / 1000.0 / self.realtime_factor


@dataclass(slots=True)
class VadTuning:
    """Energy VAD knobs that the session's ``server_vad`` does not carry.

    The session's ``threshold`` (0..1, default 0.5) scales ``rms_at_default_threshold``: a frame is speech when its
    RMS reaches ``rms_at_default_threshold * threshold / 0.5``. 300 (about -40 dBFS) separates the speech fixtures
    from digital silence and quiet room noise. Once speech has started, frames down to ``hold_ratio`` of the
    threshold still count as speech, so soft word endings do not end the turn early.
    """

    rms_at_default_threshold: float = 300.0
    min_speech_ms: int = 60
    hold_ratio: float = 0.5


class AudioTap(Protocol):
    """Sees every audio frame of a bench-mode session: the benchmark's per-frame latency probe.

    ``inbound`` gets each appended base64 chunk as received; ``outbound`` gets each base64 delta just before it is
    sent and returns what to send instead (the benchmark stamps a frame marker into it).
    """

    def inbound(self, session: int, b64: str) -> None: ...

    def outbound(self, session: int, b64: str) -> str: ...


@dataclass(slots=True)
class BenchConfig:
    """Bench mode: no VAD, no audio kept; back-to-back replies streamed at a steady cadence.

    Used by the ~500-call benchmark, where the emulator must stay cheap: each session streams ``reply_ms`` of
    looped agent speech in 20 ms deltas, pauses ``gap_ms``, and repeats until the socket closes. ``tap`` (if set)
    sees every frame in both directions.
    """

    reply_ms: int = 5000
    gap_ms: int = 1000
    tap: AudioTap | None = None


@dataclass(slots=True)
class EmulatorConfig:
    """Everything that shapes one emulator instance.

    ``api_keys``: accepted keys (``None`` accepts any non-empty key). ``script``: what the "model" says (``None``
    uses ``Script.default()``). ``script_scope``: ``"session"`` restarts the script on every connection,
    ``"emulator"`` shares one cursor so a reconnecting client continues where it left off.
    ``strict``: validate like the real service (``session.type`` required on GA, unknown session fields, unknown
    ``call_id`` in ``function_call_output``) and answer with ``error`` events.
    ``keep_audio``/``log_appends``: record every received sample / every append event (off in bench mode).
    ``always_transcribe``: emit ``input_audio_transcription.completed`` even when the session did not ask for it.
    ``accept_compression``: negotiate permessage-deflate when the client offers it, as common WebSocket servers do
    by default (a client that must never compress audio has to stop offering it). The Quart app under Hypercorn
    always accepts; the native server follows this switch.
    """

    api_keys: frozenset[str] | None = None
    script: Script | None = None
    script_scope: Literal["session", "emulator"] = "session"
    pacing: Pacing = field(default_factory=Pacing)
    vad: VadTuning = field(default_factory=VadTuning)
    bench: BenchConfig | None = None
    strict: bool = True
    keep_audio: bool = True
    log_appends: bool = True
    always_transcribe: bool = False
    accept_compression: bool = True
    default_instructions: str = "You are a helpful voice assistant."
    session_lifetime_s: int = 3600

    @classmethod
    def for_bench(cls, api_keys: frozenset[str] | None = None, bench: BenchConfig | None = None) -> EmulatorConfig:
        """The benchmark preset: steady 20 ms real-time deltas, no VAD, nothing recorded per frame."""
        return cls(
            api_keys=api_keys,
            pacing=Pacing(realtime_factor=1.0, chunk_ms=20),
            bench=bench or BenchConfig(),
            keep_audio=False,
            log_appends=False,
            accept_compression=False,
        )
