"""Audio a ``<Play>`` URL serves, decoded to 8 kHz 16-bit PCM as the phone line carries it: WAV (16-bit PCM or
G.711 μ-law, any rate) or raw μ-law (``audio/basic``). Other formats (MP3…) are not decoded here."""

from __future__ import annotations

import struct

import numpy as np

from gateway.audio import resample
from gateway.emulators.g711 import mulaw_decode

LINE_RATE = 8000
WAVE_FORMAT_PCM = 1
WAVE_FORMAT_MULAW = 7
RAW_MULAW_TYPES = ("audio/basic", "audio/x-mulaw", "audio/ulaw", "audio/mulaw")


def _wav_chunks(body: bytes) -> dict[bytes, bytes]:
    if len(body) < 12 or body[:4] != b"RIFF" or body[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    chunks: dict[bytes, bytes] = {}
    pos = 12
    while pos + 8 <= len(body):
        chunk_id, size = body[pos : pos + 4], struct.unpack_from("<I", body, pos + 4)[0]
        chunks.setdefault(chunk_id, body[pos + 8 : pos + 8 + size])
        pos += 8 + size + (size & 1)
    if b"fmt " not in chunks or b"data" not in chunks:
        raise ValueError("WAV without fmt or data chunk")
    return chunks


def _to_mono(pcm: bytes, channels: int) -> bytes:
    if channels == 1:
        return pcm
    samples = np.frombuffer(pcm[: len(pcm) - len(pcm) % (2 * channels)], dtype="<i2").reshape(-1, channels)
    return samples.mean(axis=1).astype("<i2").tobytes()


def decode_wav(body: bytes) -> bytes:
    chunks = _wav_chunks(body)
    fmt = chunks[b"fmt "]
    if len(fmt) < 16:
        raise ValueError("WAV fmt chunk too short")
    tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", fmt)
    data = chunks[b"data"]
    if tag == WAVE_FORMAT_PCM and bits == 16:
        pcm = data
    elif tag == WAVE_FORMAT_MULAW and bits == 8:
        pcm = mulaw_decode(data)
    else:
        raise ValueError(f"WAV format {tag} with {bits}-bit samples is not supported")
    return resample(_to_mono(pcm, channels), rate, LINE_RATE)


def decode_play_audio(body: bytes, content_type: str) -> bytes:
    """8 kHz PCM16 of a fetched ``<Play>`` resource; raises ``ValueError`` for what a phone could not play."""
    kind = content_type.split(";")[0].strip().lower()
    if kind in RAW_MULAW_TYPES:
        return mulaw_decode(body)
    if body[:4] == b"RIFF" or kind in ("audio/wav", "audio/x-wav", "audio/wave"):
        return decode_wav(body)
    raise ValueError(f"cannot play content type {content_type!r}")
