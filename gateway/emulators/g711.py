"""G.711 μ-law and A-law for the emulators (the carriers' and the speech service's side of the wire).

Written from ITU-T G.711 on purpose, apart from the gateway's own codec: an emulator that shared the gateway's codec
would agree with it even where both were wrong.
"""

from __future__ import annotations

import numpy as np

MULAW_SILENCE = 0xFF  # μ-law code of linear 0


def mulaw_encode(pcm: bytes) -> bytes:
    """16-bit little-endian linear PCM → μ-law bytes (one per sample)."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.int32) >> 2  # G.711 works on 14 bits
    mask = np.where(x < 0, 0x7F, 0xFF)
    mag = np.minimum(np.abs(x), 8158) + 0x21
    exp = np.floor(np.log2(mag)).astype(np.int32) - 5
    mant = (mag >> (exp + 1)) & 0x0F
    return (((exp << 4) | mant) ^ mask).astype(np.uint8).tobytes()


def mulaw_decode(data: bytes) -> bytes:
    """μ-law bytes → 16-bit little-endian linear PCM."""
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    exp = (u >> 4) & 0x07
    mant = u & 0x0F
    mag = (((mant << 3) + 0x84) << exp) - 0x84
    return np.where(u & 0x80, -mag, mag).astype("<i2").tobytes()


def alaw_encode(pcm: bytes) -> bytes:
    """16-bit little-endian linear PCM → A-law bytes (one per sample)."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.int32) >> 3
    sign = np.where(x >= 0, 0x80, 0)
    mag = np.minimum(np.where(x < 0, -x - 1, x), 0xFFF)
    exp = np.where(mag < 32, 0, np.floor(np.log2(np.maximum(mag, 1))).astype(np.int32) - 4)
    mant = np.where(exp == 0, mag >> 1, mag >> np.maximum(exp, 1)) & 0x0F
    return ((sign | (exp << 4) | mant) ^ 0x55).astype(np.uint8).tobytes()
