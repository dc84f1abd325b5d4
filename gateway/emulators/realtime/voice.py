"""The emulated model's voice: real recorded speech, cut or looped to the length a script asks for.

Replies must be real speech, never silence or tones, so that the gateway's own VAD, echo handling and the
tests' energy checks see what they would see with the real service. Rendered audio and its base64 chunks are
cached because the benchmark streams the same clips to hundreds of calls at once.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gateway.audio import REALTIME_RATE, SAMPLE_WIDTH, b64encode, read_wav, resample

from .audio_format import PCM16, encode_output, wire_bytes_per_ms

logger = logging.getLogger(__name__)

DATA_DIR = Path(__file__).resolve().parent.parent / "data"

#: Named clips shipped with the emulators, and what is said in them.
CLIPS: dict[str, tuple[str, str]] = {
    "hello": ("agent_hello_24k.wav", "こんにちは。"),
    "goodbye": ("agent_goodbye_24k.wav", "ありがとうございました。失礼します。"),
}

FADE_MS = 5


@functools.lru_cache(maxsize=64)
def load_clip(clip: str) -> bytes:
    """PCM16 24 kHz mono of a named clip (``"hello"``, ``"goodbye"``) or of a WAV file path (resampled if needed)."""
    path = DATA_DIR / CLIPS[clip][0] if clip in CLIPS else Path(clip)
    chunk = read_wav(path)
    pcm = chunk.pcm if chunk.rate == REALTIME_RATE else resample(chunk.pcm, chunk.rate, REALTIME_RATE)
    if not pcm:
        raise ValueError(f"clip {clip!r} is empty")
    return pcm


def clip_text(clip: str) -> str | None:
    """The words spoken in a named clip, if known."""
    return CLIPS[clip][1] if clip in CLIPS else None


def ms_to_bytes(ms: float) -> int:
    """Whole samples of PCM16 24 kHz covering ``ms`` milliseconds."""
    return int(ms * REALTIME_RATE / 1000) * SAMPLE_WIDTH


def bytes_to_ms(nbytes: int) -> float:
    return nbytes / SAMPLE_WIDTH / REALTIME_RATE * 1000


def _fade_out(pcm: bytes) -> bytes:
    """Ramp the last few ms down so a clip cut mid-word ends without a click."""
    n = min(len(pcm) // SAMPLE_WIDTH, REALTIME_RATE * FADE_MS // 1000)
    if n <= 1:
        return pcm
    samples = np.frombuffer(pcm, dtype="<i2").copy()
    samples[-n:] = (samples[-n:].astype(np.float32) * np.linspace(1.0, 0.0, n, dtype=np.float32)).astype("<i2")
    return samples.tobytes()


@functools.lru_cache(maxsize=256)
def render(clips: tuple[str, ...], duration_ms: int | None = None) -> bytes:
    """The clips back to back; with ``duration_ms``, looped or cut to exactly that length."""
    whole = b"".join(load_clip(c) for c in clips)
    if duration_ms is None:
        return whole
    want = ms_to_bytes(duration_ms)
    if want <= 0:
        raise ValueError("duration_ms must be positive")
    reps = -(-want // len(whole))
    out = (whole * reps)[:want]
    return _fade_out(out) if want < len(whole) * reps else out


@dataclass(frozen=True, slots=True)
class SpokenAudio:
    """One reply's audio with its base64 deltas precomputed (shared by every session that says it).

    ``chunks_b64`` are in the session's output codec; ``chunk_sizes`` count the PCM16 24 kHz bytes each delta
    carries, the timeline records and truncation use."""

    pcm: bytes
    chunk_ms: int
    chunks_b64: tuple[str, ...]
    chunk_sizes: tuple[int, ...]
    codec: str = PCM16

    @property
    def duration_ms(self) -> float:
        return bytes_to_ms(len(self.pcm))


@functools.lru_cache(maxsize=256)
def _chunked(pcm: bytes, chunk_ms: int, codec: str) -> SpokenAudio:
    size = max(SAMPLE_WIDTH, ms_to_bytes(chunk_ms))
    sizes = tuple(len(pcm[i : i + size]) for i in range(0, len(pcm), size))
    wire = encode_output(pcm, codec)
    step = size if codec == PCM16 else max(1, chunk_ms * wire_bytes_per_ms(codec))
    last = len(sizes) - 1
    parts = [wire[i * step : (i + 1) * step] if i < last else wire[i * step :] for i in range(len(sizes))]
    return SpokenAudio(pcm, chunk_ms, tuple(b64encode(p) for p in parts), sizes, codec)


def spoken(pcm: bytes, chunk_ms: int, codec: str = PCM16) -> SpokenAudio:
    """Cut ``pcm`` into ``chunk_ms`` deltas in the output ``codec``, encoded once and cached."""
    return _chunked(pcm, chunk_ms, codec)
