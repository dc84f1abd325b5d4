"""Audio helpers shared by channels, engines and emulators: PCM16 framing, resampling, WAV I/O.

All PCM here is 16-bit little-endian mono. The Realtime API speaks 24 kHz, so channels negotiate 24 kHz wherever
they can and the hot path never resamples; where a peer insists on another rate, ``Resampler`` (soxr, a real
anti-aliasing resampler with state across chunks) converts it.
"""

from __future__ import annotations

import base64
import io
import math
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

REALTIME_RATE = 24_000
MULAW_RATE = 8_000  # G.711 μ-law as telephone carriers send it: one byte per sample
SAMPLE_WIDTH = 2
FRAME_MS = 20


@dataclass(slots=True, frozen=True)
class AudioChunk:
    """A piece of PCM16 mono audio and its sample rate."""

    pcm: bytes
    rate: int

    @property
    def duration_ms(self) -> float:
        return len(self.pcm) / SAMPLE_WIDTH / self.rate * 1000


def frame_bytes(rate: int, frame_ms: int = FRAME_MS) -> int:
    """Bytes in one frame of PCM16 mono (640 at 16 kHz, 960 at 24 kHz for 20 ms)."""
    return rate * frame_ms // 1000 * SAMPLE_WIDTH


def pcm_ms(nbytes: int, rate: int) -> float:
    return nbytes / SAMPLE_WIDTH / rate * 1000


def b64_decoded_len(b64: str) -> int:
    """Length of the bytes a base64 string decodes to, without decoding it (hot path)."""
    n = len(b64)
    if n == 0:
        return 0
    pad = 2 if b64.endswith("==") else 1 if b64.endswith("=") else 0
    return n * 3 // 4 - pad


def b64encode(pcm: bytes) -> str:
    return base64.b64encode(pcm).decode("ascii")


def b64decode(data: str) -> bytes:
    return base64.b64decode(data, validate=False)


class Resampler:
    """Streaming PCM16 resampler; keeps filter state between chunks so frame edges do not click.

    ``quality``: soxr's preset. HQ/MQ/LQ filter in blocks, so 20 ms chunks in come out in bursts (nothing, then
    60-100 ms at once); "QQ" (cubic) follows chunk by chunk with no delay but has no anti-aliasing filter, so it
    suits upsampling only (8 kHz caller audio to 24 kHz), never 24 kHz down to 8 kHz."""

    def __init__(self, in_rate: int, out_rate: int, quality: str = "HQ") -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16", quality=quality)

    def process(self, pcm: bytes, last: bool = False) -> bytes:
        if self.in_rate == self.out_rate:
            return pcm
        samples = np.frombuffer(pcm, dtype="<i2")
        return self._stream.resample_chunk(samples, last=last).astype("<i2", copy=False).tobytes()

    def flush(self) -> bytes:
        """What the filter still holds (the end of a reply), leaving the resampler ready for the next stream."""
        if self.in_rate == self.out_rate:
            return b""
        tail = self._stream.resample_chunk(np.zeros(0, dtype="<i2"), last=True).astype("<i2", copy=False).tobytes()
        self._stream.clear()
        return tail


def _mulaw_tables() -> tuple[np.ndarray, np.ndarray]:
    """G.711 μ-law (the ITU reference's 14-bit form): a 65536-entry encoder indexed by the sample's 16 bits, and a
    256-entry decoder. Built once; lookups are the whole codec on the hot path."""
    bias, clip = 0x21, 8158
    x = np.arange(-32768, 32768, dtype=np.int32)
    x14 = x >> 2  # the reference codes 14-bit samples (arithmetic shift: floors negatives, as it does)
    sign = np.where(x14 < 0, 0x80, 0)
    mag = np.minimum(np.where(x14 < 0, -x14, x14), clip) + bias  # 0x21 .. 0x1FFF
    segment_ends = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
    segment = np.searchsorted(segment_ends, mag)  # first segment whose end is >= mag
    mantissa = (mag >> (segment + 1)) & 0x0F
    codes = (~(sign | (segment << 4) | mantissa) & 0xFF).astype(np.uint8)
    encode = np.empty(65536, dtype=np.uint8)
    encode[x.astype(np.uint16)] = codes  # index by the sample's bit pattern: no offset on the hot path
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    magnitude = ((((u & 0x0F) << 3) + 0x84) << ((u >> 4) & 0x07)) - 0x84
    decode = np.where(u & 0x80, -magnitude, magnitude).astype("<i2")
    encode.flags.writeable = False
    decode.flags.writeable = False
    return encode, decode


_MULAW_ENCODE, _MULAW_DECODE = _mulaw_tables()
_MULAW_LINEAR = _MULAW_DECODE.astype(np.float32)  # a code's linear value: a μ-law frame's level without a decode
_MULAW_LINEAR.flags.writeable = False
MULAW_SILENCE = 0xFF  # μ-law code of linear 0 (padding with 0x00 would be a loud click)


def mulaw_encode(pcm: bytes) -> bytes:
    """16-bit little-endian linear PCM → G.711 μ-law, one byte per sample (table lookup)."""
    return _MULAW_ENCODE[np.frombuffer(pcm, dtype="<u2")].tobytes()


def mulaw_decode(data: bytes) -> bytes:
    """G.711 μ-law → 16-bit little-endian linear PCM (table lookup)."""
    return _MULAW_DECODE[np.frombuffer(data, dtype=np.uint8)].tobytes()


def resample(pcm: bytes, in_rate: int, out_rate: int) -> bytes:
    """Resample a whole buffer at once (not for streams: use ``Resampler``)."""
    if in_rate == out_rate:
        return pcm
    samples = np.frombuffer(pcm, dtype="<i2")
    return soxr.resample(samples, in_rate, out_rate, quality="HQ").astype("<i2", copy=False).tobytes()


class FrameSplitter:
    """Cuts a byte stream into fixed-size frames, carrying the remainder over to the next push."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._rest = b""

    def push(self, data: bytes) -> list[bytes]:
        buf = self._rest + data if self._rest else data
        cut = len(buf) - len(buf) % self.size
        self._rest = buf[cut:]
        return [buf[i : i + self.size] for i in range(0, cut, self.size)]

    def flush(self, pad: bool = True) -> bytes | None:
        """The leftover partial frame, zero-padded to full size when ``pad``."""
        rest, self._rest = self._rest, b""
        if not rest:
            return None
        return rest.ljust(self.size, b"\0") if pad else rest


def read_wav(path: str | Path) -> AudioChunk:
    """Read a 16-bit mono WAV file."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != SAMPLE_WIDTH or wav.getnchannels() != 1:
            raise ValueError(f"{path}: expected 16-bit mono WAV")
        return AudioChunk(wav.readframes(wav.getnframes()), wav.getframerate())


def wav_bytes(chunk: AudioChunk) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(chunk.rate)
        wav.writeframes(chunk.pcm)
    return buf.getvalue()


def rms(pcm: bytes) -> float:
    """Root-mean-square level of PCM16, 0..32768 (the voice check on every caller frame while the agent is heard,
    emulators' voice activity detection, tests). One dot product: ``np.mean`` cost four times as much per frame."""
    n = len(pcm) // SAMPLE_WIDTH
    if n == 0:
        return 0.0
    samples = np.frombuffer(pcm, dtype="<i2", count=n).astype(np.float32)
    return math.sqrt(float(np.dot(samples, samples)) / n)


def mulaw_rms(data: bytes) -> float:
    """RMS level (0..32768, as ``rms``) of G.711 μ-law, read straight from the codes: the voice check on a μ-law
    call needs neither a decode to PCM nor a resample (the level of a band-limited signal is the same at any rate)."""
    if not data:
        return 0.0
    samples = _MULAW_LINEAR[np.frombuffer(data, dtype=np.uint8)]
    return math.sqrt(float(np.dot(samples, samples)) / len(data))


class B64Framer:
    """Re-cuts a stream of base64 PCM deltas into fixed-size frames, still in base64.

    When the frame size is a multiple of 3 bytes (960 bytes at 24 kHz is), 4 base64 characters are exactly 3 bytes,
    so unpadded deltas are cut as strings: no decode, no encode, no copy of the audio per frame. A padded delta
    (length not a multiple of 3 bytes) takes the bytes path until the stream is aligned again.
    """

    def __init__(self, frame_size: int) -> None:
        if frame_size % 3:
            raise ValueError("frame size must be a multiple of 3 bytes for base64 slicing")
        self.frame_size = frame_size
        self._chars = frame_size // 3 * 4
        self._rest = ""  # unpadded base64, a multiple of 4 characters
        self._odd = b""  # 0-2 bytes after _rest that base64 cannot carry unpadded

    def push(self, b64: str) -> list[str]:
        if self._odd or b64.endswith("="):
            raw = base64.b64decode(self._rest) + self._odd + base64.b64decode(b64)
            cut = len(raw) - len(raw) % self.frame_size
            frames = [b64encode(raw[i : i + self.frame_size]) for i in range(0, cut, self.frame_size)]
            tail = raw[cut:]
            keep = len(tail) - len(tail) % 3
            self._rest, self._odd = b64encode(tail[:keep]), tail[keep:]
            return frames
        buf = self._rest + b64 if self._rest else b64
        cut = len(buf) - len(buf) % self._chars
        self._rest = buf[cut:]
        return [buf[i : i + self._chars] for i in range(0, cut, self._chars)]

    def flush(self) -> str | None:
        """The last partial frame, padded with silence to a full frame."""
        raw = base64.b64decode(self._rest) + self._odd
        self.reset()
        if not raw:
            return None
        return b64encode(raw.ljust(self.frame_size, b"\0"))

    def reset(self) -> None:
        self._rest, self._odd = "", b""
