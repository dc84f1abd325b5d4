"""Fake but real-sounding synthesis: recorded speech clips looped to a length that scales with the text."""

from __future__ import annotations

import functools
import re
import struct
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gateway.audio import read_wav, resample
from gateway.emulators.g711 import alaw_encode, mulaw_encode

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
CLIP_FILES = ("agent_hello_24k.wav", "agent_goodbye_24k.wav")
CLIP_RATE = 24_000
GAP_MS = 120
MS_PER_UNIT = 130  # one CJK character ~ 130 ms (about 7.7 characters a second)
MIN_MS = 300

_FORMAT_RE = re.compile(r"^(raw|riff)-(\d+)(khz|hz)-(8|16)bit-mono-(pcm|mulaw|alaw)$")


@dataclass(slots=True, frozen=True)
class OutputFormat:
    """A Speech service output format such as ``raw-24khz-16bit-mono-pcm``."""

    name: str
    rate: int
    encoding: str  # pcm | mulaw | alaw
    riff: bool

    @property
    def bytes_per_sample(self) -> int:
        return 2 if self.encoding == "pcm" else 1

    @property
    def content_type(self) -> str:
        return "audio/x-wav" if self.riff else f"audio/{'raw' if self.encoding == 'pcm' else self.encoding}"


def parse_output_format(name: str) -> OutputFormat:
    """Parse a wire format name; raises ``ValueError`` for formats the emulator cannot produce (mp3, opus, ...)."""
    m = _FORMAT_RE.match(name.strip().lower())
    if not m:
        raise ValueError(f"unsupported output format {name!r}")
    kind, num, unit, bits, enc = m.groups()
    rate = int(num) * (1000 if unit == "khz" else 1)
    if (enc == "pcm") != (bits == "16"):
        raise ValueError(f"unsupported output format {name!r}")
    return OutputFormat(name, rate, enc, kind == "riff")


def _trim(pcm: np.ndarray, level: float = 200.0, rate: int = CLIP_RATE) -> np.ndarray:
    frame = rate // 100
    n = len(pcm) // frame
    levels = np.sqrt((pcm[: n * frame].astype(np.float32).reshape(n, frame) ** 2).mean(axis=1))
    loud = np.nonzero(levels > level)[0]
    if len(loud) == 0:
        return pcm
    return pcm[loud[0] * frame : (loud[-1] + 1) * frame]


@functools.cache
def _clips() -> tuple[np.ndarray, ...]:
    clips = []
    for name in CLIP_FILES:
        chunk = read_wav(DATA_DIR / name)
        pcm = np.frombuffer(chunk.pcm, dtype="<i2")
        if chunk.rate != CLIP_RATE:
            pcm = np.frombuffer(resample(chunk.pcm, chunk.rate, CLIP_RATE), dtype="<i2")
        clips.append(_trim(pcm))
    return tuple(clips)


def speech_duration_ms(text: str) -> int:
    """How long the emulator speaks ``text``: ~130 ms per CJK character, less for Latin letters, pauses for
    punctuation; never below 300 ms."""
    units = 0.0
    for ch in text:
        if ch.isspace():
            units += 0.3
        elif unicodedata.category(ch).startswith("P"):
            units += 1.5 if ch in "。．.!?！？" else 1.0
        elif unicodedata.east_asian_width(ch) in ("W", "F"):
            units += 1.0
        else:
            units += 0.45
    return max(MIN_MS, round(units * MS_PER_UNIT))


@functools.lru_cache(maxsize=256)
def synthesize_pcm(text: str, rate: int = CLIP_RATE) -> bytes:
    """PCM16 mono speech at ``rate`` for ``text``: the agent clips in turn, separated by short gaps, cut to
    ``speech_duration_ms(text)`` with a 20 ms fade-out. Deterministic for a given text and rate."""
    total = speech_duration_ms(text) * CLIP_RATE // 1000
    gap = np.zeros(GAP_MS * CLIP_RATE // 1000, dtype=np.int16)
    parts: list[np.ndarray] = []
    have = 0
    i = 0
    clips = _clips()
    while have < total:
        clip = clips[i % len(clips)]
        parts.append(clip)
        parts.append(gap)
        have += len(clip) + len(gap)
        i += 1
    pcm = np.concatenate(parts)[:total].astype(np.float32)
    fade = min(len(pcm), CLIP_RATE // 50)
    pcm[len(pcm) - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    out = pcm.astype("<i2").tobytes()
    return resample(out, CLIP_RATE, rate)


def riff_header(fmt: OutputFormat, data_len: int) -> bytes:
    tag = {"pcm": 1, "alaw": 6, "mulaw": 7}[fmt.encoding]
    width = fmt.bytes_per_sample
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_len)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, tag, 1, fmt.rate, fmt.rate * width, width, width * 8)
        + b"data"
        + struct.pack("<I", data_len)
    )


def synthesize(text: str, fmt: OutputFormat) -> bytes:
    """Audio for ``text`` in ``fmt`` (with a RIFF header for ``riff-*`` formats)."""
    pcm = synthesize_pcm(text, fmt.rate)
    data = mulaw_encode(pcm) if fmt.encoding == "mulaw" else alaw_encode(pcm) if fmt.encoding == "alaw" else pcm
    return riff_header(fmt, len(data)) + data if fmt.riff else data
