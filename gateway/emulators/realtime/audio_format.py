"""The audio formats a Realtime session speaks on the wire, and their conversion to the emulator's PCM16 24 kHz.

The service takes and produces ``pcm16`` (24 kHz) or G.711 μ-law / A-law at 8 kHz: GA names them
``audio/pcm``, ``audio/pcmu``, ``audio/pcma`` (``session.audio.{input,output}.format.type``), beta
``pcm16``, ``g711_ulaw``, ``g711_alaw`` (``input_audio_format`` / ``output_audio_format``). The emulator keeps one
internal timeline, PCM16 24 kHz, so its VAD, speech matching, commits and truncation work the same whatever the
wire carries: G.711 input is decoded and upsampled on arrival, replies are downsampled and encoded once.
"""

from __future__ import annotations

import functools
from typing import Final

import numpy as np

from gateway.audio import REALTIME_RATE, resample
from gateway.emulators.g711 import alaw_encode, mulaw_decode, mulaw_encode

PCM16: Final = "pcm16"
ULAW: Final = "g711_ulaw"
ALAW: Final = "g711_alaw"
G711_RATE = 8_000
UPSAMPLE = REALTIME_RATE // G711_RATE  # 3

#: GA ``format.type`` → codec (beta uses the codec names themselves).
GA_TYPES: dict[str, str] = {"audio/pcm": PCM16, "audio/pcmu": ULAW, "audio/pcma": ALAW}


@functools.cache
def _alaw_table() -> np.ndarray:
    """A-law code → linear value, derived from the emulators' own encoder (``g711`` has no A-law decoder): G.711
    decodes a code to the middle of the input interval that encodes to it. Equals CPython's ``audioop.alaw2lin``
    for all 256 codes (checked in the tests)."""
    x = np.arange(-32768, 32768, dtype=np.int32)
    codes = np.frombuffer(alaw_encode(x.astype("<i2").tobytes()), dtype=np.uint8)
    lo = np.full(256, 1 << 20, dtype=np.int64)
    hi = np.full(256, -(1 << 20), dtype=np.int64)
    np.minimum.at(lo, codes, x)
    np.maximum.at(hi, codes, x)
    return np.where(lo <= hi, (lo + hi + 1) // 2, 0).astype("<i2")


def alaw_decode(data: bytes) -> bytes:
    """A-law bytes → 16-bit little-endian linear PCM."""
    return _alaw_table()[np.frombuffer(data, dtype=np.uint8)].tobytes()


def ga_codec(fmt: object) -> str:
    """The codec of a GA ``format`` object (PCM when absent or unknown: validation is the session's job)."""
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    return GA_TYPES.get(str(kind), PCM16)


def wire_bytes_per_ms(codec: str) -> int:
    """Bytes one millisecond of audio takes on the wire: 48 for PCM16 24 kHz, 8 for G.711 8 kHz."""
    return REALTIME_RATE * 2 // 1000 if codec == PCM16 else G711_RATE // 1000


class InputDecoder:
    """Wire audio of one session → PCM16 24 kHz, chunk by chunk.

    G.711 is decoded to 8 kHz PCM and upsampled x3 by linear interpolation from the previous chunk's last sample,
    so every chunk yields exactly 3x its samples at once (no resampler latency or bursts to shift VAD times) and
    chunk edges join without clicks. Good enough for an energy VAD and envelope matching; it is not hi-fi.
    """

    def __init__(self, codec: str) -> None:
        self.codec = codec
        self._last = 0.0

    def decode(self, data: bytes) -> bytes:
        if self.codec == PCM16:
            return data
        pcm8 = mulaw_decode(data) if self.codec == ULAW else alaw_decode(data)
        x = np.frombuffer(pcm8, dtype="<i2").astype(np.float32)
        if not len(x):
            return b""
        prev = np.concatenate(([self._last], x[:-1]))
        steps = np.arange(1, UPSAMPLE + 1, dtype=np.float32) / UPSAMPLE
        out = prev[:, None] + (x - prev)[:, None] * steps[None, :]
        self._last = float(x[-1])
        return np.clip(np.round(out.reshape(-1)), -32768, 32767).astype("<i2").tobytes()


@functools.lru_cache(maxsize=256)
def encode_output(pcm24: bytes, codec: str) -> bytes:
    """A whole reply (PCM16 24 kHz) in the wire ``codec``; G.711 output is 8 kHz, one byte per sample."""
    if codec == PCM16:
        return pcm24
    pcm8 = resample(pcm24, REALTIME_RATE, G711_RATE)
    return mulaw_encode(pcm8) if codec == ULAW else alaw_encode(pcm8)
